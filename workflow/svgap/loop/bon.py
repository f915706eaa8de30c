"""Selection: which responses of a checkpoint become training targets.

The candidates of a prompt are its N samples whose verifier score s passes the threshold: s >= sigma
(inclusive), or, with a `quantile` q for the method, s >= the q-quantile of the prompt's own scores
(MTG's "top q"; svgap.gap.filters.passes). Two selection rules:

- `bon`, the Best-of-N pick of SVG Eq. 4: among the candidates, the one with the lowest
  length-normalised NLL, U_f(y|x) / L(y). Ties go to the lowest sample index, so the pick is
  deterministic. One target per prompt.
- `rejection`, MTG's rejection sampling (Example 2.2, Algorithm 1, §5): every candidate is a target,
  so a prompt gives as many training rows as it has candidates.

A prompt with no candidate (every score below the threshold) follows `empty_policy`:
- `skip`: the prompt gets no target; it is left out of U_v, acc_v and of training (U_s still counts it).
- `all`: fall back to all N samples, as if the threshold were -inf for that prompt (its lowest-NLL
  sample under `bon`, every sample under `rejection`).
Either way the prompt is counted (`n_candidates` = 0 in the picks table).
"""

from __future__ import annotations

import logging

import polars as pl

from svgap.gap.filters import passes

log = logging.getLogger(__name__)

EMPTY_POLICIES = ("skip", "all")
SELECTIONS = ("bon", "rejection")
# the verify column each method selects by: SVG's TF and QE, P(correct) after the TF prompt, MTG's methods
SCORE_COLUMN = {"tf": "tf_score", "qe": "qe_score", "p_correct": "p_correct", "mc": "mc",
                "cot_binary": "cot_binary", "cot_score": "cot_score", "tournament": "tournament"}


def eligible(samples: pl.DataFrame, sigma: float, empty_policy: str, quantile: float | None = None) -> pl.DataFrame:
    """`samples` (prompt_id, sample, score and what else it has) with `candidate` (passes the threshold),
    `n_candidates` (per prompt), `fallback` (the `all` policy applies to the prompt) and `eligible`
    (a candidate, or any sample of a fallback prompt): the responses selection chooses among."""
    if empty_policy not in EMPTY_POLICIES:
        raise ValueError(f"empty_policy must be one of {EMPTY_POLICIES}, got {empty_policy!r}")
    if samples["score"].null_count():
        raise ValueError(f"{samples['score'].null_count()} samples have no score of the selection method "
                         f"(was the method verified?)")
    scored = samples.with_columns(candidate=passes(pl.col("score"), threshold=sigma, quantile=quantile))
    scored = scored.with_columns(n_candidates=pl.col("candidate").sum().over("prompt_id").cast(pl.Int64))
    scored = scored.with_columns(fallback=(pl.col("n_candidates") == 0) & pl.lit(empty_policy == "all"))
    return scored.with_columns(eligible=pl.col("candidate") | pl.col("fallback"))


def best_of_n(samples: pl.DataFrame, sigma: float, empty_policy: str, *, quantile: float | None = None,
              selection: str = "bon") -> pl.DataFrame:
    """The targets: one row per target, and one row with a null sample per prompt without one.

    `samples` needs the columns prompt_id, sample, nll, length, score. Returns prompt_id, sample,
    n_candidates, fallback (True when the `all` policy applied), sorted by prompt and sample.
    `selection` is `bon` (one pick per prompt, Eq. 4) or `rejection` (every candidate).
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if (samples["length"] <= 0).any():
        raise ValueError("a sample with length 0 cannot be length-normalised")
    scored = eligible(samples, sigma, empty_policy, quantile).with_columns(
        nll_per_token=pl.col("nll") / pl.col("length"))
    chosen = scored.filter(pl.col("eligible"))
    if selection == "bon":
        chosen = (chosen.sort(["prompt_id", "nll_per_token", "sample"])
                  .group_by("prompt_id", maintain_order=True).first())
    chosen = chosen.select("prompt_id", "sample", "n_candidates", "fallback")
    prompts = scored.select("prompt_id", "n_candidates").unique("prompt_id", maintain_order=True)
    without = (prompts.join(chosen.select("prompt_id"), on="prompt_id", how="anti")
               .with_columns(sample=pl.lit(None, dtype=chosen["sample"].dtype), fallback=pl.lit(False)))
    return (pl.concat([chosen, without.select(chosen.columns)])
            .sort("prompt_id", "sample", nulls_last=True)
            .select("prompt_id", "sample", "n_candidates", "fallback"))


def picks(samples: pl.DataFrame, *, method: str, sigma: float, empty_policy: str, quantile: float | None = None,
          selection: str = "bon") -> pl.DataFrame:
    """The picks table of one split (without the split column): the targets of each prompt under
    `method`'s score (`best_of_n`), with what finetune needs (its prompt and response tokens).
    `samples` is `svgap.loop.grading.samples` of the split."""
    samples = samples.with_columns(score=pl.col(SCORE_COLUMN[method]))
    chosen = best_of_n(samples.select("prompt_id", "sample", "nll", "length", "score"), sigma, empty_policy,
                       quantile=quantile, selection=selection)
    chosen = chosen.join(samples.select("prompt_id", "sample", "score", "nll", "length", "correct",
                                        "prompt_token_ids", "token_ids"), on=["prompt_id", "sample"], how="left"
                         ).with_columns(source=pl.lit("bon"))  # svgap.loop.cross may make some "external"
    threshold = f"top {quantile:g}" if quantile is not None else f"sigma {sigma:g}"
    n_prompts = chosen["prompt_id"].n_unique()
    log.info("%s selection, method %s, %s: %d prompts, %d with no candidate (%s), %d targets", selection, method,
             threshold, n_prompts, chosen.filter(pl.col("n_candidates") == 0)["prompt_id"].n_unique(), empty_policy,
             chosen["sample"].drop_nulls().len())
    return chosen
