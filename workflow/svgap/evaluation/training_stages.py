"""Training stages (SVG §4.4, Figs. 5 and 9): the same self-improvement from checkpoints of different stages.

Each stage is a run whose trajectory the analysis has already fitted (results/<run>/analysis/fits.parquet,
svgap.dynamics.analyse.fits_table). This module puts the stages' joint fits (Prop. 3.1: U_s and U_v share
one rate) side by side and draws each stage's trajectory with its fitted curves.

What a trajectory identifies (svgap.dynamics.theory): the rate lam = k (alpha - beta), the initial values
U_s0 and U_v0, the amplitudes alpha' and beta' (so delta = alpha' - beta' and the limits), the ratio
alpha / beta, and the products k alpha, k beta, alpha b, beta b. The table reports those.

The paper quotes a "solver rate" alpha per stage (Base-SFT 146.3, Post-trained 16.0) next to a decay rate.
alpha alone is not identifiable: (k, b, alpha, beta) -> (c k, c b, alpha / c, beta / c) leaves every
trajectory unchanged. Two normalisations give a number, and the table gives both, labelled:

- `alpha_paper`, alpha under the normalisation alpha - beta = delta (so k = lam / delta). Then
  alpha = alpha delta / (alpha - beta) = alpha', the amplitude of the fitted U_s curve. That is the
  number a curve fit U_s(t) = alpha e^{-lam t} + c reports, and it matches the paper's magnitudes and
  their order across stages. It is what we take the paper's alpha to be.
- `alpha_k1`, alpha under k = 1: k alpha = lam alpha' / delta.

Neither is a property of the model apart from its normalisation. Compare stages by lam, alpha', delta and
the limits.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.analyse import columns  # noqa: E402
from svgap.dynamics.plots import _save  # noqa: E402

log = logging.getLogger(__name__)

# the joint fit's quantities the table keeps (fits_table's `quantity` values), in this order
JOINT = ("rate", "U_s0", "U_v0", "U_s_inf", "U_v_inf", "G_inf", "delta", "alpha_p", "beta_p", "alpha_over_beta",
         "k_alpha", "k_beta", "alpha_b", "beta_b", "r2_U_s", "r2_U_v")


def table(labels: list[str], fits: list[pl.DataFrame]) -> pl.DataFrame:
    """A row per stage and split: the joint fit's status, identifiable quantities, the rate's interval and
    the two labelled normalisations of alpha (`alpha_paper`, `alpha_k1`)."""
    rows = []
    for order, (label, f) in enumerate(zip(labels, fits, strict=True)):
        joint = f.filter(pl.col("fit") == "joint")
        for split in sorted(joint["split"].unique()):
            part = joint.filter(pl.col("split") == split)
            value = dict(zip(part["quantity"], part["estimate"], strict=True))
            rate = part.filter(pl.col("quantity") == "rate").row(0, named=True)
            row = {"stage": label, "order": order, "split": split, "status": part["status"][0], "n": part["n"][0],
                   **{q: _float(value.get(q)) for q in JOINT}, "rate_lo": _float(rate["lo"]),
                   "rate_hi": _float(rate["hi"])}
            row["alpha_paper"] = row["alpha_p"]
            row["alpha_k1"] = row["k_alpha"]
            rows.append(row)
    return pl.DataFrame(rows, schema={"stage": pl.String, "order": pl.Int64, "split": pl.String, "status": pl.String,
                                      "n": pl.Int64, **{q: pl.Float64 for q in JOINT}, "rate_lo": pl.Float64,
                                      "rate_hi": pl.Float64, "alpha_paper": pl.Float64, "alpha_k1": pl.Float64})


def _float(x) -> float:
    return math.nan if x is None else float(x)


def markdown(stages: pl.DataFrame) -> str:
    def f(x: float, digits: int = 3) -> str:
        return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}g}"

    lines = ["# Training stages (SVG §4.4, Figs. 5 and 9)", "",
             "Joint fit per stage (U_s and U_v share the rate lam, Prop. 3.1). Identifiable: lam, U_s0, U_v0, the "
             "amplitudes alpha' and beta', delta = alpha' - beta', G_inf, alpha/beta, k alpha. The paper's alpha is "
             "not identifiable on its own; 'alpha (paper)' is alpha under the normalisation alpha - beta = delta, "
             "which makes it alpha', the amplitude of the U_s curve; 'alpha (k = 1)' is alpha under k = 1.", ""]
    for split in ("train", "test"):
        part = stages.filter(pl.col("split") == split).sort("order")
        if part.is_empty():
            continue
        lines += [f"## {split} split ({'Fig. 5' if split == 'train' else 'Fig. 9'})", "",
                  "| stage | status | lam (interval) | U_s0 | U_v0 | G_inf | delta | alpha' | beta' | alpha/beta | "
                  "k alpha | alpha (paper) | alpha (k = 1) | R2 U_s | R2 U_v |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in part.iter_rows(named=True):
            lines.append(f"| {r['stage']} | {r['status']} | {f(r['rate'])} ({f(r['rate_lo'])}, {f(r['rate_hi'])}) | "
                         f"{f(r['U_s0'])} | {f(r['U_v0'])} | {f(r['G_inf'])} | {f(r['delta'])} | {f(r['alpha_p'])} | "
                         f"{f(r['beta_p'])} | {f(r['alpha_over_beta'])} | {f(r['k_alpha'])} | "
                         f"{f(r['alpha_paper'])} | {f(r['alpha_k1'])} | {f(r['r2_U_s'])} | {f(r['r2_U_v'])} |")
        lines.append("")
    return "\n".join(lines)


def curves(row: dict, t: np.ndarray) -> dict[str, np.ndarray]:
    """The joint fit's U_s, U_v and G at `t` (Eqs. 10-11)."""
    decay = np.exp(-row["rate"] * t)
    return {"U_s": row["alpha_p"] * decay + row["U_s_inf"], "U_v": row["beta_p"] * decay + row["U_v_inf"],
            "G": row["delta"] * decay + row["G_inf"]}


