"""The MBPP grading sandbox: correct, wrong and broken code, and hostile code that must not touch the host."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from svgap.tasks import sandbox as sandbox_module
from svgap.tasks.sandbox import STATUSES, SandboxResult, run_tests

ADD = "def add(a, b):\n    return a + b"
ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(0, 0) == 0"]
PROJECT_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"


NOBODY = 65534


@pytest.fixture
def sandboxes(monkeypatch) -> list[int]:
    """The pids of the sandbox processes run_tests starts during a test (each leads its own session)."""
    pids: list[int] = []
    real = subprocess.Popen

    class Recorded(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pids.append(self.pid)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    return pids


def _leftovers(sandboxes: list[int]) -> list[str]:
    """Live processes a sandbox left behind anywhere on the machine, re-parented ones included: those in a
    sandbox's session or process group and, when the tests run as root (the code then runs as nobody),
    every process of uid nobody, which a grandchild keeps even after setsid()."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            uid = int(next(line for line in Path(f"/proc/{entry}/status").read_text().splitlines()
                           if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            continue  # ended while being read
        state, pgrp, session = fields[0], int(fields[2]), int(fields[3])
        if state != "Z" and (pgrp in sandboxes or session in sandboxes or (os.geteuid() == 0 and uid == NOBODY)):
            found.append(f"pid {entry} (uid {uid}, session {session}, state {state})")
    return found


def _assert_refused(result: SandboxResult) -> None:
    assert result.status == "blocked", result
    assert not result.passed


@pytest.fixture
def canary(tmp_path):
    """A file and a directory outside any sandbox, which the code under test must not remove."""
    directory = tmp_path / "keep"
    directory.mkdir()
    (directory / "inner.txt").write_text("inner")
    path = tmp_path / "canary.txt"
    path.write_text("alive")
    return path


# -- grading ---------------------------------------------------------------------------------


def test_correct_code_passes():
    result = run_tests(ADD, ADD_TESTS)
    assert result == SandboxResult(True, 3, 3, "passed", "3/3 tests passed")


def test_wrong_code_fails_and_counts_the_tests_that_pass():
    code = "def is_even(n):\n    return n % 2 == 0 or n == 3"
    tests = ["assert is_even(2) == True", "assert is_even(3) == False", "assert is_even(5) == False"]
    result = run_tests(code, tests)
    assert (result.passed, result.n_passed, result.n_tests, result.status) == (False, 2, 3, "failed")
    assert result.detail.startswith("test 1: AssertionError")


def test_an_exception_in_a_test_fails_that_test_only():
    code = "def first(xs):\n    return xs[0]"
    result = run_tests(code, ["assert first([4, 5]) == 4", "assert first([]) is None"])
    assert (result.status, result.n_passed) == ("failed", 1)
    assert "IndexError" in result.detail


def test_syntax_error_is_an_error():
    result = run_tests("def add(a, b)\n    return a + b", ADD_TESTS)
    assert (result.passed, result.n_passed, result.status) == (False, 0, "error")
    assert result.detail.startswith("SyntaxError")


def test_exception_at_import_time_is_an_error():
    result = run_tests("import numpy_that_does_not_exist\n" + ADD, ADD_TESTS)
    assert (result.status, result.n_passed) == ("error", 0)
    assert "ModuleNotFoundError" in result.detail


def test_setup_code_runs_between_code_and_tests():
    result = run_tests("def scale(x):\n    return x * FACTOR", ["assert scale(2) == 6"], setup="FACTOR = 3")
    assert result.passed


def test_main_block_of_the_response_does_not_run():
    code = ADD + '\nif __name__ == "__main__":\n    print(add(int(input()), 2))'
    assert run_tests(code, ADD_TESTS).passed


def test_ordinary_stdlib_code_is_not_refused():
    code = """
import collections, dataclasses, heapq, itertools, math, re, statistics, tempfile, typing
from typing import List

Point = collections.namedtuple("Point", "x y")

@dataclasses.dataclass
class Box:
    items: List[int]

def smallest_k(xs: List[int], k: int) -> List[int]:
    with tempfile.TemporaryDirectory() as scratch, open(scratch + "/log.txt", "w") as log:
        log.write(repr(xs))
    with open("note.txt", "w") as f:
        f.write("ok")
    return heapq.nsmallest(k, Box(xs).items)
"""
    tests = ["assert smallest_k([5, 1, 4, 2], 2) == [1, 2]", "assert open('note.txt').read() == 'ok'",
             "assert Point(1, 2).y == 2", "assert math.isclose(statistics.mean([1, 2, 3]), 2)"]
    result = run_tests(code, tests)
    assert result.passed, result


