"""Paper-style tables across runs, as Markdown, LaTeX and HTML (pandas' to_markdown / to_latex / to_html).

- Table 2: Pearson r between U_s and solver accuracy with significance stars; rows task / method,
  columns model (seed added to the rows when a config has several).
- Table 4: the partial F-test of G(t-1), per run and split, with its points and residual degrees of
  freedom (the paper's p-values have 7).
- Parameters: the joint fit of Prop. 3.1 per run and split (identifiable quantities only), with
  intervals at the configured confidence.
- Model comparison: the winning family per run, split, series and criterion.
- Early prediction: per run and k, the predicted U_s_inf and the error at the last checkpoint.
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd
import polars as pl

RUN_KEYS = ("model", "task", "method", "seed")


def combine(frames: list[pl.DataFrame], runs: list[dict]) -> pl.DataFrame:
    """Per-run tables stacked, each with its run's model, task, method and seed in front."""
    if len(frames) != len(runs):
        raise ValueError(f"{len(frames)} tables for {len(runs)} runs")
    out = [f.with_columns(**{k: pl.lit(run[k]) for k in RUN_KEYS}).select(*RUN_KEYS, *f.columns)
           for f, run in zip(frames, runs, strict=True) if f.height]
    return pl.concat(out, how="diagonal_relaxed") if out else pl.DataFrame()


def _fmt(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}g}"


def _interval(est: float, lo: float, hi: float) -> str:
    if est is None or not math.isfinite(est):
        return "–"
    if lo is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return _fmt(est)
    return f"{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]"


def _row_keys(df: pl.DataFrame, keys: list[str]) -> list[str]:
    return keys + (["seed"] if df["seed"].n_unique() > 1 else [])


def table2(correlation: pl.DataFrame, split: str) -> pd.DataFrame:
    part = correlation.filter((pl.col("split") == split) & (pl.col("accuracy") == "acc_s"))
    if part.height == 0:
        return pd.DataFrame()
    part = part.with_columns(cell=pl.struct("r", "stars", "status").map_elements(
        lambda s: f"{s['r']:.3f}{s['stars']}" if s["status"] == "ok" else f"({s['status']})",
        return_dtype=pl.Utf8))
    wide = part.to_pandas().pivot_table(index=_row_keys(part, ["task", "method"]), columns="model",
                                        values="cell", aggfunc="first")
    wide.columns.name = None
    return wide.fillna("–").reset_index()  # "–": the model has no run of that task and method


def table4(dgdt: pl.DataFrame) -> pd.DataFrame:
    part = dgdt.with_columns(
        F=pl.struct("F", "F_status").map_elements(
            lambda s: f"{s['F']:.3f}" if s["F_status"] == "ok" else f"({s['F_status']})", return_dtype=pl.Utf8),
        p=pl.col("F_p_value").map_elements(lambda p: f"{p:.4f}", return_dtype=pl.Utf8, skip_nulls=True),
        F_df_den=pl.when(pl.col("F_status") == "ok").then(pl.col("F_df_den").cast(pl.Utf8)).otherwise(pl.lit("–")))
    cols = _row_keys(part, ["model", "task", "method"]) + ["split", "F", "p", "F_n", "F_df_den"]
    return part.select(cols).rename({"F": "F-statistic", "p": "P-value (F)", "F_n": "n",
                                     "F_df_den": "df"}).to_pandas()


PARAMETERS = ("rate", "G_inf", "U_s_inf", "U_v_inf", "alpha_over_beta", "t_eps")


def parameters(fits: pl.DataFrame) -> pd.DataFrame:
    joint = fits.filter(pl.col("fit") == "joint")
    keys = _row_keys(joint, ["model", "task", "method"]) + ["split"]
    rows = []
    for group, part in joint.group_by(keys, maintain_order=True):
        row = dict(zip(keys, group, strict=True))
        row["status"] = part["status"][0]
        by_q = {r["quantity"]: r for r in part.iter_rows(named=True)}
        for q in PARAMETERS:
            r = by_q.get(q)
            row[q] = _interval(r["estimate"], r["lo"], r["hi"]) if r else "–"
        row["R² U_s / U_v"] = f"{_fmt(by_q['r2_U_s']['estimate'])} / {_fmt(by_q['r2_U_v']['estimate'])}"
        rows.append(row)
    return pd.DataFrame(rows)


def winners(comparison: pl.DataFrame) -> pd.DataFrame:
    keys = _row_keys(comparison, ["model", "task", "method"]) + ["split", "series"]
    rows = []
    for group, part in comparison.group_by(keys, maintain_order=True):
        row = dict(zip(keys, group, strict=True))
        for criterion in ("aicc", "bic", "holdout_rmse"):
            best = part.filter(pl.col(f"best_{criterion}"))["family"].to_list()
            row[criterion] = ", ".join(best) if best else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def early(scores: pl.DataFrame) -> pd.DataFrame:
    keys = _row_keys(scores, ["model", "task", "method"]) + ["split", "k"]
    return scores.with_columns(
        U_s_inf=pl.struct("U_s_inf", "U_s_inf_lo", "U_s_inf_hi").map_elements(
            lambda s: _interval(s["U_s_inf"], s["U_s_inf_lo"], s["U_s_inf_hi"]), return_dtype=pl.Utf8),
    ).select(*keys, "status", "U_s_inf", "U_s_inf_full", "rel_error_last", "covered_last").to_pandas()


def markdown(df: pd.DataFrame, title: str) -> str:
    body = df.to_markdown(index=False) if len(df) else "(no rows)"
    return f"## {title}\n\n{body}\n"


def html(df: pd.DataFrame, title: str) -> str:
    """A standalone HTML page of the table (what `snakemake --report` shows inline)."""
    body = df.to_html(index=False, na_rep="–", border=0, classes="svgap") if len(df) else "<p>(no rows)</p>"
    style = ("body{font-family:sans-serif;margin:1em} table.svgap{border-collapse:collapse;font-size:13px}"
             "table.svgap th,table.svgap td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
             "table.svgap th{background:#f3f3f3}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{style}</style></head><body>\n<h2>{escape(title)}</h2>\n{body}\n</body></html>\n")


def latex(df: pd.DataFrame, caption: str) -> str:
    if not len(df):
        return f"% {caption}: no rows\n"
    return df.to_latex(index=False, caption=caption, escape=True, na_rep="–")
