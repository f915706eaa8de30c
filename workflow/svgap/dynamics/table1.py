"""SVG Table 1: solver accuracy of cross-improvement runs, Early / Uniform / Late against the baseline.

Per model x task x method, from the trajectories of the baseline (the ordinary self-improvement run)
and of each schedule, on one split (the paper's: train), mean and standard deviation over seeds:

- Initial: acc_s at t = 0 (the base model; every run of a seed shares it);
- Baseline and each schedule: acc_s at the last checkpoint T;
- Max-Min: the largest minus the smallest schedule mean (baseline excluded);
- Avg: the mean of the schedule means; Avg vs Initial and Avg vs Baseline: Avg minus those means;
- Early(t = 0) vs Initial (Verifier): Early's acc_v at t = 0, measured on its mixed picks, minus the
  baseline's acc_v at t = 0 (the verifier gain of all external data at the start);
- External data: the accuracy of the external responses themselves (all train prompts of the source).

U_s and U_s_tok at T go beside acc_s (the theory's quantity). Accuracies are in %, as in the paper.
Standard deviations use ddof = 1 (NaN with one seed).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

GROUP = ("model", "task", "method")
VALUES = ("acc_s", "U_s", "U_s_tok")
SCHEMA = {"model": pl.String, "task": pl.String, "method": pl.String, "row": pl.String, "n_seeds": pl.Int64,
          **{c: pl.Float64 for v in VALUES for c in (v, f"{v}_std")}}


def _stats(df: pl.DataFrame, value: str) -> tuple[float, float]:
    x = df[value].to_numpy().astype(float)
    if value.startswith("acc"):
        x = 100.0 * x
    return (float(x.mean()) if len(x) else math.nan, float(x.std(ddof=1)) if len(x) > 1 else math.nan)


def _row(group: dict, name: str, df: pl.DataFrame, acc_column: str = "acc_s") -> dict:
    out = {**group, "row": name, "n_seeds": df.height}
    for v in VALUES:
        column = acc_column if v == "acc_s" else v
        out[v], out[f"{v}_std"] = _stats(df, column) if column in df.columns else (math.nan, math.nan)
    return out


def _derived(group: dict, name: str, acc: float) -> dict:
    return {**group, "row": name, "n_seeds": None, "acc_s": acc,
            **{c: None for c in ("acc_s_std", "U_s", "U_s_std", "U_s_tok", "U_s_tok_std")}}


def table1(traj: pl.DataFrame, external: pl.DataFrame, split: str = "train") -> pl.DataFrame:
    """The long Table 1: one row per (model, task, method, row). `traj` is every trajectory stacked
    (with the schedule column), `external` every task's external table stacked with a `task` column."""
    traj = traj.filter(pl.col("split") == split)
    rows = []
    for key, df in traj.group_by(GROUP, maintain_order=True):
        group = dict(zip(GROUP, key, strict=True))
        last = df["t"].max()
        base = df.filter(pl.col("schedule") == "baseline")
        initial = _row(group, "Initial", base.filter(pl.col("t") == 0))
        baseline = _row(group, "Baseline", base.filter(pl.col("t") == last))
        rows += [initial, baseline]
        schedules = [s for s in df["schedule"].unique(maintain_order=True).to_list() if s != "baseline"]
        means = []
        for s in schedules:
            r = _row(group, s.capitalize(), df.filter((pl.col("schedule") == s) & (pl.col("t") == last)))
            rows.append(r)
            means.append(r["acc_s"])
        avg = float(np.mean(means)) if means else math.nan
        rows.append(_derived(group, "Max-Min", max(means) - min(means) if means else math.nan))
        rows.append(_derived(group, "Avg", avg))
        rows.append(_derived(group, "Avg vs Initial", avg - initial["acc_s"]))
        rows.append(_derived(group, "Avg vs Baseline", avg - baseline["acc_s"]))
        early = df.filter((pl.col("schedule") == "early") & (pl.col("t") == 0))
        initial_v = _stats(base.filter(pl.col("t") == 0), "acc_v")[0]
        rows.append(_derived(group, "Early(t = 0) vs Initial (Verifier)",
                             _stats(early, "acc_v")[0] - initial_v if early.height else math.nan))
        ext = external.filter(pl.col("task") == group["task"])
        rows.append(_derived(group, "External data", 100.0 * float(ext["correct"].mean()) if ext.height else math.nan))
    return pl.DataFrame(rows, schema=SCHEMA)


def _cell(row: dict) -> str:
    acc, std = row["acc_s"], row["acc_s_std"]
    if acc is None or not math.isfinite(acc):
        return "–"
    if row["row"].startswith("Avg vs") or row["row"].startswith("Early("):
        return f"{acc:+.2f}"
    return f"{acc:.2f}" + (f" (± {std:.2f})" if std is not None and math.isfinite(std) else "")


def wide(table: pl.DataFrame):
    """The paper's layout (pandas): rows = Table 1's rows, columns = model / task / method."""
    import pandas as pd

    columns = {}
    for key, df in table.group_by(GROUP, maintain_order=True):
        columns[" / ".join(key)] = {r["row"]: _cell(r) for r in df.iter_rows(named=True)}
    frame = pd.DataFrame(columns)
    frame.index.name = "Strategy"
    return frame.reset_index()


def plot(traj: pl.DataFrame, png, pdf, *, split: str = "train", width: float = 12, height: float = 3.6,
         dpi: int = 150) -> None:
    """Solver accuracy and U_s against t per schedule (mean, band = std over seeds), a column per model /
    task / method; `width` is that of three columns, `height` that of one row (config `plot`)."""
    traj = traj.filter(pl.col("split") == split).with_columns(
        panel=pl.concat_str(list(GROUP), separator=" / "), acc_s_pct=100 * pl.col("acc_s"))
    panels = traj["panel"].unique(maintain_order=True).to_list() or ["(no runs)"]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(2, len(panels), figsize=(width / 3 * max(len(panels), 1.5), 2 * height),
                             squeeze=False, sharex=True)
    for j, panel in enumerate(panels):
        df = traj.filter(pl.col("panel") == panel).to_pandas()
        for i, (column, label) in enumerate((("acc_s_pct", "solver accuracy (%)"), ("U_s", "U_s (total NLL)"))):
            ax = axes[i][j]
            if len(df):
                sns.lineplot(df, x="t", y=column, hue="schedule", errorbar="sd", marker="o", ax=ax,
                             legend=(i == 0 and j == len(panels) - 1))
            ax.set_ylabel(label)
            ax.set_xlabel("t (epochs)")
            if i == 0:
                ax.set_title(panel)
    fig.suptitle(f"SVG Table 1: {split} split, band = std over seeds", fontsize="medium")
    fig.tight_layout()
    fig.savefig(png, dpi=dpi)
    fig.savefig(pdf)
    plt.close(fig)
