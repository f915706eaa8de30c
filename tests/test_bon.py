"""The Best-of-N rule of Eq. 4: filter s >= sigma, then lowest NLL / length."""

import polars as pl
import pytest

from svgap.loop.bon import best_of_n


def table(rows):
    return pl.DataFrame(rows, schema=["prompt_id", "sample", "nll", "length", "score"], orient="row")


def pick(df, sigma=0.5, policy="skip"):
    return {r["prompt_id"]: r for r in best_of_n(df, sigma, policy).iter_rows(named=True)}


def test_length_normalisation_prefers_lower_nll_per_token_not_lower_total():
    # sample 0: total 4.0 over 2 tokens (2.0 / token); sample 1: total 10.0 over 10 tokens (1.0 / token)
    got = pick(table([("a", 0, 4.0, 2, 1.0), ("a", 1, 10.0, 10, 1.0)]))
    assert got["a"]["sample"] == 1


def test_filter_comes_before_the_nll():
    # the lowest-NLL sample is below the threshold, so the pick is the other one
    got = pick(table([("a", 0, 1.0, 10, 0.0), ("a", 1, 50.0, 10, 1.0)]))
    assert got["a"]["sample"] == 1
    assert got["a"]["n_candidates"] == 1


def test_ties_go_to_the_lowest_sample_index():
    rows = [("a", 2, 3.0, 3, 1.0), ("a", 1, 2.0, 2, 1.0), ("a", 3, 9.0, 2, 1.0)]
    assert pick(table(rows))["a"]["sample"] == 1  # 1.0 per token for samples 2 and 1: index 1 wins


def test_sigma_is_inclusive():
    rows = [("a", 0, 1.0, 1, 0.7), ("a", 1, 5.0, 1, 0.8)]
    assert pick(table(rows), sigma=0.7)["a"]["sample"] == 0
    assert pick(table(rows), sigma=0.7000001)["a"]["sample"] == 1


def test_empty_candidate_set_skip_policy_counts_and_leaves_no_pick():
    got = pick(table([("a", 0, 1.0, 1, 0.0), ("a", 1, 2.0, 1, 0.2), ("b", 0, 1.0, 1, 1.0)]), policy="skip")
    assert got["a"]["sample"] is None and got["a"]["n_candidates"] == 0 and not got["a"]["fallback"]
    assert got["b"]["sample"] == 0


def test_empty_candidate_set_all_policy_falls_back_to_every_sample():
    got = pick(table([("a", 0, 3.0, 1, 0.0), ("a", 1, 2.0, 1, 0.2), ("b", 0, 1.0, 1, 1.0)]), policy="all")
    assert got["a"]["sample"] == 1 and got["a"]["fallback"] and got["a"]["n_candidates"] == 0
    assert got["b"]["sample"] == 0 and not got["b"]["fallback"]


def test_one_row_per_prompt_sorted():
    rows = [(p, j, float(j + 1), 1, 1.0) for p in ("c", "a", "b") for j in range(3)]
    out = best_of_n(table(rows), 0.5, "skip")
    assert out["prompt_id"].to_list() == ["a", "b", "c"]
    assert out["sample"].to_list() == [0, 0, 0]


def test_unknown_policy_and_zero_length_are_errors():
    with pytest.raises(ValueError, match="empty_policy"):
        best_of_n(table([("a", 0, 1.0, 1, 1.0)]), 0.5, "drop")
    with pytest.raises(ValueError, match="length 0"):
        best_of_n(table([("a", 0, 1.0, 0, 1.0)]), 0.5, "skip")


def method_samples():
    """Three samples of one prompt whose verifier scores each accept a different one: TF, CoT-Binary and
    the Tournament (a round survived) accept sample 0 only, QE and CoT-Score sample 1 only, P(correct)
    and MTG's MC sample 2 only; each sample has its own NLL."""
    rows = [  # sample, nll, length, correct, tf_score, qe_score, p_correct, mc, cot_binary, cot_score, tournament
        (0, 3.0, 3, False, 1.0, 0.2, 0.1, 0.3, 1.0, 2.0, 2),
        (1, 5.0, 5, True, 0.0, 0.9, 0.2, 0.1, 0.0, 9.0, 0),
        (2, 8.0, 4, True, 0.0, 0.1, 0.8, 0.7, 0.0, 5.0, 0),
    ]
    df = pl.DataFrame(rows, orient="row", schema=["sample", "nll", "length", "correct", "tf_score", "qe_score",
                                                  "p_correct", "mc", "cot_binary", "cot_score", "tournament"])
    return df.with_columns(prompt_id=pl.lit("a"), finished=pl.lit(True), text=pl.lit("x"), tf_parsed=pl.lit(True),
                           qe_parsed=pl.lit(True), prompt_token_ids=pl.lit([1, 2]),
                           token_ids=pl.col("sample").map_elements(lambda s: [s], return_dtype=pl.List(pl.Int64)))


