"""The entry points of the Mind the Gap rules (rules/gap.smk): one function per rule, named after it.

Rule `r` runs workflow/scripts/r.py, which calls `svgap.gap.stages.r` with its input and output paths,
its params (the config values it uses) and its wildcards. torch is imported only by the model jobs.
"""

from __future__ import annotations

import logging

import polars as pl

from svgap import tables
from svgap.gap import filters as flt
from svgap.gap import measures, report
from svgap.tables import by_split, with_split
from svgap.tasks import make_task

log = logging.getLogger("svgap")


def _split_rows(data, split: str) -> pl.DataFrame:
    parts = by_split(tables.read(data, "data"), data)
    if split not in parts:
        raise ValueError(f"{data}: no {split} split")
    return parts[split]


def gap_generate(*, model, data, out, task: dict, split: str, n_samples: int, max_new_tokens: int,
                 temperature: float, top_p: float, seed: int, inference: dict, threads: int = 1) -> None:
    """Rule `gap_generate`: MTG's one sampling (§3): N responses per prompt of one split from the base model."""
    from svgap.inference.backend import load_backend
    from svgap.loop.sampling import generate

    loaded = load_backend(model, None, inference, threads)
    the_task = make_task(task["kind"], task.get("options"))
    gens = generate(loaded, the_task, {split: _split_rows(data, split)}, n_samples=n_samples,
                    max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, t=0)
    tables.write(gens, out)
    log.info("-> %s", out)


def gap_verify(*, model, data, generations, scores, matches, repeats, task: dict, split: str, verifier: dict,
               seed: int, inference: dict, threads: int = 1) -> None:
    """Rule `gap_verify`: every MTG verification method of gap.verifier.methods on the sampling, one model load."""
    from svgap.gap.verify import Spec, verify
    from svgap.inference.backend import load_backend

    loaded = load_backend(model, None, inference, threads)
    the_task = make_task(task["kind"], task.get("options"))
    gens = by_split(tables.read(generations, "generations"), generations)[split]
    spec = Spec.from_config(verifier)
    result = verify(loaded, the_task, _split_rows(data, split), gens, spec, seed, str(generations))
    for table, path in zip(result, (scores, matches, repeats), strict=True):
        tables.write(table, path)
        log.info("-> %s", path)


def gap_measure(*, data, generations, scores, matches, repeats, grades, prompts, summary, sweep, rounds, variance,
                correlation, task: dict, split: str, filters: dict, ensembles: dict, empty: str, sweep_grid: dict,
                methods: list[str]) -> None:
    """Rule `gap_measure`: grades, then every filter and ensemble (Defs. 2.1, 2.2), the threshold sweep, the
    tournament rounds, the verifier variance and the correlations, offline from the verification tables."""
    from svgap.loop.grading import grade

    the_task = make_task(task["kind"], task.get("options"))
    gens = by_split(tables.read(generations, "generations"), generations)[split]
    graded = grade(the_task, _split_rows(data, split), gens)
    tables.write(with_split({split: graded}), grades)
    table = tables.read(scores, "gap_scores").join(graded.select("prompt_id", "sample", "correct"),
                                                   on=["prompt_id", "sample"], how="left")
    if table["correct"].null_count():
        raise ValueError(f"{scores}: {table['correct'].null_count()} responses are not in {generations}")
    run = list(methods)  # the methods gap_verify ran
    chosen = {name: members for name, members in flt.parse(filters, ensembles).items()
              if all(f.method in run for f in members)}
    dropped = sorted((set(filters) | set(ensembles)) - set(chosen))
    if dropped:
        log.info("filters whose method gap.verifier.methods does not run, left out: %s", dropped)
    per_prompt, result = measures.measure(table, chosen, empty)
    tables.write(per_prompt, prompts)
    tables.write(result, summary)
    for name, row in zip(result["filter"], result.iter_rows(named=True), strict=True):
        log.info("%s: gap %.4f (se %s), relative gap %.4f, %d empty prompts", name, row["gap"], row["gap_se"],
                 row["rel_gap"], row["n_empty"])
    tables.write(measures.sweep(table, sweep_grid, empty), sweep)
    n_rounds = int(tables.read(matches, "gap_matches")["round"].max() or 0) if "tournament" in run else 0
    tables.write(measures.rounds(table, n_rounds) if "tournament" in run else pl.DataFrame(), rounds)
    tables.write(measures.variance(tables.read(repeats, "gap_repeats")), variance)
    singles = [n for n in chosen if n in filters]
    tables.write(measures.correlations(table, run, per_prompt, singles), correlation)


def _tagged(paths: list, models: list[str], kind: str | None = None) -> pl.DataFrame:
    frames = []
    for path, model in zip(paths, models, strict=True):
        df = tables.read(path, kind) if kind else pl.read_parquet(path)
        if df.height:
            frames.append(df.with_columns(model=pl.lit(model)))
    if not frames:
        return pl.DataFrame(schema={"model": pl.String})
    return pl.concat(frames, how="diagonal_relaxed")


