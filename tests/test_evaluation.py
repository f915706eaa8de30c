"""pass@k against enumeration, and the per-round table of Mind the Gap's iterative self-improvement."""

import itertools
import math

import polars as pl
import pytest

from svgap.evaluation import iterative, passk


def brute_force(n, c, k):
    """The share of the k-subsets of n samples (the first c correct) that hold a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_the_estimator_equals_enumeration_of_subsets(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert passk.estimate(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_the_estimator_is_stable_where_binomials_overflow():
    n, c, k = 2000, 3, 1000
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)  # Python's integers do not overflow
    assert passk.estimate(n, c, k) == pytest.approx(exact, rel=1e-12)
    assert passk.estimate(128, 0, 64) == 0.0 and passk.estimate(128, 65, 64) == 1.0
    assert passk.estimate(16, 4, 1) == pytest.approx(4 / 16)  # pass@1 is the accuracy


def test_bad_counts_are_errors():
    for n, c, k in [(4, 5, 1), (4, 2, 0), (4, 2, 5)]:
        with pytest.raises(ValueError, match="pass@k needs"):
            passk.estimate(n, c, k)


def grades(correct):
    """A grades table: {split: {prompt: [correct, ...]}}."""
    rows = [(split, p, j, v) for split, prompts in correct.items() for p, values in prompts.items()
            for j, v in enumerate(values)]
    return pl.DataFrame(rows, schema=["split", "prompt_id", "sample", "correct"], orient="row")


def test_a_checkpoints_pass_at_k_is_the_mean_over_prompts():
    table = passk.per_checkpoint(grades({"test": {"a": [True, False, False, False], "b": [False] * 4},
                                         "train": {"c": [True] * 4}}), [1, 2, 4], t=5)
    test = {r["k"]: r for r in table.filter(pl.col("split") == "test").iter_rows(named=True)}
    assert test[1]["pass_at_k"] == pytest.approx((0.25 + 0) / 2)
    assert test[2]["pass_at_k"] == pytest.approx((0.5 + 0) / 2)  # 1 - C(3, 2) / C(4, 2) = 1/2 for a
    assert test[4]["pass_at_k"] == pytest.approx(0.5) and test[4]["n_prompts"] == 2 and test[4]["n_samples"] == 4
    assert test[2]["pass_at_k_se"] == pytest.approx(0.25)  # std (ddof 1) of (0.5, 0) over sqrt(2)
    assert table.filter(pl.col("split") == "train")["pass_at_k"].to_list() == [1.0, 1.0, 1.0]
    assert set(table["t"]) == {5.0} and tuple(table.columns) == passk.COLUMNS


def test_k_above_n_and_ragged_samples_are_errors():
    with pytest.raises(ValueError, match=r"k \[8\] exceed the 4 samples"):
        passk.per_checkpoint(grades({"test": {"a": [True] * 4}}), [1, 8], t=0)
    with pytest.raises(ValueError, match="different sample counts"):
        passk.per_checkpoint(grades({"test": {"a": [True] * 4, "b": [True] * 3}}), [1], t=0)


def test_default_ks_are_powers_of_two_and_n():
    assert passk.default_ks(16) == [1, 2, 4, 8, 16]
    assert passk.default_ks(12) == [1, 2, 4, 8, 12]
    assert passk.default_ks(1) == [1]


def trajectory(model, gaps, split="test"):
    n = len(gaps)
    return pl.DataFrame({
        "model": [model] * n, "task": ["gsm8k"] * n, "method": ["cot_binary"] * n, "selection": ["rejection"] * n,
        "seed": [0] * n, "split": [split] * n, "t": [k / 2 for k in range(n)],
        "acc_samples": [0.1 * k for k in range(n)], "gv_gap": gaps, "gv_gap_se": [0.01] * n,
        "gv_gap_rel": gaps, "pass_at_n": [0.5] * n, "n_targets": [3] * n})


def test_rounds_keep_whole_rounds_and_find_the_saturation_round():
    """Checkpoints 0, 0.5, 1, 1.5, 2: the rounds are 0, 1, 2; the gap falls to 0.4% at round 2 (the 0.2%
    at t = 1.5 is a half-epoch checkpoint, not a round)."""
    table = iterative.rounds([trajectory("a", [0.05, 0.03, 0.02, 0.002, 0.004]),
                              trajectory("b", [0.05, 0.03, 0.02, 0.01, 0.009])])
    a = table.filter(pl.col("model") == "a")
    assert a["t"].to_list() == [0.0, 1.0, 2.0] and a["gv_gap"].to_list() == [0.05, 0.02, 0.004]
    assert set(a["saturated_at"]) == {2.0}
    assert table.filter(pl.col("model") == "b")["saturated_at"].null_count() == 3
    text = iterative.markdown(table)
    assert "| a | cot_binary | test | 2 | 40.00 | 0.40 (1.00) | 50.00 |" in text


@pytest.mark.parametrize("overlay,message", [
    ({"evaluation": {"pass_at_k": {"checkpoints": [0, 7]}}},
     "config evaluation.pass_at_k.checkpoints: [7] are not checkpoints the runs evaluate"),
    ({"evaluation": {"pass_at_k": {"k": [1, 64]}}}, "config evaluation.pass_at_k.k: [64] exceed loop.n_samples = 2"),
])
def test_evaluation_config_errors_name_the_key(tmp_path, overlay, message):
    import re

    import yaml
    from helpers import ROOT

    from svgap.config import load as load_config

    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(ROOT / "config" / "ci.yaml", tmp_path / "bad.yaml", root=ROOT)


def test_the_default_checkpoints_are_0_the_middle_and_T():
    from svgap.config import pass_at_k_checkpoints

    def config(epochs, per_epoch):
        return {"loop": {"epochs": epochs, "checkpoints_per_epoch": per_epoch},
                "evaluation": {"pass_at_k": {"checkpoints": [], "k": []}}}
    assert pass_at_k_checkpoints(config(10, 2)) == [0, 5, 10]  # SVG Fig. 23
    assert pass_at_k_checkpoints(config(3, 1)) == [0, 1, 3]  # 1.5 is not evaluated: the lower of 1 and 2
    assert pass_at_k_checkpoints(config(3, 2)) == [0, 1.5, 3]
    assert pass_at_k_checkpoints(config(1, 1)) == [0, 1]


@pytest.mark.slow
def test_the_ci_runs_pass_at_k_and_rounds_agree_with_its_trajectory(ci_run):
    """pass@1 is the accuracy over all samples and pass@N the share of prompts with a correct sample: the
    trajectory's acc_samples and pass_at_n at the same checkpoints; the rounds are its whole epochs."""
    from svgap import tables

    run = ci_run / "results" / "smollm2-135m" / "add" / "tf" / "seed0"
    table = tables.read(run / "pass_at_k.parquet", "pass_at_k")
    traj = tables.read(run / "trajectory.parquet", "trajectory")
    assert sorted(table["t"].unique()) == [0.0, 1.0, 2.0] and sorted(table["k"].unique()) == [1, 2]
    joined = table.join(traj, on=["split", "t"])
    one, n = joined.filter(pl.col("k") == 1), joined.filter(pl.col("k") == 2)
    assert one["pass_at_k"].to_list() == pytest.approx(one["acc_samples"].to_list())
    assert n["pass_at_k"].to_list() == pytest.approx(n["pass_at_n"].to_list())
    rounds = tables.read(ci_run / "results" / "iterative" / "add" / "rounds.parquet", "rounds")
    whole = traj.filter(pl.col("t") == pl.col("t").floor()).sort("split", "t")
    assert rounds.sort("split", "t")["gv_gap"].to_list() == pytest.approx(whole["gv_gap"].to_list())
    assert "| smollm2-135m | tf | test | 0 |" in (ci_run / "results" / "iterative" / "add" / "rounds.md").read_text()
    for name in (run / "pass_at_k.png", ci_run / "results" / "iterative" / "add" / "rounds.png"):
        assert name.stat().st_size > 1000
