"""Shared fixtures: the embedded model converted once, and the real run of the CI config, once per test
session: every test that inspects a run of the whole DAG inspects this one."""

import os

# Before torch loads OpenMP: a thread that reaches a barrier sleeps instead of spinning. The tests' torch
# runs two threads in this process; when another process takes a core (CI runs .ci/slurm.sh beside the
# tests), a spinning thread kept the core its descheduled partner needed: tests/test_backend.py took 236 s
# beside a busy loop against 115 s with this, and 90 against 86 s alone (docs/performance.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402
from helpers import clone, snakemake  # noqa: E402

from svgap.inference import models  # noqa: E402
from svgap.inference.hf_backend import HFBackend  # noqa: E402


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
