"""gamma of Eq. 12 measured in cross-improvement runs, and Prop. 5.1 fed with it against the runs.

Eq. 12: U_v^c(t) = U_v(t - 1) / (1 + gamma eta_t). The picks of checkpoint t - 1 are what the finetune of
epoch t trains on, and a cross-improvement run measures both sides there: U_v_bon (the self-verifier's
own picks, U_v(t - 1)) and U_v (the mixed picks, U_v^c(t)). So at every epoch t with external data in
the picks, gamma x_t = U_v_bon / U_v - 1, with x_t under one of two readings:

- `new`: x_t = eta_t, the share newly chosen at epoch t (Eq. 12 and Eq. 42 as written; after Early's
  first epoch eta_t = 0, so this reading predicts U_v_bon / U_v = 1 there);
- `cumulative`: x_t = H_t = eta_1 + ... + eta_t, every prompt chosen so far (§5.1's text: a chosen
  prompt "will always use the external data").

Points are the whole-epoch checkpoints 0..T-1 of every cross-improvement run from the first with
external picks on; gamma is the least-squares slope through the origin (statsmodels OLS), pooled over
schedules and seeds per model x task x method and per schedule, with its interval; the residual sum
of squares says which reading fits better.

Prediction: each baseline's joint fit (the identifiable products k alpha, k beta, alpha b, beta b and
U_s0, U_v0; `svgap.dynamics.cross`) with the pooled gamma of a reading and that reading's x_t per
schedule, iterated exactly (Eqs. 41-43) and by Prop. 5.1's approximation (Eq. 17), against the final
U_s the run measured. Note the sign: a response from elsewhere usually has a higher NLL under the
student than the student's own lowest-NLL pick, so U_v^c > U_v_bon and the measured gamma is negative,
while Eq. 12 assumes external data lower the verifier's uncertainty.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy import stats

from svgap.dynamics import cross
from svgap.dynamics.theory import identified

READINGS = ("new", "cumulative")
GROUP = ("model", "task", "method")
SUFFIX = {"total": "", "token": "_tok"}


def shares(n: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """eta_t and H_t (t = 1..T) of a schedule's counts n_t: n_t / M and their running sum."""
    M = sum(n)
    eta = np.asarray(n, dtype=float) / M if M else np.zeros(len(n))
    return eta, np.cumsum(eta)