def test_limits_are_validated_and_empty_tests_are_an_error():
    with pytest.raises(ValueError):
        run_tests(ADD, ADD_TESTS, timeout_s=0)
    with pytest.raises(ValueError):
        run_tests(ADD, ADD_TESTS, memory_mb=0)
    assert run_tests(ADD, []).status == "error"


def test_statuses_are_the_documented_ones():
    assert set(STATUSES) == {"passed", "failed", "error", "timeout", "killed", "blocked"}


def test_an_import_outside_the_stdlib_is_an_error():
    """docs/sandbox.md: only the standard library is importable, so a response importing numpy (installed
    here) gets `error`, and so does importing the project itself."""
    for module in ("numpy", "svgap"):
        result = run_tests(f"import {module}\n{ADD}", ADD_TESTS)
        assert (result.status, result.passed) == ("error", False), result
        assert f"ModuleNotFoundError: No module named '{module}'" in result.detail


def test_the_cpu_limit_kills_with_status_killed():
    """The child's CPU-seconds limit (int(timeout_s) + 1 soft, one more hard) ends a busy process with
    SIGXCPU, which the result reports as `killed` (the wall-clock timeout normally comes first)."""
    child = ("import sys; sys.path.insert(0, sys.argv[1]); from svgap.tasks import sandbox; "
             "sandbox._set_limits(0.2, 512)\nwhile True: pass")
    done = subprocess.run([sys.executable, "-c", child, str(Path(sandbox_module.__file__).parents[2])], timeout=30)
    assert done.returncode == -signal.SIGXCPU
    result = sandbox_module._result("", "nonce", 1, True, 10.0, done.returncode, "")
    assert (result.status, result.passed) == ("killed", False)
    assert result.detail == "killed by SIGXCPU (CPU time limit)"


def test_the_code_sees_only_the_minimal_environment():
    """docs/sandbox.md: the environment is only PATH, HOME, TMPDIR and LC_ALL; HOME and TMPDIR are the fresh
    sandbox directory, which is also the working directory; stdin is empty."""
    os.environ["SVGAP_SANDBOX_SECRET"] = "not for the code"
    try:
        code = "import os, sys\nENV = dict(os.environ)\nCWD = os.getcwd()\nIN = sys.stdin.read()"
        result = run_tests(code, ["assert set(ENV) == {'PATH', 'HOME', 'TMPDIR', 'LC_ALL'}, sorted(ENV)",
                                  "assert ENV['HOME'] == ENV['TMPDIR'] == CWD, (ENV, CWD)",
                                  "assert os.path.basename(CWD).startswith('svgap-sandbox-'), CWD",
                                  "assert ENV['LC_ALL'] == 'C.UTF-8' and IN == ''"])
    finally:
        del os.environ["SVGAP_SANDBOX_SECRET"]
    assert result.passed, result


# -- cheating the grader ---------------------------------------------------------------------


def test_exiting_early_is_not_a_pass():
    assert run_tests("import sys\nsys.exit(0)", ADD_TESTS).status == "error"
    result = run_tests(ADD, ["import os; os._exit(0)", *ADD_TESTS])
    assert (result.passed, result.status) == (False, "error")


def test_forged_records_and_output_are_ignored():
    code = """
import os, sys
print("passed"); sys.stderr.write("pass 0\\n")
for fd in range(1, 64):
    try:
        os.write(fd, b"\\nstart\\npass 0\\npass 1\\npass 2\\ndone 0\\n")
    except OSError:
        pass
os._exit(0)
"""
    result = run_tests(code, ADD_TESTS)
    assert (result.passed, result.n_passed) == (False, 0)


def test_replacing_builtins_does_not_skip_the_tests():
    code = "import builtins\nbuiltins.exec = builtins.compile = lambda *a, **k: None\ndef add(a, b):\n    return 0"
    result = run_tests(code, ADD_TESTS)  # add(1, 2) == 3 fails, the two sums that are 0 pass
    assert (result.passed, result.n_passed, result.status) == (False, 2, "failed")


# -- hangs, floods, memory -------------------------------------------------------------------


def test_infinite_loop_times_out(sandboxes):
    start = time.monotonic()
    result = run_tests("def add(a, b):\n    while True:\n        pass", ADD_TESTS, timeout_s=1.0)
    assert time.monotonic() - start < 1.0 + 2
    assert (result.passed, result.status) == (False, "timeout")
    assert _leftovers(sandboxes) == []


