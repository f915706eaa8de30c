"""Every task kind through the whole loop on the embedded model, from local files (config/tasks.yaml)."""

import json

import numpy as np
import polars as pl
import pytest
import yaml
from helpers import ROOT, clone, snakemake

pytestmark = pytest.mark.slow

CONFIG = "config/tasks.yaml"
TASKS = yaml.safe_load((ROOT / CONFIG).read_text())["tasks"]
EXTRA_COLUMNS = {"gsm8k": {"pred_strict", "pred_flexible", "correct_strict", "correct_flexible"},
                 "mbpp": {"tests_passed", "sandbox_status"}}


def run_dir(task: str) -> str:
    return f"results/smollm2-135m/{task}/tf/seed0"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    workdir = clone(tmp_path_factory.mktemp("tasks"))
    targets = [f"{run_dir(task)}/trajectory.parquet" for task in TASKS]
    done = snakemake(workdir, "--cores", "2", *targets, configfile=CONFIG, timeout=2400)
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_task_runs_through_the_loop(ran, task):
    spec = TASKS[task]
    data = {s: pl.read_parquet(ran / f"results/data/{task}/{s}.parquet") for s in ("train", "test")}
    assert data["train"].height == spec["n_train"] and data["test"].height == spec["n_test"]
    for table in data.values():
        for meta in table["meta"]:
            json.loads(meta)
    traj = pl.read_parquet(ran / run_dir(task) / "trajectory.parquet")
    assert sorted(traj.select("split", "t").rows()) == [(s, t) for s in ("test", "train") for t in (0, 1)]
    assert np.isfinite(traj["U_s"].to_numpy()).all() and np.isfinite(traj["U_v"].to_numpy()).all()
    grades = pl.read_parquet(ran / run_dir(task) / "epoch1" / "train" / "grades.parquet")
    assert grades.height == spec["n_train"] * 2  # N = 2 samples per prompt
    assert EXTRA_COLUMNS.get(task, set()) <= set(grades.columns)
    assert (ran / run_dir(task) / "epoch1" / "adapter" / "adapter_model.safetensors").is_file()
