"""Solver and verifier uncertainty, the gap, and accuracies of one (split, epoch): SVG Eqs. 5-6.

U_s(t) = mean over all n prompts i of NLL(y_i)      y_i the solver sample (sample 0) of prompt i (Eq. 5)
U_v(t) = mean over prompts with a pick of NLL(y_i^BoN)   y_i^BoN the Best-of-N pick of prompt i
G(t)   = U_s(t) - U_v(t)                                                            (Eq. 6)

Eq. 5 averages the solver over every prompt of the split, so U_s, U_s_tok, acc_s and len_s do not
depend on sigma, on the verifier or on the empty-set policy. The pick exists only where the
candidate set is not empty: U_v and its forms (U_v_tok, acc_v, len_v) average over the prompts that
have one (every prompt under `empty_policy: all`, where G is also the mean per-prompt gap of Eq. 6).
`U_s_paired` is the solver over the prompts with a pick, for the paired form of the gap.

Under MTG's rejection-sampling selection (svgap.loop.bon) a prompt has as many targets as candidates:
U_v and its forms are then means over the targets, each weighted equally, as in the finetune loss
(L_t(f) = U_v(t) stays an identity); `n_targets` counts them, `n_paired` the prompts that have any.

MTG's generation-verification gap of the checkpoint's filter (Def. 2.1, svgap.gap.measures) is
`gv_gap`: per prompt, the accuracy of its eligible responses (the candidates, or all N under the `all`
policy) minus that of all N, averaged over the prompts with eligible responses, with its standard
error over prompts; `gv_gap_rel` is Def. 2.2's relative gap. It is the same for `bon` and
`rejection`: it measures the filter, not the pick.

In a cross-improvement run (svgap.loop.cross) external responses replace some train picks: U_v and
its forms are then measured on the mixed picks (the paper's U_v^c, Eq. 12), and `U_v_bon`,
`U_v_bon_tok`, `acc_v_bon` keep the self-verifier's own picks; without external data the two agree.

NLL is the sequence total, as in the paper; `_tok` columns divide each response's NLL by its length
first (the normalisation of Eq. 4), then average over prompts. Readers of the paper found the total
confounded with response length, so both are kept. One sample per prompt makes U_s noisy; SVG §3.1
notes that using all N samples is an equivalent alternative, reported as `U_s_N`.

Standard errors (`U_s_se`, `U_v_se`, `G_se`, their `_tok` forms, `acc_s_se`, `acc_v_se`) come from a
bootstrap over prompts, the sampling unit: each of B = BOOTSTRAP_REPLICATES = 1000 replicates draws
multinomial weights w_i (n draws over the split's n prompts, probability 1/n each) from one numpy
Generator seeded with BOOTSTRAP_SEED, so a metric row is deterministic. A replicate's U_s* is the
w-weighted mean of the solver NLL over prompts, its U_v* the weighted mean over the targets (each target
carries its prompt's weight: a prompt with several targets under rejection sampling counts them all, a
prompt without a pick adds nothing), G* = U_s* - U_v*; likewise for the `_tok` forms and the accuracies.
The SE is the standard deviation (ddof 1) of the replicates. U_s and U_v share their prompts, so
resampling whole prompts keeps their pairing, and G's SE carries their covariance: with positively
correlated solver and pick NLLs it is smaller than the unpaired sqrt(U_s_se^2 + U_v_se^2). Replicates
that draw no prompt with a target (U_v* undefined) are left out. An SE is NaN where its point estimate is
NaN or fewer than two prompts enter its mean (n for the solver; the prompts with a target for U_v, acc_v
and G).
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np
import polars as pl

from svgap.columns import METRIC_COLUMNS
from svgap.gap import measures
from svgap.loop.bon import SCORE_COLUMN, eligible

log = logging.getLogger(__name__)

BOOTSTRAP_REPLICATES = 1000  # B, the bootstrap replicates of the standard errors
BOOTSTRAP_SEED = 20240917  # the seed of their prompt weights: one constant, so that every row is reproducible
SE_QUANTITIES = ("U_s", "U_v", "G", "U_s_tok", "U_v_tok", "G_tok", "acc_s", "acc_v")  # each has a `<name>_se`
_SE_VALUES = ("nll", "nll_tok", "correct")  # the per-response values behind U, U_tok and acc


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN when a class is absent."""
    # imported here: every model job imports this module (through svgap.stages) and none calls auroc,
    # and scipy.stats is about a second of a job's start
    from scipy.stats import mannwhitneyu

    pos, neg = score[label], score[~label]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if len(values) else float("nan")


def computed(samples: pl.DataFrame, column: str, measure) -> float:
    """`measure(samples[column])`, NaN where the column is null: a verifier method `verifier.methods` left out."""
    return math.nan if samples[column].null_count() else measure(samples[column])


