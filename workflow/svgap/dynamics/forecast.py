"""Early prediction (Cor. 3.2 in practice) and an honest comparison of the exponential law with rivals.

Early prediction: the joint fit of Prop. 3.1 on the checkpoints t <= k only predicts U_s over the whole
run (with a prediction interval for a new observation, delta method plus residual noise), its limit
U_s_inf (confidence interval) and the epochs to bring G within eps of G_inf; it is scored against what
the full run shows: error and interval coverage at the last checkpoint, and whether the early interval
for U_s_inf holds the full-run estimate.

Model comparison, per series: the exponential law against a power law (a (1+t)^-r + c), a straight line
(no convergence at all) and, for forecasting, persistence (the last value seen). In-sample by AIC, AICc
and BIC (Gaussian likelihood, the noise variance counted as a parameter); out of sample by the RMSE on
the last `holdout` checkpoints of fits made without them. The table names the winner of each
criterion; nothing assumes the paper's law wins.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from svgap.dynamics.fit import DEFAULT, FitSettings, fit, fit_joint
from svgap.dynamics.theory import epochs_to_converge

FAMILIES = ("exponential", "power", "linear", "persistence")


def _curve_grid(t: np.ndarray, points: int = 80) -> np.ndarray:
    return np.union1d(np.linspace(float(t.min()), float(t.max()), points), t)


def early_prediction(t, U_s, U_v, first: list[float], eps: float,
                     settings: FitSettings = DEFAULT) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(curves, scores): per k in `first`, the predicted U_s curve with its band, and the scores."""
    t, U_s, U_v = (np.asarray(x, dtype=float) for x in (t, U_s, U_v))
    # the whole run's fit again (as in fits.parquet), not read from there: predict_early then depends on
    # the trajectory and its own settings only, so a dG/dt setting does not rerun it (one more fit, well under a second)
    full = fit_joint(t, U_s, U_v, settings)
    full_inf = full.value("U_s_inf")
    last = int(np.nanargmax(np.where(np.isfinite(U_s), t, np.nan)))
    grid = _curve_grid(t)
    curves, scores = [], []
    for k in first:
        used = t <= k + 1e-9
        f = fit_joint(t[used], U_s[used], U_v[used], settings)
        pred = f.curve(grid, "U_s")
        lo, hi = f.band(grid, "U_s", prediction=True) if f.usable else (pred, pred)
        curves.append(pl.DataFrame({"k": float(k), "t": grid, "U_s_pred": pred, "lo": lo, "hi": hi}))
        inf, _, inf_lo, inf_hi = f.estimate(lambda p: p["U_s_inf"])
        at_last = float(f.curve(t[last:last + 1], "U_s")[0])
        last_lo, last_hi = (f.band(t[last:last + 1], "U_s") if f.usable else ([math.nan], [math.nan]))
        rest = (~used) & np.isfinite(U_s)
        rmse = float(np.sqrt(np.mean((f.curve(t[rest], "U_s") - U_s[rest]) ** 2))) if rest.any() else math.nan
        t_eps = (epochs_to_converge(f.value("alpha_p") - f.value("beta_p"), f.value("rate"), eps)
                 if f.usable else math.nan)
        scores.append({
            "k": float(k), "n_used": int(used.sum()), "status": f.status,
            "rate": f.value("rate"), "U_s_inf": inf, "U_s_inf_lo": inf_lo, "U_s_inf_hi": inf_hi,
            "U_s_inf_full": full_inf, "U_s_inf_covered": bool(inf_lo <= full_inf <= inf_hi),
            "t_last": float(t[last]), "U_s_last": float(U_s[last]), "U_s_last_pred": at_last,
            "U_s_last_lo": float(last_lo[0]), "U_s_last_hi": float(last_hi[0]),
            "error_last": at_last - float(U_s[last]),
            "rel_error_last": (at_last - float(U_s[last])) / abs(float(U_s[last])) if U_s[last] else math.nan,
            "covered_last": bool(last_lo[0] <= U_s[last] <= last_hi[0]),
            "rmse_rest": rmse, "t_eps": t_eps,
        })
    return pl.concat(curves), pl.DataFrame(scores)


def _fit_family(family: str, t: np.ndarray, y: np.ndarray, settings: FitSettings):
    """(status, n_params, predict) for one family fitted to (t, y)."""
    if family in ("exponential", "power"):
        f = fit(t, {"y": y}, family, settings)
        return f.status, 3, (lambda x: f.curve(x, "y"))
    if family == "linear":
        if len(t) < 3:
            return "too_few_points", 2, (lambda x: np.full(np.shape(x), np.nan))
        slope, icpt = np.polyfit(t, y, 1)
        return "ok", 2, (lambda x: icpt + slope * np.asarray(x))
    if family == "persistence":
        return "ok", 0, (lambda x: np.full(np.shape(x), y[-1]))
    raise ValueError(f"unknown family {family!r}")


def _information(rss: float, n: int, p: int) -> tuple[float, float, float]:
    """AIC, AICc, BIC of a Gaussian model with p curve parameters plus the noise variance."""
    if n <= 0 or not math.isfinite(rss):
        return (math.nan,) * 3
    q = p + 1
    ll_term = n * math.log(max(rss, 1e-300) / n)
    aic = ll_term + 2 * q
    aicc = aic + 2 * q * (q + 1) / (n - q - 1) if n - q - 1 > 0 else math.nan
    return aic, aicc, ll_term + q * math.log(n)


def compare_models(t, y, holdout: int, settings: FitSettings = DEFAULT) -> pl.DataFrame:
    """One row per family: in-sample fit and criteria, held-out RMSE; NaN where a family cannot say."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    rows = []
    for family in FAMILIES:
        row = {"family": family, "n": len(t), "n_params": math.nan, "status": "ok", "rss": math.nan,
               "aic": math.nan, "aicc": math.nan, "bic": math.nan, "holdout_rmse": math.nan,
               "holdout_status": "ok"}
        if family != "persistence":
            status, p, predict = _fit_family(family, t, y, settings)
            resid = predict(t) - y
            rss = float(resid @ resid) if status in ("ok", "no_decay", "rate_at_upper_bound") else math.nan
            aic, aicc, bic = _information(rss, len(t), p)
            row.update(n_params=p, status=status, rss=rss, aic=aic, aicc=aicc, bic=bic)
        if holdout >= 1 and len(t) - holdout >= 1:
            status, _, predict = _fit_family(family, t[:-holdout], y[:-holdout], settings)
            err = predict(t[-holdout:]) - y[-holdout:]
            row["holdout_rmse"] = float(np.sqrt(np.mean(err**2)))
            row["holdout_status"] = status
        else:
            row["holdout_status"] = "too_few_points"
        rows.append(row)
    table = pl.DataFrame(rows)
    for criterion in ("aic", "aicc", "bic", "holdout_rmse"):
        col = table[criterion]
        best = col.fill_nan(None).min()
        table = table.with_columns((pl.col(criterion) == best).fill_null(False).alias(f"best_{criterion}")
                                   if best is not None else pl.lit(False).alias(f"best_{criterion}"))
    return table
