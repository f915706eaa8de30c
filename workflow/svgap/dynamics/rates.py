"""dG/dt against G (SVG Fig. 2/8), the memorylessness test (Table 4) and Pearson r (Table 2).

Finite differences on checkpoints t_0 < t_1 < ... (epochs or half epochs; spacing may vary):
- `forward`: dG/dt(t_i) = (G_{i+1} - G_i) / (t_{i+1} - t_i), paired with G_i (the default). This is the
  discrete iteration of Eqs. 13-16 exactly: G_{i+1} - G_i = -(alpha - beta)(k G_i - b).
- `central`: (G_{i+1} - G_{i-1}) / (t_{i+1} - t_{i-1}), paired with G_i (interior points only).
For an exact exponential G = delta e^{-lam t} + G_inf both are exactly linear in G with zero at G_inf:
forward slope (e^{-lam h} - 1)/h, central slope -sinh(lam h)/h for a spacing h. `implied_rate` inverts
these, so the regression's rate is comparable with the exponential fit's.

The regression is dG/dt = c + m G (OLS, statsmodels). The paper's Table 4 writes its models without
an intercept (dG/dt = beta_1 G), but the linear potential E = kG - b gives dG/dt = -(alpha-beta)k G +
(alpha-beta) b, an intercept whenever G_inf = b/k != 0; `intercept: true` (the default) keeps it in
both nested models of the F-test. The partial F-test compares dG/dt ~ G(t) with dG/dt ~ G(t) + G(t-1),
G(t-1) being the gap one epoch earlier, whatever the spacing of the checkpoints (with half-epoch
checkpoints it is not the previous checkpoint, t - 0.5); a point without a checkpoint one epoch
earlier (t < 1) drops out of both models.

Which checkpoints: `points="epochs"` keeps the whole epochs t = 0, 1, ..., T only (the paper's
Table 4: its p-values have 7 residual degrees of freedom, 9 = 11 - 1 - 1 points for 10 epochs and a
model of two slopes, docs/analysis.md); `points="checkpoints"` differences every checkpoint,
half-epoch ones included.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy import stats

SCHEMES = ("forward", "central")
POINTS = ("epochs", "checkpoints")
LAG = 1.0  # G(t - 1): one epoch
TIME_TOLERANCE = 1e-9


def finite_differences(t: np.ndarray, G: np.ndarray, scheme: str = "forward", points: str = "epochs") -> pl.DataFrame:
    """Columns t, G, dGdt, G_prev = G(t - 1) (null where the run has no checkpoint one epoch earlier).

    NaN points are dropped first; with `points="epochs"` so is every checkpoint that is not a whole epoch.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if points not in POINTS:
        raise ValueError(f"points must be one of {POINTS}, got {points!r}")
    t, G = np.asarray(t, dtype=float), np.asarray(G, dtype=float)
    keep = np.isfinite(t) & np.isfinite(G)
    if points == "epochs":
        keep &= np.abs(t - np.round(t)) < TIME_TOLERANCE
    t, G = t[keep], G[keep]
    order = np.argsort(t)
    t, G = t[order], G[order]
    if scheme == "forward":
        idx = np.arange(len(t) - 1)
        dGdt = (G[idx + 1] - G[idx]) / (t[idx + 1] - t[idx])
    else:
        idx = np.arange(1, len(t) - 1)
        dGdt = (G[idx + 1] - G[idx - 1]) / (t[idx + 1] - t[idx - 1])
    prev = [_at(t, G, t[i] - LAG) for i in idx]
    return pl.DataFrame({"t": t[idx], "G": G[idx], "dGdt": dGdt, "G_prev": prev},
                        schema={"t": pl.Float64, "G": pl.Float64, "dGdt": pl.Float64, "G_prev": pl.Float64})


def _at(t: np.ndarray, G: np.ndarray, when: float) -> float | None:
    """G at the checkpoint `when`, None if the run has none there."""
    hit = np.flatnonzero(np.abs(t - when) < TIME_TOLERANCE)
    return float(G[hit[0]]) if hit.size else None