def targets(picks: pl.DataFrame, bon: pl.DataFrame) -> pl.DataFrame:
    """The picks U_v is measured on: the training targets. Picks with a `source` column
    (svgap.loop.cross) carry each target's own nll, length and correctness, external responses
    included (the paper's U_v^c); otherwise the targets are the self-verifier's picks `bon`."""
    if "source" not in picks.columns:
        return bon.with_columns(source=pl.lit("bon"))
    return (picks.drop_nulls("nll").with_columns(nll_tok=pl.col("nll") / pl.col("length"))
            .select("prompt_id", "nll", "nll_tok", "length", "correct", "source").sort("prompt_id"))


@functools.lru_cache(maxsize=4)
def bootstrap_weights(n: int) -> np.ndarray:
    """The (B, n) prompt weights of the bootstrap: row b counts how often replicate b draws each of the n
    prompts (multinomial, n draws at probability 1/n). Fixed seed: the same matrix for every call with n."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=BOOTSTRAP_REPLICATES).astype(float)
    weights.flags.writeable = False  # shared by the cache
    return weights


def _per_prompt(prompts: pl.Series, chosen: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt (in `prompts` order) the sums of its targets' `_SE_VALUES` (n, 3) and its number of
    targets (n,); 0 for a prompt without a target. Rows are summed in one canonical order."""
    index = pl.DataFrame({"prompt_id": prompts}).with_row_index("i")
    rows = chosen.join(index, on="prompt_id", how="inner").sort("i", *_SE_VALUES)
    i = rows["i"].to_numpy().astype(np.int64)
    sums = [np.bincount(i, weights=rows[c].cast(pl.Float64).to_numpy(), minlength=len(prompts)) for c in _SE_VALUES]
    return np.stack(sums, axis=1), np.bincount(i, minlength=len(prompts)).astype(float)


