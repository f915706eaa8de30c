"""The analysis rules end to end on simulated trajectories (config/simulated.yaml): no model runs."""

import polars as pl
import pytest
import yaml
from helpers import ROOT, clone, names, plans, snakemake

from svgap.dynamics.theory import Dynamics

pytestmark = pytest.mark.slow

CONFIG = "config/simulated.yaml"
SIM = yaml.safe_load((ROOT / CONFIG).read_text())["simulate"]
FIGURES = ("fits", "dgdt", "prediction", "comparison")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    workdir = clone(tmp_path_factory.mktemp("analysis"))
    done = snakemake(workdir, "--cores", "2", configfile=CONFIG, timeout=1200)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "svgap: finished" in done.stdout + done.stderr
    return workdir


def joint(workdir, name, split="train") -> tuple[str, dict[str, tuple[float, float, float]]]:
    fits = pl.read_parquet(workdir / f"results/simulated/{name}/analysis/fits.parquet")
    rows = fits.filter((pl.col("fit") == "joint") & (pl.col("split") == split))
    return rows["status"][0], {r["quantity"]: (r["estimate"], r["lo"], r["hi"]) for r in rows.iter_rows(named=True)}


def test_every_table_and_figure_is_made(analysed):
    for name in SIM:
        folder = analysed / "results" / "simulated" / name / "analysis"
        for figure in FIGURES:
            for ext in ("png", "pdf"):
                assert (folder / f"{figure}.{ext}").stat().st_size > 1000, (name, figure, ext)
        for table in ("fits", "dgdt", "correlation", "prediction_scores", "comparison", "cross"):
            assert (folder / f"{table}.parquet").is_file() and (folder / f"{table}.csv").is_file(), (name, table)
    across = analysed / "results" / "analysis"
    for name in ("table2", "table4", "parameters", "comparison", "early"):
        assert (across / f"{name}.md").read_text().startswith("## ")
        assert "\\begin{table}" in (across / f"{name}.tex").read_text()
    assert (across / "dgdt.png").stat().st_size > 1000
    assert "paper-like" in (across / "parameters.md").read_text()


def test_the_fits_recover_the_simulated_parameters(analysed):
    truth = SIM["paper-like"]
    d = Dynamics(**{k: truth[k] for k in ("U_s0", "U_v0", "alpha", "beta", "k", "b")})
    status, q = joint(analysed, "paper-like")
    assert status == "ok"
    for key, value in (("rate", d.rate), ("G_inf", d.G_inf), ("U_s_inf", d.U_s_inf)):
        estimate, lo, hi = q[key]
        assert estimate == pytest.approx(value, rel=0.05), key
        assert lo < estimate < hi and lo <= value <= hi, (key, lo, value, hi)  # the interval holds the truth
        assert hi - lo < 0.5 * abs(value), (key, lo, hi)  # and says something
    status, q = joint(analysed, "discrete")  # noise-free discrete iteration: exact
    assert status == "ok" and q["U_s_inf"][0] == pytest.approx(55.0, rel=1e-6)


def test_degenerate_trajectories_are_recorded_not_fatal(analysed):
    assert joint(analysed, "no-dynamics")[0] == "flat"
    assert joint(analysed, "alpha-below-beta")[0] == "alpha_le_beta"
    table4 = (analysed / "results" / "analysis" / "table4.md").read_text()
    assert "perfect_fit" in table4  # noise-free data leave no residual for the F-test


def test_analysis_settings_rerun_only_the_analysis(analysed):
    nothing, scheme, cross, plot, noise = plans(analysed, [
        None,
        {"analysis": {"dgdt": {"scheme": "central"}}},
        {"analysis": {"cross": {"gamma": 1.0}}},
        {"plot": {"dpi": 80}},
        {"simulate": {**SIM, "paper-like": {**SIM["paper-like"], "noise": 0.02}}},
    ], configfile=CONFIG)
    assert nothing == set()
    assert names(scheme, "analysis/dgdt.parquet") and names(scheme, "results/analysis/table4.md")
    assert not names(scheme, "trajectory.parquet") and not names(scheme, "prediction.parquet")
    assert not names(scheme, "simulated/paper-like/analysis/comparison.parquet")
    assert cross and all(o.endswith(("cross.parquet", "cross.csv")) for o in cross - {"results/index.md"}), cross
    assert plot and all(o.endswith((".png", ".pdf")) for o in plot - {"results/index.md"}), plot
    assert names(noise, "simulated/paper-like/trajectory.parquet")
    assert not names(noise, "simulated/discrete")


def test_aicc_picks_what_docs_analysis_md_says(analysed):
    """docs/analysis.md: on the simulated runs AICc picks the exponential for `paper-like` and a line for
    the degenerate ones (no-dynamics: flat; alpha-below-beta: G grows)."""
    def best(name):
        table = pl.read_parquet(analysed / f"results/simulated/{name}/analysis/comparison.parquet")
        rows = table.filter((pl.col("split") == "train") & pl.col("best_aicc"))  # one winner per series
        assert sorted(rows["series"].to_list()) == ["G", "U_s", "U_v"]
        return set(rows["family"].to_list())

    assert best("paper-like") == {"exponential"}
    assert best("no-dynamics") == {"linear"} and best("alpha-below-beta") == {"linear"}


def test_the_cross_values_docs_analysis_md_quotes(analysed):
    """docs/analysis.md, Prop. 5.1 on the simulated `paper-like` fit: Early, Uniform and Late end at
    U_s = 28.6, 35.8 and 43.0 in the exact iteration, against the approximation's 36.8 for all three."""
    cross = pl.read_parquet(analysed / "results/simulated/paper-like/analysis/cross.parquet").filter(
        pl.col("split") == "train")
    final = {r["schedule"]: (r["U_s_T"], r["U_s_T_approx"]) for r in cross.iter_rows(named=True)}
    for schedule, quoted in (("early", 28.6), ("uniform", 35.8), ("late", 43.0)):
        assert round(final[schedule][0], 1) == quoted, (schedule, final[schedule])
        assert round(final[schedule][1], 1) == 36.8, (schedule, final[schedule])
