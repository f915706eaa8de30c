"""The per-run analysis tables, from a trajectory table to the numbers behind every dynamics figure.

Each function takes a trajectory (svgap.columns.COLUMNS["trajectory"], or a simulated one with at least
split, t, U_s, U_v, G, acc_s, acc_v) and plain settings, and returns a long-format table whose
columns are listed in svgap.columns.COLUMNS (docs/tables.md). `unit` picks the paper's total NLL
("total": U_s, U_v, G) or the per-token form ("token": U_s_tok, U_v_tok, G_tok).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from svgap.columns import COLUMNS
from svgap.dynamics import cross, forecast, rates
from svgap.dynamics.fit import Fit, FitSettings, fit, fit_joint
from svgap.dynamics.theory import epochs_to_converge, identified

UNITS = {"total": "", "token": "_tok"}
SERIES = ("U_s", "U_v", "G")


def columns(traj: pl.DataFrame, unit: str, source: str = "trajectory") -> dict[str, str]:
    """The trajectory's column for U_s, U_v, G in the chosen unit; an error names what is missing."""
    if unit not in UNITS:
        raise ValueError(f"analysis.unit must be one of {sorted(UNITS)}, got {unit!r}")
    names = {s: s + UNITS[unit] for s in SERIES}
    missing = [c for c in ["split", "t", *names.values()] if c not in traj.columns]
    if missing:
        raise ValueError(f"{source}: lacks column(s) {missing} needed for analysis.unit={unit!r}")
    return names