def plot(labels: list[str], trajectories: list[pl.DataFrame], stages: pl.DataFrame, png: str | Path,
         pdf: str | Path, *, unit: str, title: str, width: float, height: float, dpi: int) -> None:
    """Figs. 5 (train, top row) and 9 (test, bottom row): U_s, U_v and G against t, a colour per stage;
    points measured, lines the joint fit (where it is usable)."""
    sns.set_theme(style="whitegrid", context="paper")
    splits = [s for s in ("train", "test") if s in stages["split"].to_list()]
    fig, axes = plt.subplots(len(splits), 3, figsize=(width, height * len(splits)), squeeze=False,
                             constrained_layout=True)
    palette = sns.color_palette(n_colors=len(labels))
    for order, (label, traj) in enumerate(zip(labels, trajectories, strict=True)):
        names = columns(traj, unit, label)
        for i, split in enumerate(splits):
            part = traj.filter(pl.col("split") == split).sort("t")
            fitted = stages.filter((pl.col("order") == order) & (pl.col("split") == split))
            row = fitted.row(0, named=True) if fitted.height else None
            usable = row is not None and all(np.isfinite(row[q]) for q in ("rate", "alpha_p", "beta_p", "U_s_inf"))
            grid = np.linspace(float(part["t"].min()), float(part["t"].max()), 80)
            fit = curves(row, grid) if usable else {}
            for j, series in enumerate(("U_s", "U_v", "G")):
                ax = axes[i][j]
                ax.scatter(part["t"], part[names[series]], color=palette[order], s=14)
                legend = f"{label}: lam {row['rate']:.3g}, alpha' {row['alpha_p']:.3g}" if usable else f"{label}"
                if usable:
                    ax.plot(grid, fit[series], color=palette[order], label=legend)
                else:
                    ax.plot(part["t"], part[names[series]], color=palette[order], ls=":", label=f"{label} (no fit)")
                ax.set(xlabel="t (epoch)", ylabel=names[series],
                       title=f"{series}, {split} split ({'Fig. 5' if split == 'train' else 'Fig. 9'})")
    for ax in axes.flat:
        ax.legend(fontsize="x-small")
    fig.suptitle(title)
    _save(fig, png, pdf, dpi)
