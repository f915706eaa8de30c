"""The analysis library against its ground truth, the simulator (SVG §3.2, §5.1, App. B)."""

import math

import numpy as np
import polars as pl
import pytest

from svgap.columns import COLUMNS
from svgap.dynamics import analyse, cross, forecast, rates, simulate
from svgap.dynamics.fit import FitSettings, fit, fit_joint
from svgap.dynamics.theory import Dynamics, closed_form, dUs_inf_dG0, epochs_to_converge, identified

D = Dynamics(U_s0=100.0, U_v0=60.0, alpha=3.0, beta=1.0, k=0.15, b=1.5)  # rate 0.3, G_inf 10, U_s_inf 55
T = np.arange(0.0, 10.5, 0.5)  # 10 epochs, half-epoch checkpoints


# ---- theory against the numerical ODE ----

def test_closed_form_matches_the_integrated_ode():
    U_s, U_v = simulate.ode(D, T)
    form = np.array([closed_form(D, t) for t in T])
    assert np.allclose(form[:, 0], U_s, rtol=1e-9) and np.allclose(form[:, 1], U_v, rtol=1e-9)
    assert D.delta == pytest.approx(D.G0 - D.b / D.k)


def test_appendix_b1_delta_is_a_sign_slip():
    # App. B.1 Eq. 21 has delta = U_v0 - U_s0 - b/k; with it G(0) would not be G0.
    slipped = D.U_v0 - D.U_s0 - D.b / D.k
    assert slipped + D.G_inf != pytest.approx(D.G0)
    assert D.delta + D.G_inf == pytest.approx(D.G0)


def limit_of(d: Dynamics) -> float:
    return simulate.ode(d, np.array([0.0, 200.0]))[0][-1]


@pytest.mark.parametrize("held_fixed", ["U_s0", "U_v0"])
def test_corollary_3_1_depends_on_what_is_held_fixed(held_fixed):
    h = 1e-3
    def moved(dU_s: float, dU_v: float) -> Dynamics:
        return Dynamics(D.U_s0 + dU_s, D.U_v0 + dU_v, D.alpha, D.beta, D.k, D.b)
    if held_fixed == "U_s0":   # G0 moves through U_v0 (App. B.2)
        up, down = moved(0, -h), moved(0, h)
    else:                      # G0 moves through U_s0 (the main text's -beta/(alpha-beta))
        up, down = moved(h, 0), moved(-h, 0)
    numeric = (limit_of(up) - limit_of(down)) / (2 * h)
    assert numeric == pytest.approx(dUs_inf_dG0(D, held_fixed), rel=1e-5)
    assert dUs_inf_dG0(D, "U_s0") == pytest.approx(-1.5) and dUs_inf_dG0(D, "U_v0") == pytest.approx(-0.5)


def test_corollary_3_2_time_to_converge():
    eps = 0.1
    t_eps = epochs_to_converge(D.delta, D.rate, eps)
    U_s, U_v = simulate.ode(D, np.array([0.0, t_eps - 0.01, t_eps + 0.01]))
    gaps = np.abs(U_s - U_v - D.G_inf)
    assert gaps[1] > eps > gaps[2]
    assert closed_form(D, t_eps)[2] - D.G_inf == pytest.approx(eps, rel=1e-9)
    assert epochs_to_converge(0.05, 0.3, 0.1) == 0.0 and epochs_to_converge(-30, 0.3, 0.1) == pytest.approx(t_eps)
    assert math.isinf(epochs_to_converge(30, -0.1, 0.1))


def test_discrete_iteration_is_exponential_with_the_same_limits():
    d = Dynamics(100, 60, 3.0, 1.0, 0.05, 0.5)
    U_s, U_v = simulate.cross_improvement(d, np.zeros(10), gamma=0.0)
    form = np.array([closed_form(d, t, discrete=True) for t in range(11)])
    assert np.allclose(form[:, 0], U_s) and np.allclose(form[:, 1], U_v)


