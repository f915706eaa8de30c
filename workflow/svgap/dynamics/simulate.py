"""Ground truth for the analysis: simulated trajectories with known parameters.

- `ode`: integrates Eqs. 7-9 (E = kG - b) numerically with scipy, independent of the closed forms in
  `theory`, so that tests can check those forms (and the paper's sign slips) against it.
- `cross_improvement`: the discrete iteration of Eqs. 13-16 with a schedule eta_t of external data;
  with eta = 0 it is plain self-improvement in epoch steps.
- `observe`: multiplicative Gaussian noise, U (1 + noise z), independent per point and series.
- `trajectory`: a table with the trajectory columns the analysis reads (split, t, U_s, U_v, G, acc_s,
  acc_v, ...), so that simulated runs flow through the same rules as real ones. Accuracies are a
  synthetic, documented link (acc = 1 / (1 + exp(4 U / U_s0 - 2)) plus noise), there only so that
  Table 2's correlation has something to correlate.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.integrate import solve_ivp

from svgap.dynamics.theory import Dynamics


def ode(d: Dynamics, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U_s(t), U_v(t) by numerical integration of dU_s/dt = -alpha E, dU_v/dt = -beta E."""
    t = np.asarray(t, dtype=float)

    def rhs(_, u):
        E = d.k * (u[0] - u[1]) - d.b
        return [-d.alpha * E, -d.beta * E]

    sol = solve_ivp(rhs, (0.0, float(t.max())), [d.U_s0, d.U_v0], t_eval=t, method="DOP853",
                    rtol=1e-12, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"ODE integration failed: {sol.message}")
    return sol.y[0], sol.y[1]


def cross_improvement(d: Dynamics, etas: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """U_s(t), U_v(t) for t = 0..T from Eqs. 13-16; etas[t-1] is the share of external data at epoch t."""
    U_s, U_v = [d.U_s0], [d.U_v0]
    for eta in etas:
        U_s_c = U_s[-1]                              # Eq. 14: the solver is unchanged by external data
        U_v_c = U_v[-1] / (1.0 + gamma * eta)        # Eq. 12 / 14: external data lowers U_v
        E = d.k * (U_s_c - U_v_c) - d.b              # Eq. 15
        U_s.append(U_s_c - d.alpha * E)              # Eq. 16
        U_v.append(U_v_c - d.beta * E)
    return np.array(U_s), np.array(U_v)


def observe(values: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return values * (1.0 + noise * rng.standard_normal(values.shape))


def _accuracy(U: np.ndarray, U_s0: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    acc = 1.0 / (1.0 + np.exp(4.0 * U / U_s0 - 2.0))
    return np.clip(acc + noise * rng.standard_normal(U.shape), 0.0, 1.0)


def trajectory(d: Dynamics, epochs: float, step: float, noise: float, seed: int, discrete: bool = False,
               splits: tuple[str, ...] = ("train", "test")) -> pl.DataFrame:
    """A simulated trajectory.parquet: checkpoints t = 0, step, ..., epochs for each split.

    Each split is an independent noisy observation of the same dynamics (the paper's test split
    follows the same law as its train split).
    """
    t = np.round(np.arange(0.0, epochs + step / 2, step), 10)
    if discrete:
        if step != 1:
            raise ValueError("the discrete iteration has one checkpoint per epoch: use step 1")
        U_s, U_v = cross_improvement(d, np.zeros(len(t) - 1), 0.0)
    else:
        U_s, U_v = ode(d, t)
    rng = np.random.default_rng(seed)
    frames = []
    for split in splits:
        s, v = observe(U_s, noise, rng), observe(U_v, noise, rng)
        frames.append(pl.DataFrame({
            "split": split, "t": t, "U_s": s, "U_v": v, "G": s - v,
            "acc_s": _accuracy(s, d.U_s0, noise, rng), "acc_v": _accuracy(v, d.U_s0, noise, rng),
        }))
    return pl.concat(frames)
