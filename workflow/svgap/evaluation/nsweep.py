"""Self-evaluation over N (SVG §4.3 and App. D.2, Figs. 18-20) from one sampling of the largest N.

The model samples max(N) responses per prompt once and verifies each once. The responses of a smaller N
are a subset of those: per prompt, sample 0 (the solver's sample, Eq. 5) first, then the others in a
seeded order (`stable_seed(seed, "n_sweep", split, prompt_id)`), and the first N of that order. So the
N = 4 set is inside the N = 8 set, and so on up.

Why that is fair:
- The N responses of a prompt are independent draws from the same distribution. A subset whose
  choice does not look at what the responses say (an order fixed before they are read) is therefore
  distributed exactly as N fresh draws. Each N's figures are unbiased estimates of what a separate
  sampling at that N would give.
- Nesting only couples the N (common random numbers). The differences between N are then less noisy
  than with independent samplings, and no single N is biased. The verifier's figures are not
  independent across N and should not be tested as if they were.
- Sample 0 is in every subset, so the solver's figures (U_s, acc_s) are the same at every N by
  construction. The solver does not depend on N, and every verifier figure is against one solver.
- The verdicts are per response (TF, QE, P(correct), MC, CoT), so a subset's scores are those a
  verification of the subset alone would give. The Tournament is the exception: its bracket covers
  all max(N) responses, so a subset keeps its responses' rounds from the full bracket.

At each N the Best-of-N pick and the metrics are computed as in the loop (svgap.loop.bon,
svgap.loop.metrics), for every method of the sweep and both splits.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.plots import _save  # noqa: E402
from svgap.loop import bon  # noqa: E402
from svgap.loop.metrics import row as metrics_row  # noqa: E402
from svgap.seeds import stable_seed  # noqa: E402

log = logging.getLogger(__name__)

# the metrics the sweep keeps (svgap.columns.METRIC_COLUMNS): the solver's and the verifier's figures
FIGURES = ("n_prompts", "n_empty", "U_s", "U_v", "G", "U_s_tok", "U_v_tok", "G_tok", "acc_s", "acc_v", "pass_at_n",
           "candidate_rate", "gv_gap", "gv_gap_se")


def order(samples: pl.DataFrame, seed: int, split: str) -> pl.DataFrame:
    """Each response's `rank` in its prompt's subset order: sample 0 first, the others seeded."""
    parts = []
    for (pid,), part in samples.select("prompt_id", "sample").sort("prompt_id", "sample").group_by(
            "prompt_id", maintain_order=True):
        others = part.filter(pl.col("sample") != 0)["sample"].to_numpy()
        rng = np.random.default_rng(stable_seed(seed, "n_sweep", split, pid))
        ranked = [0, *rng.permutation(others).tolist()] if (part["sample"] == 0).any() else rng.permutation(
            others).tolist()
        parts.append(pl.DataFrame({"prompt_id": pid, "sample": ranked, "rank": list(range(len(ranked)))},
                                  schema={"prompt_id": pl.String, "sample": pl.Int64, "rank": pl.Int64}))
    return pl.concat(parts)


def nested(samples: pl.DataFrame, ranks: pl.DataFrame, n: int) -> pl.DataFrame:
    """The responses of N = n: each prompt's first n in the subset order."""
    keep = ranks.filter(pl.col("rank") < n).select("prompt_id", "sample")
    return samples.join(keep, on=["prompt_id", "sample"], how="semi")


def sweep(samples: pl.DataFrame, *, split: str, ns: list[int], methods: list[str], sigma: dict, quantile: dict,
          empty_policy: str, seed: int, where: str) -> pl.DataFrame:
    """One split's rows: per method and N, the metrics of the Best-of-N pick from the nested subset.
    `samples` is the split's responses with their scores and grades (svgap.loop.grading.samples)."""
    per_prompt = samples.group_by("prompt_id").len()
    short = per_prompt.filter(pl.col("len") < max(ns))
    if short.height:
        raise ValueError(f"{where}: {short.height} {split} prompts have fewer than N = {max(ns)} responses "
                         f"(for example {short['prompt_id'][0]} has {short['len'][0]})")
    ranks = order(samples, seed, split)
    rows = []
    for n in sorted(ns):
        subset = nested(samples, ranks, n)
        for method in methods:
            picks = bon.picks(subset, method=method, sigma=sigma[method], empty_policy=empty_policy,
                              quantile=quantile[method])
            row = metrics_row(subset, picks, method=method, sigma=sigma[method], split=split, t=0,
                              empty_policy=empty_policy, quantile=quantile[method])
            rows.append(row.select(*FIGURES).with_columns(split=pl.lit(split), method=pl.lit(method),
                                                         n=pl.lit(n, pl.Int64)))
    return pl.concat(rows).select("split", "method", "n", *FIGURES)


def markdown(table: pl.DataFrame) -> str:
    """Per method and split: the solver's and the verifier's accuracy and uncertainty at every N."""
    lines = ["# Self-evaluation over N (SVG Figs. 18-20)", "",
             "The responses of each N are a nested subset of one sampling of the largest N; sample 0, the solver's, "
             "is in every subset, so the solver's columns do not change with N.", ""]
    for (method, split), part in table.group_by("method", "split", maintain_order=True):
        lines += [f"## {method}, {split} split", "", "| N | acc_s | acc_v | U_s | U_v | G | empty sets | MTG gap |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in part.sort("n").iter_rows(named=True):
            lines.append(f"| {r['n']} | {r['acc_s']:.3f} | {r['acc_v']:.3f} | {r['U_s']:.2f} | {r['U_v']:.2f} | "
                         f"{r['G']:.2f} | {r['n_empty']} | {r['gv_gap']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def plot(table: pl.DataFrame, png: str | Path, pdf: str | Path, *, title: str, width: float, height: float,
         dpi: int) -> None:
    """SVG Figs. 18-20: accuracy (top) and uncertainty (bottom) against N, a column per method; the verifier
    solid, the solver dashed, a colour per split."""
    methods = list(dict.fromkeys(table["method"]))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(2, len(methods), figsize=(max(width / 2, 4.0) * len(methods) / 1.5, 2 * height),
                             squeeze=False, constrained_layout=True)
    long = table.unpivot(index=["split", "method", "n"], on=["acc_s", "acc_v", "U_s", "U_v"]).with_columns(
        role=pl.when(pl.col("variable").str.ends_with("_s")).then(pl.lit("solver")).otherwise(pl.lit("verifier")),
        figure=pl.col("variable").str.head(-2)).to_pandas()
    ns = sorted(table["n"].unique().to_list())
    for j, method in enumerate(methods):
        for i, (figure, label) in enumerate((("acc", "accuracy"), ("U", "uncertainty U (NLL)"))):
            ax = axes[i][j]
            part = long[(long["method"] == method) & (long["figure"] == figure)]
            sns.lineplot(part, x="n", y="value", hue="split", style="role", style_order=["verifier", "solver"],
                         marker="o", errorbar=None, ax=ax)
            ax.set(xscale="log", xlabel="N", ylabel=label, title=method if i == 0 else "")
            ax.set_xticks(ns, labels=[str(n) for n in ns])
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    _save(fig, png, pdf, dpi)