# ---- fits ----

def test_noise_free_fits_recover_the_parameters_to_numerical_precision():
    U_s, U_v = simulate.ode(D, T)
    j = fit_joint(T, U_s, U_v)
    assert j.status == "ok"
    p = identified(*(j.value(k) for k in ("rate", "alpha_p", "beta_p", "U_s_inf", "U_v_inf")))
    truth = {"rate": D.rate, "G_inf": D.G_inf, "U_s_inf": D.U_s_inf, "U_v_inf": D.U_v_inf, "delta": D.delta,
             "alpha_over_beta": D.alpha / D.beta, "k_alpha": D.k * D.alpha, "k_beta": D.k * D.beta,
             "alpha_b": D.alpha * D.b, "beta_b": D.beta * D.b}
    for key, value in truth.items():
        assert p[key] == pytest.approx(value, rel=1e-7), key
    for series, y, limit in (("U_s", U_s, D.U_s_inf), ("U_v", U_v, D.U_v_inf), ("G", U_s - U_v, D.G_inf)):
        f = fit(T, {series: y})
        assert f.status == "ok" and f.r2[series] == pytest.approx(1.0)
        assert f.value("rate") == pytest.approx(D.rate, rel=1e-7)
        assert f.value(f"c_{series}") == pytest.approx(limit, rel=1e-7)


def test_one_percent_noise_recovers_within_a_few_percent_and_intervals_cover():
    U_s, U_v = simulate.ode(D, T)
    rng = np.random.default_rng(0)
    errors, covered = [], {"rate": 0, "G_inf": 0, "U_s_inf": 0}
    replicates = 120
    for _ in range(replicates):
        j = fit_joint(T, simulate.observe(U_s, 0.01, rng), simulate.observe(U_v, 0.01, rng))
        assert j.status == "ok"
        lo, hi = j.rate_interval
        covered["rate"] += lo <= D.rate <= hi
        _, _, lo, hi = j.estimate(lambda p: p["U_s_inf"] - p["U_v_inf"])
        covered["G_inf"] += lo <= D.G_inf <= hi
        _, _, lo, hi = j.estimate(lambda p: p["U_s_inf"])
        covered["U_s_inf"] += lo <= D.U_s_inf <= hi
        errors.append([j.value("rate") / D.rate - 1, (j.value("U_s_inf") - j.value("U_v_inf")) / D.G_inf - 1,
                       j.value("U_s_inf") / D.U_s_inf - 1])
    median = np.median(np.abs(errors), axis=0)
    print("median relative errors (rate, G_inf, U_s_inf):", median, "coverage:",
          {k: v / replicates for k, v in covered.items()})
    assert (median < 0.03).all(), median  # rate, G_inf, U_s_inf within a few percent
    for key, hits in covered.items():
        assert 0.8 <= hits / replicates <= 0.97, (key, hits / replicates)  # nominal 90%


def test_degenerate_series_get_a_status_not_an_exception():
    t = np.arange(11.0)
    assert fit(t[:3], {"y": np.array([3.0, 2.0, 1.5])}).status == "too_few_points"
    assert fit(t, {"y": np.full(11, 4.0)}).status == "flat"
    assert fit(t, {"y": 2.0 + 0.5 * t}).status == "no_decay"            # increasing linearly
    d = Dynamics(50, 40, alpha=0.5, beta=1.0, k=0.1, b=0.5)               # alpha < beta: the gap grows
    U_s, U_v = simulate.ode(d, t)
    assert fit_joint(t, U_s, U_v).status == "alpha_le_beta"
    U_s, U_v = simulate.ode(D, t)
    assert fit_joint(t, U_s, U_v, FitSettings(max_evaluations=1)).status == "not_converged"
    with_nan = U_s.copy()
    with_nan[[2, 5]] = np.nan
    f = fit(t, {"U_s": with_nan})
    assert f.status == "ok" and f.n == 9 and f.n_nan == 2
    assert f.value("rate") == pytest.approx(D.rate, rel=1e-6)
    assert fit(t, {"y": np.full(11, np.nan)}).status == "too_few_points"


