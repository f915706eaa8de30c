"""The whole DAG on the CI config: a real run, its report, kill-and-resume, rerun triggers, bad config.

Each run happens in a fresh copy of the workflow (as a user's clone would be). The session's run of the
CI config (`ci_run`, tests/conftest.py) converts the embedded model through the base_model rule; later
copies reuse its converted weights. The kill-and-resume run is also a second independent run of the same
config (its first epoch): its tables must equal the first run's bit for bit.
"""

import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from helpers import ROOT, SNAKEMAKE, clone, in_child, names, planned, plans, snakemake, tables_of
from snakemake.common import get_report_id

from svgap.paper import pattern_regex

pytestmark = pytest.mark.slow

RUN = "results/smollm2-135m/add/tf/seed0"
CI = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
T = CI["loop"]["epochs"]
# the checkpoints of the CI config: every half epoch (loop.checkpoints_per_epoch = 2)
CHECKPOINTS = [k / CI["loop"]["checkpoints_per_epoch"] for k in range(T * CI["loop"]["checkpoints_per_epoch"] + 1)]


def test_the_run_produces_a_trajectory_with_every_epoch(ci_run):
    traj = pl.read_parquet(ci_run / RUN / "trajectory.parquet")
    assert traj["t"].dtype == pl.Float64 and traj.height == 2 * len(CHECKPOINTS)
    assert sorted(traj.select("split", "t").rows()) == [(s, t) for s in ("test", "train") for t in CHECKPOINTS]
    for column in ("U_s", "U_v", "G", "U_s_tok", "U_v_tok", "G_tok", "acc_s", "acc_v"):
        assert np.isfinite(traj[column].to_numpy()).all(), column
    assert np.allclose(traj["G"], traj["U_s"] - traj["U_v"])
    assert (traj["model"] == "smollm2-135m").all() and (traj["n_samples"] == CI["loop"]["n_samples"]).all()
    for name in ("trajectory.png", "trajectory.pdf"):
        assert (ci_run / RUN / name).stat().st_size > 1000
    logs = {str(p.relative_to(ci_run / RUN / "logs")) for p in (ci_run / RUN / "logs").rglob("*.log")}
    # one log per job: generate_and_verify and select per checkpoint (both splits), finetune per epoch, the run's own
    assert {f"epoch{t:g}/{step}.log" for t in CHECKPOINTS for step in ("generate_and_verify", "select")} <= logs
    assert {f"epoch{t}/finetune.log" for t in range(1, T + 1)} | {"trajectory.log", "plot_trajectory.log"} <= logs
    for t in CHECKPOINTS:
        text = (ci_run / RUN / "logs" / f"epoch{t:g}" / "select.log").read_text()
        assert "train" in text and "test" in text  # both splits in the one job
        text = (ci_run / RUN / "logs" / f"epoch{t:g}" / "generate_and_verify.log").read_text()
        assert text.count("loaded ") == 1 and "generated" in text and "TF:" in text  # one model load, both steps
    for t in range(1, T + 1):
        assert (ci_run / RUN / f"epoch{t}" / "adapter" / "adapter_model.safetensors").is_file()
    assert (ci_run / RUN / "benchmarks" / "epoch1" / "finetune.tsv").is_file()


def test_half_epoch_checkpoints_are_evaluated_and_never_trained_from(ci_run):
    """loop.checkpoints_per_epoch = 2: checkpoint t - 0.5 is evaluated on the half-epoch adapter that the
    finetune of epoch t saves halfway; the finetune of epoch t starts from epoch t - 1's whole adapter,
    never from a half one; and the fits use every checkpoint, the half ones included."""
    for t in range(1, T + 1):
        half, whole = ci_run / RUN / f"epoch{t}" / "adapter_half", ci_run / RUN / f"epoch{t}" / "adapter"
        steps = [pl.read_parquet(d / "train_log.parquet").height for d in (half, whole)]
        assert 0 < steps[0] < steps[1], steps
        text = (ci_run / RUN / "logs" / f"epoch{t - 0.5:g}" / "generate_and_verify.log").read_text()
        assert f"epoch{t}/adapter_half" in text
        text = (ci_run / RUN / "logs" / f"epoch{t}" / "generate_and_verify.log").read_text()
        assert f"epoch{t}/adapter" in text and "adapter_half" not in text
        text = (ci_run / RUN / "logs" / f"epoch{t}" / "finetune.log").read_text()
        [line] = [line for line in text.splitlines() if "finetuning epoch" in line]
        start = "from the base model" if t == 1 else f"from the adapter {RUN}/epoch{t - 1}/adapter"
        assert line.endswith(start), line  # and so not from epoch t - 1's adapter_half
        assert f"half-epoch checkpoint after 4 of 6 picks -> {RUN}/epoch{t}/adapter_half" in text
    fits = pl.read_parquet(ci_run / RUN / "analysis" / "fits.parquet")
    assert fits.height > 0 and set(fits["n"].to_list()) == {len(CHECKPOINTS)}, fits.select("split", "fit", "n")


