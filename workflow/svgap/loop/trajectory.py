"""The trajectory of a run: the metric rows of every (split, epoch), with the run's settings.

`results/<run>/trajectory.parquet` is long format, one row per (split, t), t = 0..T; its columns are
`svgap.columns.COLUMNS["trajectory"]` (documented in docs/tables.md). Other tools read this file.
The figure draws each quantity with its 95% band, +-1.96 times its bootstrap SE over prompts
(svgap.loop.metrics), where the trajectory has the `_se` column.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from svgap import tables  # noqa: E402
from svgap.columns import COLUMNS  # noqa: E402


def build(metric_paths: list[str | Path], run: dict) -> pl.DataFrame:
    rows = pl.concat([tables.read(p, "metrics") for p in metric_paths], how="vertical")
    rows = rows.with_columns(**{k: pl.lit(v) for k, v in run.items()}).sort("split", "t")
    duplicated = rows.select("split", "t").is_duplicated()
    if duplicated.any():
        raise ValueError(f"trajectory: repeated (split, t) rows {rows.filter(duplicated).select('split', 't').rows()}")
    return rows.select(list(COLUMNS["trajectory"]))


PANELS = (("total NLL (paper)", ["U_s", "U_v", "G"]), ("NLL per token", ["U_s_tok", "U_v_tok", "G_tok"]),
          ("accuracy", ["acc_s", "acc_v"]))
Z95 = 1.96  # the bands: value +- Z95 * SE, a 95% interval from the bootstrap SE over prompts (svgap.loop.metrics)


def bands(ax: Axes, trajectory: pl.DataFrame, column: str, colour: tuple[float, float, float]) -> None:
    """The +-1.96 SE band of `column` per split, where the trajectory has its `<column>_se` (a NaN SE: no band)."""
    if f"{column}_se" not in trajectory.columns:
        return
    for split in trajectory["split"].unique(maintain_order=True):
        part = trajectory.filter(pl.col("split") == split).sort("t")
        value, se = part[column].to_numpy().astype(float), part[f"{column}_se"].to_numpy().astype(float)
        ax.fill_between(part["t"].to_numpy(), value - Z95 * se, value + Z95 * se, color=colour, alpha=0.15,
                        linewidth=0)


def plot(trajectory: pl.DataFrame, out_png: str | Path, out_pdf: str | Path, *, width: float, height: float,
         dpi: int, title: str) -> None:
    """U_s, U_v, G (total and per token) and solver / verifier accuracy against t, train and test, each with
    its 95% band (+-1.96 SE, bootstrap over prompts) where the trajectory has the SE column."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(width, height), constrained_layout=True)
    for ax, (label, columns) in zip(axes, PANELS, strict=True):
        long = trajectory.unpivot(index=["split", "t"], on=columns, variable_name="quantity", value_name="value")
        palette = dict(zip(columns, sns.color_palette(n_colors=len(columns)), strict=True))
        sns.lineplot(long.to_pandas(), x="t", y="value", hue="quantity", hue_order=columns, palette=palette,
                     style="split", markers=True, errorbar=None, ax=ax)  # one row per point: our bands
        for column in columns:
            bands(ax, trajectory, column, palette[column])
        ax.set(title=label, xlabel="epoch t", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(out_png, dpi=dpi)
    fig.savefig(out_pdf)
    plt.close(fig)