# ---- dG/dt, F-test, Pearson ----

@pytest.mark.parametrize("scheme", rates.SCHEMES)
def test_dgdt_regression_recovers_the_rate_and_the_limit(scheme):
    U_s, U_v = simulate.ode(D, T)
    points = rates.finite_differences(T, U_s - U_v, scheme)
    row = rates.fit_dgdt(points, scheme)
    assert row["status"] == "ok" and row["r2"] == pytest.approx(1.0)
    assert row["rate"] == pytest.approx(D.rate, rel=1e-7) and row["G_inf"] == pytest.approx(D.G_inf, rel=1e-7)


def test_forward_differences_are_the_discrete_iteration_exactly():
    d = Dynamics(100, 60, 3.0, 1.0, 0.05, 0.5)
    U_s, U_v = simulate.cross_improvement(d, np.zeros(10), 0.0)
    row = rates.fit_dgdt(rates.finite_differences(np.arange(11.0), U_s - U_v, "forward"))
    assert row["slope"] == pytest.approx(-d.k * (d.alpha - d.beta))
    assert row["intercept"] == pytest.approx((d.alpha - d.beta) * d.b)


def test_partial_f_test_detects_memory_and_not_its_absence():
    rng = np.random.default_rng(3)
    def series(memory: float) -> np.ndarray:
        G = [10.0, 9.0]
        for _ in range(40):
            G.append(G[-1] - 0.2 * G[-1] + memory * G[-2] + 0.3 * rng.standard_normal())
        return np.array(G)
    t = np.arange(42.0)
    with_memory = rates.partial_f_test(rates.finite_differences(t, series(0.15)))
    memoryless = rates.partial_f_test(rates.finite_differences(t, series(0.0)))
    assert with_memory["status"] == "ok" and with_memory["p_value"] < 0.01
    assert memoryless["p_value"] > 0.05
    assert with_memory["df_den"] == 40 - 3


def test_the_lag_is_one_epoch_also_with_half_epoch_checkpoints():
    """G(t - 1) is the gap one epoch earlier, not the previous checkpoint t - 0.5 (SVG App. E)."""
    G = 100.0 + T  # distinct values: G(t) = 100 + t
    every = rates.finite_differences(T, G, "forward", points="checkpoints")
    assert every["t"].to_list() == list(T[:-1])
    prev = dict(zip(every["t"], every["G_prev"], strict=True))
    assert prev[0.0] is None and prev[0.5] is None  # no checkpoint one epoch earlier
    assert prev[1.0] == 100.0 and prev[1.5] == 100.5 and prev[9.5] == 108.5
    epochs = rates.finite_differences(T, G, "forward", points="epochs")
    assert epochs["t"].to_list() == list(range(10)) and epochs["dGdt"].to_list() == [1.0] * 10
    assert epochs["G_prev"].to_list() == [None] + [100.0 + t for t in range(9)]


def test_table_4_has_the_papers_seven_degrees_of_freedom():
    """10 epochs of half-epoch checkpoints, whole-epoch points, forward differences, no intercept: 9 points
    with a G(t - 1), two slopes, 7 residual degrees of freedom, as the paper's p-values imply (App. E,
    Table 4: e.g. F = 1.807 with p = 0.2209 is F(1, 7))."""
    rng = np.random.default_rng(0)
    U_s, U_v = simulate.ode(D, T)
    G = U_s - U_v + 0.3 * rng.standard_normal(len(T))
    test = rates.partial_f_test(rates.finite_differences(T, G, "forward", "epochs"), intercept=False)
    assert test["n"] == 9 and test["df_den"] == 7
    from scipy import stats
    # the paper rounds F to 3 digits; df 6 and 8 would give 0.2275 and 0.2157
    assert stats.f.sf(1.807, 1, test["df_den"]) == pytest.approx(0.2209, abs=2e-4)
    with_intercept = rates.partial_f_test(rates.finite_differences(T, G, "forward", "epochs"), intercept=True)
    assert with_intercept["df_den"] == 6
    every = rates.partial_f_test(rates.finite_differences(T, G, "forward", "checkpoints"), intercept=False)
    assert every["n"] == 18 and every["df_den"] == 16  # t = 1, 1.5, ..., 9.5


