"""Prop. 5.1: external data given Early, Uniform or Late, exact iteration against the approximation.

State vector U = [U_v, U_s, 1]. One epoch of cross-improvement (Eqs. 13-16) is U(t) = (I - Delta_t) U(t-1)
with (Eq. 42)

    Delta_t = [[1 - (1 + beta k)/(1 + gamma eta_t),  beta k,  -beta b],
               [   - alpha k /(1 + gamma eta_t),     alpha k, -alpha b],
               [0, 0, 0]]

and Prop. 5.1 approximates prod_t (I - Delta_t) by exp(-Delta'), Delta' of Eq. 17 (first order in
gamma eta_t, commuting Delta_t), so that U(T) depends on the schedule only through sum_t eta_t.
Every entry is an identifiable product (k alpha, k beta, alpha b, beta b: see `theory`), so a fitted
run fixes the iteration up to gamma, the efficiency of the external data, which is a config value.
The exact product shows how much the allocation matters when the approximation's assumptions (small
Delta_t, small eta_t) do not hold.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.linalg import expm


def schedules(T: int, total: float, late_epoch: int) -> dict[str, np.ndarray]:
    """eta_t for t = 1..T: none (self-improvement), Early (all at t = 1), Uniform, Late (all at late_epoch)."""
    if not 1 <= late_epoch <= T:
        raise ValueError(f"late_epoch must be within 1..{T}, got {late_epoch}")
    early, late = np.zeros(T), np.zeros(T)
    early[0] = total
    late[late_epoch - 1] = total
    return {"baseline": np.zeros(T), "early": early, "uniform": np.full(T, total / T), "late": late}


def delta_t(k_alpha: float, k_beta: float, alpha_b: float, beta_b: float, gamma: float, eta: float) -> np.ndarray:
    g = 1.0 + gamma * eta
    return np.array([[1.0 - (1.0 + k_beta) / g, k_beta, -beta_b],
                     [-k_alpha / g, k_alpha, -alpha_b],
                     [0.0, 0.0, 0.0]])


def exact(U0: np.ndarray, etas: np.ndarray, gamma: float, **products: float) -> np.ndarray:
    """U(T) = prod_t (I - Delta_t) U(0) (Eq. 43), applied epoch by epoch."""
    U = np.asarray(U0, dtype=float)
    for eta in etas:
        U = (np.eye(3) - delta_t(gamma=gamma, eta=eta, **products)) @ U
    return U


def approx(U0: np.ndarray, etas: np.ndarray, gamma: float, *, k_alpha: float, k_beta: float,
           alpha_b: float, beta_b: float) -> np.ndarray:
    """U(T) ~ exp(-Delta') U(0) with Delta' of Eq. 17."""
    T, s = len(etas), float(np.sum(etas))
    D = np.array([[T - (1.0 + k_beta) * (T - gamma * s), T * k_beta, -T * beta_b],
                  [-k_alpha * (T - gamma * s), T * k_alpha, -T * alpha_b],
                  [0.0, 0.0, 0.0]])
    return expm(-D) @ np.asarray(U0, dtype=float)


def allocation_table(U_s0: float, U_v0: float, gamma: float, T: int, total: float, late_epoch: int,
                     **products: float) -> pl.DataFrame:
    """Final U_s, U_v per schedule: exact iteration and Prop. 5.1's approximation."""
    U0 = np.array([U_v0, U_s0, 1.0])
    rows = []
    for name, etas in schedules(T, total, late_epoch).items():
        e, a = exact(U0, etas, gamma, **products), approx(U0, etas, gamma, **products)
        rows.append({"schedule": name, "sum_eta": float(etas.sum()), "U_s_T": float(e[1]), "U_v_T": float(e[0]),
                     "U_s_T_approx": float(a[1]), "U_v_T_approx": float(a[0])})
    return pl.DataFrame(rows)
