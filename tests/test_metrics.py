"""U_s, U_v and G (Eqs. 5-6) on a hand-made epoch."""

import math

import numpy as np
import polars as pl
import pytest
from matplotlib.collections import PolyCollection

from svgap import tables
from svgap.columns import METRIC_COLUMNS
from svgap.loop import trajectory
from svgap.loop.bon import best_of_n
from svgap.loop.metrics import BOOTSTRAP_REPLICATES, SE_QUANTITIES, auroc, bootstrap_weights, compute, row


def samples():
    # columns: prompt_id, sample, nll, length, finished, text, correct, tf_score, qe_score, p_correct
    # prompt a: solver sample 0 (nll 6, len 3) wrong; sample 1 (nll 2, len 2) right, verified.
    # prompt b: both wrong and rejected by the verifier (score 0); sample 0 is an empty response.
    # prompt c: sample 0 (nll 4, len 4) right and verified; sample 1 (nll 1, len 1) right, verified too.
    rows = [
        ("a", 0, 6.0, 3, True, "x", False, 0.0, 0.0, 0.2),
        ("a", 1, 2.0, 2, True, "y", True, 1.0, 0.9, 0.9),
        ("b", 0, 3.0, 3, False, "", False, 0.0, 0.1, 0.1),
        ("b", 1, 5.0, 5, True, "z", False, 0.0, 0.2, 0.3),
        ("c", 0, 4.0, 4, True, "w", True, 1.0, 1.0, 0.8),
        ("c", 1, 1.0, 1, True, "v", True, 1.0, 0.8, 0.7),
    ]
    df = pl.DataFrame(rows, orient="row", schema=["prompt_id", "sample", "nll", "length", "finished", "text",
                                                  "correct", "tf_score", "qe_score", "p_correct"])
    return df.with_columns(tf_parsed=pl.lit(True), qe_parsed=pl.lit(True))