def test_pearson_and_stars():
    u = np.array([5.0, 4.0, 3.0, 2.5, 2.0])
    row = rates.pearson(u, 1 - u / 10)
    assert row["r"] == pytest.approx(-1.0) and row["stars"] == "***"
    assert [rates.stars(p) for p in (0.0005, 0.005, 0.03, 0.2, math.nan)] == ["***", "**", "*", "", ""]
    assert rates.pearson(u, np.full(5, 0.3))["status"] == "flat"
    assert rates.pearson(u[:2], u[:2])["status"] == "too_few_points"


# ---- Prop. 5.1 ----

def products(d: Dynamics) -> dict:
    return dict(k_alpha=d.k * d.alpha, k_beta=d.k * d.beta, alpha_b=d.alpha * d.b, beta_b=d.beta * d.b)


def test_exact_cross_iteration_matches_the_simulator():
    d = Dynamics(100, 60, 3.0, 1.0, 0.05, 0.5)
    for etas in cross.schedules(10, 1.0, 8).values():
        U_s, U_v = simulate.cross_improvement(d, etas, gamma=0.5)
        U = cross.exact(np.array([d.U_v0, d.U_s0, 1.0]), etas, 0.5, **products(d))
        assert U[1] == pytest.approx(U_s[-1]) and U[0] == pytest.approx(U_v[-1])


def test_prop_5_1_approximation_depends_only_on_the_sum_and_holds_for_small_steps():
    small = Dynamics(100, 60, 0.3, 0.1, 0.01, 0.05)  # k alpha = 0.003 per epoch
    table = cross.allocation_table(small.U_s0, small.U_v0, gamma=0.1, T=10, total=0.5, late_epoch=8,
                                   **products(small))
    with_data = table.filter(pl.col("schedule") != "baseline")
    assert with_data["U_s_T_approx"].n_unique() == 1                      # the schedule does not matter
    assert np.allclose(table["U_s_T_approx"], table["U_s_T"], rtol=1e-3)    # and it is close to exact
    base = table.filter(pl.col("schedule") == "baseline")["U_s_T"][0]
    assert (with_data["U_s_T"] < base).all()                               # gamma > 0 helps the solver
    big = cross.allocation_table(D.U_s0, D.U_v0, 0.5, 10, 1.0, 8, **products(D))
    exact = big.filter(pl.col("schedule") != "baseline")["U_s_T"]
    assert exact.max() - exact.min() > 1.0                                   # large steps: allocation matters


# ---- forecasting and model comparison ----

def test_early_prediction_is_exact_on_noise_free_data():
    U_s, U_v = simulate.ode(D, T)
    curves, scores = forecast.early_prediction(T, U_s, U_v, [3.0, 5.0], eps=0.1)
    assert scores["status"].to_list() == ["ok", "ok"]
    assert np.allclose(scores["U_s_inf"], D.U_s_inf, rtol=1e-6)
    assert np.abs(scores["rel_error_last"]).max() < 1e-6 and scores["covered_last"].all()
    assert scores["n_used"].to_list() == [7, 11]
    assert curves["k"].unique().sort().to_list() == [3.0, 5.0]