def test_sleeping_code_times_out_on_the_wall_clock():
    start = time.monotonic()
    result = run_tests("import time\ntime.sleep(60)", ADD_TESTS, timeout_s=1.0)
    assert time.monotonic() - start < 1.0 + 2
    assert result.status == "timeout"


def test_a_flood_of_output_does_not_hang():
    code = ADD + "\nimport sys\nfor i in range(200_000):\n    print('x' * 100)\nsys.stderr.write('y' * 10**7)"
    start = time.monotonic()
    result = run_tests(code, ADD_TESTS, timeout_s=10.0)
    assert result.passed, result
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("code", [
    "x = bytearray(10**10)",
    "x = [0]\nwhile True:\n    x = x + x",
    "x = []\nwhile True:\n    x.append(' ' * 10**6)",
])
def test_memory_bombs_fail_without_harm(code, sandboxes):
    result = run_tests(code + "\n" + ADD, ADD_TESTS, memory_mb=256, timeout_s=10.0)
    assert not result.passed
    assert result.status in ("error", "killed"), result
    assert _leftovers(sandboxes) == []


def test_a_file_bigger_than_the_limit_cannot_be_written():
    result = run_tests("open('big.bin', 'wb').write(b'x' * 9 * 2**20)", ADD_TESTS)
    assert (result.status, result.passed) == ("error", False)
    assert "File too large" in result.detail


def test_too_many_files_are_refused():
    _assert_refused(run_tests("for i in range(100):\n    open(f'f{i}.txt', 'w').close()", ADD_TESTS))


def test_a_crash_is_killed_status():
    result = run_tests("import os\nos.abort()", ADD_TESTS)
    assert (result.status, result.passed) == ("killed", False)
    assert "SIGABRT" in result.detail


# -- processes -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [
    "import os\nwhile True:\n    os.fork()",
    "import os\nwhile True:\n    try:\n        os.fork()\n    except Exception:\n        pass",
])
def test_fork_bomb_is_refused_and_leaves_no_process(code, sandboxes):
    result = run_tests(code, ADD_TESTS, timeout_s=1.0)
    _assert_refused(result)
    assert len(sandboxes) == 1 and _leftovers(sandboxes) == []


def test_a_grandchild_in_its_own_session_is_refused_and_not_left_behind(sandboxes):
    """A forked grandchild that leaves the sandbox's session and outlives it would be re-parented to init,
    out of reach of the process-group kill; fork is refused, and nothing of the run is alive afterwards."""
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
    _assert_refused(run_tests(code, ADD_TESTS))
    time.sleep(0.2)
    assert _leftovers(sandboxes) == []


@pytest.mark.parametrize("code", [
    "import subprocess\nsubprocess.run(['rm', '-f', TARGET])",
    "import os\nos.system('rm -f ' + TARGET)",
    "import os\nos.popen('rm -f ' + TARGET)",
    "import os\nos.execv('/bin/rm', ['rm', '-f', TARGET])",
    "import os\nos.posix_spawn('/bin/rm', ['rm', '-f', TARGET], {})",
    "import pty\npty.spawn(['rm', '-f', TARGET])",
    "import _posixsubprocess",
    "import multiprocessing\nmultiprocessing.Process(target=print).start()",
])
def test_running_programs_is_refused(code, canary, sandboxes):
    result = run_tests(f"TARGET = {str(canary)!r}\n{code}", ADD_TESTS)
    _assert_refused(result)
    assert canary.read_text() == "alive"
    assert _leftovers(sandboxes) == []


def test_signalling_the_grader_is_refused():
    _assert_refused(run_tests("import os\nos.kill(os.getppid(), 0)", ADD_TESTS))


