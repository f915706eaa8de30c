"""The evaluation studies through the real DAG on the embedded model (config/evaluation.yaml, made
small): the N sweep, a cross-evaluation matrix of a run's base and final checkpoints, and a training-stage
comparison whose second stage is the run's checkpoint merged into a model of its own."""

import polars as pl
import pytest
import yaml
from helpers import clone, in_child, snakemake
from safetensors.torch import load_file

from svgap import tables
from svgap.paper import pattern_regex

pytestmark = pytest.mark.slow

# one thread per model job, two jobs side by side: the studies' branches (two runs, the N sweep, four
# cross-evaluation jobs) overlap, and a job's single-threaded start (imports, loading) overlaps another's
# work (203 s against 293 s with two threads per job, one job at a time; docs/performance.md)
SMALL = {"tasks": {"add": {"n_train": 4, "n_test": 4}},
         "loop": {"epochs": 1, "checkpoints_per_epoch": 2, "n_samples": 2, "max_new_tokens": 12},
         "verifier": {"max_new_tokens": 3, "empty_policy": "all"},
         "finetune": {"lr": 1.0e-3, "batch_size": 2, "micro_batch_size": 2},
         "inference": {"dtype": "float32", "threads": 1},
         "models": {"smollm2-135m-si": {"of": {"t": 1}}},
         "evaluation": {"n_sweep": {"n": [1, 2, 4]}, "cross": {"models": {"final": {"t": 1}}}}}
CONFIGS = ["config/evaluation.yaml", "config/evaluation-ci.yaml"]
RUN = "results/smollm2-135m/add/tf/seed0"
STUDIES = ("results/n_sweep/", "results/cross_eval/", "results/stages/")


@pytest.fixture(scope="module")
def studies(ci_run, tmp_path_factory):
    """A clone with the CI run's converted model, config/evaluation.yaml made small and run whole."""
    workdir = clone(tmp_path_factory.mktemp("studies") / "wf", models_from=ci_run)
    (workdir / "config" / "evaluation-ci.yaml").write_text(yaml.safe_dump(SMALL))
    done = snakemake(workdir, "--cores", "2", configfile=CONFIGS)
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir


def test_the_cross_evaluation_diagonal_is_the_runs_own_verifier(studies):
    """A checkpoint verifying its own responses in a job of its own gives the run's verdicts bit for bit,
    and the matrix's diagonal the run's own figures at that checkpoint."""
    matrix = tables.read(studies / "results/cross_eval/add/matrix.parquet", "cross_eval")
    assert matrix.height == 2 * 2 * 2 * 2  # solvers x verifiers x splits x methods
    trajectory = tables.read(studies / RUN / "trajectory.parquet", "trajectory")
    for name, t in (("base", 0), ("final", 1)):
        own = tables.read(studies / RUN / f"epoch{t}/verify.parquet", "verify").sort("split", "prompt_id", "sample")
        again = tables.read(studies / f"results/cross_eval/add/{name}/by_{name}/verify.parquet", "verify").sort(
            "split", "prompt_id", "sample")
        for column in ("tf_score", "qe_score", "p_correct", "tf_parsed", "qe_parsed"):
            if column.startswith("qe"):  # verifier.methods auto: the TF run computes no QE reply, the matrix's job does
                assert own[column].null_count() == own.height and again[column].null_count() == 0, (name, column)
                continue
            assert own[column].to_list() == again[column].to_list(), (name, column)
        for split in ("train", "test"):
            cell = matrix.filter((pl.col("solver") == name) & (pl.col("verifier") == name) & (pl.col("split") == split)
                                 & (pl.col("method") == "tf")).row(0, named=True)
            point = trajectory.filter((pl.col("t") == t) & (pl.col("split") == split)).row(0, named=True)
            for key in ("acc_s", "acc_v", "U_s", "U_v", "G", "gv_gap"):
                assert cell[key] == pytest.approx(point[key], nan_ok=True), (name, split, key)
    # a solver's own figures do not depend on who verifies
    assert (matrix.group_by("solver", "split", "method").agg(pl.col("acc_s").n_unique())["acc_s"] == 1).all()


def test_the_n_sweep_nests_one_sampling(studies):
    here = studies / "results/n_sweep/smollm2-135m/add/seed0"
    gens = tables.read(here / "generations.parquet", "generations")
    assert gens.group_by("split", "prompt_id").len()["len"].unique().to_list() == [4]  # max(n), once
    table = tables.read(here / "n_sweep.parquet", "n_sweep")
    assert table.height == 2 * 2 * 3  # splits x methods x N
    assert (table.group_by("split", "method").agg(pl.col("U_s").n_unique())["U_s"] == 1).all()


def test_the_stages_compare_the_base_model_and_its_merged_checkpoint(studies):
    merged = (studies / "results/models/smollm2-135m-si/model.json").read_text()
    assert '"source": "checkpoint"' in merged
    base = load_file(next((studies / "results/models/smollm2-135m/weights").glob("*.safetensors")))
    si = load_file(next((studies / "results/models/smollm2-135m-si/weights").glob("*.safetensors")))
    assert base.keys() == si.keys()
    changed = [k for k in base if not (base[k] == si[k]).all()]
    assert changed and all("proj" in k for k in changed)  # the LoRA targets' weights, nothing else
    stages = tables.read(studies / "results/stages/embedded/stages.parquet", "stages")
    assert stages["stage"].to_list() == ["SmolLM2-135M-Instruct"] * 2 + ["self-improved (epoch 2)"] * 2
    assert (stages["n"] == 3).all()  # t = 0, 0.5, 1
    text = (studies / "results/stages/embedded/stages.md").read_text()
    assert "alpha (paper)" in text and "Fig. 9" in text


def test_every_study_output_is_made_indexed_and_in_the_report(studies):
    files = [str(p.relative_to(studies)) for p in (studies / "results").rglob("*") if p.is_file()]
    index = (studies / "results" / "index.md").read_text()
    reported = [o for o in in_child("report_outputs", studies, [studies / c for c in CONFIGS])
                if o["pattern"].startswith(STUDIES)]
    assert {o["rule"] for o in reported} == {"n_sweep", "plot_n_sweep", "cross_eval", "plot_cross_eval",
                                             "training_stages", "plot_training_stages"}
    for out in reported:
        made = [f for f in files if pattern_regex(out["pattern"].removeprefix("results/")).match(f)]
        assert made, f"no {out['pattern']} (rule {out['rule']})"
        assert all(f.removeprefix("results/") in index for f in made), out["pattern"]
    for figure in ("n_sweep/smollm2-135m/add/seed0/n_sweep.png", "cross_eval/add/matrix.png",
                   "stages/embedded/stages.png"):
        assert (studies / "results" / figure).stat().st_size > 10_000, figure
