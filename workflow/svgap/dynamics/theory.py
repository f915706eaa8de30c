"""Closed forms of the solver-verifier dynamics (SVG §3.2 and App. B), in their self-consistent form.

The model (Eqs. 7-9 with the linear potential E = kG - b):

    dU_s/dt = -alpha E,   dU_v/dt = -beta E,   E = k G - b,   G = U_s - U_v
    => dG/dt = -(alpha - beta)(k G - b): G relaxes to G_inf = b/k at the rate lam = k (alpha - beta).

Solution (Prop. 3.1, Eqs. 10-11), with delta = G0 - b/k:

    G(t)   = delta e^{-lam t} + G_inf
    U_s(t) = alpha' e^{-lam t} + U_s_inf,  alpha' = alpha delta / (alpha - beta),  U_s_inf = U_s0 - alpha'
    U_v(t) = beta'  e^{-lam t} + U_v_inf,  beta'  = beta  delta / (alpha - beta),  U_v_inf = U_v0 - beta'

Sign slips in the paper, resolved (tests check each against the numerical simulator):
- delta: the main text's delta = U_s0 - U_v0 - b/k is right. App. B.1 Eq. 21 writes U_v0 - U_s0 - b/k,
  which contradicts its own Eq. 20 (G(0) = C + b/k gives C = G0 - b/k).
- Cor. 3.1: dU_s_inf/dG0 depends on what is held fixed while G0 changes. With U_s0 fixed (G0 moves
  through U_v0; App. B.2's reading) it is -alpha/(alpha - beta). With U_v0 fixed (G0 moves through
  U_s0) it is 1 - alpha/(alpha - beta) = -beta/(alpha - beta), the main text's value. Both are negative
  when alpha > beta >= 0; `dUs_inf_dG0` returns either.
- Cor. 3.2 assumes delta > 0; in general |G(t) - G_inf| = |delta| e^{-lam t} < eps needs
  t > ln(|delta| / eps) / lam, and no time at all when |delta| <= eps.

The discrete iteration (Eqs. 13-16 with no external data) has the same exponential form: the gap
shrinks by the factor 1 - k(alpha - beta) per epoch, so e^{-lam} = 1 - k(alpha - beta) there, with the
same alpha', beta' and limits. A fitted rate maps to k(alpha - beta) = lam (ODE) or 1 - e^{-lam}
(discrete): see `kappa`.

Identifiability: a trajectory pins down five numbers, lam, U_s0, U_v0, alpha', beta' (equivalently
lam, the two limits and the two amplitudes). From them follow delta = alpha' - beta', G_inf, the ratio
alpha/beta = alpha'/beta', and the products k alpha, k beta, alpha b, beta b. k, b, alpha and beta are
not identifiable one by one: (k, b, alpha, beta) -> (c k, c b, alpha/c, beta/c) leaves every
trajectory unchanged. The tables report only identifiable quantities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Dynamics:
    """The model's parameters and initial state (SVG Eqs. 7-9)."""

    U_s0: float
    U_v0: float
    alpha: float
    beta: float
    k: float
    b: float

    @property
    def G0(self) -> float:
        return self.U_s0 - self.U_v0

    @property
    def rate(self) -> float:
        """lam = k (alpha - beta), per unit of t."""
        return self.k * (self.alpha - self.beta)

    @property
    def G_inf(self) -> float:
        return self.b / self.k

    @property
    def delta(self) -> float:
        return self.G0 - self.b / self.k

    @property
    def alpha_p(self) -> float:
        """alpha' = alpha delta / (alpha - beta): the amplitude of U_s (NaN when alpha = beta: no limit)."""
        return self.alpha * self.delta / (self.alpha - self.beta) if self.alpha != self.beta else math.nan

    @property
    def beta_p(self) -> float:
        """beta' = beta delta / (alpha - beta): the amplitude of U_v (NaN when alpha = beta)."""
        return self.beta * self.delta / (self.alpha - self.beta) if self.alpha != self.beta else math.nan

    @property
    def U_s_inf(self) -> float:
        return self.U_s0 - self.alpha_p

    @property
    def U_v_inf(self) -> float:
        return self.U_v0 - self.beta_p


def closed_form(d: Dynamics, t: float, discrete: bool = False) -> tuple[float, float, float]:
    """(U_s, U_v, G) at time t from Prop. 3.1; `discrete` uses the per-epoch factor 1 - k(alpha - beta)."""
    decay = (1.0 - d.rate) ** t if discrete else math.exp(-d.rate * t)
    U_s = d.alpha_p * decay + d.U_s_inf
    U_v = d.beta_p * decay + d.U_v_inf
    return U_s, U_v, U_s - U_v


def dUs_inf_dG0(d: Dynamics, held_fixed: str) -> float:
    """Cor. 3.1 with the variable held fixed named: 'U_s0' (App. B.2) or 'U_v0' (main text)."""
    if held_fixed == "U_s0":
        return -d.alpha / (d.alpha - d.beta)
    if held_fixed == "U_v0":
        return -d.beta / (d.alpha - d.beta)
    raise ValueError(f"held_fixed must be 'U_s0' or 'U_v0', got {held_fixed!r}")


def epochs_to_converge(delta: float, rate: float, eps: float) -> float:
    """Cor. 3.2: the time after which |G - G_inf| < eps; 0 if already within eps, inf if rate <= 0."""
    if eps <= 0:
        raise ValueError(f"epsilon must be positive, got {eps}")
    if abs(delta) <= eps:
        return 0.0
    if rate <= 0:
        return math.inf
    return math.log(abs(delta) / eps) / rate


def kappa(rate: float, discrete: bool) -> float:
    """k (alpha - beta) from a fitted rate: the rate itself (ODE) or 1 - e^{-rate} (discrete iteration)."""
    return -math.expm1(-rate) if discrete else rate


def identified(rate: float, alpha_p: float, beta_p: float, U_s_inf: float, U_v_inf: float,
               discrete: bool = False) -> dict[str, float]:
    """Every identifiable combination, from the five numbers a trajectory pins down."""
    delta = alpha_p - beta_p
    G_inf = U_s_inf - U_v_inf
    lam = kappa(rate, discrete)
    k_alpha = lam * alpha_p / delta if delta else math.nan
    k_beta = lam * beta_p / delta if delta else math.nan
    return {
        "rate": rate,
        "delta": delta,
        "G0": delta + G_inf,
        "G_inf": G_inf,
        "U_s_inf": U_s_inf,
        "U_v_inf": U_v_inf,
        "alpha_p": alpha_p,
        "beta_p": beta_p,
        "alpha_over_beta": alpha_p / beta_p if beta_p else math.inf,
        "k_alpha": k_alpha,
        "k_beta": k_beta,
        "alpha_b": k_alpha * G_inf,
        "beta_b": k_beta * G_inf,
    }