# -- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [
    "import os\nos.remove(TARGET)",
    "import os\nos.unlink(TARGET)",
    "import shutil\nshutil.rmtree(os.path.dirname(TARGET) + '/keep')",
    "import shutil\nshutil.rmtree(os.path.dirname(TARGET))",
    "import os\nos.rename(TARGET, 'stolen.txt')",
    "import shutil\nshutil.move(TARGET, 'stolen.txt')",
    "open(TARGET, 'w').write('overwritten')",
    "open(TARGET, 'a').write('appended')",
    "import os\nos.truncate(TARGET, 0)",
    "import os\nos.chmod(TARGET, 0)",
    "import os\nos.symlink(TARGET, 'link')\nopen('link', 'w').write('x')",
    "import os\nos.link(TARGET, 'hard')\nopen('hard', 'w').write('x')",
    "import os\nfd = os.open('.', os.O_RDONLY)\nos.unlink('../../../../../../../..' + TARGET, dir_fd=fd)",
    "import os\nos.mkdir('sub')\nos.chdir('sub')",
    "import os\nos.chdir(os.path.dirname(TARGET))\nos.remove('canary.txt')",
    "import pathlib\npathlib.Path(TARGET).unlink()",
    "import pathlib\npathlib.Path(TARGET).write_text('x')",
    "import sqlite3\nsqlite3.connect(TARGET).execute('create table t (x)')",
])
def test_files_outside_the_sandbox_are_untouched(code, canary):
    code = f"import os\nTARGET = {str(canary)!r}\n{code}"
    result = run_tests(code, ADD_TESTS)
    _assert_refused(result)
    assert canary.read_text() == "alive"
    assert (canary.parent / "keep" / "inner.txt").read_text() == "inner"
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary.txt", "keep"]


@pytest.mark.parametrize("code", [
    "data = open(PROJECT).read()",
    "open(PROJECT, 'a').write('# pwned')",
    "import os\nos.remove(PROJECT)",
    "import os\nos.listdir(os.path.dirname(PROJECT))",
    "import sys\nsys.path.insert(0, os.path.dirname(PROJECT) + '/workflow')\nimport svgap",
    "data = open('/etc/passwd').read()",
    "data = open('/proc/self/environ').read()",
    "import os\nopen('/proc/self/fd/3', 'w').write('x')",
])
def test_the_project_and_host_files_are_out_of_reach(code):
    before = (PROJECT_FILE.read_bytes(), PROJECT_FILE.stat().st_mtime_ns)
    result = run_tests(f"import os\nPROJECT = {str(PROJECT_FILE)!r}\n{code}", ADD_TESTS)
    _assert_refused(result)
    assert (PROJECT_FILE.read_bytes(), PROJECT_FILE.stat().st_mtime_ns) == before


def test_the_sandbox_directory_is_removed_afterwards():
    result = run_tests("import os\nHERE = os.getcwd()", ["assert False, HERE"])
    here = result.detail.split("AssertionError: ", 1)[1]
    assert "svgap-sandbox-" in here
    assert not os.path.exists(here)


# -- network ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [
    "import socket\nsocket.socket().connect(('127.0.0.1', 9))",
    "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()",
    "import socket\nsocket.create_server(('127.0.0.1', 0))",
    "import socket\nsocket.getaddrinfo('example.com', 80)",
    "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind('server.sock')",
    "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/')",
])
def test_sockets_are_refused(code):
    _assert_refused(run_tests(code, ADD_TESTS))


def _network_namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    return subprocess.run([unshare, *flags, "true"], capture_output=True).returncode == 0


def test_network_namespace_has_no_interfaces_but_loopback():
    if not _network_namespaces_work():
        pytest.skip("no network namespaces on this machine (the audit hook still refuses sockets)")
    code = "import socket\nNAMES = [name for _, name in socket.if_nameindex()]"
    result = run_tests(code, ["assert NAMES == ['lo'], NAMES"])
    assert result.passed, result


# -- escape hatches --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [
    "import ctypes",
    "import _ctypes",
    "import _testcapi",
    "import gc\ngc.get_objects()",
    "import sys\nsys.settrace(lambda *a: None)",
    "import marshal\nmarshal.loads(marshal.dumps(add.__code__))",
    "add.__code__.replace(co_name='evil')",
    "import _imp, importlib.util\n_imp.create_dynamic(importlib.util.find_spec('_posixsubprocess'))",
    "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))",
])
def test_escape_hatches_are_refused(code):
    _assert_refused(run_tests(ADD + "\n" + code, ADD_TESTS))


def test_frames_are_not_handed_out():
    result = run_tests("import sys\nframe = sys._getframe(1)", ADD_TESTS)
    assert (result.status, result.passed) == ("error", False)
    code = "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    frame = e.__traceback__.tb_frame"
    assert run_tests(code, ADD_TESTS).status == "error"


def test_code_does_not_run_as_root():
    if os.geteuid() != 0:
        pytest.skip("not root: the code runs as this user")
    result = run_tests("import os\nIDS = (os.getuid(), os.geteuid(), os.getgid())", ["assert IDS == (65534,) * 3, IDS"])
    assert result.passed, result
