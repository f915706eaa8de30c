"""Benchmark of the generate stage against what this machine can do.

    python workflow/benchmarks/generation.py [--model DIR] [--prompts 32] [--n 4] [--max-new-tokens 24] [--threads 2]

Prints, measured side by side in one run:
- matmul throughput of this machine (GFLOP/s) for float32 and bfloat16,
- the generate stage's throughput (generated tokens/s) with the transformers backend, on the
  embedded default's prompts, for the dtype `auto` picks here,
- the FLOP bound of generation: matmul GFLOP/s / (2 x parameters) tokens/s, and the ratio of the
  measured throughput to it,
- forward passes per sample (prefills and decode steps, counted with a hook): one prefill per
  batch of prompts, one decode step per generated token position, no second pass for the NLL;
- the last-position logits of a prefill (what every verification and sampling batch starts with) with
  frozen weights, as a merged checkpoint's are: `logits_to_keep` as an int (a sliced, non-contiguous
  hidden state) against the index tensor svgap passes (svgap.inference.nll.last_positions), side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from svgap.inference import models
from svgap.inference.chat import render
from svgap.inference.hf_backend import HFBackend
from svgap.inference.nll import last_positions
from svgap.tasks import make_task


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 2.0) -> float:
    """Best GFLOP/s of a square matmul in `dtype` over about `seconds`."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best, spent = 0.0, 0.0
    while spent < seconds:
        start = time.perf_counter()
        a @ b
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, 2 * size**3 / elapsed / 1e9)
    return best


def count_forwards(model) -> dict:
    counts = {"prefill": 0, "decode": 0}

    def hook(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        counts["decode" if ids is not None and ids.shape[1] == 1 else "prefill"] += 1

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return counts


def frozen_head(model, rows: int = 64, length: int = 200) -> dict:
    """Seconds of one prefill's last-position logits with every weight frozen: int against index tensor."""
    for p in model.parameters():
        p.requires_grad_(False)
    ids = torch.randint(0, model.config.vocab_size, (rows, length))
    seconds = {}
    with torch.inference_mode():
        for name, keep in (("int", 1), ("index", last_positions(length, 1, ids.device))):
            model(input_ids=ids[:2], logits_to_keep=keep)  # warm-up
            start = time.perf_counter()
            model(input_ids=ids, logits_to_keep=keep)
            seconds[name] = time.perf_counter() - start
    return {"rows": rows, "length": length, **seconds}


def run(model_dir: Path, prompts: int, n: int, max_new_tokens: int, threads: int, max_batch_rows: int = 128) -> dict:
    torch.set_num_threads(threads)
    device = torch.device("cpu")
    dtype = models.pick_dtype("auto", device)
    flops = {str(d).removeprefix("torch."): matmul_gflops(d) for d in (torch.float32, torch.bfloat16)}
    desc = {"location": str(model_dir)}
    tokenizer = models.load_tokenizer(desc)
    model = models.load_model(desc, dtype, device)
    n_params = sum(p.numel() for p in model.parameters())
    counts = count_forwards(model)
    backend = HFBackend(model, tokenizer, max_batch_rows=max_batch_rows)
    task = make_task("arithmetic")
    items = task.items(prompts, 1, seed=0)["train"]
    ids = [render(tokenizer, task.solver_messages(it.question), True) for it in items]
    backend.sample(ids[:2], 1, 4, 1.0, [0, 1])  # warm-up
    counts.update(prefill=0, decode=0)
    start = time.perf_counter()
    done = backend.sample(ids, n, max_new_tokens, 1.0, list(range(len(ids))))
    elapsed = time.perf_counter() - start
    generated = sum(len(c.token_ids) for row in done for c in row)
    matmul = flops[str(dtype).removeprefix("torch.")]
    bound = matmul * 1e9 / (2 * n_params)
    return {
        "threads": threads, "max_batch_rows": max_batch_rows, "dtype": str(dtype).removeprefix("torch."),
        "parameters": n_params,
        "matmul_gflops": flops, "samples": len(ids) * n, "generated_tokens": generated,
        "seconds": elapsed, "tokens_per_s": generated / elapsed, "flop_bound_tokens_per_s": bound,
        "ratio_to_bound": generated / elapsed / bound, "prefill_passes": counts["prefill"],
        "decode_steps": counts["decode"],
        "forward_passes_per_sample": (counts["prefill"] + counts["decode"]) / (len(ids) * n),
        "frozen_head": frozen_head(model),  # last: it freezes the model's weights
    }


def report(r: dict) -> str:
    lines = [
        f"machine matmul (1024^2, {r['threads']} threads): "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in r["matmul_gflops"].items()),
        f"model: {r['parameters'] / 1e6:.1f} M parameters, dtype {r['dtype']} (auto on this machine)",
        f"generate ({r['max_batch_rows']} sequences per batch): {r['samples']} samples, "
        f"{r['generated_tokens']} tokens in {r['seconds']:.1f} s = {r['tokens_per_s']:.1f} tokens/s",
        f"FLOP bound (matmul / 2 x params): {r['flop_bound_tokens_per_s']:.1f} tokens/s; "
        f"measured / bound = {r['ratio_to_bound']:.3f}",
        f"forward passes: {r['prefill_passes']} prefills + {r['decode_steps']} decode steps "
        f"= {r['forward_passes_per_sample']:.2f} per sample (batched), NLL from the same passes",
        f"prefill of {r['frozen_head']['rows']} x {r['frozen_head']['length']} tokens, frozen weights, last-position "
        f"logits: logits_to_keep=1 {r['frozen_head']['int']:.2f} s, index tensor {r['frozen_head']['index']:.2f} s "
        f"= {r['frozen_head']['int'] / r['frozen_head']['index']:.1f}x",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a converted model folder (default: convert the embedded GGUF)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batch-rows", type=int, default=128,
                        help="sequences per batch (inference.max_batch_rows)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(tmp) / "smollm2-135m"
            models.convert_gguf(models.embedded_gguf_path(), model_dir)
        result = run(model_dir, args.prompts, args.n, args.max_new_tokens, args.threads, args.max_batch_rows)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
