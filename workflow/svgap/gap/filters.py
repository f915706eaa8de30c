"""Rejection-sampling filters on the proxy utility (MTG §2 Example 2.2, §3) and their ensembles.

A filter keeps, per prompt, the responses whose score s of one method passes a threshold:

- `threshold: tau` (MTG's "tau = n", a global threshold): keep s >= tau. Inclusive, as the definition
  of rejection sampling writes it (Example 2.2: 1[u(x, y) >= tau]); MTG's Algorithm 1 writes s > tau,
  which for CoT-Score's integers is the threshold one higher. The Tournament's "To round k" is this
  filter on the rounds survived.
- `quantile: n` (MTG's "top n"): the threshold is the n-quantile of the prompt's own scores (linear
  interpolation, numpy's default), and s >= it is kept: "top 0.8" keeps about the best 20%, every
  response tied at the threshold included, so a prompt whose scores are all equal keeps all.

An ensemble (MTG §6.3, Table 7) keeps a response when every one of its filters does: the logical AND.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

METHODS = ("mc", "cot_binary", "cot_score", "tournament")


@dataclass(frozen=True)
class Filter:
    name: str
    method: str
    quantile: float | None = None
    threshold: float | None = None

    @classmethod
    def from_config(cls, name: str, spec: dict) -> Filter:
        if spec.get("method") not in METHODS:
            raise ValueError(f"gap.filters.{name}.method: {spec.get('method')!r} is not one of {METHODS}")
        if ("quantile" in spec) == ("threshold" in spec):
            raise ValueError(f"gap.filters.{name}: give exactly one of quantile and threshold")
        return cls(name, spec["method"], spec.get("quantile"), spec.get("threshold"))

    def keep(self) -> pl.Expr:
        """True for a kept response, over a table with one row per (prompt_id, sample) and a column per method."""
        return passes(pl.col(self.method), threshold=self.threshold, quantile=self.quantile)


def passes(score: pl.Expr, *, threshold: float | None = None, quantile: float | None = None) -> pl.Expr:
    """score >= the global `threshold`, or >= the `quantile` of the prompt's own scores ("top n"), over a
    table with one row per (prompt_id, sample). Also the loop's candidate rule (svgap.loop.bon)."""
    if quantile is not None:
        return score >= score.quantile(quantile, interpolation="linear").over("prompt_id")
    return score >= threshold


def parse(filters: dict[str, dict], ensembles: dict[str, list[str]]) -> dict[str, list[Filter]]:
    """{name: its filters}: each filter alone under its own name, then each ensemble (the AND of its
    members, named filters). Errors name the config key."""
    single = {name: Filter.from_config(name, spec) for name, spec in filters.items()}
    out = {name: [f] for name, f in single.items()}
    for name, members in ensembles.items():
        if name in out:
            raise ValueError(f"gap.ensembles.{name}: the name is already a filter's")
        unknown = [m for m in members if m not in single]
        if unknown or len(members) < 2:
            raise ValueError(f"gap.ensembles.{name}: needs two or more filters of gap.filters; unknown {unknown}")
        out[name] = [single[m] for m in members]
    return out


def kept(scores: pl.DataFrame, filters: dict[str, list[Filter]]) -> pl.DataFrame:
    """`scores` (prompt_id, sample and a column per method used) with one boolean column per filter or
    ensemble: the AND of its filters. A null score (a method not run) is never kept."""
    return scores.with_columns([
        pl.all_horizontal([f.keep().fill_null(False) for f in members]).alias(name)
        for name, members in filters.items()])


def methods_of(filters: dict[str, list[Filter]]) -> set[str]:
    return {f.method for members in filters.values() for f in members}