def gap_tables(*, summaries: list, correlations: list, matches: list, out, csv, gap_md, gap_tex, rel_md, rel_tex,
               ens_md, ens_tex, by_model_md, by_model_tex, correlation, correlation_csv, models: list[str], task: str,
               filters: dict, ensembles: dict, summary: list[str], position=None, position_csv=None) -> None:
    """Rule `gap_tables`: MTG Tables 3 and 4 (gap and relative gap per model x filter), 7 (ensembles), and
    1, 2, 5, 6 (accuracy, gap and relative gap per model) for one task; every model's correlations (Figs.
    18, 19) and, with the tournament, its first-position wins per round (Fig. 16b)."""
    from svgap.dynamics.report import latex, markdown

    tables.write(_tagged(correlations, models, "gap_correlation"), correlation, correlation_csv)
    if position:
        played = _tagged(matches, models, "gap_matches")
        bias = pl.concat([measures.position_bias(played.filter(pl.col("model") == m)).with_columns(model=pl.lit(m))
                          for m in models])
        tables.write(bias, position, position_csv)
        log.info("first-position win rate (decided matches): %s",
                 bias.filter(pl.col("round") == "all").select("model", "first_wins").rows())

    table = report.combined([tables.read(p, "gap_summary") for p in summaries], models, list(ensembles))
    tables.write(table, out, csv)
    present = set(table["filter"])
    singles = [f for f in filters if f in present]
    members = list(dict.fromkeys(m for ms in ensembles.values() for m in ms if m in present))
    ens = members + [e for e in ensembles if e in present]
    texts = {
        (gap_md, gap_tex): (report.by_filter(table, "gap", singles),
                            f"Gap (%) on {task} per model and verification "
                            "(MTG Table 3; Tables 1, 5 for Natural Questions)"),
        (rel_md, rel_tex): (report.by_filter(table, "rel_gap", singles),
                            f"Relative gap (%) on {task} per model and verification (MTG Table 4)"),
        (ens_md, ens_tex): (report.by_filter(table, "gap", ens),
                            f"Gap (%) on {task} of verification ensembles, the logical AND of filters (MTG Table 7)"),
        (by_model_md, by_model_tex): (report.by_model(table, [f for f in summary if f in present]),
                                      f"Generation accuracy, gap and relative gap (%) on {task} "
                                      "(MTG Tables 1, 2, 5, 6)"),
    }
    note = "Percentages; the standard error over prompts in parentheses."
    for (md, tex), (df, title) in texts.items():
        tables.write_text(markdown(df, title) + f"\n{note}\n", md)
        tables.write_text(latex(df, f"{title}. {note}"), tex)
    log.info("-> %s", out)


def gap_figures(*, prompts: list, sweeps: list, rounds: list, scores: list, variances: list, correlations: list,
                models: list[str], filters: dict, plot: dict, bin_width: float, out: dict) -> None:
    """Rule `gap_figures`: MTG Figs. 5/14 (sweep), 6/15 (tournament), 7/17 (gap distributions), 7/18/19
    (correlations), 16a (CoT-Score distribution) and 11 (verifier variance)."""
    size = {k: plot[k] for k in ("width", "height", "dpi")}
    if "sweep_png" in out:
        report.plot_sweep(_tagged(sweeps, models), out["sweep_png"], out["sweep_pdf"], **size)
    if "distribution_png" in out:
        per_prompt = _tagged(prompts, models, "gap_prompts")
        singles = [f for f in filters if f in set(per_prompt["filter"])]
        report.plot_distribution(per_prompt, singles, out["distribution_png"], out["distribution_pdf"],
                                 bin_width=bin_width, **size)
    if "correlation_png" in out:
        corr = _tagged(correlations, models, "gap_correlation")
        report.plot_correlation(corr, out["correlation_png"], out["correlation_pdf"], **size)
    if "tournament_png" in out:
        report.plot_rounds(_tagged(rounds, models), out["tournament_png"], out["tournament_pdf"], **size)
    if "cot_score_png" in out:
        report.plot_cot_score(_tagged(scores, models, "gap_scores"), out["cot_score_png"], out["cot_score_pdf"], **size)
    if "variance_png" in out:
        report.plot_variance(_tagged(variances, models, "gap_variance"), out["variance_png"], out["variance_pdf"],
                             **size)


def gap_scaling(*, table, fits, csv, points, points_csv, md, scales: dict, filters: list, confidence: float) -> None:
    """Rule `gap_scaling`: the points and fitted lines of MTG Figs. 1 and 12 of one task
    (svgap.evaluation.scaling)."""
    from svgap.evaluation import scaling

    pts, left_out = scaling.points(tables.read(table, "gap_table"), scales, list(filters))
    if left_out:
        log.warning("%d of %d models have no models.<name>.scale and are left out of the fits: %s", len(left_out),
                    len(scales), ", ".join(left_out))
    result = scaling.fit(pts, confidence)
    for r in result.filter(pl.col("measure") == "rel_gap").iter_rows(named=True):
        log.info("%s, %s: %d models, relative-gap slope %s per decade of FLOPs (%s)", r["filter"], r["family"],
                 r["n_models"], "–" if r["slope"] is None else f"{r['slope']:.4f}", r["status"])
    tables.write(result, fits, csv)
    tables.write(pts, points, points_csv)
    tables.write_text(scaling.markdown(result, left_out, confidence), md)


def gap_scaling_figures(*, fits, points, png, pdf, gap_png, gap_pdf, plot: dict, task: str) -> None:
    """Rule `gap_scaling_figures`: MTG Fig. 1 (relative gap) and Fig. 12 (gap) against log FLOPs."""
    from svgap.evaluation import scaling

    result, pts = tables.read(fits, "gap_scaling"), tables.read(points, "gap_scaling_points")
    for measure, (p, f) in (("rel_gap", (png, pdf)), ("gap", (gap_png, gap_pdf))):
        scaling.plot(pts, result, measure, p, f, title=f"{task}: {scaling.MEASURES[measure]} against pre-training "
                     f"FLOPs (MTG Fig. {'1' if measure == 'rel_gap' else '12'})", **dict(plot))