def points(traj: pl.DataFrame, counts: dict[str, dict[str, list[int]]], unit: str,
           split: str = "train") -> pl.DataFrame:
    """One row per cross-improvement run and whole checkpoint c = t - 1 < T with external picks."""
    u = SUFFIX[unit]
    rows = []
    runs = traj.filter((pl.col("split") == split) & (pl.col("schedule") != "baseline") & (pl.col("n_external") > 0))
    for r in runs.iter_rows(named=True):
        c = r["t"]
        T = len(counts[r["task"]][r["schedule"]])
        if c != int(c) or c >= T:
            continue
        eta, H = shares(counts[r["task"]][r["schedule"]])
        t = int(c) + 1
        ratio = r[f"U_v_bon{u}"] / r[f"U_v{u}"] if r[f"U_v{u}"] else math.nan
        rows.append({**{k: r[k] for k in GROUP}, "schedule": r["schedule"], "seed": r["seed"], "t": c, "epoch": t,
                     "eta": float(eta[t - 1]), "H": float(H[t - 1]), "external_share": r["external_share"],
                     "U_v": r[f"U_v{u}"], "U_v_bon": r[f"U_v_bon{u}"], "ratio": ratio, "y": ratio - 1.0})
    schema = {"model": pl.String, "task": pl.String, "method": pl.String, "schedule": pl.String, "seed": pl.Int64,
              "t": pl.Float64, "epoch": pl.Int64, "eta": pl.Float64, "H": pl.Float64, "external_share": pl.Float64,
              "U_v": pl.Float64, "U_v_bon": pl.Float64, "ratio": pl.Float64, "y": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def slope(x: np.ndarray, y: np.ndarray, confidence: float) -> dict:
    """gamma = the OLS slope of y on x through the origin, with its interval."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 1 or not np.any(x):
        return {"n": int(len(x)), "gamma": math.nan, "se": math.nan, "lo": math.nan, "hi": math.nan,
                "rss": math.nan, "status": "too_few_points"}
    fit = sm.OLS(y, x[:, None]).fit()
    gamma, rss = float(fit.params[0]), float(np.sum(fit.resid ** 2))
    if len(x) < 2:
        return {"n": 1, "gamma": gamma, "se": math.nan, "lo": math.nan, "hi": math.nan, "rss": rss,
                "status": "one_point"}
    se = float(fit.bse[0])
    q = stats.t.ppf(0.5 + confidence / 2, df=len(x) - 1)
    return {"n": int(len(x)), "gamma": gamma, "se": se, "lo": gamma - q * se, "hi": gamma + q * se, "rss": rss,
            "status": "ok"}


def estimates(pts: pl.DataFrame, confidence: float) -> pl.DataFrame:
    """gamma per model x task x method, reading and scope (pooled, or one schedule)."""
    rows = []
    for key, df in pts.group_by(GROUP, maintain_order=True):
        scopes = [("pooled", df)] + [(s, d) for (s,), d in df.group_by("schedule", maintain_order=True)]
        for scope, d in scopes:
            for reading, x in (("new", "eta"), ("cumulative", "H")):
                rows.append({**dict(zip(GROUP, key, strict=True)), "reading": reading, "scope": scope,
                             **slope(d[x].to_numpy(), d["y"].to_numpy(), confidence)})
    schema = {"model": pl.String, "task": pl.String, "method": pl.String, "reading": pl.String, "scope": pl.String,
              "n": pl.Int64, "gamma": pl.Float64, "se": pl.Float64, "lo": pl.Float64, "hi": pl.Float64,
              "rss": pl.Float64, "status": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _products(fits: pl.DataFrame, split: str) -> tuple[dict | None, str]:
    joint = fits.filter((pl.col("split") == split) & (pl.col("fit") == "joint"))
    if not joint.height:
        return None, "no_joint_fit"
    est = dict(zip(joint["quantity"], joint["estimate"], strict=True))
    p = identified(est["rate"], est["alpha_p"], est["beta_p"], est["U_s_inf"], est["U_v_inf"], discrete=True)
    products = {k: p[k] for k in ("k_alpha", "k_beta", "alpha_b", "beta_b")}
    if not all(np.isfinite(list(products.values()))):
        return None, joint["status"][0]
    return {**products, "U_s0": est["U_s0"], "U_v0": est["U_v0"]}, joint["status"][0]


def theory(traj: pl.DataFrame, fits: dict[tuple, pl.DataFrame], gamma: pl.DataFrame,
           counts: dict[str, dict[str, list[int]]], unit: str, split: str = "train") -> pl.DataFrame:
    """Per baseline run (seed), reading and schedule: final U_s measured, iterated exactly and by Prop. 5.1.
    `fits` maps (model, task, method, seed) to that baseline's fits table."""
    u = SUFFIX[unit]
    traj = traj.filter(pl.col("split") == split)
    rows = []
    for (model, task, method, seed), table in fits.items():
        p, status = _products(table, split)
        run = traj.filter((pl.col("model") == model) & (pl.col("task") == task) & (pl.col("method") == method)
                          & (pl.col("seed") == seed))
        T = int(run["epochs"][0]) if run.height else 0
        schedules = {"baseline": [0] * T, **counts[task]}
        for reading in READINGS:
            g = gamma.filter((pl.col("model") == model) & (pl.col("task") == task) & (pl.col("method") == method)
                             & (pl.col("reading") == reading) & (pl.col("scope") == "pooled"))
            g = float(g["gamma"][0]) if g.height else math.nan
            for schedule, n in schedules.items():
                eta, H = shares(n)
                x = eta if reading == "new" else H
                last = run.filter((pl.col("schedule") == schedule) & (pl.col("t") == run["t"].max()))
                measured = float(last[f"U_s{u}"][0]) if last.height else math.nan
                exact = approx = math.nan
                if p is not None and math.isfinite(g):
                    U0 = np.array([p["U_v0"], p["U_s0"], 1.0])
                    products = {k: p[k] for k in ("k_alpha", "k_beta", "alpha_b", "beta_b")}
                    exact = float(cross.exact(U0, x, g, **products)[1])
                    approx = float(cross.approx(U0, x, g, **products)[1])
                rows.append({"model": model, "task": task, "method": method, "seed": seed, "reading": reading,
                             "gamma": g, "schedule": schedule, "sum_x": float(x.sum()), "fit_status": status,
                             "U_s_T_measured": measured, "U_s_T_exact": exact, "U_s_T_approx": approx})
    schema = {"model": pl.String, "task": pl.String, "method": pl.String, "seed": pl.Int64, "reading": pl.String,
              "gamma": pl.Float64, "schedule": pl.String, "sum_x": pl.Float64, "fit_status": pl.String,
              "U_s_T_measured": pl.Float64, "U_s_T_exact": pl.Float64, "U_s_T_approx": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def summary(th: pl.DataFrame) -> pl.DataFrame:
    """Means over seeds per schedule, and the Max-Min over the cross-improvement schedules (baseline
    excluded), measured against predicted."""
    values = ("U_s_T_measured", "U_s_T_exact", "U_s_T_approx")
    keys = (*GROUP, "reading")
    means = (th.group_by(*keys, "schedule", maintain_order=True)
             .agg(pl.col("gamma").first(), pl.col("sum_x").first(), pl.len().alias("n_seeds"),
                  pl.col("fit_status").unique().sort().str.join(",").alias("fit_status"),
                  *[pl.col(v).mean() for v in values]))
    spread = (means.filter(pl.col("schedule") != "baseline").group_by(*keys, maintain_order=True)
              .agg(pl.col("gamma").first(), pl.lit(None, dtype=pl.Float64).alias("sum_x"),
                   pl.col("n_seeds").min(), pl.col("fit_status").first(),
                   *[(pl.col(v).max() - pl.col(v).min()) for v in values])
              .with_columns(schedule=pl.lit("Max-Min")))
    return pl.concat([means, spread.select(means.columns)]).sort(*keys, maintain_order=True)


def verdicts(gamma: pl.DataFrame, summ: pl.DataFrame) -> list[str]:
    """Plain sentences on where the theory meets or misses the runs."""
    lines = []
    for key, g in gamma.filter(pl.col("scope") == "pooled").group_by(GROUP, maintain_order=True):
        name = " / ".join(key)
        by = {r["reading"]: r for r in g.iter_rows(named=True)}
        new, cum = by.get("new"), by.get("cumulative")
        if new and cum and math.isfinite(new["rss"]) and math.isfinite(cum["rss"]):
            better = "cumulative" if cum["rss"] < new["rss"] else "new"
            lines.append(f"{name}: the {better} reading fits the measured U_v_bon / U_v better "
                         f"(RSS {cum['rss']:.3g} cumulative against {new['rss']:.3g} new).")
        for r in (new, cum):
            if r and math.isfinite(r["gamma"]) and r["gamma"] < 0:
                lines.append(f"{name}, {r['reading']} reading: gamma = {r['gamma']:.3g} < 0. The external responses "
                             "have a higher NLL under the student than its own picks, so Eq. 12 (gamma > 0 for a "
                             "better verifier) misreads them: lower uncertainty is not what external data bring here.")
        mine = summ.filter(pl.all_horizontal([pl.col(k) == v for k, v in zip(GROUP, key, strict=True)]))
        bad = sorted({x for f in mine["fit_status"].drop_nulls() for x in f.split(",")} - {"ok"})
        if bad:
            lines.append(f"{name}: the baselines' joint fit has status {', '.join(bad)} (svgap.dynamics.fit): the "
                         "predictions below iterate dynamics that do not follow the paper's law on these runs.")
        s = mine.filter(pl.col("schedule") == "Max-Min")
        for r in s.iter_rows(named=True):
            if math.isfinite(r["U_s_T_measured"]) and math.isfinite(r["U_s_T_exact"]):
                lines.append(f"{name}, {r['reading']} reading: Max-Min of the final U_s measured "
                             f"{r['U_s_T_measured']:.3g}, "
                             f"predicted {r['U_s_T_exact']:.3g} (exact) and {r['U_s_T_approx']:.3g} (Prop. 5.1).")
    return lines or ["No estimate: too few checkpoints with external data, or no usable baseline fit."]
