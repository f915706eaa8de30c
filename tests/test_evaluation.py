"""pass@k against enumeration, and the per-round table of Mind the Gap's iterative self-improvement."""

import itertools
import math

import polars as pl
import pytest

from svgap.config import pass_at_k_ks, pretraining_flops
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
    assert pass_at_k_ks(16) == [1, 2, 4, 8, 16]
    assert pass_at_k_ks(12) == [1, 2, 4, 8, 12]
    assert pass_at_k_ks(1) == [1]
    assert pass_at_k_ks(3) == [1, 2, 3]
    assert pass_at_k_ks(0) == []


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


def gap_table(rows):
    """A task's gap table (svgap.gap.stages.gap_tables): model, filter, gap and relative gap with SEs."""
    return pl.DataFrame([{"model": m, "ensemble": False, "filter": f, "gap": g, "gap_se": 0.01, "rel_gap": r,
                          "rel_gap_se": 0.02} for m, f, g, r in rows])


def test_the_flops_fit_recovers_a_known_slope():
    """Relative gaps built as 0.05 x log10 FLOPs - 1 plus a known small residual pattern: the fitted slope
    is 0.05 within its interval, and the family whose points lie exactly on a line has R^2 = 1."""
    from svgap.evaluation import scaling

    sizes = {"fam-1b": 1e9, "fam-3b": 3e9, "fam-7b": 7e9, "fam-14b": 14e9, "fam-70b": 70e9}
    scales = {m: {"params": p, "tokens": 2e12} for m, p in sizes.items()}
    scales["other-1b"] = {"flops": 1e21}
    scales["other-9b"] = {"flops": 1e22, "family": "other"}
    scales["nometa-7b"] = None
    wiggle = [0.002, -0.003, 0.001, 0.003, -0.002]
    rows = []
    for (m, p), w in zip(sizes.items(), wiggle, strict=True):
        x = math.log10(6 * p * 2e12)
        rows.append((m, "CoT-S tau 8", 0.01 * x, 0.05 * x - 1 + w))
        rows.append((m, "MC top 0.8", 0.0, 0.02 * x))
    rows += [("other-1b", "CoT-S tau 8", 0.0, 0.1), ("other-9b", "CoT-S tau 8", 0.0, 0.3),
             ("nometa-7b", "CoT-S tau 8", 0.0, 0.9), ("fam-7b", "CoT-B", 0.0, 0.5)]
    points, left_out = scaling.points(gap_table(rows), scales, ["CoT-S tau 8", "MC top 0.8"])
    assert left_out == ["nometa-7b"] and "CoT-B" not in set(points["filter"])
    assert points.filter(pl.col("model") == "fam-7b")["flops"][0] == pytest.approx(6 * 7e9 * 2e12)
    fits = scaling.fit(points, 0.95)

    def one(family, name, measure):
        return fits.filter((pl.col("family") == family) & (pl.col("filter") == name)
                           & (pl.col("measure") == measure)).row(0, named=True)
    cot = one("fam", "CoT-S tau 8", "rel_gap")
    assert cot["n_models"] == 5 and cot["status"] == "ok"
    assert cot["slope"] == pytest.approx(0.05, abs=0.005) and cot["slope_lo"] < 0.05 < cot["slope_hi"]
    exact = one("fam", "MC top 0.8", "rel_gap")
    assert exact["slope"] == pytest.approx(0.02) and exact["r2"] == pytest.approx(1.0)
    assert one("fam", "CoT-S tau 8", "gap")["slope"] == pytest.approx(0.01)  # Fig. 12's measure, its own line
    two = one("other", "CoT-S tau 8", "rel_gap")  # 1e21 -> 0.1, 1e22 -> 0.3: a line, no interval
    assert two["slope"] == pytest.approx(0.2) and two["slope_lo"] is None and two["status"].startswith("two models")
    text = scaling.markdown(fits, left_out, 0.95)
    assert "| rel_gap | CoT-S tau 8 | fam | 5 |" in text and "Left out" in text and "nometa-7b" in text


def test_scale_metadata_needs_flops_or_params_and_tokens():
    from svgap.evaluation import scaling

    assert pretraining_flops("m", None) is None and pretraining_flops("m", {"flops": 5.0}) == 5.0
    assert pretraining_flops("m", {"params": 2.0, "tokens": 3.0}) == 36.0
    assert scaling.family("qwen1.5-7b", None) == "qwen1.5" and scaling.family("x-1b", {"family": "y"}) == "y"
    with pytest.raises(ValueError, match="config models.m.scale: give flops, or both params and tokens"):
        pretraining_flops("m", {"params": 2.0})
