"""The generation-verification gap and what MTG measures around it, from per-response tables.

Every function takes a table with one row per (prompt_id, sample): `correct` (the task's grade) and
one column per method's score or per filter's keep flag (`svgap.gap.filters.kept`).

Gap (MTG Def. 2.1), per prompt x: acc_kept(x) - acc(x), the accuracy of the kept responses minus that
of all N; the gap of a model is its mean over prompts. Relative gap (Def. 2.2): per prompt
gap(x) / (1 - acc(x)), the prompt's gap over its deficiency (U_max = 1), then the mean. Choices the
paper leaves open (docs/mtg.md):

- A prompt whose filter keeps nothing has no filtered distribution. `empty="zero"` (the default): it
  keeps its unfiltered distribution, so it contributes gap 0 and relative gap 0 and stays in the mean
  (the rejection-sampling data of that prompt is then what the loop's `all` policy trains on);
  `empty="skip"`: it is left out of both means. Either way it is counted (`n_empty`).
- A prompt with acc(x) = 1 has deficiency 0 and gap 0 (every response is correct, kept or not): it
  contributes relative gap 0, and is counted (`n_solved`).
- Standard errors are over prompts: the sample standard deviation of the per-prompt values over the
  square root of their number (null below two prompts).
"""

from __future__ import annotations

import polars as pl

from svgap.gap.filters import Filter

EMPTY_POLICIES = ("zero", "skip")


def _se(column: str) -> pl.Expr:
    return (pl.col(column).std(ddof=1) / pl.col(column).count().sqrt()).alias(f"{column}_se")


