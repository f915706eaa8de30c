"""Every task kind through the loop on the embedded model, from local dataset files named in a config.

config/tasks.yaml names the fixtures of tests/fixtures as the tasks' files. Snakemake makes the data
tables from them (the `data` rule, so the config route is the real one) and converts the model; then
each task goes through one whole self-improvement round in-process — generate, verify, select (grade,
Best-of-N, metrics) on both splits at t = 0, finetune, and the same at t = 1 with the new adapter — calling the
stage functions the rules call, with the params the rules pass. Running the 100 jobs of this config
through Snakemake itself would take most of an hour on 2 cores (a Python start and a model load per
job); the rules' wiring is tested on config/ci.yaml by test_workflow.py.
"""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import ROOT, clone, inference_params, planned, snakemake, verifier_params

from svgap import stages, tables
from svgap.config import load as load_config
from svgap.loop import trajectory

pytestmark = pytest.mark.slow

CONFIG = "config/tasks.yaml"
MODEL = "results/models/smollm2-135m/model.json"
EXTRA_COLUMNS = {"gsm8k": {"pred_strict", "pred_flexible", "correct_strict", "correct_flexible"},
                 "mbpp": {"tests_passed", "sandbox_status", "sandbox_isolation"}}


CFG = load_config(ROOT / CONFIG, root=ROOT)
TASKS = CFG["runs"]["tasks"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, ci_run):
    workdir = clone(tmp_path_factory.mktemp("tasks"), models_from=ci_run)  # the session's converted model
    targets = [MODEL] + [f"results/data/{task}.parquet" for task in TASKS]
    done = snakemake(workdir, "--cores", "2", *targets, configfile=CONFIG, timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir


def one_round(workdir: Path, task: str) -> Path:
    """t = 0 and t = 1 of the loop for one task, as the rules would run them; returns the run folder."""
    run = workdir / "results" / "smollm2-135m" / task / "tf" / "seed0"
    model, inference, verifier = workdir / MODEL, CFG["inference"], CFG["verifier"]
    the_task = {"kind": CFG["tasks"][task]["kind"], "options": CFG["tasks"][task]["options"]}
    sigma = verifier["sigma"]["tf"]
    adapter = None
    data = workdir / f"results/data/{task}.parquet"
    for t in (0, 1):
        e = run / f"epoch{t}"
        files = {name: e / f"{name}.parquet" for name in ("generations", "verify", "grades", "picks", "metrics")}
        stages.generate_and_verify(model=model, adapter=adapter, data=data, generations=files["generations"],
                                   verify=files["verify"], task=the_task, n_samples=CFG["loop"]["n_samples"],
                                   max_new_tokens=CFG["loop"]["max_new_tokens"],
                                   temperature=CFG["loop"]["temperature"], verifier=verifier_params(CFG),
                                   inference=inference_params(CFG), seed=0, t=t, threads=2)
        stages.select(data=data, generations=files["generations"], verify=files["verify"], grades=files["grades"],
                      picks=files["picks"], metrics=files["metrics"], task=the_task, method="tf", sigma=sigma,
                      empty_policy=verifier["empty_policy"], t=t)
        if t == 0:
            adapter = run / "epoch1" / "adapter"
            stages.finetune(model=model, adapter=None, picks=files["picks"], out=adapter, spec=CFG["finetune"],
                            device=inference["device"], dtype=inference["dtype"], seed=0, t=1, threads=2)
    return run


@pytest.mark.parametrize("task", TASKS)
def test_the_task_runs_through_the_loop(workdir, task):
    spec = CFG["tasks"][task]
    data = tables.by_split(pl.read_parquet(workdir / f"results/data/{task}.parquet"), task)
    assert data["train"].height == spec["n_train"] and data["test"].height == spec["n_test"]
    for table in data.values():
        for meta in table["meta"]:
            json.loads(meta)
    run = one_round(workdir, task)
    paths = [run / f"epoch{t}" / "metrics.parquet" for t in (0, 1)]
    traj = trajectory.build(paths, {"model": "smollm2-135m", "task": task, "method": "tf", "seed": 0,
                                    "n_samples": 2, "sigma": 0.5, "quantile": None, "selection": "bon",
                                    "empty_policy": "all", "lr": 1e-3, "epochs": 1, "schedule": "baseline"})
    assert sorted(traj.select("split", "t").rows()) == [(s, t) for s in ("test", "train") for t in (0, 1)]
    assert np.isfinite(traj["U_s"].to_numpy()).all() and np.isfinite(traj["U_v"].to_numpy()).all()
    grades = pl.read_parquet(run / "epoch1" / "grades.parquet").filter(pl.col("split") == "train")
    assert grades.height == spec["n_train"] * CFG["loop"]["n_samples"]
    assert EXTRA_COLUMNS.get(task, set()) <= set(grades.columns)
    assert (run / "epoch1" / "adapter" / "adapter_model.safetensors").is_file()


def test_editing_a_dataset_file_reruns_its_data_rule_only(workdir):
    """A task's local dataset file is an input of its `data` rule: the data table is up to date after the
    run, and editing the file (a record appended) plans that task's data table again, no other task's."""
    data = {f"results/data/{task}.parquet" for task in TASKS}
    assert not planned(workdir, configfile=CONFIG) & data
    fixture = workdir / CFG["tasks"]["gsm8k"]["options"]["path"]
    text = fixture.read_text()
    try:
        fixture.write_text(text + text.splitlines()[0] + "\n")
        assert planned(workdir, configfile=CONFIG) & data == {"results/data/gsm8k.parquet"}
    finally:
        fixture.write_text(text)
