"""The Parquet tables at every stage boundary: their columns, and reading / writing them safely.

Each table kind lists its columns with a description (the same text is in docs/tables.md; a test
keeps the two in step). `read` checks that a file has the columns its kind needs and names the file
and the missing column when it does not; `write` writes beside the target and renames, so a killed
job never leaves a partial table under the final name.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from svgap.dynamics.columns import ANALYSIS_COLUMNS
from svgap.metrics import METRIC_COLUMNS

SPLIT = "train or test: every table of a task or checkpoint holds both splits"
COLUMNS: dict[str, dict[str, str]] = {
    "data": {
        "split": SPLIT,
        "prompt_id": "stable id of the prompt within its task",
        "prompt": "the question shown to the solver (before templates and chat formatting)",
        "answer": "gold answer, as a string",
        "meta": "task-specific extras, JSON",
    },
    "generations": {
        "split": SPLIT,
        "prompt_id": "prompt id",
        "sample": "sample index j = 0..N-1; sample 0 is the solver sample",
        "prompt_token_ids": "the rendered solver prompt, token ids",
        "token_ids": "generated token ids, EOS included when produced",
        "text": "decoded response, special tokens removed",
        "length": "number of generated tokens L(y)",
        "nll": "-log pi(y|x) summed over the generated tokens, raw temperature-1 logits",
        "finished": "true if the response ended on EOS, false if it hit max_new_tokens",
    },
    "verify": {
        "split": SPLIT,
        "prompt_id": "prompt id",
        "sample": "sample index",
        "tf_reply": "the verifier's TF reply",
        "tf_score": "TF score: 1 correct, 0 incorrect or no verdict",
        "tf_parsed": "the TF reply held a verdict word",
        "qe_reply": "the verifier's QE reply",
        "qe_score": "QE score in [0, 1]: rating / qe_scale, 0 if unparsed",
        "qe_parsed": "the QE reply held a rating within the scale",
        "p_correct": "P(correct) from the next-token logits after the TF prompt",
    },
    "grades": {
        "split": SPLIT,
        "prompt_id": "prompt id",
        "sample": "sample index",
        "pred": "answer extracted from the response, null if none",
        "correct": "the task's grader judges the response correct (extra task-specific columns may follow: "
                   "gsm8k pred_strict, pred_flexible, correct_strict, correct_flexible; mbpp tests_passed, "
                   "sandbox_status)",
    },
    "picks": {
        "split": SPLIT,
        "prompt_id": "prompt id",
        "sample": "the Best-of-N pick, null if the prompt was skipped",
        "n_candidates": "samples with score >= sigma",
        "fallback": "the empty-set policy `all` applied",
        "score": "the pick's verifier score",
        "nll": "the pick's total NLL",
        "length": "the pick's length in tokens",
        "correct": "the pick is correct",
        "prompt_token_ids": "prompt token ids (the finetune input)",
        "token_ids": "the pick's token ids (the finetune target)",
    },
    "metrics": METRIC_COLUMNS,
}

RUN_COLUMNS = {
    "model": "model name (config key)",
    "task": "task name (config key)",
    "method": "verification method used for selection: tf, qe or mc",
    "seed": "run seed",
    "n_samples": "N, samples per prompt",
    "sigma": "verifier threshold",
    "empty_policy": "policy for prompts with no candidate",
    "lr": "finetune learning rate",
    "epochs": "T, self-improvement epochs",
}
COLUMNS["trajectory"] = {**METRIC_COLUMNS, **RUN_COLUMNS}
COLUMNS.update(ANALYSIS_COLUMNS)


def read(path: str | Path, kind: str) -> pl.DataFrame:
    """Read a table and check it has the columns of its kind."""
    path = Path(path)
    try:
        df = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise ValueError(f"{path}: not a readable Parquet {kind} table ({exc})") from exc
    missing = [c for c in COLUMNS[kind] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: {kind} table lacks column(s) {missing}")
    return df


def write(df: pl.DataFrame, path: str | Path, csv: str | Path | None = None) -> None:
    """Write atomically: to a sibling temporary file, then rename; `csv` also writes a CSV copy."""
    _atomic(path, df.write_parquet)
    if csv is not None:
        _atomic(csv, df.write_csv)


def write_text(text: str, path: str | Path) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_text(text))


def _atomic(path: str | Path, writer) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    writer(tmp)
    os.replace(tmp, path)


LOCATIONS = {
    "data": "results/data/<task>.parquet",
    "generations": "results/<run>/epoch<t>/generations.parquet",
    "verify": "results/<run>/epoch<t>/verify.parquet",
    "grades": "results/<run>/epoch<t>/grades.parquet",
    "picks": "results/<run>/epoch<t>/picks.parquet",
    "metrics": "results/<run>/epoch<t>/metrics.parquet (one row per split)",
    "trajectory": "results/<run>/trajectory.parquet (one row per split and t)",
    "fits": "results/<run>/analysis/fits.parquet (and .csv)",
    "dgdt_points": "results/<run>/analysis/dgdt_points.parquet",
    "dgdt": "results/<run>/analysis/dgdt.parquet (and .csv)",
    "correlation": "results/<run>/analysis/correlation.parquet (and .csv)",
    "prediction": "results/<run>/analysis/prediction.parquet",
    "prediction_scores": "results/<run>/analysis/prediction_scores.parquet (and .csv)",
    "comparison": "results/<run>/analysis/comparison.parquet (and .csv)",
    "cross": "results/<run>/analysis/cross.parquet (and .csv)",
}


def markdown() -> str:
    """The column reference of docs/tables.md (`python -m svgap.tables > docs/tables.md`)."""
    out = ["# Tables", "",
           "Every stage reads and writes Parquet. `<run>` is `<model>/<task>/<method>/seed<seed>`; "
           "the tables of a task and of a checkpoint hold both splits (`split`: `train`, `test`); "
           "`t` runs 0..T. Generated from `svgap.tables.COLUMNS` "
           "(`python -m svgap.tables > docs/tables.md`).", ""]
    for kind, columns in COLUMNS.items():
        out += [f"## {kind}", "", f"`{LOCATIONS[kind]}`", "", "| column | meaning |", "|---|---|"]
        out += [f"| `{name}` | {text.replace('|', chr(92) + '|')} |" for name, text in columns.items()]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