# the killed-and-resumed run's targets: epoch 1's checkpoint and the half-epoch one before it (the first
# finetune, both of its adapters and three checkpoints); the rest of the DAG repeats the same jobs
RESUMED = [f"{RUN}/epoch{t}/metrics.parquet" for t in ("0.5", "1")]


def test_a_run_killed_during_finetune_resumes_to_the_same_results(ci_run, tmp_path):
    workdir = clone(tmp_path / "run_c", models_from=ci_run)
    log = workdir / RUN / "logs" / "epoch1" / "finetune.log"
    proc = subprocess.Popen([SNAKEMAKE, "--configfile", "config/ci.yaml", "--", *RESUMED], cwd=workdir,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 900
    while not (log.is_file() and "finetuning epoch" in log.read_text()):
        assert time.time() < deadline, "finetune of epoch 1 did not start within 900 s"
        assert proc.poll() is None, "snakemake ended before finetune started"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # like a preempted node: no clean-up at all
    proc.wait()
    # the kill came while finetune was training: it had started and not finished
    assert "done:" not in log.read_text(), "finetune finished before the kill: the test killed nothing"
    for name in ("adapter", "adapter_half"):
        assert not (workdir / RUN / "epoch1" / name).exists(), f"a killed finetune left epoch1/{name} in place"
    assert snakemake(workdir, "--unlock").returncode == 0
    done = snakemake(workdir, "--", *RESUMED)
    assert done.returncode == 0, done.stderr[-5000:]
    a, c = tables_of(ci_run), tables_of(workdir)
    expected = {f"{RUN.removeprefix('results/')}/epoch{t}/{name}.parquet" for t in ("0", "0.5", "1")
                for name in ("generations", "verify", "grades", "picks", "metrics")}
    assert expected <= c.keys() <= a.keys(), sorted(expected - c.keys()) + sorted(c.keys() - a.keys())
    for name in c:  # two independent runs with the same seed, one of them killed and resumed
        assert a[name].equals(c[name]), f"{name} differs between the first run and the killed-and-resumed one"
    assert (workdir / RUN / "epoch1" / "adapter_half").is_dir()
    assert not list((workdir / "results").rglob("*.partial"))


def test_reruns_follow_the_config_values_each_rule_uses(ci_run):
    # the plans of every overlay, made in one child process
    nothing, sigma, n, plot, fit, engine, verifier, qe_scale, scale, qe_run = plans(ci_run, [
        None,
        {"verifier": {"sigma": {"tf": 0.9}}},
        {"loop": {"n_samples": CI["loop"]["n_samples"] + 1}},
        {"plot": {"dpi": 80}},
        {"analysis": {"fit": {"confidence": 0.8}}},
        {"inference": {"vllm": {"max_num_seqs": 7, "enforce_eager": True}, "threads": 2}},
        {"verifier": {"temperature": 0.2}},
        {"verifier": {"qe_scale": 5}},
        {"models": {"smollm2-135m": {"scale": {"flops": 1.0e21}}}},
        {"runs": {"methods": ["tf", "qe"]}},
    ])
    assert nothing == set()

    # a model's pre-training compute is metadata of MTG's scaling figures: it reruns them, not the model
    assert "results/gap/add/scaling.md" in scale
    assert all("/scaling" in o for o in scale - {"results/index.md"}), scale

    assert names(sigma, "epoch0/picks.parquet") and names(sigma, "epoch0/metrics.parquet")
    assert not names(sigma, "epoch0/generations") and not names(sigma, "epoch0/verify.parquet")
    assert not names(sigma, "results/data") and not names(sigma, "results/models")
    assert names(sigma, "epoch1/adapter") and names(sigma, "trajectory.parquet")

    assert names(n, "epoch0/generations.parquet") and names(n, "epoch1/generations.parquet")
    assert not names(n, "results/data") and not names(n, "results/models")

    assert {f"{RUN}/trajectory.png", f"{RUN}/trajectory.pdf", f"{RUN}/analysis/fits.png"} <= plot
    assert all(o.endswith((".png", ".pdf")) for o in plot - {"results/index.md"}), plot  # figures (and the index)

    assert names(fit, "analysis/fits.parquet") and names(fit, "results/analysis/parameters.md")
    assert not names(fit, "epoch") and not names(fit, "trajectory.parquet")

    # finetune reads inference.device and .dtype only; generate_and_verify only its own backend's keys
    # (transformers here), and `threads` is a job's thread count: none of these reruns anything
    assert engine == set(), engine

    # one job samples and verifies with one model load, so a verifier setting reruns epoch 0's sampling too
    # (every later checkpoint reruns anyway: its model is trained on the new picks)
    assert names(verifier, "epoch0/verify.parquet") and names(verifier, "epoch0/generations.parquet")
    assert not names(verifier, "results/data") and not names(verifier, "results/models")

    # verifier.methods auto is resolved per run: a TF run computes no QE reply, so QE's settings rerun none of its jobs
    assert not names(qe_scale, f"{RUN}/"), sorted(names(qe_scale, f"{RUN}/"))
    # and a QE run computes QE: adding one reruns none of the TF run's jobs
    assert names(qe_run, RUN.replace("/tf/", "/qe/") + "/epoch0/verify.parquet")
    assert not names(qe_run, f"{RUN}/"), sorted(names(qe_run, f"{RUN}/"))


def test_the_report_holds_every_registered_output(ci_run):
    """`snakemake --report` of the CI run holds every file a rule registers for it (each pattern matched at
    least once), and results/index.md names them."""
    report = ci_run / "report.zip"
    done = snakemake(ci_run, "--report", str(report), timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    members = set(zipfile.ZipFile(report).namelist())
    files = [str(p.relative_to(ci_run)) for p in (ci_run / "results").rglob("*") if p.is_file()]
    index = (ci_run / "results" / "index.md").read_text()
    for out in in_child("report_outputs", ci_run, [ci_run / "config" / "ci.yaml"]):
        if out["pattern"].startswith("results/cross/"):  # runs.schedules only: tests/test_cross_workflow.py
            continue
        if out["pattern"].startswith(("results/n_sweep/", "results/cross_eval/", "results/stages/")):
            continue  # evaluation.n_sweep, .cross and .stages only: tests/test_studies_workflow.py
        regex = pattern_regex(out["pattern"].removeprefix("results/"))
        made = [f for f in files if regex.match(f)]
        assert made, f"the CI run made no {out['pattern']} (rule {out['rule']})"
        for f in made:
            assert f"report/data/raw/{get_report_id(Path(f))[:16]}/{Path(f).name}" in members, f"{f} not in the report"
            assert f == "results/index.md" or f.removeprefix("results/") in index, f"{f} not in results/index.md"


@pytest.mark.parametrize("overlay,message", [
    ({"loop": {"n_samples": 0}}, "n_samples"),
    ({"runs": {"models": ["nope"]}}, "runs.models: 'nope' is not defined under models"),
    ({"verifier": {"empty_policy": "drop"}}, "empty_policy"),
    ({"verifier": {"tf_template": "{question} {response} {grade}"}}, "verifier.tf_template"),
])
def test_bad_config_stops_before_any_job_and_names_the_key(tmp_path, overlay, message):
    workdir = clone(tmp_path / "bad")
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(overlay))
    done = snakemake(workdir, "--configfile", "config/ci.yaml", "config/bad.yaml", "-n", timeout=120)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert not (workdir / "results").exists()


def test_every_combination_of_the_runs_is_a_run(tmp_path):
    workdir = clone(tmp_path / "grid")
    overlay = {"tasks": {"rules": {"kind": "logic", "n_train": 4, "n_test": 4}},
               "runs": {"tasks": ["add", "rules"], "methods": ["tf", "qe"], "seeds": [0, 1]},
               "verifier": {"methods": ["tf", "qe", "p_correct"]}}  # a list: every run computes all three
    outputs = planned(workdir, overlay)
    trajectories = sorted(o for o in outputs if o.endswith("trajectory.parquet") and "simulated" not in o)
    assert trajectories == sorted(f"results/smollm2-135m/{task}/{method}/seed{seed}/trajectory.parquet"
                                  for task in ("add", "rules") for method in ("tf", "qe") for seed in (0, 1))
    assert len(names(outputs, "results/models/smollm2-135m/model.json")) == 1  # one base model for all runs
    assert names(outputs, "results/data/") == {"results/data/add.parquet", "results/data/rules.parquet"}  # shared
