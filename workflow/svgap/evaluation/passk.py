"""pass@k: the chance that at least one of k responses to a prompt is correct (SVG Fig. 23; MTG Figs. 4
right, 10, 13 bottom), estimated without bias from the n samples a checkpoint drew.

For a prompt with n samples of which c are correct, the unbiased estimator (Chen et al. 2021, "Codex")
is 1 - C(n - c, k) / C(n, k): the chance that k of the n drawn without replacement hold a correct one.
The binomials overflow for the paper's n; the same number is 1 - prod_{i = n-c+1}^{n} (1 - k / i), a
product of at most c factors in (0, 1], and exactly 1 when n - c < k (every k-subset holds a correct
sample). The pass@k of a checkpoint is the mean over prompts, with the standard error over prompts.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from svgap.dynamics.plots import _save  # noqa: E402

COLUMNS = ("split", "t", "k", "pass_at_k", "pass_at_k_se", "n_prompts", "n_samples")


def estimate(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one prompt: n samples, c of them correct, 1 <= k <= n."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def per_checkpoint(grades: pl.DataFrame, ks: list[int], t: float) -> pl.DataFrame:
    """pass@k of one checkpoint's grades table (split, prompt_id, sample, correct) for each k, per split.

    Every prompt must have the same number of samples n (the loop draws N per prompt); a k above n is an
    error naming it, since its pass@k is undefined."""
    counts = grades.group_by("split", "prompt_id").agg(n=pl.len(), c=pl.col("correct").sum()).sort("split", "prompt_id")
    sizes = counts["n"].unique().to_list()
    if len(sizes) != 1:
        raise ValueError(f"pass@k at t={t:g}: prompts have different sample counts {sorted(sizes)}")
    n = sizes[0]
    too_big = [k for k in ks if k > n]
    if too_big:
        raise ValueError(f"pass@k at t={t:g}: k {too_big} exceed the {n} samples per prompt")
    rows = []
    for (split,), part in counts.group_by("split", maintain_order=True):
        for k in ks:
            values = np.array([estimate(int(n_), int(c), k) for n_, c in part.select("n", "c").iter_rows()])
            se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
            rows.append({"split": split, "t": float(t), "k": k, "pass_at_k": float(values.mean()),
                         "pass_at_k_se": se, "n_prompts": len(values), "n_samples": n})
    return pl.DataFrame(rows, schema={"split": pl.String, "t": pl.Float64, "k": pl.Int64, "pass_at_k": pl.Float64,
                                      "pass_at_k_se": pl.Float64, "n_prompts": pl.Int64, "n_samples": pl.Int64})


def plot(table: pl.DataFrame, png, pdf, *, width: float, height: float, dpi: int, title: str) -> None:
    """Left: pass@k against k, a line per checkpoint (SVG Fig. 23). Right: pass@k against t, a line per k
    (MTG Figs. 4 right, 13 bottom). Solid test, dashed train."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, (by_k, by_t) = plt.subplots(1, 2, figsize=(width, height), constrained_layout=True)
    data = table.with_columns(pl.col("t").map_elements(lambda t: f"t = {t:g}", return_dtype=pl.String).alias("at"),
                              pl.col("k").cast(pl.String).alias("k ")).to_pandas()
    sns.lineplot(data, x="k", y="pass_at_k", hue="at", style="split", marker="o", errorbar=None, ax=by_k)
    by_k.set(xscale="log", xlabel="k", ylabel="pass@k", title="pass@k against k (SVG Fig. 23)")
    by_k.set_xticks(sorted(table["k"].unique().to_list()), labels=[str(k) for k in sorted(table["k"].unique())])
    sns.lineplot(data, x="t", y="pass_at_k", hue="k ", style="split", marker="o", errorbar=None, ax=by_t)
    by_t.set(xlabel="checkpoint t", ylabel="pass@k", title="pass@k along self-improvement (MTG Fig. 4)")
    for ax in (by_k, by_t):
        ax.legend(fontsize="x-small")
    fig.suptitle(title)
    _save(fig, png, pdf, dpi)
