"""The Best-of-N pick of SVG Eq. 4.

Among the N samples of a prompt, keep the candidates whose verifier score s >= sigma (inclusive),
then pick the one with the lowest length-normalised NLL, U_f(y|x) / L(y). Ties go to the lowest
sample index, so the pick is deterministic.

A prompt with no candidate (every score below sigma) follows `empty_policy`:
- `skip`: the prompt gets no pick; it is left out of U_v, acc_v and of training (U_s still counts it).
- `all`: fall back to all N samples, as if sigma were -inf for that prompt.
Either way the prompt is counted (`n_candidates` = 0 in the picks table).
"""

from __future__ import annotations

import logging

import polars as pl

log = logging.getLogger(__name__)

EMPTY_POLICIES = ("skip", "all")
SCORE_COLUMN = {"tf": "tf_score", "qe": "qe_score", "mc": "p_correct"}  # the verify column each method selects by


def best_of_n(samples: pl.DataFrame, sigma: float, empty_policy: str) -> pl.DataFrame:
    """One row per prompt: the picked sample (null if skipped) and how it was picked.

    `samples` needs the columns prompt_id, sample, nll, length, score.
    Returns prompt_id, sample, n_candidates, fallback (True when the `all` policy applied).
    """
    if empty_policy not in EMPTY_POLICIES:
        raise ValueError(f"empty_policy must be one of {EMPTY_POLICIES}, got {empty_policy!r}")
    if (samples["length"] <= 0).any():
        raise ValueError("a sample with length 0 cannot be length-normalised")
    scored = samples.with_columns(
        candidate=pl.col("score") >= sigma,
        nll_per_token=pl.col("nll") / pl.col("length"),
    )
    scored = scored.with_columns(n_candidates=pl.col("candidate").sum().over("prompt_id"))
    fallback = (pl.col("n_candidates") == 0) & pl.lit(empty_policy == "all")
    eligible = scored.filter(pl.col("candidate") | fallback)
    picks = (eligible.sort(["prompt_id", "nll_per_token", "sample"])
             .group_by("prompt_id", maintain_order=True).first()
             .select("prompt_id", "sample", "n_candidates", fallback.alias("fallback")))
    prompts = scored.select("prompt_id", "n_candidates").unique("prompt_id", maintain_order=True)
    return (prompts.join(picks.drop("n_candidates"), on="prompt_id", how="left")
            .with_columns(pl.col("fallback").fill_null(False),
                          pl.col("n_candidates").cast(pl.Int64))
            .sort("prompt_id")
            .select("prompt_id", "sample", "n_candidates", "fallback"))


def picks(samples: pl.DataFrame, *, method: str, sigma: float, empty_policy: str) -> pl.DataFrame:
    """The picks table of one split (without the split column): the Best-of-N pick of each prompt under
    `method`'s score, with what finetune needs (its prompt and response tokens). `samples` is
    `svgap.loop.grading.samples` of the split."""
    samples = samples.with_columns(score=pl.col(SCORE_COLUMN[method]))
    chosen = best_of_n(samples.select("prompt_id", "sample", "nll", "length", "score"), sigma, empty_policy)
    chosen = chosen.join(samples.select("prompt_id", "sample", "score", "nll", "length", "correct",
                                        "prompt_token_ids", "token_ids"), on=["prompt_id", "sample"], how="left"
                         ).with_columns(source=pl.lit("bon"))  # svgap.loop.cross may make some "external"
    log.info("method %s, sigma %s: %d prompts, %d with no candidate (%s), %d picks", method, sigma, chosen.height,
             (chosen["n_candidates"] == 0).sum(), empty_policy, chosen["sample"].drop_nulls().len())
    return chosen
