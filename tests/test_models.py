"""Where model weights come from: embedded, local folder, hub id; dtype choice."""

import json

import pytest
import torch

from svgap.inference import models


def test_local_model_resolves_to_its_folder(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    desc = models.resolve_model("mine", {"source": "local", "path": str(folder)}, tmp_path / "weights")
    assert desc["location"] == str(folder.resolve()) and desc["source"] == "local" and desc["chat_template"]


def test_local_model_without_config_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"models.mine.path: .* holds no config.json"):
        models.resolve_model("mine", {"source": "local", "path": str(tmp_path)}, tmp_path / "weights")


def test_hub_model_is_named_by_id(tmp_path):
    desc = models.resolve_model("phi", {"source": "hub", "id": "microsoft/Phi-4-mini-instruct", "revision": "main",
                                        "chat_template": True}, tmp_path / "weights")
    assert desc["location"] == "microsoft/Phi-4-mini-instruct" and desc["revision"] == "main"


def test_embedded_gguf_is_found_without_importing_the_package():
    import sys

    path = models.embedded_gguf_path()
    assert path.name == models.EMBEDDED_GGUF and path.stat().st_size > 50_000_000
    assert models.EMBEDDED_PACKAGE not in sys.modules


def test_dtype_choice():
    cpu = torch.device("cpu")
    assert models.pick_dtype("float32", cpu) == torch.float32
    assert models.pick_dtype("bfloat16", cpu) == torch.bfloat16
    expected = torch.bfloat16 if models.cpu_supports_bf16() else torch.float32
    assert models.pick_dtype("auto", cpu) == expected


def test_vml_dispatch_is_settled_before_the_model_loads(model_dir, monkeypatch):
    """oneMKL's VML first-call race (pytorch#188792) made two seeded runs differ: load_model settles it first."""
    calls = []
    monkeypatch.setattr(models, "resolve_vml_dispatch", lambda: calls.append("vml"))
    real = torch.nn.Module.to
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: (calls.append("model"), real(self, *a, **k))[1])
    models.load_model({"location": str(model_dir)}, torch.float32, torch.device("cpu"))
    assert calls[:2] == ["vml", "model"]


def test_every_vml_function_is_called_once_per_precision(monkeypatch):
    seen = []

    def recording(name, real):
        def call(x):
            seen.append((name, str(x.dtype), x.numel()))
            return real(x)
        return call

    for name in models.VML_FUNCTIONS:
        monkeypatch.setattr(torch, name, recording(name, getattr(torch, name)))
    models.resolve_vml_dispatch()
    assert sorted(seen) == sorted((n, d, 1) for n in models.VML_FUNCTIONS for d in ("torch.float32", "torch.float64"))


def test_gguf_read_once_shares_the_parse_within_the_conversion_and_restores_gguf():
    """convert_gguf builds gguf's reader and tensor-name table once per argument (transformers builds the
    reader three times and the table once per tensor); outside the context gguf is untouched. That the
    converted files are the same bytes as without it was checked with `cmp` (docs/performance.md)."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with models.gguf_read_once():
        table = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 30)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 30) is table
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is not table
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (reader, name_map)
    assert name_map(gguf.MODEL_ARCH.LLAMA, 30) is not name_map(gguf.MODEL_ARCH.LLAMA, 30)