def _replicates(weights: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(B, k): per replicate the weighted mean sum_i w_i sums_ik / sum_i w_i counts_i, NaN where a replicate
    drew no prompt with a count (einsum, not BLAS: the same bits whatever the thread count)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("bn,nk->bk", weights, sums) / np.einsum("bn,n->b", weights, counts)[:, None]


def _se(replicates: np.ndarray, point: float, n: int) -> float:
    """The standard deviation (ddof 1) of the defined replicates; NaN for a NaN point or fewer than 2 prompts."""
    defined = replicates[np.isfinite(replicates)]
    if n < 2 or not math.isfinite(point) or len(defined) < 2:
        return math.nan
    return float(defined.std(ddof=1))


def standard_errors(solver: pl.DataFrame, chosen: pl.DataFrame, point: dict) -> dict[str, float]:
    """`<q>_se` for q in SE_QUANTITIES: the bootstrap over prompts of the module docstring. `solver` is one
    row per prompt (sample 0), `chosen` the targets, `point` the row's point estimates."""
    n, n_paired = solver.height, chosen["prompt_id"].n_unique()
    if n < 2:
        return {f"{q}_se": math.nan for q in SE_QUANTITIES}
    weights = bootstrap_weights(n)
    s = _replicates(weights, solver.select(pl.col(c).cast(pl.Float64) for c in _SE_VALUES).to_numpy(), np.ones(n))
    v = _replicates(weights, *_per_prompt(solver["prompt_id"], chosen))
    replicates = {"U_s": s[:, 0], "U_v": v[:, 0], "G": s[:, 0] - v[:, 0], "U_s_tok": s[:, 1], "U_v_tok": v[:, 1],
                  "G_tok": s[:, 1] - v[:, 1], "acc_s": s[:, 2], "acc_v": v[:, 2]}
    prompts = {q: n if q in ("U_s", "U_s_tok", "acc_s") else n_paired for q in SE_QUANTITIES}
    return {f"{q}_se": _se(replicates[q], point[q], prompts[q]) for q in SE_QUANTITIES}


def gv_gap(flagged: pl.DataFrame) -> dict:
    """MTG's gap and relative gap of the selection filter (fractions), with the gap's standard error;
    `flagged` is the samples with svgap.loop.bon.eligible's columns."""
    summary = measures.summary(measures.per_prompt(flagged, ["eligible"]), "skip").row(0, named=True)
    def value(key: str) -> float:  # null: no prompt has eligible responses, or one prompt (no error)
        return math.nan if summary[key] is None else float(summary[key])
    return {"gv_gap": value("gap"), "gv_gap_se": value("gap_se"), "gv_gap_rel": value("rel_gap")}


def compute(samples: pl.DataFrame, picks: pl.DataFrame, score: str, sigma: float, empty_policy: str = "skip",
            quantile: float | None = None) -> dict:
    """The metric row of one (split, epoch).

    samples: one row per (prompt_id, sample) with nll, length, finished, text, correct,
             tf_score, tf_parsed, qe_score, qe_parsed, p_correct and the selection's `score` column.
    picks:   the targets (svgap.loop.bon: prompt_id, sample, n_candidates; one row or more per prompt).
    score:   the column the run selects with (svgap.loop.bon.SCORE_COLUMN), `sigma` / `quantile`
             its threshold and `empty_policy` the empty-set rule, as the selection used them.
    """
    # One canonical row order, so that every float sum below adds in the same order whatever order
    # the stages wrote rows in (polars group_by alone returns groups in a thread-dependent order).
    samples = samples.sort("prompt_id", "sample").with_columns(nll_tok=pl.col("nll") / pl.col("length"))
    per_prompt = samples.group_by("prompt_id", maintain_order=True).agg(
        pl.col("nll").mean(), pl.col("nll_tok").mean(), pl.col("correct").any())
    solver = samples.filter(pl.col("sample") == 0).sort("prompt_id")
    bon = (picks.drop_nulls("sample").select("prompt_id", "sample")
           .join(samples, on=["prompt_id", "sample"], how="inner").sort("prompt_id"))
    chosen = targets(picks, bon)
    paired = solver.filter(pl.col("prompt_id").is_in(chosen["prompt_id"].implode()))  # U_s_paired only
    correct = samples["correct"].to_numpy()
    flagged = eligible(samples.with_columns(score=pl.col(score)), sigma, empty_policy, quantile)
    candidates = flagged.filter(pl.col("candidate"))
    row = {
        "n_prompts": solver.height,
        "n_empty": int((picks.unique("prompt_id")["n_candidates"] == 0).sum()),
        "n_paired": chosen["prompt_id"].n_unique(),
        "n_targets": chosen.height,
        "U_s": _mean(solver["nll"]),
        "U_v": _mean(chosen["nll"]),
        "U_s_tok": _mean(solver["nll_tok"]),
        "U_v_tok": _mean(chosen["nll_tok"]),
        "acc_s": _mean(solver["correct"]),
        "acc_v": _mean(chosen["correct"]),
        "len_s": _mean(solver["length"]),
        "len_v": _mean(chosen["length"]),
        "U_s_paired": _mean(paired["nll"]),
        "n_external": int((chosen["source"] == "external").sum()),
        "external_share": float((chosen["source"] == "external").sum()) / solver.height if solver.height else math.nan,
        "U_v_bon": _mean(bon["nll"]),
        "U_v_bon_tok": _mean(bon["nll_tok"]),
        "acc_v_bon": _mean(bon["correct"]),
        "U_s_N": _mean(per_prompt["nll"]),
        "U_s_N_tok": _mean(per_prompt["nll_tok"]),
        "pass_at_n": _mean(per_prompt["correct"]),
        "acc_samples": _mean(correct),
        "eos_rate": _mean(samples["finished"]),
        "n_empty_response": int((samples["text"].str.strip_chars() == "").sum()),
        "tf_parse_rate": computed(samples, "tf_parsed", _mean),
        "qe_parse_rate": computed(samples, "qe_parsed", _mean),
        "auc_tf": computed(samples, "tf_score", lambda s: auroc(s.to_numpy(), correct)),
        "auc_qe": computed(samples, "qe_score", lambda s: auroc(s.to_numpy(), correct)),
        "auc_p_correct": computed(samples, "p_correct", lambda s: auroc(s.to_numpy(), correct)),
        "auc_select": auroc(samples[score].to_numpy(), correct),
        "candidate_rate": candidates.height / samples.height if samples.height else float("nan"),
        "candidate_acc": _mean(candidates["correct"]),
        **gv_gap(flagged),
    }
    row["G"] = row["U_s"] - row["U_v"]
    row["G_tok"] = row["U_s_tok"] - row["U_v_tok"]
    return {**row, **standard_errors(solver, chosen, row)}


def row(samples: pl.DataFrame, picks: pl.DataFrame, *, method: str, sigma: float, split: str, t: float,
        empty_policy: str = "skip", quantile: float | None = None) -> pl.DataFrame:
    """The metrics table row of one (split, t), its columns in `svgap.columns.METRIC_COLUMNS` order."""
    values = compute(samples, picks, SCORE_COLUMN[method], sigma, empty_policy, quantile)
    log.info("%s t=%g: U_s %.3f U_v %.3f G %.3f acc_s %.3f acc_v %.3f, MTG gap %.3f (%d targets)", split, t,
             values["U_s"], values["U_v"], values["G"], values["acc_s"], values["acc_v"], values["gv_gap"],
             values["n_targets"])
    return pl.DataFrame([{"split": split, "t": float(t), **values}]).select(list(METRIC_COLUMNS))
