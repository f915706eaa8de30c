"""Shared fixtures: the embedded model converted once, and the real run of the CI config, once per test
session: every test that inspects a run of the whole DAG inspects this one."""

import pytest
import torch
from helpers import clone, snakemake

from svgap.inference import models
from svgap.inference.hf_backend import HFBackend


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
