"""Verification of one generations table by two checkouts of svgap, side by side on this machine.

    python workflow/benchmarks/verify_ab.py --before DIR [--after DIR] [--prompts 32] [--repeat 2]
                                             [--threads 2] [--work DIR] [--models base,adapter]
                                             [--dtype auto|float32|bfloat16] [--methods tf,qe,p_correct]

`--before` and `--after` are checkouts of this repository (`git worktree add /tmp/before <commit>`;
`--after` defaults to this one). The generations are sampled once, by the `--after` code (the default
config's task, N, lengths and temperature on `--prompts` train prompts), and written to `--work`. Then
each checkout, in a fresh process of its own with its own `workflow/` first on `sys.path` and its own
`config/config.yaml` verifier section, runs `svgap.loop.verification.verify_samples` on that same table:
a warm-up on two prompts, then the whole table, timed. The checkouts alternate `--repeat` times.

`--models` names the verifiers: `base` (the model of checkpoint 0) and `adapter` (the base with a LoRA
adapter merged, as every later checkpoint's `generate_and_verify` job loads it; the adapter is trained by
the `--after` code, one pass of `svgap.loop.finetune.train` over sample 0 of every prompt, the config's
finetune settings). For each, the script prints seconds per response of each run, the ratio of the
medians, and how the score columns both compute (tf_score, qe_score, p_correct and the parse flags)
agree: exactly, or their largest difference.

`--dtype` sets the model's dtype for both checkouts and for the sampling and the adapter (default: the
`--after` config's `inference.dtype`, `auto`: bf16 where the CPU has it). The same outputs are checked in
float32 (issue 17); in bf16 verdicts flip where the two checkouts round differently. `--methods` sets the
scores verified (`verifier.methods`) in both checkouts (one from before 2026-12-06 has no such key and
computes TF, QE and P(correct)); by default each computes what its own config's first run computes (since
2026-12-07 `auto`: a TF run's TF reply and P(correct), no QE reply).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
SCORES = ("tf_score", "qe_score", "p_correct", "tf_parsed", "qe_parsed")

CHILD = r"""
import json, os, sys, time
from pathlib import Path
import polars as pl, torch
import svgap
from svgap.config import load as load_config
from svgap.inference import models
from svgap.inference.backend import load_backend
from svgap.loop.verification import verify_samples
from svgap.tasks import make_task

repo, work, threads, mode, tag = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
adapter = work / "adapter" if tag.endswith("adapter") else None
assert Path(svgap.__file__).resolve().is_relative_to(repo.resolve()), svgap.__file__
torch.set_num_threads(threads)
config = load_config(repo / "config" / "config.yaml")
inference = {**config["inference"], "backend": "transformers"}
if os.environ.get("SVGAP_AB_DTYPE"):
    inference["dtype"] = os.environ["SVGAP_AB_DTYPE"]
model_json = work / "model.json"
if not model_json.exists():
    model_json.write_text(json.dumps(models.resolve_model("bench", {"source": "embedded"}, work / "weights")))
spec = config["tasks"][config["runs"]["tasks"][0]]
task = make_task(spec["kind"], spec.get("options"))
data = pl.read_parquet(work / "data.parquet")
loaded = load_backend(model_json, adapter, inference, threads)
if mode == "generate":
    from svgap.loop.sampling import generate
    loop = config["loop"]
    gens = generate(loaded, task, {"train": data}, n_samples=loop["n_samples"],
                    max_new_tokens=loop["max_new_tokens"], temperature=loop["temperature"],
                    top_p=loop.get("top_p", 1.0), seed=0, t=0)
    gens.write_parquet(work / "gens.parquet")
    from svgap.loop import finetune
    picks = gens.filter(pl.col("sample") == 0).select("prompt_token_ids", "token_ids")
    spec = finetune.FinetuneSpec.from_config({**config["finetune"], "passes": 1})
    _, tokenizer, base = models.load(model_json, None, inference["device"], inference["dtype"], threads)
    finetune.train(base, picks, spec, None, work / "adapter", 0, tokenizer.pad_token_id)
    print(json.dumps({"samples": gens.height, "tokens": int(gens["length"].sum()), "adapter": str(work / "adapter")}))
    sys.exit()
gens = pl.read_parquet(work / "gens.parquet")
verifier = config["verifier"]
if os.environ.get("SVGAP_AB_METHODS"):
    verifier = {**verifier, "methods": os.environ["SVGAP_AB_METHODS"].split(",")}
elif verifier.get("methods") == "auto":  # resolved per job since 2026-12-07: the first run's (an MTG run's: all)
    from svgap.config import LOOP_METHODS, verifier_settings
    verifier = verifier_settings(config, config["runs"]["methods"][:1])
    if not verifier["methods"]:
        verifier = verifier_settings(config, LOOP_METHODS)
