"""Grading: each response judged against its prompt's gold answer by the task's grader.

Correctness is what the accuracies (acc_s, acc_v) and the verifier diagnostics are computed from;
it never enters the Best-of-N pick, which sees only the verifier's score and the NLL.
"""

from __future__ import annotations

import json
import logging

import polars as pl

log = logging.getLogger(__name__)


def grade(task, data: pl.DataFrame, gens: pl.DataFrame) -> pl.DataFrame:
    """The grades table of one split (without the split column): `task` a `svgap.tasks.Task`, `data` and
    `gens` that split's rows of the data and generations tables."""
    gens = gens.join(data.select("prompt_id", "answer", "meta"), on="prompt_id", how="left")
    rows = [{"prompt_id": pid, "sample": j, **task.grade(text, answer, json.loads(meta))}
            for pid, j, text, answer, meta in gens.select("prompt_id", "sample", "text", "answer", "meta").iter_rows()]
    # pred and correct first, then the task's extras (e.g. GSM8K's strict and flexible extractions)
    df = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("sample").cast(pl.Int64), pl.col("pred").cast(pl.String), pl.col("correct").cast(pl.Boolean))
    log.info("graded %d samples: %.3f correct, %d without an answer", df.height, df["correct"].mean(),
             df["pred"].null_count())
    return df


def samples(gens: pl.DataFrame, scores: pl.DataFrame, grades: pl.DataFrame, where: str) -> pl.DataFrame:
    """Generations, verifier scores and grades of one split side by side, one row per (prompt, sample);
    `where` names the files and split in errors."""
    keys = ["prompt_id", "sample"]
    scored = "_scored"  # a row of the verify table whatever it computed (a method left out is a null column)
    joined = gens.join(scores.with_columns(pl.lit(True).alias(scored)), on=keys, how="left").join(grades, on=keys,
                                                                                                 how="left")
    for column, kind in ((scored, "verifier scores"), ("correct", "grades")):
        if joined[column].null_count():
            raise ValueError(f"{where}: {joined[column].null_count()} samples have no {kind}")
    return joined.drop(scored)
