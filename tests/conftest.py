"""Shared fixtures: the embedded model converted once, and the real run of the CI config, once per test
session: every test that inspects a run of the whole DAG inspects this one."""

import pytest
import torch
from helpers import clone, snakemake

from svgap.inference import models
from svgap.inference.hf_backend import HFBackend

# Run first: the modules whose tests run the workflow through Snakemake, where each model job takes one
# thread. .ci/run starts its SLURM section beside the tests for their first 10-13 minutes; a test that
# runs the model in this process on two threads stalls whenever another process holds a core (each
# OpenMP barrier waits for the thread that lost its core): in stop 38's CI runs two such tests of
# test_backend.py took 84 s each, against 18 and 5 s alone. One-thread jobs share the cores evenly.
FIRST = ("test_cross_workflow.py", "test_studies_workflow.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in FIRST)  # stable: every other order is kept


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "smollm2-135m"
    models.convert_gguf(models.embedded_gguf_path(), out)
    return out


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    return models.load_tokenizer({"location": str(model_dir)})


@pytest.fixture(scope="session")
def backend(model_dir, tokenizer):
    torch.set_num_threads(2)
    model = models.load_model({"location": str(model_dir)}, torch.float32, torch.device("cpu"))
    return HFBackend(model, tokenizer, max_batch_tokens=4096, max_batch_rows=16)


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """A fresh copy of the workflow after `snakemake --configfile config/ci.yaml` (the whole DAG, real model)."""
    workdir = clone(tmp_path_factory.mktemp("ci_run"))
    done = snakemake(workdir)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "svgap: finished" in done.stdout + done.stderr
    return workdir
