"""workflow/scripts/_job.py: what every rule's script runs in; a finished job's quick exit."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"

# A rule's script in miniature: `snakemake` stands in for the object Snakemake gives it. An atexit handler
# shows whether the interpreter's teardown ran; `child` keeps a child process alive through the job's end.
SCRIPT = textwrap.dedent("""
    import atexit, logging, subprocess, sys, types
    sys.path.insert(0, {scripts!r})
    from _job import job

    snakemake = types.SimpleNamespace(log=[{log!r}], rule="demo")
    atexit.register(lambda: print("teardown ran", flush=True))
    with job(snakemake):
        logging.getLogger("svgap.demo").info("the last record")
        print("printed", end="")  # no newline: still in the buffer when the job ends
        if {child!r}:
            kept = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if {fail!r}:
            raise ValueError("bad row 3")
    kept.kill() if {child!r} else None
""")


def run(tmp_path: Path, child: bool = False, fail: bool = False) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "job.log"
    code = SCRIPT.format(scripts=str(SCRIPTS), log=str(log), child=child, fail=fail)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout block-buffered, as in a job
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    return done, log.read_text()


def test_a_finished_job_exits_at_once_with_its_log_and_output_flushed(tmp_path):
    done, log = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "INFO svgap.demo: the last record" in log
    assert done.stdout == "printed"  # flushed, and the teardown (the atexit handler) skipped


def test_a_job_with_a_child_process_alive_ends_with_the_normal_teardown(tmp_path):
    done, log = run(tmp_path, child=True)
    assert done.returncode == 0, done.stderr
    assert "the last record" in log
    assert done.stdout == "printedteardown ran\n"


@pytest.mark.parametrize("child", [False, True])
def test_a_failed_job_logs_its_traceback_and_exits_non_zero(tmp_path, child):
    done, log = run(tmp_path, child=child, fail=True)
    assert done.returncode == 1
    assert "rule demo failed" in log and "ValueError: bad row 3" in log
    assert "teardown ran" in done.stdout