def run(policy):
    s = samples()
    picks = best_of_n(s.select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")), 0.5, policy)
    return compute(s, picks, "tf_score", 0.5, policy)


def test_u_s_is_over_every_prompt_and_u_v_over_the_prompts_with_a_pick():
    """Eq. 5: U_s averages the solver sample over all n prompts, also the one whose candidate set is
    empty (b); U_v averages the picks, which exist for a and c only under `skip`."""
    m = run("skip")
    assert m["n_prompts"] == 3 and m["n_empty"] == 1 and m["n_paired"] == 2
    # picks: a -> sample 1 (2.0 / 2 tokens); c -> sample 0 (4.0 / 4 = 1.0 ties sample 1's 1.0 / 1: index 0 wins)
    assert m["U_v"] == pytest.approx((2.0 + 4.0) / 2)
    assert m["U_s"] == pytest.approx((6.0 + 3.0 + 4.0) / 3)  # b's solver sample counts
    assert m["U_s_paired"] == pytest.approx((6.0 + 4.0) / 2)  # only a and c
    assert m["G"] == pytest.approx(m["U_s"] - m["U_v"])
    assert m["U_s_tok"] == pytest.approx((6 / 3 + 3 / 3 + 4 / 4) / 3)
    assert m["U_v_tok"] == pytest.approx((2 / 2 + 4 / 4) / 2)
    assert m["acc_s"] == pytest.approx(1 / 3) and m["acc_v"] == pytest.approx(1.0)
    assert m["len_s"] == pytest.approx((3 + 3 + 4) / 3)
    assert m["len_v"] == pytest.approx(3.0)
    assert m["U_s_N"] == pytest.approx(((6 + 2) / 2 + (3 + 5) / 2 + (4 + 1) / 2) / 3)
    assert m["U_s_N_tok"] == pytest.approx(((2 + 1) / 2 + (1 + 1) / 2 + (1 + 1) / 2) / 3)


def test_all_policy_keeps_every_prompt():
    m = run("all")
    assert m["n_empty"] == 1 and m["n_paired"] == 3
    assert m["U_s"] == pytest.approx(m["U_s_paired"]) == pytest.approx(run("skip")["U_s"])
    assert m["U_v"] == pytest.approx((2.0 + 3.0 + 4.0) / 3)  # b falls back to sample 0 (1.0 per token)


def test_diagnostics():
    m = run("skip")
    assert m["pass_at_n"] == pytest.approx(2 / 3)
    assert m["acc_samples"] == pytest.approx(3 / 6)
    assert m["n_empty_response"] == 1
    assert m["candidate_rate"] == pytest.approx(3 / 6)
    assert m["auc_tf"] == pytest.approx(auroc(samples()["tf_score"].to_numpy(), samples()["correct"].to_numpy()))
    assert set(m) | {"split", "t"} == set(METRIC_COLUMNS)


def test_a_verifier_method_not_computed_leaves_its_diagnostics_nan():
    """`verifier.methods` without qe: the verify table's QE columns are null; the row's QE diagnostics are NaN
    and everything else is what the full table gives."""
    s = samples().with_columns(qe_score=pl.lit(None, dtype=pl.Float64), qe_parsed=pl.lit(None, dtype=pl.Boolean))
    picks = best_of_n(s.select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")), 0.5, "skip")
    m, full = compute(s, picks, "tf_score", 0.5, "skip"), run("skip")
    assert math.isnan(m["auc_qe"]) and math.isnan(m["qe_parse_rate"])
    assert {k: v for k, v in m.items() if k not in ("auc_qe", "qe_parse_rate")} == pytest.approx(
        {k: v for k, v in full.items() if k not in ("auc_qe", "qe_parse_rate")}, nan_ok=True)


def test_auroc():
    import numpy as np

    assert auroc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False])) == 1.0
    assert auroc(np.array([0.1, 0.9]), np.array([True, False])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    assert math.isnan(auroc(np.array([0.5]), np.array([True])))


def test_metrics_are_bitwise_independent_of_row_order():
    # Stages may write rows in any order; the metric row must not change in the last bit (CI compares
    # two runs' Parquet tables for equality). Many prompts with awkward floats make summation order show.
    rng = np.random.default_rng(0)
    n_prompts, n = 200, 4
    df = pl.DataFrame({
        "prompt_id": np.repeat([f"p{i:03d}" for i in range(n_prompts)], n),
        "sample": np.tile(np.arange(n), n_prompts),
        "nll": rng.random(n_prompts * n) * 37.3,
        "length": rng.integers(1, 40, n_prompts * n),
        "finished": rng.random(n_prompts * n) < 0.8,
        "text": ["t"] * (n_prompts * n),
        "correct": rng.random(n_prompts * n) < 0.4,
        "tf_score": (rng.random(n_prompts * n) < 0.5).astype(float),
        "qe_score": rng.random(n_prompts * n),
        "p_correct": rng.random(n_prompts * n),
        "tf_parsed": [True] * (n_prompts * n),
        "qe_parsed": [True] * (n_prompts * n),
    })
    def row(frame):
        picks = best_of_n(frame.select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")),
                          0.5, "skip")
        return compute(frame, picks, "tf_score", 0.5)
    reference = row(df)
    for seed in range(5):
        shuffled = row(df.sample(fraction=1.0, shuffle=True, seed=seed))
        assert shuffled.keys() == reference.keys()
        for key, value in reference.items():
            assert value == shuffled[key] or (math.isnan(value) and math.isnan(shuffled[key])), key


def test_rejection_sampling_measures_every_target():
    """Under rejection sampling U_v averages all kept responses (each a finetune target): prompt a keeps
    sample 1, c keeps samples 0 and 1; b keeps nothing (skip)."""
    s = samples()
    picks = best_of_n(s.select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")), 0.5,
                      "skip", selection="rejection")
    m = compute(s, picks, "tf_score", 0.5)
    assert m["n_targets"] == 3 and m["n_paired"] == 2 and m["n_empty"] == 1
    assert m["U_v"] == pytest.approx((2.0 + 4.0 + 1.0) / 3)
    assert m["U_v_tok"] == pytest.approx((1.0 + 1.0 + 1.0) / 3)
    assert m["acc_v"] == 1.0 and m["len_v"] == pytest.approx((2 + 4 + 1) / 3)
    assert m["U_s_paired"] == pytest.approx((6.0 + 4.0) / 2)


def test_gv_gap_by_hand():
    """MTG Def. 2.1 and 2.2 of the TF filter: a keeps its correct sample 1 (acc 1/2 -> 1, gap 1/2, relative
    gap (1/2) / (1/2) = 1); c keeps both (acc 1, gap 0, relative 0 since every sample is correct); b keeps
    nothing: left out under `skip`, its whole set (gap 0) under `all`."""
    skip, every = run("skip"), run("all")
    assert skip["gv_gap"] == pytest.approx(0.25) and skip["gv_gap_rel"] == pytest.approx(0.5)
    assert skip["gv_gap_se"] == pytest.approx(np.std([0.5, 0.0], ddof=1) / math.sqrt(2))
    assert every["gv_gap"] == pytest.approx(0.5 / 3) and every["gv_gap_rel"] == pytest.approx(1 / 3)


def epoch(n_prompts: int, seed: int = 0, *, solver: float = 20.0, pick: float = 10.0, spread: float = 5.0,
          noise: float = 1.0) -> pl.DataFrame:
    """Two samples per prompt: sample 0 (the solver, never verified) and sample 1 (verified, the pick). Both
    NLLs share the prompt's difficulty d_i ~ N(0, spread^2), so they are positively correlated per prompt."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, spread, n_prompts)
    nll = np.stack([solver + difficulty + noise * rng.standard_normal(n_prompts),
                    pick + difficulty + noise * rng.standard_normal(n_prompts)], axis=1).ravel()
    size = 2 * n_prompts
    return pl.DataFrame({
        "prompt_id": np.repeat([f"p{i:04d}" for i in range(n_prompts)], 2), "sample": np.tile([0, 1], n_prompts),
        "nll": nll, "length": rng.integers(5, 40, size), "finished": [True] * size, "text": ["t"] * size,
        "correct": rng.random(size) < 0.5, "tf_score": np.tile([0.0, 1.0], n_prompts), "qe_score": rng.random(size),
        "p_correct": rng.random(size), "tf_parsed": [True] * size, "qe_parsed": [True] * size,
    })


def measured(frame: pl.DataFrame, selection: str = "bon") -> dict:
    picks = best_of_n(frame.select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")), 0.5,
                      "skip", selection=selection)
    return compute(frame, picks, "tf_score", 0.5)


def test_bootstrap_se_of_u_s_is_the_analytic_one():
    """The bootstrap over prompts of a mean is close to std / sqrt(n) (here within 10% at n = 200)."""
    n = 200
    frame = epoch(n)
    m = measured(frame)
    solver = frame.filter(pl.col("sample") == 0)
    for name, values in (("U_s", solver["nll"]), ("U_s_tok", solver["nll"] / solver["length"]),
                         ("acc_s", solver["correct"].cast(pl.Float64))):
        analytic = values.std() / math.sqrt(n)
        assert m[f"{name}_se"] == pytest.approx(analytic, rel=0.1), name
    assert m["U_v_se"] == pytest.approx(frame.filter(pl.col("sample") == 1)["nll"].std() / math.sqrt(n), rel=0.1)


def test_the_gap_se_keeps_the_pairing_of_u_s_and_u_v():
    """Solver and pick NLLs share each prompt's difficulty: resampling whole prompts keeps the covariance, so
    G's SE is far below the unpaired sqrt(U_s_se^2 + U_v_se^2) (and near the SE of the per-prompt gaps)."""
    frame = epoch(200)
    m = measured(frame)
    unpaired = math.sqrt(m["U_s_se"] ** 2 + m["U_v_se"] ** 2)
    assert m["G_se"] < 0.5 * unpaired
    nll = frame.sort("prompt_id", "sample")["nll"].to_numpy().reshape(-1, 2)
    assert m["G_se"] == pytest.approx(np.std(nll[:, 0] - nll[:, 1], ddof=1) / math.sqrt(200), rel=0.1)
    assert m["G_tok_se"] < math.sqrt(m["U_s_tok_se"] ** 2 + m["U_v_tok_se"] ** 2)


def test_standard_errors_are_deterministic_and_nan_for_one_prompt():
    first, second = measured(epoch(64)), measured(epoch(64))
    ses = [f"{q}_se" for q in SE_QUANTITIES]
    assert all(math.isfinite(first[k]) and first[k] == second[k] for k in ses)
    single = measured(epoch(1))
    assert math.isfinite(single["U_s"]) and math.isfinite(single["G"])
    assert all(math.isnan(single[k]) for k in ses)
    assert set(ses) <= set(METRIC_COLUMNS)


def test_rejection_targets_carry_their_prompts_weight():
    """Under rejection sampling c keeps two targets and a one (b none): a replicate's U_v* is
    (w_a 2 + w_c (4 + 1)) / (w_a + 2 w_c); replicates that draw neither a nor c are left out."""
    s = samples()
    picks = best_of_n(s.select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")), 0.5,
                      "skip", selection="rejection")
    m = compute(s, picks, "tf_score", 0.5)
    w = bootstrap_weights(3)
    with np.errstate(invalid="ignore"):
        u_v = (w[:, 0] * 2.0 + w[:, 2] * 5.0) / (w[:, 0] + 2 * w[:, 2])
        u_s = (w @ np.array([6.0, 3.0, 4.0])) / 3
    assert w.shape == (BOOTSTRAP_REPLICATES, 3) and (w.sum(axis=1) == 3).all()
    assert m["U_v_se"] == pytest.approx(np.nanstd(u_v, ddof=1))
    assert m["U_s_se"] == pytest.approx(np.std(u_s, ddof=1))
    assert m["G_se"] == pytest.approx(np.nanstd(u_s - u_v, ddof=1))


def test_the_trajectory_plot_draws_a_band_per_quantity_and_split(tmp_path, monkeypatch):
    """Metric rows of two checkpoints make a trajectory (the SE columns registered) whose figure has a
    +-1.96 SE band per quantity and split; a trajectory without SE columns still plots, without bands."""
    paths = []
    for t in (0, 1):
        rows = [row(epoch(40, seed=t + 2 * i), best_of_n(
            epoch(40, seed=t + 2 * i).select("prompt_id", "sample", "nll", "length", pl.col("tf_score").alias("score")),
            0.5, "skip"), method="tf", sigma=0.5, split=split, t=t) for i, split in enumerate(("train", "test"))]
        paths.append(tmp_path / f"metrics{t}.parquet")
        tables.write(pl.concat(rows), paths[-1])
    traj = trajectory.build(paths, {"model": "m", "task": "k", "method": "tf", "seed": 0, "n_samples": 2,
                                    "sigma": 0.5, "quantile": None, "selection": "bon", "empty_policy": "skip",
                                    "lr": 1e-3, "epochs": 1, "schedule": "baseline"})
    assert all(traj[f"{q}_se"].is_finite().all() for q in SE_QUANTITIES)
    figures = []
    monkeypatch.setattr(trajectory.plt, "close", figures.append)
    settings = {"width": 9, "height": 3, "dpi": 40, "title": "t"}
    trajectory.plot(traj, tmp_path / "t.png", tmp_path / "t.pdf", **settings)
    trajectory.plot(traj.drop(f"{q}_se" for q in SE_QUANTITIES), tmp_path / "u.png", tmp_path / "u.pdf", **settings)
    assert all((tmp_path / name).stat().st_size for name in ("t.png", "t.pdf", "u.png", "u.pdf"))
    bands = [[c for c in ax.collections if isinstance(c, PolyCollection)] for ax in figures[0].axes]
    assert [len(b) for b in bands] == [2 * len(columns) for _, columns in trajectory.PANELS]
    assert not any(isinstance(c, PolyCollection) for ax in figures[1].axes for c in ax.collections)