def test_model_comparison_picks_the_law_that_generated_the_data():
    t = np.arange(0.0, 16.0)
    rng = np.random.default_rng(1)
    exp_data = 40 * np.exp(-0.3 * t) + 10 + 0.05 * rng.standard_normal(len(t))
    pow_data = 40 * (1 + t) ** -1.5 + 10 + 0.05 * rng.standard_normal(len(t))
    for data, winner in ((exp_data, "exponential"), (pow_data, "power")):
        table = forecast.compare_models(t, data, holdout=3)
        assert table.filter(pl.col("best_aicc"))["family"].to_list() == [winner]
        assert set(table["family"]) == set(forecast.FAMILIES)
        assert np.isnan(table.filter(pl.col("family") == "persistence")["aic"][0])


# ---- per-run tables ----

def test_analysis_tables_have_their_documented_columns():
    traj = simulate.trajectory(D, 10, 0.5, 0.01, seed=0)
    fits = analyse.fits_table(traj, "total", FitSettings(), 0.1)
    assert fits.columns == list(COLUMNS["fits"])
    assert set(fits["fit"]) == {"U_s", "U_v", "G", "joint"} and set(fits["split"]) == {"train", "test"}
    points, dgdt = analyse.dgdt_tables(traj, "total", "forward", True)
    assert dgdt.columns == list(COLUMNS["dgdt"]) and dgdt.height == 2
    assert analyse.correlation_table(traj, "total").height == 4
    cross_table = analyse.cross_table(fits, 0.5, 10, 1.0, 8)
    assert cross_table.columns == list(COLUMNS["cross"]) and cross_table.height == 8
    with pytest.raises(ValueError, match=r"U_s_tok"):
        analyse.fits_table(traj, "token", FitSettings(), 0.1)


def test_early_prediction_intervals_cover_the_last_checkpoint():
    # Fit on t <= 5 of 10 epochs (half-epoch checkpoints, 1% relative noise): the 90% prediction
    # interval of U_s at t = 10 should hold the observation in roughly 90% of replicates.
    U_s, U_v = simulate.ode(D, T)
    rng = np.random.default_rng(7)
    hits, errors, replicates = 0, [], 60
    for _ in range(replicates):
        _, scores = forecast.early_prediction(T, simulate.observe(U_s, 0.01, rng), simulate.observe(U_v, 0.01, rng),
                                              [5.0], eps=0.1)
        hits += bool(scores["covered_last"][0])
        errors.append(abs(scores["rel_error_last"][0]))
    print("early prediction: coverage", hits / replicates, "median |relative error| at t = 10", np.median(errors))
    assert 0.75 <= hits / replicates <= 0.97  # nominal 90%: an interval far too wide covers every time
    assert np.median(errors) < 0.03


def test_paper_tables_mark_missing_cells_and_keep_stars():
    from svgap.dynamics import report

    corr = pl.DataFrame({"split": ["train", "train"], "uncertainty": ["U_s", "U_s"], "accuracy": ["acc_s", "acc_s"],
                         "n": [10, 10], "r": [-0.991, -0.5], "p_value": [1e-5, 0.2], "stars": ["***", ""],
                         "status": ["ok", "ok"]})
    runs = [dict(model="a", task="gsm8k", method="tf", seed=0), dict(model="b", task="math", method="qe", seed=0)]
    table = report.table2(report.combine([corr[:1], corr[1:]], runs), "train")
    assert table.to_dict("records") == [{"task": "gsm8k", "method": "tf", "a": "-0.991***", "b": "–"},
                                        {"task": "math", "method": "qe", "a": "–", "b": "-0.500"}]
    assert "-0.991***" in report.markdown(table, "Table 2") and "\\begin{table}" in report.latex(table, "Table 2")


# ---- analysis settings: unit, noise model, dG/dt intercept ----

def _trajectory(total: Dynamics, per_token: Dynamics, t=T) -> pl.DataFrame:
    """One split whose total and per-token uncertainties follow two different dynamics, noise-free."""
    U_s, U_v = simulate.ode(total, t)
    U_s_tok, U_v_tok = simulate.ode(per_token, t)
    return pl.DataFrame({"split": "train", "t": t, "U_s": U_s, "U_v": U_v, "G": U_s - U_v, "U_s_tok": U_s_tok,
                         "U_v_tok": U_v_tok, "G_tok": U_s_tok - U_v_tok})


