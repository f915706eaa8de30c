"""The evaluation studies' library: the N sweep's nesting, the cross-evaluation's cells, the training
stages' identifiable coefficients, and the config checks of all three (the workflow end to end:
tests/test_studies_workflow.py)."""

import copy

import numpy as np
import polars as pl
import pytest
from helpers import ROOT

from svgap.config import check, load
from svgap.dynamics.analyse import fits_table
from svgap.dynamics.fit import FitSettings
from svgap.dynamics.simulate import trajectory
from svgap.dynamics.theory import Dynamics
from svgap.evaluation import crosseval, nsweep, training_stages
from svgap.loop import bon
from svgap.loop.metrics import row as metrics_row

SIGMA = {"tf": 0.5, "qe": 0.5}
QUANTILE = {"tf": None, "qe": None}


def responses(n_prompts=6, n=16, seed=0):
    """A split's joined samples (svgap.loop.grading.samples' columns) with random scores and NLLs."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_prompts):
        for j in range(n):
            correct = bool(rng.random() < 0.4)
            rows.append({"prompt_id": f"p{p}", "sample": j, "nll": float(rng.uniform(1, 20)),
                         "length": int(rng.integers(1, 10)), "finished": True, "text": f"r{p}.{j}",
                         "correct": correct, "tf_score": float(rng.random() < (0.7 if correct else 0.3)),
                         "tf_parsed": True, "qe_score": float(rng.integers(0, 11)) / 10, "qe_parsed": True,
                         "p_correct": float(rng.random()), "prompt_token_ids": [1, 2], "token_ids": [3]})
    return pl.DataFrame(rows)


def sweep(samples, ns=(1, 2, 4, 8, 16), seed=0):
    return nsweep.sweep(samples, split="test", ns=list(ns), methods=["tf", "qe"], sigma=SIGMA, quantile=QUANTILE,
                        empty_policy="skip", seed=seed, where="test")


def test_the_subsets_are_nested_seeded_and_keep_the_solver_sample():
    samples = responses()
    ranks = nsweep.order(samples, seed=3, split="test")
    assert ranks.equals(nsweep.order(samples, seed=3, split="test"))  # seeded: the same order again
    assert not ranks.equals(nsweep.order(samples, seed=4, split="test"))
    previous = None
    for n in (1, 2, 4, 8, 16):
        subset = nsweep.nested(samples, ranks, n)
        per_prompt = subset.group_by("prompt_id").agg(pl.col("sample"))
        assert per_prompt.height == 6 and all(len(s) == n and 0 in s for s in per_prompt["sample"])
        keys = set(zip(subset["prompt_id"], subset["sample"], strict=True))
        if previous is not None:
            assert previous <= keys  # the N = 4 set is inside the N = 8 set
        previous = keys
    # the order past sample 0 is not the sample index: a subset is not simply samples 0..N-1
    assert any(ranks.filter(pl.col("prompt_id") == p).sort("rank")["sample"].to_list() != list(range(16))
               for p in ranks["prompt_id"].unique())


def test_the_sweep_keeps_the_solver_fixed_and_matches_the_loop_at_the_full_n():
    samples = responses()
    table = sweep(samples)
    for (method,), part in table.group_by("method"):
        assert part["acc_s"].n_unique() == 1 and part["U_s"].n_unique() == 1, method
        full = part.filter(pl.col("n") == 16).row(0, named=True)
        picks = bon.picks(samples, method=method, sigma=0.5, empty_policy="skip")
        loop = metrics_row(samples, picks, method=method, sigma=0.5, split="test", t=0).row(0, named=True)
        for key in nsweep.FIGURES:
            assert full[key] == pytest.approx(loop[key], nan_ok=True), (method, key)
    # at N = 1 the only response is the solver's: a pick, where there is one, is sample 0 itself
    one = table.filter((pl.col("n") == 1) & (pl.col("method") == "tf")).row(0, named=True)
    passed = samples.filter((pl.col("sample") == 0) & (pl.col("tf_score") >= 0.5))
    assert one["U_v"] == pytest.approx(passed["nll"].mean()) and one["n_empty"] == 6 - passed.height
    assert one["gv_gap"] == 0.0  # one response: the filtered set's accuracy is the set's own


def test_the_sweep_needs_the_largest_n_for_every_prompt():
    samples = responses().filter(~((pl.col("prompt_id") == "p2") & (pl.col("sample") >= 10)))
    with pytest.raises(ValueError, match=r"1 test prompts have fewer than N = 16 responses \(for example p2 has 10\)"):
        sweep(samples)


def test_a_cell_is_the_loops_selection_on_the_verifiers_scores():
    samples = responses(seed=1)
    cells = crosseval.cells(samples, solver="a", verifier="b", split="test", methods=["tf", "qe"], sigma=SIGMA,
                            quantile=QUANTILE, empty_policy="skip")
    assert cells["method"].to_list() == ["tf", "qe"]
    for r in cells.iter_rows(named=True):
        picks = bon.picks(samples, method=r["method"], sigma=0.5, empty_policy="skip")
        loop = metrics_row(samples, picks, method=r["method"], sigma=0.5, split="test", t=0).row(0, named=True)
        assert r["acc_v"] == loop["acc_v"] and r["U_v"] == loop["U_v"] and r["gv_gap"] == loop["gv_gap"]
        assert r["acc_gain"] == pytest.approx(loop["acc_v"] - loop["acc_s"])
    # another verifier's scores change the verifier's figures, never the solver's
    other = samples.with_columns(tf_score=1.0 - pl.col("tf_score"))
    flipped = crosseval.cells(other, solver="a", verifier="c", split="test", methods=["tf"], sigma=SIGMA,
                              quantile=QUANTILE, empty_policy="skip").row(0, named=True)
    assert flipped["acc_s"] == cells.row(0, named=True)["acc_s"] and flipped["acc_v"] != cells["acc_v"][0]


def test_the_stages_table_reports_the_identifiable_coefficients_and_labels_alpha():
    truth = [Dynamics(U_s0=100, U_v0=60, alpha=3.0, beta=1.0, k=0.15, b=1.5),
             Dynamics(U_s0=80, U_v0=60, alpha=2.0, beta=1.0, k=0.2, b=1.0)]
    fits = [fits_table(trajectory(d, 10, 0.5, 0.001, seed=0), "total", FitSettings(), 0.1) for d in truth]
    stages = training_stages.table(["Base-SFT", "Post-trained"], fits)
    assert stages.height == 4 and stages["stage"].to_list() == ["Base-SFT", "Base-SFT", "Post-trained", "Post-trained"]
    for d, label in zip(truth, ["Base-SFT", "Post-trained"], strict=True):
        row = stages.filter((pl.col("stage") == label) & (pl.col("split") == "train")).row(0, named=True)
        delta = d.G0 - d.b / d.k
        alpha_p = d.alpha * delta / (d.alpha - d.beta)
        assert row["status"] == "ok"
        assert row["rate"] == pytest.approx(d.rate, rel=0.02)
        assert row["alpha_p"] == pytest.approx(alpha_p, rel=0.02)
        assert row["alpha_paper"] == row["alpha_p"]  # alpha under alpha - beta = delta
        assert row["alpha_k1"] == pytest.approx(d.k * d.alpha, rel=0.03)  # alpha under k = 1
        assert row["alpha_over_beta"] == pytest.approx(d.alpha / d.beta, rel=0.03)
        assert row["rate_lo"] <= row["rate"] <= row["rate_hi"]
    text = training_stages.markdown(stages)
    assert "alpha (paper)" in text and "normalisation alpha - beta = delta" in text and "| Post-trained | ok |" in text


@pytest.fixture(scope="module")
def evaluation_config():
    return load(ROOT / "config" / "evaluation.yaml", root=ROOT)


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["evaluation"]["n_sweep"].update(models=["nope"]), "evaluation.n_sweep.models: \\['nope'\\]"),
    (lambda c: c["evaluation"]["cross"]["models"].update(x={"model": "smollm2-135m", "t": 1}),
     "cross.models.x: t = 1 names a run's checkpoint; give the run's method and seed"),
    (lambda c: c["evaluation"]["cross"]["models"].update(x={"model": "smollm2-135m", "method": "qe", "seed": 0}),
     "run smollm2-135m/add/qe/seed0 is not among the runs \\('qe' is not in runs.methods"),
    (lambda c: c["evaluation"]["cross"]["models"].update(x={"model": "smollm2-135m", "method": "tf", "seed": 0,
                                                            "t": 3}), "t = 3 is not an epoch 0..loop.epochs = 2"),
    (lambda c: c["evaluation"]["stages"]["embedded"].update(seed=1), "stages.embedded \\(SmolLM2-135M-Instruct\\)"),
    (lambda c: c["models"]["smollm2-135m-si"]["of"].update(model="smollm2-135m-si"),
     "cannot be a checkpoint of its own"),
    (lambda c: c["models"]["smollm2-135m-si"]["of"].update(t=5), "models.smollm2-135m-si.of: t = 5 is not an epoch"),
])
def test_bad_study_configs_name_the_key(evaluation_config, edit, message):
    config = copy.deepcopy(evaluation_config)
    edit(config)
    with pytest.raises(ValueError, match=message):
        check(config)
