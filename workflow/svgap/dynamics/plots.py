"""Figures of the analysis (seaborn; PNG and PDF). A failed fit still gives a readable figure: the data
are drawn, and the fit's status is written where its curve would be."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.analyse import SERIES, columns  # noqa: E402


def _save(fig, png: str | Path, pdf: str | Path, dpi: int) -> None:
    fig.savefig(png, dpi=dpi)
    fig.savefig(pdf)
    plt.close(fig)


def _estimates(fits: pl.DataFrame, split: str, name: str) -> tuple[str, dict[str, float]]:
    rows = fits.filter((pl.col("split") == split) & (pl.col("fit") == name))
    status = rows["status"][0] if rows.height else "missing"
    return status, dict(zip(rows["quantity"], rows["estimate"], strict=True))


def plot_fits(traj: pl.DataFrame, fits: pl.DataFrame, png, pdf, *, unit: str, width: float, height: float,
              dpi: int, title: str) -> None:
    """Fig. 4 / 14-17: U_s, U_v, G per split with their exponential fits and R^2; joint fit dashed."""
    names = columns(traj, unit)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 3, figsize=(width, height), constrained_layout=True)
    palette = dict(zip(sorted(traj["split"].unique()), sns.color_palette(n_colors=4), strict=False))
    for ax, series in zip(axes, SERIES, strict=True):
        for split, color in palette.items():
            part = traj.filter(pl.col("split") == split).sort("t")
            t, y = part["t"].to_numpy(), part[names[series]].to_numpy()
            ax.scatter(t, y, color=color, s=18, zorder=3)
            status, est = _estimates(fits, split, series)
            grid = np.linspace(float(np.nanmin(t)), float(np.nanmax(t)), 100) if len(t) else np.array([])
            if status in ("ok", "no_decay", "rate_at_upper_bound") and np.isfinite(est.get("rate", np.nan)):
                curve = est["amplitude"] * np.exp(-est["rate"] * grid) + est["limit"]
                ax.plot(grid, curve, color=color, label=f"{split}: R² = {est['r2']:.3f}")
            else:
                ax.plot([], [], color=color, label=f"{split}: no fit ({status})")
            jstatus, j = _estimates(fits, split, "joint")
            if series != "G" and jstatus == "ok":
                amp, lim = (j["alpha_p"], j["U_s_inf"]) if series == "U_s" else (j["beta_p"], j["U_v_inf"])
                ax.plot(grid, amp * np.exp(-j["rate"] * grid) + lim, color=color, ls="--", lw=0.8)
        ax.set(title=names[series], xlabel="epoch t", ylabel=names[series])
        ax.legend(fontsize="small")
    fig.suptitle(f"{title}: exponential fits (solid), joint fit of U_s and U_v (dashed)")
    _save(fig, png, pdf, dpi)


def plot_dgdt(points: pl.DataFrame, dgdt: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int,
              title: str) -> None:
    """Fig. 2 / 8: dG/dt against G with the OLS line, slope, R^2 and p per split."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(width / 2, height), constrained_layout=True)
    for (split, color) in zip(sorted(points["split"].unique()), sns.color_palette(n_colors=4), strict=False):
        pts = points.filter(pl.col("split") == split)
        row = dgdt.filter(pl.col("split") == split).row(0, named=True)
        ax.scatter(pts["G"], pts["dGdt"], color=color, s=18, zorder=3)
        if row["status"] in ("ok", "gap_not_shrinking"):
            g = np.linspace(float(pts["G"].min()), float(pts["G"].max()), 50)
            ax.plot(g, row["intercept_value"] + row["slope"] * g, color=color,
                    label=f"{split}: slope {row['slope']:.3g}, R² {row['r2']:.3f}, p {row['p_value']:.2g}")
        else:
            ax.plot([], [], color=color, label=f"{split}: no fit ({row['status']})")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set(xlabel="gap G", ylabel="dG/dt", title=title)
    ax.legend(fontsize="small")
    _save(fig, png, pdf, dpi)