def test_analysis_unit_token_fits_the_per_token_columns():
    """analysis.unit = token: the fits, dG/dt and Table 2 read U_s_tok, U_v_tok, G_tok (here dynamics of
    rate 0.3 per epoch) and not U_s, U_v, G (rate 0.1)."""
    slow = Dynamics(U_s0=100.0, U_v0=60.0, alpha=3.0, beta=1.0, k=0.05, b=0.5)  # rate 0.1, G_inf 10
    per_token = Dynamics(U_s0=2.0, U_v0=1.2, alpha=3.0, beta=1.0, k=0.15, b=0.03)  # rate 0.3, U_s_inf 1.1
    traj = _trajectory(slow, per_token)
    for unit, d in (("total", slow), ("token", per_token)):
        fits = analyse.fits_table(traj, unit, FitSettings(), 0.1).filter(pl.col("fit") == "joint")
        value = dict(zip(fits["quantity"], fits["estimate"], strict=True))
        assert value["rate"] == pytest.approx(d.rate, rel=1e-5), unit
        assert value["U_s_inf"] == pytest.approx(d.U_s_inf, rel=1e-5), unit
        _, table = analyse.dgdt_tables(traj, unit, "forward", True, "checkpoints")
        assert table["G_inf"][0] == pytest.approx(d.G_inf, rel=1e-2), unit


def test_noise_model_absolute_is_unweighted_least_squares():
    """analysis.fit.noise_model = absolute: one noise scale per series, so a single-series fit is the plain
    least-squares fit of y = a e^(-rt) + c (scipy's curve_fit, unweighted); `relative` weights the late,
    smaller values more and lands elsewhere on the same noisy data."""
    from scipy.optimize import curve_fit

    U_s, _ = simulate.ode(D, T)
    y = simulate.observe(U_s, 0.03, np.random.default_rng(3))
    (a, r, c), _ = curve_fit(lambda t, a, r, c: a * np.exp(-r * t) + c, T, y, p0=(45.0, 0.3, 55.0))
    absolute = fit(T, {"U_s": y}, "exponential", FitSettings(noise_model="absolute"))
    relative = fit(T, {"U_s": y}, "exponential", FitSettings(noise_model="relative"))
    assert absolute.value("rate") == pytest.approx(r, rel=1e-4)  # to the optimisers' tolerances
    assert absolute.value("c_U_s") == pytest.approx(c, rel=1e-4)
    assert abs(relative.value("rate") - r) > 1e-2 * r, (relative.value("rate"), r)


def test_dgdt_without_intercept_is_the_regression_through_the_origin():
    """analysis.dgdt.intercept = false: dG/dt = m G, m = sum(G dG) / sum(G^2), and the F-test's full model
    has two slopes and no constant (residual df n - 2); with an intercept the fit differs (G_inf != 0)."""
    traj = _trajectory(D, D, np.arange(0.0, 11.0))
    points, table = analyse.dgdt_tables(traj, "total", "forward", False, "epochs")
    pts = points.drop_nulls("dGdt")
    x, y = pts["G"].to_numpy(), pts["dGdt"].to_numpy()
    assert table["slope"][0] == pytest.approx((x * y).sum() / (x * x).sum(), rel=1e-10)
    assert table["intercept_value"][0] == 0.0 and table["n"][0] == len(x)
    assert table["F_df_den"][0] == table["F_n"][0] - 2
    _, with_intercept = analyse.dgdt_tables(traj, "total", "forward", True, "epochs")
    assert abs(with_intercept["slope"][0] - table["slope"][0]) > 1e-3
    assert with_intercept["F_df_den"][0] == with_intercept["F_n"][0] - 3
