"""Cross-evaluation (SVG App. D.2, Figs. 21-22; MTG §4, Fig. 3): model A's responses verified by model B.

Every solver checkpoint A samples once (or brings its run's own samples of checkpoint t). Every verifier
checkpoint B then scores those same responses (one verify job per pair), with A's seed and checkpoint in
the seeds of its verdicts, so the pair (A, A) reproduces A's own verification of them. From B's scores the
cell takes the loop's selection and metrics (svgap.loop.bon, svgap.loop.metrics) at the method's threshold:

- acc_s, U_s: the solver's own figures (sample 0 of A, Eq. 5). They do not depend on B.
- acc_v, U_v: the Best-of-N pick by B's score. Its NLL is A's: the response's uncertainty under the
  model that wrote it, as in the loop. SVG's figures show acc_v - acc_s and the difference of
  uncertainties.
- gv_gap: MTG's generation-verification gap of B's filter on A's responses (Def. 2.1). MTG Fig. 3's
  cross-verification gap is this with an MTG method.

The diagonal (B = A) is each solver's self-verification. For a solver that names a run's checkpoint it
is that run's verifier: the same responses and verdicts, so the same acc_v, U_v and gv_gap as the run's
trajectory at t (up to rounding for a run selecting by P(correct) alone, which reads it off a prefill of
its own while a matrix with TF reads it off the TF reply's: `verifier.methods` auto).
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.plots import _save  # noqa: E402
from svgap.loop import bon  # noqa: E402
from svgap.loop.metrics import row as metrics_row  # noqa: E402

log = logging.getLogger(__name__)

FIGURES = ("n_prompts", "n_empty", "acc_s", "acc_v", "U_s", "U_v", "G", "U_s_tok", "U_v_tok", "gv_gap", "gv_gap_se",
           "auc_select")
# the heat maps: (column, title)
PANELS = (("acc_v", "verifier accuracy acc_v"), ("acc_gain", "acc_v - acc_s"), ("G", "U_s - U_v (NLL)"),
          ("gv_gap", "MTG gap of the filter"))


def cells(samples: pl.DataFrame, *, solver: str, verifier: str, split: str, methods: list[str], sigma: dict,
          quantile: dict, empty_policy: str) -> pl.DataFrame:
    """The cells of one (solver, verifier, split), a row per method: `samples` is the solver's responses of
    the split with the verifier's scores and the grades (svgap.loop.grading.samples)."""
    rows = []
    for method in methods:
        picks = bon.picks(samples, method=method, sigma=sigma[method], empty_policy=empty_policy,
                          quantile=quantile[method])
        row = metrics_row(samples, picks, method=method, sigma=sigma[method], split=split, t=0,
                          empty_policy=empty_policy, quantile=quantile[method]).select(*FIGURES)
        rows.append(row.with_columns(solver=pl.lit(solver), verifier=pl.lit(verifier), split=pl.lit(split),
                                     method=pl.lit(method), acc_gain=pl.col("acc_v") - pl.col("acc_s")))
    return pl.concat(rows).select("solver", "verifier", "split", "method", *FIGURES, "acc_gain")


def markdown(matrix: pl.DataFrame, names: list[str]) -> str:
    """Per method and split: acc_v - acc_s and U_s - U_v, solver rows against verifier columns."""
    lines = ["# Cross-evaluation (SVG Figs. 21-22; MTG Fig. 3)", "",
             "Rows: the solver whose responses are verified; columns: the verifier. Cell: acc_v - acc_s in points "
             "(the verifier's Best-of-N pick against the solver's sample), then U_s - U_v (NLL under the solver).",
             ""]
    for (method, split), part in matrix.group_by("method", "split", maintain_order=True):
        lines += [f"## {method}, {split} split", "", "| solver \\ verifier | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for solver in names:
            cells_ = []
            for verifier in names:
                cell = part.filter((pl.col("solver") == solver) & (pl.col("verifier") == verifier))
                cells_.append("" if cell.is_empty() else
                              f"{100 * cell['acc_gain'][0]:+.1f} / {cell['G'][0]:+.2f}")
            lines.append(f"| {solver} | " + " | ".join(cells_) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(matrix: pl.DataFrame, png: str | Path, pdf: str | Path, *, names: list[str], title: str, width: float,
         height: float, dpi: int) -> None:
    """Heat maps, solver rows against verifier columns: a row of panels per method and split (PANELS)."""
    groups = list(matrix.group_by("method", "split", maintain_order=True))
    sns.set_theme(style="white", context="paper")
    size = max(2.2, 0.55 * len(names) + 1.2)
    fig, axes = plt.subplots(len(groups), len(PANELS), figsize=(max(width, size * len(PANELS)), size * len(groups)),
                             squeeze=False, constrained_layout=True)
    for i, ((method, split), part) in enumerate(groups):
        for j, (column, label) in enumerate(PANELS):
            grid = (part.select("solver", "verifier", column).to_pandas()
                    .pivot(index="solver", columns="verifier", values=column).reindex(index=names, columns=names))
            # one colour scale per panel column across the figure: accuracy on [0, 1], differences
            # symmetric about 0, so that equal colours mean equal values
            if column == "acc_v":
                scale = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
            else:
                bound = float(matrix[column].abs().fill_nan(0.0).max() or 0.0) or 1.0
                scale = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound, "center": 0.0}
            sns.heatmap(grid, ax=axes[i][j], annot=True, fmt=".2f", cbar=False, **scale)
            axes[i][j].set(title=f"{label}\n{method}, {split}", xlabel="verifier", ylabel="solver")
    fig.suptitle(title)
    _save(fig, png, pdf, dpi)