def per_prompt(table: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """One row per (filter, prompt): n_samples, acc, n_kept, acc_kept (null when nothing is kept), gap,
    rel_gap (nulls for an empty prompt, which `summary` treats by its policy), empty."""
    parts = []
    for name in names:
        kept = pl.col(name)
        part = table.group_by("prompt_id").agg(
            n_samples=pl.len(), acc=pl.col("correct").cast(pl.Float64).mean(), n_kept=kept.sum(),
            acc_kept=pl.col("correct").filter(kept).cast(pl.Float64).mean())
        parts.append(part.sort("prompt_id").with_columns(filter=pl.lit(name)))
    out = pl.concat(parts).with_columns(
        pl.col("n_kept").cast(pl.Int64), empty=pl.col("n_kept") == 0)
    gap = pl.col("acc_kept") - pl.col("acc")
    rel = pl.when(pl.col("acc") < 1).then(gap / (1 - pl.col("acc"))).otherwise(0.0)
    return (out.with_columns(gap=gap, rel_gap=pl.when(pl.col("empty")).then(None).otherwise(rel))
            .select("filter", "prompt_id", pl.col("n_samples").cast(pl.Int64), "acc", "n_kept", "acc_kept", "gap",
                    "rel_gap", "empty"))


def summary(prompts: pl.DataFrame, empty: str = "zero") -> pl.DataFrame:
    """Per filter: the generation accuracy, gap and relative gap (fractions, not %), their standard
    errors, and the prompts counted (n_prompts in the gap's mean, n_empty, n_solved, kept_share)."""
    if empty not in EMPTY_POLICIES:
        raise ValueError(f"gap.empty must be one of {EMPTY_POLICIES}, got {empty!r}")
    acc = prompts.group_by("filter").agg(pl.col("acc").mean(), _se("acc"), n_empty=pl.col("empty").sum(),
                                         n_solved=(pl.col("acc") == 1).sum(),
                                         kept_share=pl.col("n_kept").sum() / pl.col("n_samples").sum())
    used = (prompts.with_columns(pl.col("gap", "rel_gap").fill_null(0.0)) if empty == "zero"
            else prompts.filter(~pl.col("empty")))
    gaps = used.group_by("filter").agg(n_prompts=pl.len(), gap=pl.col("gap").mean(), gap_se=_se("gap").first(),
                                       rel_gap=pl.col("rel_gap").mean(), rel_gap_se=_se("rel_gap").first())
    order = pl.DataFrame({"filter": prompts["filter"].unique(maintain_order=True)})
    return (order.join(acc, on="filter", how="left").join(gaps, on="filter", how="left")
            .with_columns(pl.col("n_prompts").fill_null(0).cast(pl.Int64), pl.col("n_empty", "n_solved").cast(pl.Int64))
            .select("filter", "n_prompts", "n_empty", "n_solved", "kept_share", "acc", "acc_se", "gap", "gap_se",
                    "rel_gap", "rel_gap_se"))


def measure(table: pl.DataFrame, filters: dict[str, list[Filter]], empty: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-prompt rows, summary) of every filter and ensemble of `filters` on a scores table."""
    from svgap.gap.filters import kept

    flagged = kept(table, filters)
    prompts = per_prompt(flagged, list(filters))
    return prompts, summary(prompts, empty)


def sweep(table: pl.DataFrame, grid: dict[str, dict], empty: str) -> pl.DataFrame:
    """The gap as the threshold varies (MTG Figs. 5, 14): `grid` is {family: {method, kind
    ('quantile' or 'threshold'), values}}; one summary row per (family, value) whose method was run."""
    rows = []
    for family, spec in grid.items():
        if spec["method"] not in table.columns or table[spec["method"]].null_count() == table.height:
            continue
        filters = {f"{family} {v:g}": [Filter(f"{family} {v:g}", spec["method"], **{spec["kind"]: v})]
                   for v in spec["values"]}
        _, result = measure(table, filters, empty)
        rows.append(result.with_columns(family=pl.lit(family), method=pl.lit(spec["method"]),
                                        kind=pl.lit(spec["kind"]),
                                        value=pl.Series([float(v) for v in spec["values"]])))
    if not rows:
        return pl.DataFrame()
    first = ("family", "method", "kind", "value")
    return pl.concat(rows).select(*first, *[c for c in rows[0].columns if c not in first])


def rounds(table: pl.DataFrame, n_rounds: int) -> pl.DataFrame:
    """Tournament rounds (MTG Figs. 6, 15): per round k = 0..n_rounds, the accuracy of the survivors
    (tournament score >= k; k = 0 is every response), its gap to the base accuracy, and its gap to the
    survivors of round k - 1 (the right panel of Fig. 6), all means over prompts with standard errors."""
    per_round = []
    for k in range(n_rounds + 1):
        part = table.group_by("prompt_id").agg(
            acc_k=pl.col("correct").filter(pl.col("tournament") >= k).cast(pl.Float64).mean(),
            acc=pl.col("correct").cast(pl.Float64).mean())
        per_round.append(part.with_columns(round=pl.lit(k, dtype=pl.Int64)))
    df = pl.concat(per_round).sort("prompt_id", "round").with_columns(
        previous=pl.col("acc_k").shift(1).over("prompt_id"))
    df = df.with_columns(gap=pl.col("acc_k") - pl.col("acc"), gap_previous=pl.col("acc_k") - pl.col("previous"))
    return (df.group_by("round").agg(pl.col("acc_k").mean().alias("accuracy"), _se("acc_k").alias("accuracy_se"),
                                     pl.col("gap").mean(), _se("gap"), pl.col("gap_previous").mean(),
                                     _se("gap_previous"), n_prompts=pl.col("acc_k").count())
            .sort("round"))


def position_bias(matches: pl.DataFrame) -> pl.DataFrame:
    """Per round, then all rounds ('all'): the share of decided (parsed, non-bye) matches won by solution A
    (MTG Fig. 16b; the paper reports 0.56 +- 0.12 over models and rounds)."""
    decided = matches.filter(pl.col("decided_by") == "verdict").with_columns(a_won=pl.col("winner_position") == "A")
    by_round = decided.group_by("round").agg(n_matches=pl.len(), first_wins=pl.col("a_won").mean()).sort("round")
    overall = decided.select(n_matches=pl.len(), first_wins=pl.col("a_won").mean())
    return pl.concat([by_round.with_columns(pl.col("round").cast(pl.String)),
                      overall.with_columns(round=pl.lit("all")).select(by_round.columns)])


def variance(repeats: pl.DataFrame) -> pl.DataFrame:
    """Per response verified k times: p, the share of 'correct' verdicts (unparsed ones count as not
    correct, by the CoT-Binary rule), and the Bernoulli variance p(1 - p) of MTG Fig. 11 (0 to 0.25)."""
    return repeats.group_by("prompt_id", "sample").agg(
        k=pl.len(), n_parsed=pl.col("parsed").sum(), p=pl.col("score").mean()).with_columns(
        variance=pl.col("p") * (1 - pl.col("p"))).sort("prompt_id", "sample")


def correlations(table: pl.DataFrame, methods: list[str], prompts: pl.DataFrame,
                 names: list[str]) -> pl.DataFrame:
    """Pearson r (MTG Figs. 7 right, 18, 19), long: `scores` between the methods' per-response outputs,
    `gaps` between the per-prompt gaps of the filters and the per-prompt generation accuracy ('acc').
    A constant column has no correlation: r is null."""
    def pearson(df: pl.DataFrame, cols: list[str], kind: str) -> list[dict]:
        out = []
        for a in cols:
            for b in cols:
                pair = df.select(pl.col(a).alias("x"), pl.col(b).alias("y")).drop_nulls()
                x, y = pair["x"].cast(pl.Float64), pair["y"].cast(pl.Float64)
                r = None
                if pair.height > 1 and x.std() and y.std():
                    r = float(pl.DataFrame({"x": x, "y": y}).select(pl.corr("x", "y")).item())
                out.append({"kind": kind, "a": a, "b": b, "r": r, "n": pair.height})
        return out

    # one canonical row order: r's float sums must not depend on a join's or group_by's (thread-dependent)
    # output order, so that two runs give the same table bit for bit
    wide = (prompts.filter(pl.col("filter").is_in(names)).pivot(on="filter", index="prompt_id", values="gap")
            .join(prompts.group_by("prompt_id").agg(pl.col("acc").first()), on="prompt_id").sort("prompt_id"))
    table = table.sort("prompt_id", "sample") if "sample" in table.columns else table.sort("prompt_id")
    rows = pearson(table, [m for m in methods if m in table.columns], "scores")
    rows += pearson(wide, ["acc", *[n for n in names if n in wide.columns]], "gaps")
    return pl.DataFrame(rows, schema={"kind": pl.String, "a": pl.String, "b": pl.String, "r": pl.Float64,
                                      "n": pl.Int64})
