"""The relative gap against pre-training compute (MTG §4.1, Fig. 1; the absolute gap, Fig. 12).

Each model's pre-training FLOPs come from its config metadata (`models.<name>.scale`): `flops` when
given, else 6 N D (N parameters, D pre-training tokens: the usual dense-transformer estimate). Its
family is `scale.family`, else the name up to its last '-' (qwen1.5-7b -> qwen1.5). MTG conjectures
that, with a verification that elicits it (CoT-Score), the relative gap is linear in log FLOPs within a
family, with a slope of its own per family: here an ordinary least-squares line of the gap (as a
fraction) on log10 FLOPs per (family, filter, measure), with the slope's confidence interval (t
distribution, n - 2 degrees of freedom). A family with two models gets a line without an interval, one
with fewer none; a model without metadata is left out of every fit, and named and counted.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402
import statsmodels.api as sm  # noqa: E402

from svgap.config import pretraining_flops  # noqa: E402
from svgap.dynamics.plots import _save  # noqa: E402

MEASURES = {"rel_gap": "relative gap (%)", "gap": "gap (%)"}  # MTG Fig. 1, Fig. 12
FIT_SCHEMA = {"family": pl.String, "filter": pl.String, "measure": pl.String, "n_models": pl.Int64,
              "slope": pl.Float64, "slope_lo": pl.Float64, "slope_hi": pl.Float64, "intercept": pl.Float64,
              "r2": pl.Float64, "p_value": pl.Float64, "status": pl.String}


def family(name: str, scale: dict | None) -> str:
    return (scale or {}).get("family") or name.rsplit("-", 1)[0]


def points(table: pl.DataFrame, scales: dict[str, dict | None], filters: list[str]) -> tuple[pl.DataFrame, list[str]]:
    """(points, models left out): one row per (model, filter) with its family, FLOPs, log10 FLOPs, gap
    and relative gap (fractions) and their standard errors, for the `filters` of a task's gap table."""
    meta = [(m, family(m, s), pretraining_flops(m, s)) for m, s in scales.items()]
    left_out = [m for m, _, f in meta if f is None]
    known = pl.DataFrame([(m, fam, f) for m, fam, f in meta if f is not None],
                         schema={"model": pl.String, "family": pl.String, "flops": pl.Float64}, orient="row")
    rows = (table.filter(pl.col("filter").is_in(filters)).join(known, on="model", how="inner")
            .with_columns(log10_flops=pl.col("flops").log10())
            .select("model", "family", "flops", "log10_flops", "filter", "gap", "gap_se", "rel_gap", "rel_gap_se")
            .sort("filter", "family", "flops"))
    return rows, left_out


def fit(points: pl.DataFrame, confidence: float) -> pl.DataFrame:
    """Per (family, filter, measure): the least-squares line of the measure on log10 FLOPs."""
    rows = []
    for (fam, name), part in points.group_by("family", "filter", maintain_order=True):
        for measure in MEASURES:
            data = part.drop_nulls(measure)
            x, y = data["log10_flops"].to_numpy(), data[measure].to_numpy()
            row = {"family": fam, "filter": name, "measure": measure, "n_models": len(x), "slope": None,
                   "slope_lo": None, "slope_hi": None, "intercept": None, "r2": None, "p_value": None}
            if len(x) < 2 or np.ptp(x) == 0:
                rows.append({**row, "status": "fewer than two models of distinct FLOPs"})
                continue
            result = sm.OLS(y, sm.add_constant(x)).fit()
            row.update(slope=float(result.params[1]), intercept=float(result.params[0]))
            if len(x) == 2:
                rows.append({**row, "status": "two models: a line without an interval"})
                continue
            lo, hi = result.conf_int(alpha=1 - confidence)[1]
            row.update(slope_lo=float(lo), slope_hi=float(hi), p_value=float(result.pvalues[1]),
                       r2=float(result.rsquared) if np.ptp(y) > 0 else None)  # a constant measure has no R^2
            rows.append({**row, "status": "ok"})
    return pl.DataFrame(rows, schema=FIT_SCHEMA)


def markdown(fits: pl.DataFrame, left_out: list[str], confidence: float) -> str:
    """The slope of each family's line, per filter and measure (percentage points per decade of FLOPs)."""
    lines = [f"| measure | filter | family | models | slope (pp / decade) | {100 * confidence:g}% interval "
             "| R^2 | status |",
             "|---|---|---|---|---|---|---|---|"]

    def pp(v):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"
    for r in fits.sort("measure", "filter", "family", descending=[True, False, False]).iter_rows(named=True):
        interval = "–" if r["slope_lo"] is None else f"[{pp(r['slope_lo'])}, {pp(r['slope_hi'])}]"
        r2 = "–" if r["r2"] is None else f"{r['r2']:.2f}"
        lines.append(f"| {r['measure']} | {r['filter']} | {r['family']} | {r['n_models']} | {pp(r['slope'])} "
                     f"| {interval} | {r2} | {r['status']} |")
    if left_out:
        lines += ["", f"Left out (no `models.<name>.scale` in the config): {', '.join(left_out)}."]
    return "\n".join(lines) + "\n"


def plot(points: pl.DataFrame, fits: pl.DataFrame, measure: str, png, pdf, *, width: float, height: float,
         dpi: int, title: str) -> None:
    """`measure` against log10 FLOPs, a panel per filter, a colour per family with its fitted line."""
    filters = points["filter"].unique(maintain_order=True).to_list() or ["(no model with metadata)"]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(filters), figsize=(width, height), squeeze=False, constrained_layout=True)
    families = points["family"].unique(maintain_order=True).to_list()
    colours = dict(zip(families, sns.color_palette(n_colors=max(len(families), 1)), strict=False))
    for ax, name in zip(axes[0], filters, strict=True):
        part = points.filter(pl.col("filter") == name)
        for fam in families:
            own = part.filter(pl.col("family") == fam)
            if not own.height:
                continue
            ax.errorbar(own["log10_flops"], 100 * own[measure], yerr=100 * own[f"{measure}_se"].fill_null(0),
                        fmt="o", color=colours[fam], label=fam, capsize=2)
            line = fits.filter((pl.col("family") == fam) & (pl.col("filter") == name) & (pl.col("measure") == measure))
            if line.height and line["slope"][0] is not None:
                x = np.array([own["log10_flops"].min(), own["log10_flops"].max()])
                ax.plot(x, 100 * (line["intercept"][0] + line["slope"][0] * x), color=colours[fam], linewidth=1)
        ax.set(title=name, xlabel="log10 pre-training FLOPs", ylabel=MEASURES[measure])
        if families:
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    _save(fig, png, pdf, dpi)
