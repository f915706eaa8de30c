"""MTG's tables across models (Tables 1-7) and its figures (Figs. 5-7, 11, 14-19) for one task.

Numbers in the Markdown and LaTeX tables are percentages, as in the paper, with the standard error
over prompts in parentheses; the CSV and Parquet copies keep fractions and every count.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.plots import _save  # noqa: E402


def _pct(value, se) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{100 * value:.2f}" + ("" if se is None or np.isnan(se) else f" ({100 * se:.2f})")


def combined(summaries: list[pl.DataFrame], models: list[str], ensembles: list[str]) -> pl.DataFrame:
    """Every model's summary rows, long, with the model and whether the row is an ensemble."""
    return pl.concat([s.with_columns(model=pl.lit(m), ensemble=pl.col("filter").is_in(ensembles))
                      for s, m in zip(summaries, models, strict=True)]).select("model", "ensemble", pl.all().exclude(
                          "model", "ensemble"))


def by_filter(table: pl.DataFrame, value: str, filters: list[str]) -> pd.DataFrame:
    """Rows models, columns the generation accuracy and `value` (gap or rel_gap) of each filter (MTG
    Tables 3, 4 and 7)."""
    rows = []
    for model in table["model"].unique(maintain_order=True):
        own = table.filter(pl.col("model") == model)
        first = own.row(0, named=True)
        row = {"model": model, "Accuracy": _pct(first["acc"], first["acc_se"])}
        for f in filters:
            hit = own.filter(pl.col("filter") == f)
            row[f] = _pct(*hit.select(value, f"{value}_se").row(0)) if hit.height else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def by_model(table: pl.DataFrame, filters: list[str]) -> pd.DataFrame:
    """Rows the generation accuracy, then each filter's gap and relative gap; columns models (MTG Tables
    1, 5 for Natural Questions and 2, 6 for Sudoku)."""
    models = table["model"].unique(maintain_order=True).to_list()
    out = {"": ["Generation accuracy"]}
    for f in filters:
        out[""] += [f"gap, {f}", f"relative gap, {f}"]
    for model in models:
        own = table.filter(pl.col("model") == model)
        first = own.row(0, named=True)
        cells = [_pct(first["acc"], first["acc_se"])]
        for f in filters:
            hit = own.filter(pl.col("filter") == f)
            cells += ([_pct(*hit.select("gap", "gap_se").row(0)), _pct(*hit.select("rel_gap", "rel_gap_se").row(0))]
                      if hit.height else ["–", "–"])
        out[model] = cells
    return pd.DataFrame(out)


def _grid(n: int, width: float, height: float):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(width, height), squeeze=False)
    return fig, axes[0]


def plot_sweep(sweep: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int) -> None:
    """The gap against the threshold, a panel per filter family, a line per model (MTG Figs. 5, 14)."""
    families = sweep["family"].unique(maintain_order=True).to_list() if sweep.height else []
    fig, axes = _grid(len(families), width, height)
    for ax, family in zip(axes, families, strict=False):
        part = sweep.filter(pl.col("family") == family)
        for model in part["model"].unique(maintain_order=True):
            own = part.filter(pl.col("model") == model).sort("value")
            ax.errorbar(own["value"], 100 * own["gap"], yerr=100 * own["gap_se"].fill_null(0), marker="o",
                        capsize=2, label=model)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(title=family, xlabel="quantile" if part["kind"][0] == "quantile" else "threshold tau", ylabel="gap (%)")
    if families:
        axes[0].legend(fontsize=7)
    else:
        axes[0].text(0.5, 0.5, "no method of the sweep was run", ha="center", transform=axes[0].transAxes)
    fig.tight_layout()
    _save(fig, png, pdf, dpi)


def plot_rounds(rounds: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int) -> None:
    """Tournament: accuracy of the survivors per round (left) and the gap to the previous round (right),
    MTG Figs. 6, 15."""
    fig, (left, right) = _grid(2, width, height)
    for model in rounds["model"].unique(maintain_order=True):
        own = rounds.filter(pl.col("model") == model).sort("round")
        left.errorbar(own["round"], 100 * own["accuracy"], yerr=100 * own["accuracy_se"].fill_null(0), marker="o",
                      capsize=2, label=model)
        later = own.filter(pl.col("round") > 0)
        right.errorbar(later["round"], 100 * later["gap_previous"], yerr=100 * later["gap_previous_se"].fill_null(0),
                       marker="o", capsize=2, label=model)
    left.set(xlabel="round", ylabel="accuracy of the survivors (%)", title="accuracy per round")
    right.set(xlabel="round", ylabel="gap to the previous round (%)", title="gap per round")
    right.axhline(0, color="grey", lw=0.8)
    left.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, png, pdf, dpi)