def implied_rate(slope: float, spacing: float, scheme: str) -> float:
    """The exponential rate lam whose finite-difference slope is `slope` (NaN if none exists)."""
    if not math.isfinite(slope) or spacing <= 0:
        return math.nan
    if scheme == "forward":
        x = 1.0 + slope * spacing
        return -math.log(x) / spacing if x > 0 else math.nan
    return math.asinh(-slope * spacing) / spacing


def _design(x: np.ndarray, intercept: bool) -> np.ndarray:
    return sm.add_constant(x, has_constant="add") if intercept else x


def fit_dgdt(points: pl.DataFrame, scheme: str = "forward", intercept: bool = True) -> dict:
    """OLS of dG/dt on G: slope, intercept, R^2, p-value of the slope, the implied rate and G_inf."""
    n = points.height
    nan = math.nan
    row = {"n": n, "slope": nan, "slope_se": nan, "intercept": nan, "intercept_se": nan, "r2": nan,
           "p_value": nan, "rate": nan, "G_inf": nan, "status": "ok"}
    needed = 3 if intercept else 2
    if n < needed:
        return {**row, "status": "too_few_points"}
    x, y = points["G"].to_numpy(), points["dGdt"].to_numpy()
    if np.ptp(x) == 0:
        return {**row, "status": "flat"}
    res = sm.OLS(y, _design(x, intercept)).fit()
    slope_i = 1 if intercept else 0
    slope = float(res.params[slope_i])
    icpt = float(res.params[0]) if intercept else 0.0
    spacing = float(np.median(np.diff(points["t"].to_numpy()))) if n > 1 else nan
    row.update(slope=slope, slope_se=float(res.bse[slope_i]), intercept=icpt,
               intercept_se=float(res.bse[0]) if intercept else 0.0,
               r2=float(res.rsquared) if np.ptp(y) > 0 else nan, p_value=float(res.pvalues[slope_i]),
               rate=implied_rate(slope, spacing, scheme), G_inf=-icpt / slope if slope else nan)
    if slope >= 0:
        row["status"] = "gap_not_shrinking"
    return row


def partial_f_test(points: pl.DataFrame, intercept: bool = True) -> dict:
    """Table 4: does G(t-1) add to G(t) in explaining dG/dt? F, its p-value and degrees of freedom."""
    pts = points.drop_nulls("G_prev")
    n = pts.height
    k_full = 2 + int(intercept)
    row = {"n": n, "F": math.nan, "p_value": math.nan, "df_num": 1, "df_den": n - k_full, "status": "ok"}
    if n <= k_full:
        return {**row, "status": "too_few_points"}
    y = pts["dGdt"].to_numpy()
    restricted = sm.OLS(y, _design(pts["G"].to_numpy(), intercept)).fit()
    if restricted.ssr <= 1e-20 * max(1.0, float(np.sum(y**2))):
        return {**row, "status": "perfect_fit"}  # G(t) alone leaves no residual: F is 0/0
    full = sm.OLS(y, _design(pts.select("G", "G_prev").to_numpy(), intercept)).fit()
    F, p, _ = full.compare_f_test(restricted)
    return {**row, "F": float(F), "p_value": float(p)}


def stars(p: float) -> str:
    """The paper's significance marks: *** p < 0.001, ** p < 0.01, * p < 0.05."""
    if not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def pearson(u: np.ndarray, acc: np.ndarray) -> dict:
    """Table 2: Pearson r between an uncertainty and an accuracy over checkpoints."""
    u, acc = np.asarray(u, dtype=float), np.asarray(acc, dtype=float)
    keep = np.isfinite(u) & np.isfinite(acc)
    u, acc = u[keep], acc[keep]
    row = {"n": int(keep.sum()), "r": math.nan, "p_value": math.nan, "stars": "", "status": "ok"}
    if len(u) < 3:
        return {**row, "status": "too_few_points"}
    if np.ptp(u) == 0 or np.ptp(acc) == 0:
        return {**row, "status": "flat"}
    r, p = stats.pearsonr(u, acc)
    return {**row, "r": float(r), "p_value": float(p), "stars": stars(float(p))}