def splits(traj: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    return [(s, traj.filter(pl.col("split") == s).sort("t")) for s in sorted(traj["split"].unique())]


def _rows(split: str, name: str, f: Fit, quantities: dict[str, tuple]) -> list[dict]:
    return [{"split": split, "fit": name, "status": f.status, "note": f.note, "n": f.n, "n_nan": f.n_nan,
             "quantity": q, "estimate": v[0], "se": v[1], "lo": v[2], "hi": v[3]} for q, v in quantities.items()]


def _point(value: float) -> tuple:
    return (value, math.nan, math.nan, math.nan)


def _with_rate_interval(f: Fit, values: tuple) -> tuple:
    return (values[0], values[1], *f.rate_interval) if f.usable else values


def fits_table(traj: pl.DataFrame, unit: str, settings: FitSettings, epsilon: float) -> pl.DataFrame:
    names = columns(traj, unit)
    rows = []
    for split, part in splits(traj):
        t = part["t"].to_numpy()
        for series in SERIES:
            f = fit(t, {series: part[names[series]].to_numpy()}, "exponential", settings)
            q = {
                "rate": _with_rate_interval(f, f.estimate(lambda p: p["rate"])),
                "amplitude": f.estimate(lambda p, s=series: p[f"a_{s}"]),
                "limit": f.estimate(lambda p, s=series: p[f"c_{s}"]),
                "r2": _point(f.r2.get(series, math.nan)),
            }
            rows += _rows(split, series, f, q)
        j = fit_joint(t, part[names["U_s"]].to_numpy(), part[names["U_v"]].to_numpy(), settings)

        def ident(p, key):
            return identified(p["rate"], p["alpha_p"], p["beta_p"], p["U_s_inf"], p["U_v_inf"])[key]

        keys = ("rate", "U_s_inf", "U_v_inf", "G_inf", "delta", "alpha_p", "beta_p", "alpha_over_beta",
                "k_alpha", "k_beta", "alpha_b", "beta_b")
        q = {key: j.estimate(lambda p, key=key: ident(p, key)) for key in keys}
        q["rate"] = _with_rate_interval(j, q["rate"])
        q["U_s0"] = j.estimate(lambda p: p["alpha_p"] + p["U_s_inf"])
        q["U_v0"] = j.estimate(lambda p: p["beta_p"] + p["U_v_inf"])
        q["t_eps"] = j.estimate(lambda p: epochs_to_converge(p["alpha_p"] - p["beta_p"], p["rate"], epsilon))
        q["epsilon"] = _point(epsilon)
        q["r2_U_s"] = _point(j.r2.get("U_s", math.nan))
        q["r2_U_v"] = _point(j.r2.get("U_v", math.nan))
        rows += _rows(split, "joint", j, q)
    return pl.DataFrame(rows, schema={c: (pl.Utf8 if c in ("split", "fit", "status", "note", "quantity")
                                          else pl.Int64 if c in ("n", "n_nan") else pl.Float64)
                                      for c in COLUMNS["fits"]})


def dgdt_tables(traj: pl.DataFrame, unit: str, scheme: str, intercept: bool,
                points: str = "epochs") -> tuple[pl.DataFrame, pl.DataFrame]:
    """(points, one row per split): Fig. 2/8 and Table 4, on the checkpoints `points` names (rates.POINTS)."""
    names = columns(traj, unit)
    frames, rows = [], []
    for split, part in splits(traj):
        pts = rates.finite_differences(part["t"].to_numpy(), part[names["G"]].to_numpy(), scheme, points)
        frames.append(pts.with_columns(split=pl.lit(split)).select(list(COLUMNS["dgdt_points"])))
        ols = rates.fit_dgdt(pts, scheme, intercept)
        ftest = rates.partial_f_test(pts, intercept)
        rows.append({"split": split, "scheme": scheme, "points": points, "intercept": intercept, "n": ols["n"],
                     "slope": ols["slope"], "slope_se": ols["slope_se"], "intercept_value": ols["intercept"],
                     "intercept_se": ols["intercept_se"], "r2": ols["r2"], "p_value": ols["p_value"],
                     "rate": ols["rate"], "G_inf": ols["G_inf"], "status": ols["status"], "F": ftest["F"],
                     "F_p_value": ftest["p_value"], "F_df_den": ftest["df_den"], "F_n": ftest["n"],
                     "F_status": ftest["status"]})
    return pl.concat(frames), pl.DataFrame(rows).select(list(COLUMNS["dgdt"]))


def correlation_table(traj: pl.DataFrame, unit: str) -> pl.DataFrame:
    names = columns(traj, unit)
    rows = []
    for split, part in splits(traj):
        for u, acc in ((names["U_s"], "acc_s"), (names["U_v"], "acc_v")):
            if acc not in part.columns:
                raise ValueError(f"trajectory lacks column {acc!r} needed for the correlation table")
            rows.append({"split": split, "uncertainty": u, "accuracy": acc,
                         **rates.pearson(part[u].to_numpy(), part[acc].to_numpy())})
    return pl.DataFrame(rows).select(list(COLUMNS["correlation"]))


def prediction_tables(traj: pl.DataFrame, unit: str, split: str, first: list[float], epsilon: float,
                      settings: FitSettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    names = columns(traj, unit)
    part = traj.filter(pl.col("split") == split).sort("t")
    if part.height == 0:
        raise ValueError(f"analysis.prediction.split: no {split!r} rows in the trajectory")
    curves, scores = forecast.early_prediction(part["t"].to_numpy(), part[names["U_s"]].to_numpy(),
                                               part[names["U_v"]].to_numpy(), first, epsilon, settings)
    return (curves.with_columns(split=pl.lit(split)).select(list(COLUMNS["prediction"])),
            scores.with_columns(split=pl.lit(split)).select(list(COLUMNS["prediction_scores"])))


def comparison_table(traj: pl.DataFrame, unit: str, holdout: int, settings: FitSettings) -> pl.DataFrame:
    names = columns(traj, unit)
    frames = []
    for split, part in splits(traj):
        for series in SERIES:
            table = forecast.compare_models(part["t"].to_numpy(), part[names[series]].to_numpy(), holdout, settings)
            frames.append(table.with_columns(split=pl.lit(split), series=pl.lit(series)))
    return pl.concat(frames).select(list(COLUMNS["comparison"]))


def cross_table(fits: pl.DataFrame, gamma: float, epochs: int, total: float, late_epoch: int) -> pl.DataFrame:
    """Prop. 5.1 per split, the iteration parameterised by that split's joint fit (discrete mapping)."""
    frames = []
    for split in sorted(fits["split"].unique()):
        joint = fits.filter((pl.col("split") == split) & (pl.col("fit") == "joint"))
        est = dict(zip(joint["quantity"], joint["estimate"], strict=True))
        status = joint["status"][0]
        p = identified(est["rate"], est["alpha_p"], est["beta_p"], est["U_s_inf"], est["U_v_inf"], discrete=True)
        if all(np.isfinite([p["k_alpha"], p["k_beta"], p["alpha_b"], p["beta_b"]])):
            table = cross.allocation_table(est["U_s0"], est["U_v0"], gamma, epochs, total, late_epoch,
                                           k_alpha=p["k_alpha"], k_beta=p["k_beta"],
                                           alpha_b=p["alpha_b"], beta_b=p["beta_b"])
        else:
            table = pl.DataFrame({"schedule": list(cross.schedules(epochs, total, late_epoch)),
                                  "sum_eta": [0.0, total, total, total]}).with_columns(
                **{c: pl.lit(math.nan) for c in ("U_s_T", "U_v_T", "U_s_T_approx", "U_v_T_approx")})
        frames.append(table.with_columns(split=pl.lit(split), status=pl.lit(status)))
    return pl.concat(frames).select(list(COLUMNS["cross"]))