def plot_distribution(prompts: pl.DataFrame, filters: list[str], png, pdf, *, bin_width: float, width: float,
                      height: float, dpi: int) -> None:
    """Per-prompt gap histograms, a row per model and a column per filter, with mean and standard deviation
    (MTG Figs. 7 left, 17). Prompts whose filter keeps nothing are left out (they have no gap)."""
    models = prompts["model"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(len(models), len(filters), figsize=(width, height * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, f in enumerate(filters):
            ax = axes[i][j]
            gaps = prompts.filter((pl.col("model") == model) & (pl.col("filter") == f))["gap"].drop_nulls().to_numpy()
            if gaps.size:
                lo, hi = np.floor(gaps.min() / bin_width), np.ceil(gaps.max() / bin_width) + 1
                ax.hist(gaps, bins=np.arange(lo, hi + 1) * bin_width - bin_width / 2, color="C0")
                ax.set_title(f"{model}, {f}\nmu {gaps.mean():.3f}, sigma {gaps.std():.3f}", fontsize=8)
            else:
                ax.set_title(f"{model}, {f}: nothing kept", fontsize=8)
            ax.set(xlabel="gap of a prompt", ylabel="prompts")
    fig.tight_layout()
    _save(fig, png, pdf, dpi)


def plot_correlation(corr: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int) -> None:
    """Pearson r of the methods' outputs (MTG Fig. 18) and of the filters' per-prompt gaps with the
    generation accuracy (Fig. 19), a row per model."""
    models = corr["model"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(len(models), 2, figsize=(width, 1.4 * height * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, kind in enumerate(("scores", "gaps")):
            part = corr.filter((pl.col("model") == model) & (pl.col("kind") == kind)).to_pandas()
            ax = axes[i][j]
            if part.empty:
                ax.set_axis_off()
                continue
            order = list(dict.fromkeys(part["a"]))
            matrix = part.pivot(index="a", columns="b", values="r").reindex(index=order, columns=order)
            sns.heatmap(matrix.astype(float), vmin=-1, vmax=1, cmap="vlag", annot=True, fmt=".2f", ax=ax, cbar=False,
                        annot_kws={"fontsize": 7})
            ax.set(title=f"{model}: {'verification outputs' if kind == 'scores' else 'gaps and accuracy'}",
                   xlabel="", ylabel="")
    fig.tight_layout()
    _save(fig, png, pdf, dpi)


def _per_model(df: pl.DataFrame, panel, png, pdf, *, width: float, height: float, dpi: int) -> None:
    """One panel per model, side by side: `panel(ax, model, its rows)` draws each."""
    models = df["model"].unique(maintain_order=True).to_list()
    fig, axes = _grid(len(models), width, height)
    for ax, model in zip(axes, models, strict=False):
        panel(ax, model, df.filter(pl.col("model") == model))
    fig.tight_layout()
    _save(fig, png, pdf, dpi)


def plot_cot_score(scores: pl.DataFrame, png, pdf, **size) -> None:
    """The CoT-Score distribution per model, unparsed replies apart (MTG Fig. 16a)."""
    def panel(ax, model, own):
        parsed = own.filter(pl.col("cot_score_parsed"))["cot_score"].round(0).cast(pl.Int64).to_list()
        counts = [parsed.count(v) for v in range(1, 11)] + [own.height - len(parsed)]
        ax.bar([str(v) for v in range(1, 11)] + ["unparsed"], counts, color=["C0"] * 10 + ["C3"])
        ax.set(title=model, xlabel="CoT-Score", ylabel="responses")
        ax.tick_params(axis="x", labelsize=7)

    _per_model(scores, panel, png, pdf, **size)


def plot_variance(variance: pl.DataFrame, png, pdf, **size) -> None:
    """Histogram of the verifier's variance p(1 - p) over repeated CoT-Binary verifications (MTG Fig. 11)."""
    def panel(ax, model, own):
        ax.hist(own["variance"].to_numpy(), bins=np.linspace(0, 0.25, 11), color="C2")
        ax.set(title=f"{model}: k = {own['k'].max()}", xlabel="p (1 - p)", ylabel="responses", xlim=(0, 0.25))

    _per_model(variance, panel, png, pdf, **size)