warm = gens.filter(pl.col("prompt_id").is_in(data["prompt_id"].head(2).to_list()))
verify_samples(loaded, task, {"train": data}, warm, verifier=verifier, seed=0, t=0, where="warm-up")
start = time.perf_counter()
scores = verify_samples(loaded, task, {"train": data}, gens, verifier=verifier, seed=0, t=0,
                        where="benchmark generations")
seconds = time.perf_counter() - start
scores.write_parquet(work / f"scores-{tag}.parquet")
print(json.dumps({"responses": scores.height, "seconds": seconds}))
"""


def child(repo: Path, work: Path, threads: int, mode: str, tag: str = "", dtype: str | None = None,
          methods: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo / "workflow"), **({"SVGAP_AB_DTYPE": dtype} if dtype else {}),
           **({"SVGAP_AB_METHODS": methods} if methods else {})}
    done = subprocess.run([sys.executable, "-c", CHILD, str(repo), str(work.resolve()), str(threads), mode, tag],
                          env=env, capture_output=True, text=True, cwd=repo)  # its own config/ and schema
    if done.returncode != 0:
        sys.exit(f"{mode} with {repo} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(work: Path, before: str, after: str) -> list[str]:
    """How the score columns of two runs agree, one line per column."""
    import polars as pl

    key = ["split", "prompt_id", "sample"]
    a, b = (pl.read_parquet(work / f"scores-{tag}.parquet") for tag in (before, after))
    joined = a.select(key + list(SCORES)).join(b.select(key + list(SCORES)), on=key, suffix="_after")
    if joined.height != a.height or a.height != b.height:
        return [f"rows differ: {a.height} before, {b.height} after, {joined.height} matched"]
    lines = []
    for col in SCORES:
        x, y = joined[col].cast(pl.Float64), joined[f"{col}_after"].cast(pl.Float64)
        both_null = (x.is_null() & y.is_null()).sum()
        one_null = (x.is_null() ^ y.is_null()).sum()
        diff = (x - y).abs().max()
        exact = bool(((x == y) | (x.is_null() & y.is_null())).all())
        lines.append(f"{col:>10}: {'identical' if exact else f'max |diff| {diff}'} "
                     f"({both_null} null in both, {one_null} null in one)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=HERE)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("results/benchmarks/verify_ab"))
    parser.add_argument("--models", default="base,adapter", help="verifiers, comma-separated: base, adapter")
    parser.add_argument("--methods", help="verifier.methods of both checkouts, comma-separated (default: each "
                        "config's, for its first run)")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default=None,
                        help="the model's dtype in every process (default: the config's inference.dtype)")
    args = parser.parse_args()
    args.before, args.after = args.before.resolve(), args.after.resolve()  # each child runs in its own folder
    verifiers = args.models.split(",")
    if not verifiers or set(verifiers) - {"base", "adapter"}:
        parser.error(f"--models: base and/or adapter, got {args.models!r}")
    import polars as pl

    sys.path.insert(0, str(args.after / "workflow"))
    from svgap.config import load as load_config
    from svgap.tasks import make_task

    args.work.mkdir(parents=True, exist_ok=True)
    config = load_config(args.after / "config" / "config.yaml")
    spec = config["tasks"][config["runs"]["tasks"][0]]
    items = make_task(spec["kind"], spec.get("options")).items(args.prompts, 0, spec.get("seed", 0))["train"]
    pl.DataFrame({"prompt_id": [it.prompt_id for it in items], "prompt": [it.question for it in items]}) \
        .write_parquet(args.work / "data.parquet")
    done = child(args.after, args.work, args.threads, "generate", dtype=args.dtype)
    print(f"generations (after's code, dtype {args.dtype or config['inference']['dtype']}):", done, flush=True)
    for verifier in verifiers:
        runs: dict[str, list[float]] = {"before": [], "after": []}
        for i in range(args.repeat):
            for label, repo in (("before", args.before), ("after", args.after)):
                r = child(repo, args.work, args.threads, "verify", f"{label}-{verifier}", args.dtype, args.methods)
                runs[label].append(1e3 * r["seconds"] / r["responses"])
                print(f"{verifier:>7} {label:>6} run {i + 1}: {r['responses']} responses in {r['seconds']:.2f} s = "
                      f"{runs[label][-1]:.1f} ms per response", flush=True)
        before, after = statistics.median(runs["before"]), statistics.median(runs["after"])
        print(f"{verifier}: median ms per response: before {before:.1f}, after {after:.1f}, "
              f"ratio {before / after:.2f}x")
        print(f"{verifier}: scores, before against after:")
        print("\n".join(agreement(args.work, f"before-{verifier}", f"after-{verifier}")))


if __name__ == "__main__":
    main()
