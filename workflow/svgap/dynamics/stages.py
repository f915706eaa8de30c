"""The entry points of the analysis rules (rules/analysis.smk): one function per rule, named after it.

Rule `r` runs workflow/scripts/r.py, which calls `r` here with the rule's input and output paths
(`out`: the rule's named outputs) and its params: paths and plain settings in, tables and figures out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from svgap import tables
from svgap.dynamics import analyse, plots, report, simulate
from svgap.dynamics.fit import FitSettings
from svgap.dynamics.theory import Dynamics

log = logging.getLogger(__name__)


def _trajectory(path: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise ValueError(f"{path}: not a readable trajectory table ({exc})") from exc


def simulate_trajectory(out: str, *, name: str, dynamics: dict, epochs: float, step: float, noise: float,
                        seed: int, discrete: bool) -> None:
    d = Dynamics(**dynamics)
    log.info("simulating %s: %s, rate %.4g, G_inf %.4g, U_s_inf %.4g", name, d, d.rate, d.G_inf, d.U_s_inf)
    traj = simulate.trajectory(d, epochs, step, noise, seed, discrete)
    traj = traj.with_columns(model=pl.lit("simulated"), task=pl.lit(name), method=pl.lit("sim"),
                             seed=pl.lit(seed), epochs=pl.lit(epochs))
    tables.write(traj, out)


def analyse_dynamics(trajectory: str, out: dict, *, unit: str, fit: dict, dgdt: dict, epsilon: float) -> None:
    """Rule `analyse_dynamics`: the exponential and joint fits (Prop. 3.1, Cor. 3.2), dG/dt against G with
    the partial F-test (Fig. 2/8, Table 4) and Pearson r (Table 2) of one trajectory."""
    traj = _trajectory(trajectory)
    analyse.columns(traj, unit, trajectory)
    settings = FitSettings(**fit)
    fits = analyse.fits_table(traj, unit, settings, epsilon)
    for row in fits.filter(pl.col("quantity") == "rate").iter_rows(named=True):
        log.info("fit %s/%s: %s, rate %.4g [%.4g, %.4g] %s", row["split"], row["fit"], row["status"],
                 row["estimate"], row["lo"], row["hi"], row["note"])
    points, dg = analyse.dgdt_tables(traj, unit, dgdt["scheme"], dgdt["intercept"], dgdt["points"])
    for row in dg.iter_rows(named=True):
        log.info("dG/dt %s: slope %.4g R2 %.3f p %.3g (%s); F %.3g p %.3g (%s)", row["split"], row["slope"],
                 row["r2"], row["p_value"], row["status"], row["F"], row["F_p_value"], row["F_status"])
    corr = analyse.correlation_table(traj, unit)
    tables.write(fits, out["fits"], out["fits_csv"])
    tables.write(points, out["dgdt_points"])
    tables.write(dg, out["dgdt"], out["dgdt_csv"])
    tables.write(corr, out["correlation"], out["correlation_csv"])


def predict_early(trajectory: str, out: dict, *, unit: str, fit: dict, split: str, first: list[float],
                  epsilon: float) -> None:
    """Rule `predict_early`: U_s and its limit predicted from the first k checkpoints, scored on the run."""
    traj = _trajectory(trajectory)
    curves, scores = analyse.prediction_tables(traj, unit, split, first, epsilon, FitSettings(**fit))
    for row in scores.iter_rows(named=True):
        log.info("first %g epochs: %s, U_s_inf %.4g [%.4g, %.4g] (full run %.4g); last U_s %.4g predicted %.4g",
                 row["k"], row["status"], row["U_s_inf"], row["U_s_inf_lo"], row["U_s_inf_hi"],
                 row["U_s_inf_full"], row["U_s_last"], row["U_s_last_pred"])
    tables.write(curves, out["curves"])
    tables.write(scores, out["scores"], out["scores_csv"])


def compare_laws(trajectory: str, out: dict, *, unit: str, fit: dict, holdout: int) -> None:
    """Rule `compare_laws`: the exponential law against a power law, a line and persistence."""
    table = analyse.comparison_table(_trajectory(trajectory), unit, holdout, FitSettings(**fit))
    for row in table.filter(pl.col("best_aicc") | pl.col("best_holdout_rmse")).iter_rows(named=True):
        log.info("%s/%s: %s best by%s%s", row["split"], row["series"], row["family"],
                 " AICc" if row["best_aicc"] else "", " held-out RMSE" if row["best_holdout_rmse"] else "")
    tables.write(table, out["table"], out["csv"])


def cross_improvement(fits: str, out: dict, *, gamma: float, epochs: int, total: float, late_epoch: int) -> None:
    """Rule `cross_improvement`: Prop. 5.1's Early / Uniform / Late with the run's fitted dynamics."""
    table = analyse.cross_table(tables.read(fits, "fits"), gamma, epochs, total, late_epoch)
    tables.write(table, out["table"], out["csv"])


def plot_run(kind: str, inputs: dict, out: dict, *, plot: dict, title: str, unit: str = "total") -> None:
    figure = dict(png=out["png"], pdf=out["pdf"], title=title, **plot)
    if kind == "fits":
        plots.plot_fits(_trajectory(inputs["trajectory"]), tables.read(inputs["fits"], "fits"), unit=unit, **figure)
    elif kind == "dgdt":
        plots.plot_dgdt(tables.read(inputs["points"], "dgdt_points"), tables.read(inputs["dgdt"], "dgdt"), **figure)
    elif kind == "prediction":
        plots.plot_prediction(_trajectory(inputs["trajectory"]), tables.read(inputs["curves"], "prediction"),
                              tables.read(inputs["scores"], "prediction_scores"), unit=unit, **figure)
    elif kind == "comparison":
        plots.plot_comparison(tables.read(inputs["comparison"], "comparison"), **figure)
    else:
        raise ValueError(f"unknown figure {kind!r}")


def plot_analysis(inputs: dict, out: dict, *, plot: dict, title: str, unit: str = "total") -> None:
    """Rule `plot_analysis`: every figure the rule names, `<figure>_png` and `<figure>_pdf` in `out`,
    `<figure>` a kind of `plot_run` (fits, dgdt, prediction, comparison)."""
    for kind in [key.removesuffix("_png") for key in out if key.endswith("_png")]:
        plot_run(kind, inputs, {"png": out[f"{kind}_png"], "pdf": out[f"{kind}_pdf"]}, plot=plot, title=title,
                 unit=unit)
        log.info("%s: %s", kind, out[f"{kind}_png"])


def paper_tables(inputs: dict, out: dict, *, runs: list[dict], split: str, confidence: float) -> None:
    """Rule `paper_tables`: the tables across runs: combined Parquet/CSV, and Table 2, Table 4, the
    parameters, the law comparison and the early prediction as Markdown, LaTeX and HTML."""
    def combined(key: str, kind: str) -> pl.DataFrame:
        return report.combine([tables.read(p, kind) for p in inputs[key]], runs)

    fits, dgdt, corr = combined("fits", "fits"), combined("dgdt", "dgdt"), combined("correlation", "correlation")
    comparison, scores = combined("comparison", "comparison"), combined("scores", "prediction_scores")
    for name, table in (("fits", fits), ("dgdt", dgdt), ("correlation", corr), ("comparison", comparison),
                        ("prediction_scores", scores)):
        tables.write(table, out[name], out[f"{name}_csv"])
    tables.write(combined("points", "dgdt_points"), out["points"])
    level = f"{confidence:.0%}"
    sections = {
        "table2": (report.table2(corr, split), f"Table 2: Pearson r between U_s and solver accuracy ({split} split)"),
        "table4": (report.table4(dgdt), "Table 4: partial F-test of adding G(t-1) to dG/dt ~ G(t)"),
        "parameters": (report.parameters(fits), f"Joint fit of Prop. 3.1 (identifiable parameters, {level} intervals)"),
        "comparison": (report.winners(comparison), "Model comparison: the winning family per criterion"),
        "early": (report.early(scores), f"Early prediction of U_s_inf ({level} intervals)"),
    }
    for name, (df, title) in sections.items():
        tables.write_text(report.markdown(df, title), out[f"{name}_md"])
        tables.write_text(report.latex(df, title), out[f"{name}_tex"])
        tables.write_text(report.html(df, title), out[f"{name}_html"])


def plot_dgdt_runs(points: str, out: dict, *, split: str, plot: dict) -> None:
    """Rule `plot_dgdt_runs`: Fig. 2 / 8 across runs, one panel per model."""
    table = pl.read_parquet(points)
    if table.height:
        table = table.filter(pl.col("split") == split).with_columns(
            label=pl.col("task") + " / " + pl.col("method"))
    plots.plot_dgdt_runs(table, out["png"], out["pdf"], **plot)


def _stacked(paths: list[str], runs: list[dict], kind: str) -> pl.DataFrame:
    """Tables of several runs stacked; each must hold its run's own labels (a check of the inputs' order)."""
    frames = []
    for path, run in zip(paths, runs, strict=True):
        df = tables.read(path, kind)
        for key in ("model", "task", "method", "seed", "schedule"):
            if key in run and df.height and df[key][0] != run[key]:
                raise ValueError(f"{path}: {key} {df[key][0]!r}, but the rule expected {run[key]!r}")
        frames.append(df)
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()


def cross_table1(inputs: dict, out: dict, *, runs: list[dict], split: str, plot: dict) -> None:
    """Rule `cross_table1`: SVG Table 1 (long Parquet/CSV, the paper's layout as Markdown and LaTeX) and the
    figure of acc_s and U_s against t per schedule."""
    from svgap.dynamics import table1

    traj = _stacked(list(inputs["trajectories"]), runs, "trajectory")
    external = pl.concat([tables.read(p, "external").with_columns(task=pl.lit(Path(p).stem))
                          for p in inputs["external"]], how="vertical")
    table = table1.table1(traj, external, split)
    tables.write(table, out["table"], out["csv"])
    wide = table1.wide(table)
    title = f"Table 1: solver accuracy (%, {split} split) of cross-improvement, mean (± std) over seeds"
    tables.write_text(report.markdown(wide, title), out["md"])
    tables.write_text(report.latex(wide, title), out["tex"])
    table1.plot(traj, out["png"], out["pdf"], split=split, **plot)
    log.info("Table 1:\n%s", wide.to_string(index=False))


def cross_gamma(inputs: dict, out: dict, *, runs: list[dict], baselines: list[dict], counts: dict, unit: str,
                split: str, confidence: float) -> None:
    """Rule `cross_gamma`: gamma of Eq. 12 from the runs (both readings) and Prop. 5.1 with it against the
    measured final U_s (svgap.dynamics.gamma)."""
    from svgap.dynamics import gamma as gm

    traj = _stacked(list(inputs["trajectories"]), runs, "trajectory")
    fits = {(b["model"], b["task"], b["method"], int(b["seed"])): tables.read(p, "fits")
            for b, p in zip(baselines, inputs["fits"], strict=True)}
    pts = gm.points(traj, counts, unit, split)
    est = gm.estimates(pts, confidence)
    th = gm.theory(traj, fits, est, counts, unit, split)
    summ = gm.summary(th)
    tables.write(pts, out["points"])
    tables.write(est, out["gamma"], out["gamma_csv"])
    tables.write(th, out["theory"], out["theory_csv"])
    level = f"{confidence:.0%}"
    tables.write_text(report.markdown(est.to_pandas(), f"gamma of Eq. 12 from the runs ({unit} NLL, {split} split, "
                                      f"{level} intervals)"), out["gamma_md"])
    verdict = "\n".join(f"- {line}" for line in gm.verdicts(est, summ))
    tables.write_text(report.markdown(summ.to_pandas(), f"Prop. 5.1 against the runs: final U_s ({unit} NLL), "
                                      "mean over seeds") + f"\n### Where the theory meets the runs\n\n{verdict}\n",
                      out["theory_md"])
    log.info("gamma:\n%s\n%s", est, verdict)
