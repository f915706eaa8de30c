"""U_s, U_v and G (Eqs. 5-6) on a hand-made epoch."""

import math

import numpy as np
import polars as pl
import pytest

from svgap.columns import METRIC_COLUMNS
from svgap.loop.bon import best_of_n
from svgap.loop.metrics import auroc, compute


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
