"""Shared fixtures: the embedded model, converted once per test session."""

import pytest
import torch

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
