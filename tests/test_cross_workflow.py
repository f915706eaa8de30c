"""Cross-improvement runs through Snakemake on the real model: the CI run's baseline, then Early and
Late added to it (SVG §5.2, Table 1; rules/cross.smk). Uniform's counts and entry epochs are
tests/test_cross.py's (the same code path as these two, at other epochs).

The schedules are added to a copy of the session's CI run, so the test also shows that a new schedule
adds its runs and leaves the baseline's results in place; dry runs then show that changing the
external source reruns only the runs that use it, and that one more schedule plans only its own run."""

import json
import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest
import yaml
from helpers import names, plans, snakemake
from snakemake.common import get_report_id

pytestmark = pytest.mark.slow

# (one thread per model job, two jobs side by side, comes from config/ci.yaml itself)
CROSS = {"runs": {"schedules": ["early", "late"]}, "cross": {"budget": {"share": 0.5}, "late_epoch": 2}}
CONFIGS = ["config/ci.yaml", "config/cross-ci.yaml"]
RUN = "results/smollm2-135m/add/tf"
CHECKPOINTS = ("0", "0.5", "1", "1.5", "2")


def _mtimes(workdir, folder):
    return {p: p.stat().st_mtime_ns for p in (workdir / folder).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cross_run(ci_run, tmp_path_factory):
    """The CI run copied, with the three schedules added and run: (workdir, baseline mtimes before)."""
    workdir = tmp_path_factory.mktemp("cross") / "wf"
    shutil.copytree(ci_run, workdir, symlinks=True)
    # an overlay of its own after config/ci.yaml: the same config plus the schedules (a re-dumped config
    # would reorder the keys of the rules' dict params, which Snakemake counts as changed params)
    (workdir / "config" / "cross-ci.yaml").write_text(yaml.safe_dump(CROSS))
    before = _mtimes(workdir, f"{RUN}/seed0")
    done = snakemake(workdir, "--cores", "2", configfile=CONFIGS)
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir, before, done.stdout + done.stderr


def test_adding_schedules_leaves_the_baseline_in_place(cross_run):
    workdir, before, log = cross_run
    assert _mtimes(workdir, f"{RUN}/seed0") == before  # no file of the baseline rewritten
    assert "rule finetune:" in log and f"{RUN}/early/seed0/epoch1/adapter" in log
    for job in (f"{RUN}/seed0/epoch0/generations.parquet", f"{RUN}/seed0/epoch1/adapter"):
        assert f"output: {job}" not in log


def _picks(workdir, arm, t):
    p = workdir / RUN / arm / "seed0" / f"epoch{t}" / "picks.parquet"
    return pl.read_parquet(p).filter(pl.col("split") == "train")


def _chosen(workdir, arm):
    return pl.read_parquet(workdir / RUN / arm / "seed0" / "chosen.parquet")


def test_early_puts_every_chosen_prompt_on_external_data_at_t0_and_after(cross_run):
    workdir, _, _ = cross_run
    chosen = set(_chosen(workdir, "early")["prompt_id"])
    assert len(chosen) == 3  # half of 6 train prompts
    ext = pl.read_parquet(workdir / "results" / "external" / "add.parquet")
    for t in CHECKPOINTS:
        picks = _picks(workdir, "early", t)
        assert set(picks.filter(pl.col("source") == "external")["prompt_id"]) == chosen, t
        mine = picks.filter(pl.col("source") == "external").sort("prompt_id")
        assert mine["score"].null_count() == mine.height  # no self-verifier score on an external target
    # the external targets are the reference responses, tokenised (the end-of-turn token appended)
    scored = pl.read_parquet(workdir / RUN / "early" / "seed0" / "epoch0" / "external.parquet")
    assert set(scored["prompt_id"]) == chosen and scored["correct"].all()
    assert ext["correct"].all() and ext["source"].unique().to_list() == ["reference"]
    metrics = pl.read_parquet(workdir / RUN / "early" / "seed0" / "epoch0" / "metrics.parquet").filter(
        pl.col("split") == "train").row(0, named=True)
    base = pl.read_parquet(workdir / RUN / "seed0" / "epoch0" / "metrics.parquet").filter(
        pl.col("split") == "train").row(0, named=True)
    assert metrics["n_external"] == 3 and metrics["external_share"] == pytest.approx(0.5)
    assert metrics["U_v_bon"] == pytest.approx(base["U_v"])  # the self-verifier's own picks: the baseline's
    assert metrics["U_v"] != pytest.approx(base["U_v"])  # U_v^c: the mixed picks
    assert metrics["U_s"] == base["U_s"]  # the same t = 0 samples
    targets = _picks(workdir, "early", "0")
    assert metrics["acc_v"] == pytest.approx(targets["correct"].mean())  # acc_v of the mixed picks
    assert metrics["acc_v"] >= metrics["acc_v_bon"]  # the reference targets are all correct
    finetune_log = (workdir / RUN / "early" / "seed0" / "logs" / "epoch1" / "finetune.log").read_text()
    assert "finetuning epoch 0 -> 1 on 6 picks, from the base model" in finetune_log


def test_late_enters_at_its_epoch_on_the_baselines_checkpoints(cross_run):
    workdir, _, _ = cross_run
    assert _chosen(workdir, "late")["epoch"].to_list() == [2, 2, 2]
    # Late shares the baseline's checkpoints until its data enter: its own picks start at t = 1
    assert not (workdir / RUN / "late" / "seed0" / "epoch0.5").exists()
    assert (_picks(workdir, "late", "1")["source"] == "external").sum() == 3
    traj = pl.read_parquet(workdir / RUN / "late" / "seed0" / "trajectory.parquet").filter(pl.col("split") == "train")
    base = pl.read_parquet(workdir / RUN / "seed0" / "trajectory.parquet").filter(pl.col("split") == "train")
    shared = ["U_s", "U_v", "acc_s", "acc_v"]
    assert traj.filter(pl.col("t") <= 0.5).select(shared).equals(base.filter(pl.col("t") <= 0.5).select(shared))
    assert traj["schedule"].unique().to_list() == ["late"] and traj["external_share"].to_list()[-1] == 0.5
    log = (workdir / RUN / "late" / "seed0" / "logs" / "epoch2" / "finetune.log").read_text()
    assert f"from the adapter {RUN}/seed0/epoch1/adapter" in log  # the baseline's epoch 1


def test_every_schedule_spends_the_same_budget_on_the_same_prompts(cross_run):
    workdir, _, _ = cross_run
    tables = {arm: _chosen(workdir, arm) for arm in ("early", "late")}
    order = tables["early"]["prompt_id"].to_list()
    for arm, table in tables.items():
        assert table["prompt_id"].to_list() == order, arm  # sum_t eta_t M = M prompts, the same draw


def test_table1_gamma_and_theory_are_written(cross_run):
    workdir, _, _ = cross_run
    t1 = pl.read_parquet(workdir / "results" / "cross" / "table1.parquet")
    rows = t1["row"].to_list()
    assert rows[:4] == ["Initial", "Baseline", "Early", "Late"]
    assert {"Max-Min", "Avg", "Avg vs Initial", "Avg vs Baseline", "Early(t = 0) vs Initial (Verifier)",
            "External data"} <= set(rows)
    by = {r["row"]: r for r in t1.iter_rows(named=True)}
    traj = pl.read_parquet(workdir / RUN / "early" / "seed0" / "trajectory.parquet").filter(pl.col("split") == "train")
    assert by["Early"]["acc_s"] == pytest.approx(100 * traj.filter(pl.col("t") == 2)["acc_s"][0])
    assert by["External data"]["acc_s"] == pytest.approx(100.0)
    md = (workdir / "results" / "cross" / "table1.md").read_text()
    assert "| Strategy" in md and "smollm2-135m / add / tf" in md
    gamma = pl.read_parquet(workdir / "results" / "cross" / "gamma.parquet")
    assert set(gamma["reading"]) == {"new", "cumulative"} and "pooled" in gamma["scope"].to_list()
    pts = pl.read_parquet(workdir / "results" / "cross" / "gamma_points.parquet")
    assert pts.height == 2 + 1  # early t = 0, 1; late t = 1
    theory = (workdir / "results" / "cross" / "theory.md").read_text()
    assert "Where the theory meets the runs" in theory
    index = (workdir / "results" / "index.md").read_text()
    assert "cross/table1.md" in index and "cross/gamma.md" in index


def test_a_new_source_reruns_only_the_runs_that_use_it_and_a_new_schedule_only_its_own(cross_run):
    workdir, _, _ = cross_run
    (workdir / "teacher.jsonl").write_text("\n".join(
        json.dumps({"prompt_id": pid, "response": "The answer is 3."})
        for pid in pl.read_parquet(workdir / "results" / "data" / "add.parquet").filter(
            pl.col("split") == "train")["prompt_id"]))
    same, source, schedule = plans(workdir, [
        None,
        {"cross": {"sources": {"add": {"source": "file", "path": "teacher.jsonl"}}}},
        {"runs": {"schedules": ["early", "late", "front"]}, "cross": {"eta": {"front": [0.5, 0.5]}}},
    ], configfile=CONFIGS)
    assert same == set()
    assert "results/external/add.parquet" in source
    assert names(source, f"{RUN}/early/") and names(source, f"{RUN}/late/")
    assert not names(source, f"{RUN}/seed0/")  # the baseline uses no external data
    assert not names(source, "results/models/") and not names(source, "results/data/")
    assert names(schedule, f"{RUN}/front/seed0/trajectory.parquet")
    for arm in ("early/", "late/", "seed0/"):
        assert not names(schedule, f"{RUN}/{arm}"), arm
    assert "results/cross/table1.md" in schedule


def test_the_report_holds_table1_gamma_and_theory(cross_run):
    workdir, _, _ = cross_run
    report = workdir / "report.zip"
    done = snakemake(workdir, "--report", str(report), configfile=CONFIGS, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    members = set(zipfile.ZipFile(report).namelist())
    for name in ("table1.csv", "table1.png", "gamma.csv", "theory.csv"):
        path = Path("results") / "cross" / name
        assert f"report/data/raw/{get_report_id(path)[:16]}/{name}" in members, name
