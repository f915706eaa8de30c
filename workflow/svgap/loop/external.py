"""External data for cross-improvement (SVG §5.2): one response per train prompt, from a source.

Sources (config `cross.sources.<task>.source`):
- `reference`: the task's reference solution written as a response (`Task.reference`); the stand-in
  for a much better verifier that the CPU config uses.
- `file`: a Parquet or JSONL table (`prompt_id`, `response`) the user brings, such as a stronger
  model's API answers. Train prompts it lacks are an error naming them, or with `missing: skip` are
  never chosen (counted and logged); rows for prompts outside the train split are counted, logged and
  left out.
- `model`: a model of `models:` samples one response per train prompt, once, at its own temperature.

Each source's table is graded by the task (`pred`, `correct`): the external data's own accuracy, which
Table 1 reports beside the runs. `score` then gives each response the student's NLL at a checkpoint,
the numbers the mixed picks carry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl

from svgap.inference.chat import render
from svgap.loop import grading

log = logging.getLogger(__name__)

MISSING = ("error", "skip")


def reference(task, data: pl.DataFrame) -> pl.DataFrame:
    """The task's reference response of every train prompt (`data`: the train split of the data table)."""
    from svgap.tasks import Item

    responses = [task.reference(Item(pid, q, a, json.loads(m)))
                 for pid, q, a, m in data.select("prompt_id", "prompt", "answer", "meta").iter_rows()]
    return pl.DataFrame({"prompt_id": data["prompt_id"], "response": responses}, schema={
        "prompt_id": pl.String, "response": pl.String})


def from_file(path: str | Path, data: pl.DataFrame, missing: str = "error") -> pl.DataFrame:
    """(prompt_id, response) of the train prompts from a user's Parquet or JSONL file."""
    path = Path(path)
    if missing not in MISSING:
        raise ValueError(f"cross.sources missing: one of {MISSING}, not {missing!r}")
    try:
        raw = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_ndjson(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise ValueError(f"{path}: not a readable Parquet or JSONL table of external responses ({exc})") from exc
    lacking = [c for c in ("prompt_id", "response") if c not in raw.columns]
    if lacking:
        raise ValueError(f"{path}: external responses need the column(s) {lacking}; it has {raw.columns}")
    raw = raw.select(pl.col("prompt_id").cast(pl.String), pl.col("response"))
    if raw["response"].dtype != pl.String:
        raise ValueError(f"{path}: column response must hold strings, not {raw['response'].dtype}")
    bad = raw.with_row_index("row").filter(pl.col("prompt_id").is_null() | pl.col("response").is_null())
    if bad.height:
        raise ValueError(f"{path}: row(s) {bad['row'].to_list()[:5]} lack a prompt_id or a response")
    dup = raw.filter(pl.col("prompt_id").is_duplicated())["prompt_id"].unique().sort().to_list()
    if dup:
        raise ValueError(f"{path}: prompt id(s) {dup[:5]} have more than one response")
    train = data["prompt_id"].to_list()
    extra = raw.filter(~pl.col("prompt_id").is_in(pl.Series(train).implode()))
    if extra.height:
        log.warning("%s: %d response(s) for prompts outside the train split left out (e.g. %s)", path,
                    extra.height, extra["prompt_id"].to_list()[:3])
    lacks = sorted(set(train) - set(raw["prompt_id"].to_list()))
    if lacks and missing == "error":
        raise ValueError(f"{path}: no external response for train prompt(s) {lacks[:10]}"
                         f"{f' and {len(lacks) - 10} more' if len(lacks) > 10 else ''} "
                         f"({len(lacks)} of {len(train)}; cross.sources.<task>.missing: skip leaves them out)")
    if lacks:
        log.warning("%s: %d of %d train prompts have no external response and will not be chosen (missing: skip)",
                    path, len(lacks), len(train))
    order = {pid: i for i, pid in enumerate(train)}
    return (raw.filter(pl.col("prompt_id").is_in(pl.Series(train).implode()))
            .sort(pl.col("prompt_id").replace_strict(order, return_dtype=pl.Int64)))


def from_model(loaded, task, data: pl.DataFrame, *, temperature: float, max_new_tokens: int, seed: int) -> pl.DataFrame:
    """One response per train prompt from a teacher model (`loaded`: `load_backend`'s triple)."""
    from svgap.loop.sampling import generate

    gens = generate(loaded, task, {"train": data}, n_samples=1, max_new_tokens=max_new_tokens,
                    temperature=temperature, seed=seed, t=0)
    return gens.select("prompt_id", pl.col("text").alias("response"))


def graded(task, data: pl.DataFrame, responses: pl.DataFrame, source: str) -> pl.DataFrame:
    """The external table: prompt_id, response, source, pred, correct (graded by the task)."""
    gens = responses.select("prompt_id", pl.lit(0, dtype=pl.Int64).alias("sample"), pl.col("response").alias("text"))
    grades = grading.grade(task, data, gens) if responses.height else pl.DataFrame(
        {"prompt_id": [], "pred": [], "correct": []}, schema={"prompt_id": pl.String, "pred": pl.String,
                                                              "correct": pl.Boolean})
    out = responses.join(grades.select("prompt_id", "pred", "correct"), on="prompt_id", how="left")
    log.info("external data (%s): %d responses, accuracy %.3f", source, out.height,
             out["correct"].mean() if out.height else float("nan"))
    return out.with_columns(source=pl.lit(source)).select("prompt_id", "response", "source", "pred", "correct")


def score(loaded, task, data: pl.DataFrame, external: pl.DataFrame) -> pl.DataFrame:
    """The student's teacher-forced NLL of each external response, as a training target: the solver prompt
    rendered as for sampling, the response's tokens with the end-of-turn token appended (as a finished
    sample has). Columns: prompt_id, prompt_token_ids, token_ids, length, nll, correct."""
    desc, tokenizer, backend = loaded
    rows = external.join(data.select("prompt_id", "prompt"), on="prompt_id", how="left")
    if rows["prompt"].null_count():
        unknown = rows.filter(pl.col("prompt").is_null())["prompt_id"].to_list()
        raise ValueError(f"external responses for prompt(s) {unknown[:5]} that are not train prompts")
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else min(backend.eos_token_ids)
    prompts = [render(tokenizer, task.solver_messages(q), desc["chat_template"]) for q in rows["prompt"]]
    targets = [tokenizer.encode(r, add_special_tokens=False) + [eos] for r in rows["response"]]
    nll = backend.nll(prompts, targets) if prompts else []
    log.info("scored %d external responses, %d tokens", len(targets), sum(map(len, targets)))
    return pl.DataFrame({"prompt_id": rows["prompt_id"], "prompt_token_ids": prompts, "token_ids": targets,
                         "length": [len(x) for x in targets], "nll": [float(x) for x in nll],
                         "correct": rows["correct"]},
                        schema={"prompt_id": pl.String, "prompt_token_ids": pl.List(pl.Int64),
                                "token_ids": pl.List(pl.Int64), "length": pl.Int64, "nll": pl.Float64,
                                "correct": pl.Boolean})
