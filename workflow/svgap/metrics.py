"""Solver and verifier uncertainty, the gap, and accuracies of one (split, epoch): SVG Eqs. 5-6.

U_s(t) = mean_i NLL(y_i)        with y_i the solver sample (sample 0) of prompt i
U_v(t) = mean_i NLL(y_i^BoN)    with y_i^BoN the Best-of-N pick of prompt i
G(t)   = U_s(t) - U_v(t)        = mean_i [NLL(y_i) - NLL(y_i^BoN)]           (Eq. 6)

Eqs. 5 and 6 average over the same n prompts. When the `skip` policy leaves prompts without a pick,
the paired columns (U_s, U_v, G, their per-token forms, acc_s, acc_v, len_s, len_v) average over the
prompts that have a pick, so that G is exactly the mean per-prompt gap of Eq. 6; the solver alone is
also reported over every prompt (`*_all`).

NLL is the sequence total, as in the paper; `_tok` columns divide each response's NLL by its length
first (the normalisation of Eq. 4), then average over prompts. Readers of the paper found the total
confounded with response length, so both are kept. One sample per prompt makes U_s noisy; SVG §3.1
notes that using all N samples is an equivalent alternative, reported as `U_s_N`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import mannwhitneyu

METRIC_COLUMNS = {
    "split": "train or test",
    "t": "checkpoint in epochs: the model after t rounds of self-improvement (0 = base model; t + 0.5 = halfway "
         "through the finetuning of epoch t + 1, with loop.checkpoints_per_epoch = 2)",
    "n_prompts": "prompts in the split",
    "n_empty": "prompts with no candidate at or above sigma",
    "n_paired": "prompts with a Best-of-N pick (the n of Eqs. 5-6)",
    "U_s": "solver uncertainty: mean total NLL of sample 0 (paired prompts)",
    "U_v": "verifier uncertainty: mean total NLL of the Best-of-N pick",
    "G": "gap U_s - U_v",
    "U_s_tok": "mean per-token NLL of sample 0 (paired prompts)",
    "U_v_tok": "mean per-token NLL of the pick",
    "G_tok": "U_s_tok - U_v_tok",
    "acc_s": "solver accuracy: sample 0 correct (paired prompts)",
    "acc_v": "verifier accuracy: pick correct",
    "len_s": "mean length in tokens of sample 0 (paired prompts)",
    "len_v": "mean length in tokens of the pick",
    "U_s_all": "U_s over every prompt",
    "U_s_tok_all": "U_s_tok over every prompt",
    "acc_s_all": "acc_s over every prompt",
    "len_s_all": "len_s over every prompt",
    "U_s_N": "mean over prompts of the mean total NLL of all N samples (a lower-variance U_s)",
    "U_s_N_tok": "the same per token",
    "pass_at_n": "prompts with at least one correct sample among N",
    "acc_samples": "accuracy over all N x n samples",
    "eos_rate": "samples that ended on EOS rather than at the length cap",
    "n_empty_response": "samples with no text (EOS first)",
    "tf_parse_rate": "TF replies with a verdict word",
    "qe_parse_rate": "QE replies with a score in range",
    "auc_tf": "AUROC of the TF score against correctness over all samples",
    "auc_qe": "AUROC of the QE score against correctness",
    "auc_mc": "AUROC of P(correct) against correctness",
    "candidate_rate": "samples with score >= sigma",
    "candidate_acc": "accuracy of samples with score >= sigma",
}


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN when a class is absent."""
    pos, neg = score[label], score[~label]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if len(values) else float("nan")


def compute(samples: pl.DataFrame, picks: pl.DataFrame, score: str, sigma: float) -> dict:
    """The metric row of one (split, epoch).

    samples: one row per (prompt_id, sample) with nll, length, finished, text, correct,
             tf_score, tf_parsed, qe_score, qe_parsed, p_correct.
    picks:   the Best-of-N table (prompt_id, sample, n_candidates).
    score:   the column the run selects with (tf_score, qe_score or p_correct).
    """
    # One canonical row order, so that every float sum below adds in the same order whatever order
    # the stages wrote rows in (polars group_by alone returns groups in a thread-dependent order).
    samples = samples.sort("prompt_id", "sample").with_columns(nll_tok=pl.col("nll") / pl.col("length"))
    per_prompt = samples.group_by("prompt_id", maintain_order=True).agg(
        pl.col("nll").mean(), pl.col("nll_tok").mean(), pl.col("correct").any())
    solver = samples.filter(pl.col("sample") == 0).sort("prompt_id")
    chosen = picks.drop_nulls("sample").join(samples, on=["prompt_id", "sample"], how="inner").sort("prompt_id")
    paired = solver.filter(pl.col("prompt_id").is_in(chosen["prompt_id"].implode()))
    correct = samples["correct"].to_numpy()
    candidates = samples.filter(pl.col(score) >= sigma)
    row = {
        "n_prompts": solver.height,
        "n_empty": int((picks["n_candidates"] == 0).sum()),
        "n_paired": chosen.height,
        "U_s": _mean(paired["nll"]),
        "U_v": _mean(chosen["nll"]),
        "U_s_tok": _mean(paired["nll_tok"]),
        "U_v_tok": _mean(chosen["nll_tok"]),
        "acc_s": _mean(paired["correct"]),
        "acc_v": _mean(chosen["correct"]),
        "len_s": _mean(paired["length"]),
        "len_v": _mean(chosen["length"]),
        "U_s_all": _mean(solver["nll"]),
        "U_s_tok_all": _mean(solver["nll_tok"]),
        "acc_s_all": _mean(solver["correct"]),
        "len_s_all": _mean(solver["length"]),
        "U_s_N": _mean(per_prompt["nll"]),
        "U_s_N_tok": _mean(per_prompt["nll_tok"]),
        "pass_at_n": _mean(per_prompt["correct"]),
        "acc_samples": _mean(correct),
        "eos_rate": _mean(samples["finished"]),
        "n_empty_response": int((samples["text"].str.strip_chars() == "").sum()),
        "tf_parse_rate": _mean(samples["tf_parsed"]),
        "qe_parse_rate": _mean(samples["qe_parsed"]),
        "auc_tf": auroc(samples["tf_score"].to_numpy(), correct),
        "auc_qe": auroc(samples["qe_score"].to_numpy(), correct),
        "auc_mc": auroc(samples["p_correct"].to_numpy(), correct),
        "candidate_rate": candidates.height / samples.height if samples.height else float("nan"),
        "candidate_acc": _mean(candidates["correct"]),
    }
    row["G"] = row["U_s"] - row["U_v"]
    row["G_tok"] = row["U_s_tok"] - row["U_v_tok"]
    return row
