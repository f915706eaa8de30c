"""The trajectory of a run: the metric rows of every (split, epoch), with the run's settings.

`results/<run>/trajectory.parquet` is long format, one row per (split, t), t = 0..T; its columns are
`svgap.columns.COLUMNS["trajectory"]` (documented in docs/tables.md). Other tools read this file.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402
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


def plot(trajectory: pl.DataFrame, out_png: str | Path, out_pdf: str | Path, *, width: float, height: float,
         dpi: int, title: str) -> None:
    """U_s, U_v, G (total and per token) and solver / verifier accuracy against t, train and test."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(width, height), constrained_layout=True)
    for ax, (label, columns) in zip(axes, PANELS, strict=True):
        long = trajectory.unpivot(index=["split", "t"], on=columns, variable_name="quantity", value_name="value")
        sns.lineplot(long.to_pandas(), x="t", y="value", hue="quantity", style="split", markers=True, ax=ax)
        ax.set(title=label, xlabel="epoch t", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(out_png, dpi=dpi)
    fig.savefig(out_pdf)
    plt.close(fig)
