"""Mind the Gap's view of iterative self-improvement (MTG §5, Figs. 4 left and 13 top): per round t,
the generation accuracy of the model f_t and the generation-verification gap of its own filter.

Read from the runs' trajectories (svgap.loop.trajectory): `acc_samples` is J(f_t), the accuracy over all
N samples of every prompt (with N per prompt, the mean over prompts of the per-prompt accuracy MTG
averages); `gv_gap` and `gv_gap_se` are Def. 2.1's gap of the checkpoint's selection filter
(svgap.loop.metrics); `pass_at_n` is pass@N. MTG draws a line at a gap of 0.5% as "saturated"; the
round where the gap first falls to or below it is `saturated_at`.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.plots import _save  # noqa: E402

SATURATED = 0.005  # MTG Fig. 4's horizontal line: a gap of 0.5%
KEYS = ("model", "task", "method", "selection", "seed", "split", "t")
VALUES = ("acc_samples", "gv_gap", "gv_gap_se", "gv_gap_rel", "pass_at_n", "n_targets")


def rounds(trajectories: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per (run, split, whole round t): the quantities of Fig. 4, and `saturated_at`, the first
    round whose gap is at most 0.5% (null when none is). Half-epoch checkpoints are not rounds of MTG's
    Algorithm 1 and are left out."""
    table = (pl.concat([t.select(*KEYS, *VALUES) for t in trajectories], how="vertical")
             .filter(pl.col("t") == pl.col("t").floor()).sort(*KEYS))
    run = ["model", "task", "method", "selection", "seed", "split"]
    first = (table.filter(pl.col("gv_gap") <= SATURATED).group_by(run).agg(saturated_at=pl.col("t").min()))
    return table.join(first, on=run, how="left").select(*KEYS, *VALUES, "saturated_at")


def plot(table: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int, title: str) -> None:
    """Accuracy and gap (%) against the round, a row per split, a line per model and method."""
    splits = table["split"].unique(maintain_order=True).to_list()
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(splits), 2, figsize=(width, height * len(splits)), squeeze=False,
                             constrained_layout=True)
    data = table.with_columns(pl.col("acc_samples", "gv_gap") * 100,
                              run=pl.format("{} / {}", "model", "method")).to_pandas()
    for row, split in zip(axes, splits, strict=True):
        part = data[data["split"] == split]
        for ax, column, label in zip(row, ("acc_samples", "gv_gap"), ("generation accuracy (%)", "gap (%)"),
                                     strict=True):
            sns.lineplot(part, x="t", y=column, hue="run", marker="o", errorbar=None, ax=ax)
            ax.set(title=f"{split}: {label}", xlabel="round t", ylabel=label)
            if column == "gv_gap":
                ax.axhline(100 * SATURATED, color="grey", linestyle="--", linewidth=0.8)
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    _save(fig, png, pdf, dpi)


def markdown(table: pl.DataFrame) -> str:
    """Accuracy and gap (%) per model, method and round (the numbers behind Fig. 4), test split first."""
    lines = ["| model | method | split | t | accuracy | gap (SE) | pass@N |", "|---|---|---|---|---|---|---|"]
    for r in table.sort("split", "model", "method", "seed", "t").iter_rows(named=True):
        se = "" if r["gv_gap_se"] is None or math.isnan(r["gv_gap_se"]) else f" ({100 * r['gv_gap_se']:.2f})"
        lines.append(f"| {r['model']} | {r['method']} | {r['split']} | {r['t']:g} | {100 * r['acc_samples']:.2f} "
                     f"| {100 * r['gv_gap']:.2f}{se} | {100 * r['pass_at_n']:.2f} |")
    return "\n".join(lines) + "\n"