def plot_prediction(traj: pl.DataFrame, curves: pl.DataFrame, scores: pl.DataFrame, png, pdf, *, unit: str,
                    width: float, height: float, dpi: int, title: str) -> None:
    """Fan chart: U_s predicted from the first k epochs, with prediction intervals, against the run."""
    names = columns(traj, unit)
    split = curves["split"][0] if curves.height else "train"
    part = traj.filter(pl.col("split") == split).sort("t")
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(width / 2, height), constrained_layout=True)
    ks = sorted(curves["k"].unique())
    for k, color in zip(ks, sns.color_palette("viridis", n_colors=max(len(ks), 1)), strict=False):
        c = curves.filter(pl.col("k") == k)
        s = scores.filter(pl.col("k") == k).row(0, named=True)
        label = f"first {k:g}: U_s∞ {s['U_s_inf']:.3g} [{s['U_s_inf_lo']:.3g}, {s['U_s_inf_hi']:.3g}]"
        if s["status"] != "ok":
            label = f"first {k:g}: {s['status']}"
        ax.plot(c["t"], c["U_s_pred"], color=color, label=label)
        ax.fill_between(c["t"].to_numpy(), c["lo"].to_numpy(), c["hi"].to_numpy(), color=color, alpha=0.15)
        ax.axvline(k, color=color, ls=":", lw=0.8)
    ax.scatter(part["t"], part[names["U_s"]], color="black", s=18, zorder=3, label=f"observed ({split})")
    ax.set(xlabel="epoch t", ylabel=names["U_s"], title=f"{title}: early prediction")
    ax.legend(fontsize="small")
    _save(fig, png, pdf, dpi)


def plot_comparison(comparison: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int,
                    title: str) -> None:
    """Model comparison: AICc above the best family, and held-out RMSE, per series and split."""
    table = comparison.with_columns(
        delta_aicc=pl.col("aicc") - pl.col("aicc").fill_nan(None).min().over("split", "series"))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 2, figsize=(width, height), constrained_layout=True)
    for ax, (column, label) in zip(axes, (("delta_aicc", "AICc - best AICc (in-sample)"),
                                          ("holdout_rmse", "RMSE on held-out last epochs")), strict=True):
        data = table.with_columns(where=pl.col("series") + " / " + pl.col("split")).to_pandas()
        sns.barplot(data, x="where", y=column, hue="family", ax=ax)
        ax.set(xlabel="", ylabel=label)
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"{title}: exponential law against rivals")
    _save(fig, png, pdf, dpi)


def plot_dgdt_runs(points: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int) -> None:
    """Fig. 2 / 8 across runs: one panel per model, one colour per task / method."""
    sns.set_theme(style="whitegrid", context="paper")
    models = sorted(points["model"].unique()) if points.height else []
    fig, axes = plt.subplots(1, max(len(models), 1), figsize=(width, height), squeeze=False,
                             constrained_layout=True)
    if not models:
        axes[0][0].text(0.5, 0.5, "no dG/dt points (too few checkpoints)", ha="center", va="center")
    for ax, model in zip(axes[0], models, strict=False):
        part = points.filter(pl.col("model") == model)
        for label, color in zip(sorted(part["label"].unique()), sns.color_palette(n_colors=10), strict=False):
            pts = part.filter(pl.col("label") == label)
            ax.scatter(pts["G"], pts["dGdt"], color=color, s=14)
            if pts.height >= 3 and pts["G"].n_unique() > 1:
                slope, icpt = np.polyfit(pts["G"].to_numpy(), pts["dGdt"].to_numpy(), 1)
                g = np.linspace(float(pts["G"].min()), float(pts["G"].max()), 20)
                ax.plot(g, icpt + slope * g, color=color, label=label)
            else:
                ax.plot([], [], color=color, label=f"{label} (too few points)")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set(title=model, xlabel="gap G", ylabel="dG/dt")
        ax.legend(fontsize="x-small")
    _save(fig, png, pdf, dpi)