SIGMA = {"tf": 0.5, "qe": 0.5, "p_correct": 0.5, "mc": 0.5, "cot_binary": 1.0, "cot_score": 8.0, "tournament": 1}


@pytest.mark.parametrize("method,sample", [("tf", 0), ("qe", 1), ("p_correct", 2), ("mc", 2), ("cot_binary", 0),
                                           ("cot_score", 1), ("tournament", 0)])
def test_each_method_selects_and_measures_by_its_own_score(method, sample):
    """Selection (bon.picks) and the metric row (metrics.row) of each method read that method's score
    column: TF tf_score, QE qe_score, P(correct) p_correct, MTG's methods their own columns."""
    from svgap.loop.bon import picks
    from svgap.loop.metrics import row

    s = method_samples()
    chosen = picks(s, method=method, sigma=SIGMA[method], empty_policy="skip")
    assert chosen["sample"].to_list() == [sample] and chosen["n_candidates"].to_list() == [1]
    assert chosen["token_ids"].to_list() == [[sample]]
    m = row(s, chosen, method=method, sigma=SIGMA[method], split="train", t=0).row(0, named=True)
    picked = s.row(sample, named=True)
    assert m["U_v"] == picked["nll"] and m["len_v"] == picked["length"] and m["acc_v"] == float(picked["correct"])
    assert m["U_s"] == 3.0 and m["G"] == 3.0 - picked["nll"]
    assert m["candidate_rate"] == pytest.approx(1 / 3) and m["candidate_acc"] == float(picked["correct"])
    assert m["gv_gap"] == pytest.approx(float(picked["correct"]) - 2 / 3)  # MTG Def. 2.1 on one prompt


def test_a_method_that_was_not_verified_is_an_error_naming_it():
    from svgap.loop.bon import picks

    s = method_samples().with_columns(pl.lit(None, dtype=pl.Float64).alias("cot_score"))
    with pytest.raises(ValueError, match="no score of the selection method"):
        picks(s, method="cot_score", sigma=8, empty_policy="skip")


def test_rejection_sampling_keeps_every_candidate():
    """MTG Example 2.2: every response with s >= tau is a target, not only the lowest-NLL one."""
    rows = [("a", 0, 4.0, 2, 1.0), ("a", 1, 10.0, 10, 1.0), ("a", 2, 1.0, 1, 0.0), ("b", 0, 1.0, 1, 0.0)]
    out = best_of_n(table(rows), 0.5, "skip", selection="rejection")
    assert out.rows() == [("a", 0, 2, False), ("a", 1, 2, False), ("b", None, 0, False)]
    bon = best_of_n(table(rows), 0.5, "skip")
    assert bon.rows() == [("a", 1, 2, False), ("b", None, 0, False)]
    every = best_of_n(table(rows), 0.5, "all", selection="rejection")  # b falls back to all of its samples
    assert every.rows() == [("a", 0, 2, False), ("a", 1, 2, False), ("b", 0, 0, True)]
    with pytest.raises(ValueError, match="selection"):
        best_of_n(table(rows), 0.5, "skip", selection="best")


def test_quantile_threshold_is_per_prompt():
    """MTG's "top q": the threshold is the q-quantile of the prompt's own scores (linear interpolation),
    inclusive, and replaces sigma."""
    rows = [("a", j, 1.0, 1, s) for j, s in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])] + \
           [("b", j, 1.0, 1, s) for j, s in enumerate([0.6, 0.6, 0.9])]
    out = best_of_n(table(rows), 0.99, "skip", quantile=0.7, selection="rejection")
    # a: the 0.7-quantile of 0.1..0.5 is 0.38, so samples 3 and 4; b: of (0.6, 0.6, 0.9) it is 0.72, so sample 2
    assert out.rows() == [("a", 3, 2, False), ("a", 4, 2, False), ("b", 2, 1, False)]
