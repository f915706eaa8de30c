"""The MBPP grading sandbox: correct, wrong and broken code, and hostile code that must not touch the host."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from svgap.tasks import isolation as kernel
from svgap.tasks import judge
from svgap.tasks import sandbox as sandbox_module
from svgap.tasks.sandbox import STATUSES, SandboxResult

ADD = "def add(a, b):\n    return a + b"
ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(0, 0) == 0"]
PROJECT_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"


NOBODY = 65534
ISOLATION = "bwrap"


@pytest.fixture(autouse=True, params=["bwrap", "landlock", "none"])
def isolation(request, monkeypatch) -> str:
    """Every test runs with each kernel isolation (bubblewrap, which CI installs; Landlock, the fallback where
    user namespaces are not allowed) and without (the process layer and the audit hook alone, "none")."""
    monkeypatch.setattr(sys.modules[__name__], "ISOLATION", request.param)
    return request.param


def run_tests(*args, **kwargs) -> SandboxResult:
    kwargs.setdefault("isolation", ISOLATION)
    return sandbox_module.run_tests(*args, **kwargs)


@pytest.fixture
def sandboxes(monkeypatch) -> list[int]:
    """The pids of the sandbox processes run_tests starts during a test (each leads its own session); other
    commands (libseccomp's loader asks `ldconfig -p` once) are not counted."""
    pids: list[int] = []
    kernel._probe()  # the cached trial run of bubblewrap, once per session, before the counting starts
    real = subprocess.Popen

    class Recorded(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if "-I" in self.args:  # the sandbox's interpreter, directly or under bwrap (not ldconfig & co.)
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
    """Refused by the audit hook ("blocked"), or under bubblewrap possibly by the kernel first (the path is
    not there, EPERM from seccomp): then the code's own error. The tests check the side effects too."""
    assert not result.passed, result
    if ISOLATION == "none":
        assert result.status == "blocked", result
    else:
        assert result.status in ("blocked", "error", "killed"), result


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
    assert result == SandboxResult(True, 3, 3, "passed", "3/3 tests passed", kernel.LAYERS[ISOLATION], 3)


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
    splits = [judge.split("assert True")]
    result = sandbox_module._result("", splits, [[]], "fail", True, 10.0, done.returncode, "", "none")
    assert (result.status, result.passed) == ("killed", False)
    assert result.detail == "killed by SIGXCPU (CPU time limit)"


def test_the_code_sees_only_the_minimal_environment():
    """docs/sandbox.md: the environment is only PATH, HOME, TMPDIR and LC_ALL; HOME and TMPDIR are the fresh
    sandbox directory (bubblewrap's /tmp), which is also the working directory; stdin is empty."""
    os.environ["SVGAP_SANDBOX_SECRET"] = "not for the code"
    try:
        code = ("import os, sys\nENV = dict(os.environ)\nCWD = os.getcwd()\nIN = sys.stdin.read()\n"
                "HOME_IS_CWD = ENV['HOME'] == ENV['TMPDIR'] == CWD")
        result = run_tests(code, ["assert set(ENV) == {'PATH', 'HOME', 'TMPDIR', 'LC_ALL'}, sorted(ENV)",
                                  "assert HOME_IS_CWD",
                                  "assert CWD == '/tmp' or os.path.basename(CWD).startswith('svgap-sandbox-')",
                                  "assert ENV['LC_ALL'] == 'C.UTF-8' and IN == ''"])
    finally:
        del os.environ["SVGAP_SANDBOX_SECRET"]
    assert result.passed, result


# -- cheating the grader ---------------------------------------------------------------------


def test_exiting_early_is_not_a_pass():
    assert run_tests("import sys\nsys.exit(0)", ADD_TESTS).status == "error"
    result = run_tests(ADD, ["import os; os._exit(0)", *ADD_TESTS], child_judged="run")
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
    """Without bubblewrap the run's directory is deleted; with it, the tmpfs never was on the host."""
    import glob
    import tempfile

    pattern = os.path.join(tempfile.gettempdir(), "svgap-sandbox-*")
    before = set(glob.glob(pattern))
    code = "import os\nopen('svgap-mark-4242.txt', 'w').write('x')\nHERE = os.getcwd()"
    result = run_tests(code, ["assert HERE.startswith('/')"])
    assert result.passed, result
    assert set(glob.glob(pattern)) == before
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), "svgap-mark-4242.txt"))


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
    if ISOLATION in ("bwrap", "landlock"):  # no sockets at all: seccomp refuses socket(2)
        assert (result.status, result.passed) == ("error", False), result
        assert "PermissionError" in result.detail
    else:
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


# -- attacks on the verdict (issue 16): the grader decides, the sandbox only returns values ---------

SECRET_TESTS = ["assert secret(7) == 1234567", "assert secret(8) == 7654321"]  # expected values the code never sees


@pytest.mark.parametrize("code", [
    # a signal handler is handed the interrupted frame; its f_back reached the runner's locals and emitter
    "import signal\ndef grab(signum, frame):\n    f = frame\n    while f is not None:\n"
    "        for v in f.f_locals.values():\n            if callable(v):\n                try:\n"
    "                    v('pass', '0')\n                except Exception:\n                    pass\n"
    "        f = f.f_back\nsignal.signal(signal.SIGALRM, grab)\nsignal.setitimer(signal.ITIMER_REAL, 0.01)\n"
    "import time\ntime.sleep(0.1)",
    "import _signal\n_signal.signal(14, lambda s, f: None)",
    # records written to every descriptor (the result channel among them), and dup2 over it
    "import os\nfor fd in range(64):\n    try:\n"
    "        os.write(fd, b'\\nstart\\nvalue 0 true\\nok 0\\nok 1\\npass 0\\npass 1\\ndone 0\\n')\n"
    "    except OSError:\n        pass\nos._exit(0)",
    "import os\nr, w = os.pipe()\nfor fd in range(3, 16):\n    try:\n        os.dup2(w, fd)\n    except OSError:\n"
    "        pass\ndef secret(x):\n    return x",
    # a value that equals anything
    "class Anything:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
    "def secret(x):\n    return Anything()",
    "class Yes(int):\n    def __eq__(self, other):\n        return True\ndef secret(x):\n    return Yes(0)",
])
def test_forged_passes_fail(code):
    result = run_tests(code, SECRET_TESTS)
    assert (result.passed, result.n_passed) == (False, 0), result


def test_the_sandbox_never_sees_the_expected_values(tmp_path):
    """The job the child reads holds the code and the probes, not the expected side of a test."""
    code = "import json, sys\nJOB = open(sys.argv[1]).read() if len(sys.argv) > 1 else ''\ndef secret(x):\n    return x"
    result = run_tests(code, ["assert secret(7) == 1234567"])
    assert result.status == "blocked" or result.detail.count("1234567") == 0
    splits = judge.split("assert secret(7) == 1234567")
    assert splits.probes == ("secret(7)",) and "1234567" not in "".join(splits.probes)


def test_child_judged_tests_fail_by_default_and_run_when_asked():
    tests = ["assert all(add(i, i) == 2 * i for i in range(3))", "x = add(1, 2)", "assert add(1, 2) == 3"]
    default = run_tests(ADD, tests)
    assert (default.n_passed, default.n_parent_judged, default.status) == (1, 1, "failed")
    assert "child_judged" in default.detail
    ran = run_tests(ADD, tests, child_judged="run")
    assert (ran.passed, ran.n_passed, ran.n_parent_judged) == (True, 3, 1)
    with pytest.raises(ValueError, match="child_judged"):
        run_tests(ADD, tests, child_judged="trust")


# -- attacks on the host (issue 16) ----------------------------------------------------------


@pytest.mark.parametrize("read", [
    "open('/etc/shadow').read()",
    "open('/etc/passwd').read()",
    "open(PROJECT).read()",
    "__import__('spwd').getspall()",
    "__import__('pwd').getpwall()",
    "__import__('grp').getgrall()",
])
def test_host_secrets_and_project_files_cannot_be_read(read):
    code = (f"PROJECT = {str(PROJECT_FILE)!r}\ntry:\n    READ = {read}\nexcept Exception:\n    READ = None\n"
            "if READ == []:\n    READ = None")
    result = run_tests(code, ["assert READ is None"])
    assert result.n_passed == 1, result  # the read failed (refused by the hook, or nothing there)
    assert result.status in ("passed", "blocked"), result


@pytest.mark.parametrize("code", [
    "import sqlite3\nsqlite3.connect(':memory:').execute(f\"ATTACH DATABASE '{TARGET}' AS x\")"
    ".execute('CREATE TABLE x.t (a)')",
    "import sqlite3\ndb = sqlite3.connect(':memory:')\ndb.execute('CREATE TABLE t (a)')\n"
    "db.execute(f\"VACUUM INTO '{TARGET}'\")",
    "open(TARGET, 'w').write('x')",
    "import os\nfd = os.open(TARGET, os.O_CREAT | os.O_WRONLY)\nos.write(fd, b'x')",
])
def test_writing_outside_leaves_nothing(code):
    """The target directory is writable by everyone (nobody included), so only the sandbox stops the write."""
    import tempfile

    outside = Path(tempfile.mkdtemp(prefix="svgap-outside-"))
    try:
        outside.chmod(0o777)
        target = outside / "outside.db"
        result = run_tests(f"TARGET = {str(target)!r}\n{code}\n{ADD}", ADD_TESTS)
        assert not result.passed, result
        assert list(outside.iterdir()) == []
    finally:
        shutil.rmtree(outside)


def test_memory_past_the_limit_fails():
    """memfd_create held memory outside the address-space limit; the tmpfs (bubblewrap) is bounded too."""
    memfd = run_tests("import os\nfd = os.memfd_create('m')\nfor _ in range(64):\n    os.write(fd, b'x' * 2**22)\n"
                      + ADD, ADD_TESTS, memory_mb=128)
    assert (memfd.passed, memfd.status) == (False, "error"), memfd
    if ISOLATION == "bwrap":
        files = ("for i in range(8):\n    with open(f'f{i}.bin', 'wb') as f:\n        f.write(b'x' * 7 * 2**20)\n"
                 + ADD)
        tmpfs = run_tests(files, ADD_TESTS)
        assert (tmpfs.passed, tmpfs.status) == (False, "error"), tmpfs
        assert "No space left" in tmpfs.detail


def test_the_audit_hook_cannot_be_given_new_code():
    code = ("def f():\n    pass\nf.__code__ = (lambda: None).__code__\n"
            "import _imp, importlib.util\nspec = importlib.util.find_spec('_ctypes')\nspec.name = 'innocent'\n"
            "_imp.create_dynamic(spec)\n" + ADD)
    _assert_refused(run_tests(code, ADD_TESTS))
    refusal = run_tests("import importlib.util\nspec = importlib.util.find_spec('_ctypes')\nspec.name = 'x'\n"
                        "__import__('importlib').import_module('_frozen_importlib')._imp.create_dynamic(spec)",
                        ADD_TESTS)
    assert not refusal.passed and refusal.status in ("blocked", "error"), refusal


def test_a_refusal_whose_path_cannot_be_shown_is_still_recorded():
    code = ("class P:\n    def __fspath__(self):\n        return '/etc/hostname'\n    def __repr__(self):\n"
            "        raise RuntimeError('no repr')\nimport os\ntry:\n    os.remove(P())\n"
            "except Exception:\n    pass\n" + ADD)
    result = run_tests(code, ADD_TESTS)
    assert result.status == "blocked" and "/etc/hostname" in result.detail, result


def test_a_machine_without_isolation_refuses_to_grade(monkeypatch):
    monkeypatch.setattr(kernel.shutil, "which", lambda name: None)
    kernel._probe.cache_clear()
    try:
        with pytest.raises(kernel.IsolationUnavailable, match="bubblewrap.*isolation: none"):
            run_tests(ADD, ADD_TESTS, isolation="bwrap")
        assert run_tests(ADD, ADD_TESTS, isolation="none").passed  # the setting the message names
    finally:
        kernel._probe.cache_clear()
    with pytest.raises(ValueError, match="isolation"):
        run_tests(ADD, ADD_TESTS, isolation="chroot")


def test_without_bubblewrap_auto_falls_back_to_landlock_and_says_so(monkeypatch, caplog):
    """No user namespaces (bwrap missing stands in for that): "auto" grades under Landlock + seccomp, logs it
    and records it per result; with Landlock missing too, it refuses, naming `isolation: none`."""
    monkeypatch.setattr(kernel.shutil, "which", lambda name: None)
    kernel._probe.cache_clear()
    sandbox_module._warn_landlock_fallback.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            result = run_tests(ADD, ADD_TESTS, isolation="auto")
        assert result.passed and result.isolation == "landlock+seccomp", result
        assert "grading with Landlock" in caplog.text
        monkeypatch.setattr(sandbox_module, "landlock_abi", lambda: 0)
        sandbox_module._landlock_probe.cache_clear()
        with pytest.raises(kernel.IsolationUnavailable, match="neither bubblewrap nor Landlock.*isolation: none"):
            run_tests(ADD, ADD_TESTS, isolation="auto")
        with pytest.raises(kernel.IsolationUnavailable, match="Landlock is not available.*isolation: none"):
            run_tests(ADD, ADD_TESTS, isolation="landlock")
    finally:
        kernel._probe.cache_clear()
        sandbox_module._landlock_probe.cache_clear()


def test_the_sandboxed_process_is_nobody_on_the_host(sandboxes):
    """The code's uid is nobody, and on the host nobody too when the grader is root (bwrap is started as
    nobody, never mapping the sandbox's user to root; without bwrap the child switches), else the grader's
    own user. Observed from the host, once the child is past its start-up."""
    import threading

    code = "import os, time\nUID = os.getuid()\ntime.sleep(3)\n" + ADD
    results = []
    thread = threading.Thread(target=lambda: results.append(run_tests(code, ["assert UID == 65534"])))
    thread.start()
    host_uids = set()
    time.sleep(1.0)  # past the switch (the code sleeps 3 s)
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline and not host_uids:
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                if b"-I" in cmdline and any(arg.endswith((b"/runner.py", b"/tasks/sandbox.py")) for arg in cmdline):
                    status = Path(f"/proc/{entry}/status").read_text().splitlines()
                    host_uids |= {int(line.split()[1]) for line in status if line.startswith("Uid:")}
            except OSError:
                continue
        time.sleep(0.05)
    thread.join()
    assert results[0].passed, results[0]
    assert host_uids == {NOBODY if os.geteuid() == 0 else os.getuid()}


# What the layer probes below share: each attempt records "done" or the exception's name.
PROBE_HELPERS = r"""
out = {}
def attempt(name, action):
    try:
        action()
        out[name] = "done"
    except BaseException as exc:
        out[name] = type(exc).__name__
def write(path, size=1):
    with open(path, "wb") as f:
        f.write(b"x" * size)
"""

KERNEL_LAYER_PROBE = r"""
import ctypes, json, os, socket, sys
job = json.load(open(sys.argv[1]))
""" + PROBE_HELPERS + r"""
for path in ("/etc/shadow", "/etc/passwd", job["project_file"], "/root/.bashrc"):
    attempt("read " + path, lambda: open(path, "rb").read())
for path in ("/x", "/dev/x", "/dev/shm/x", "/usr/x", "/run/svgap/x", "/run/svgap/job.json", "/tmp/ok"):
    attempt("write " + path, lambda: write(path))
attempt("write /tmp/big", lambda: write("/tmp/big", 40 * 2**20))
attempt("fork", os.fork)
attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("unix socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("memfd_create", lambda: os.memfd_create("m"))
libc = ctypes.CDLL(None, use_errno=True)
def unshare():
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
attempt("unshare", unshare)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
out["uid"] = os.getuid()
out["CapEff"] = status["CapEff"].strip()
out["pids"] = sorted(int(e) for e in os.listdir("/proc") if e.isdigit())
out["env"] = sorted(os.environ)
os.write(1, json.dumps(out).encode())
"""


def test_the_kernel_layer_alone_holds():
    """bubblewrap and seccomp without the audit hook (as if the code had switched it off): no host file is
    there to read, nothing outside the 32 MB tmpfs can be written, no process, socket, memory file or
    namespace can be made, no capability is held, no host process is visible."""
    if ISOLATION != "bwrap":
        pytest.skip("the bubblewrap layer itself")
    import json
    import tempfile

    kernel.require_bwrap()
    with tempfile.TemporaryDirectory() as box, tempfile.TemporaryFile() as bpf:
        bpf.write(kernel.seccomp_program())
        bpf.seek(0)
        runner, job = Path(box, "runner.py"), Path(box, "job.json")
        runner.write_text(KERNEL_LAYER_PROBE)
        job.write_text(json.dumps({"project_file": str(PROJECT_FILE)}))
        kernel.give_to_sandbox_user(box)
        done = subprocess.run(kernel.bwrap_command(kernel.interpreter(), str(runner), str(job), bpf.fileno()),
                              pass_fds=(bpf.fileno(),), capture_output=True, timeout=60, **kernel.user_switch())
        assert job.read_text() == json.dumps({"project_file": str(PROJECT_FILE)})
        assert sorted(os.listdir(box)) == ["job.json", "runner.py"]
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for path in ("/etc/shadow", "/etc/passwd", str(PROJECT_FILE), "/root/.bashrc"):
        assert out["read " + path] in ("FileNotFoundError", "PermissionError"), (path, out)
    for path in ("/x", "/dev/x", "/dev/shm/x", "/usr/x", "/run/svgap/x", "/run/svgap/job.json"):
        assert out["write " + path] in ("OSError", "PermissionError", "FileNotFoundError"), (path, out)
    assert out["write /tmp/ok"] == "done" and out["write /tmp/big"] == "OSError", out  # ENOSPC past 32 MB
    for action in ("fork", "socket", "unix socket", "memfd_create", "unshare"):
        assert out[action] == "PermissionError", (action, out)
    assert out["uid"] == NOBODY and int(out["CapEff"], 16) == 0, out
    assert len(out["pids"]) <= 2, out  # bwrap's init and the interpreter: nothing of the host
    assert out["env"] == ["HOME", "LC_ALL", "PATH", "PWD", "TMPDIR"], out  # the runner drops PWD


LANDLOCK_LAYER_PROBE = r"""
import ctypes, importlib.util, json, os, socket, sys
box = os.path.dirname(os.path.abspath(sys.argv[1]))
job = json.load(open(sys.argv[1]))
spec = importlib.util.spec_from_file_location("svgap_sandbox", os.path.join(box, "lib.py"))
lib = importlib.util.module_from_spec(spec)
sys.modules["svgap_sandbox"] = lib
spec.loader.exec_module(lib)
if os.geteuid() == 0:
    lib._drop_privileges(box)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
abi = lib.restrict_with_landlock(lib._landlock_read_roots(), box)
lib.load_seccomp(bytes.fromhex(job["seccomp"]))
""" + PROBE_HELPERS + r"""
out["abi"] = abi
for path in ("/etc/shadow", "/etc/passwd", job["project_file"], "/root/.bashrc", "/proc/self/environ"):
    attempt("read " + path, lambda: open(path, "rb").read())
for path in ("/tmp/svgap-landlock-x", "/dev/shm/svgap-landlock-x", "/var/tmp/svgap-landlock-x"):
    attempt("write " + path, lambda: write(path))
attempt("write box", lambda: write(os.path.join(box, "ok")))
attempt("read stdlib", lambda: open(os.__file__, "rb").read())
attempt("fork", os.fork)
attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("memfd_create", lambda: os.memfd_create("m"))
out["uid"] = os.getuid()
out["CapEff"] = status["CapEff"].strip()
os.write(1, json.dumps(out).encode())
"""


def test_the_landlock_layer_alone_holds():
    """Landlock and seccomp as the child applies them, without the audit hook (as if the code had switched it
    off): only the interpreter's files and the run's directory are readable, only that directory writable
    (world-writable /tmp and /dev/shm included in the refusal), and no process, socket or memory file."""
    if ISOLATION != "landlock":
        pytest.skip("the Landlock layer itself")
    import json
    import tempfile

    assert sandbox_module.choose_isolation("landlock") == "landlock"
    with tempfile.TemporaryDirectory() as box:
        Path(box, "lib.py").write_text(Path(sandbox_module.__file__).read_text())
        Path(box, "probe.py").write_text(LANDLOCK_LAYER_PROBE)
        Path(box, "job.json").write_text(json.dumps({"project_file": str(PROJECT_FILE),
                                                     "seccomp": kernel.seccomp_program().hex()}))
        done = subprocess.run([kernel.interpreter(), "-I", "-S", "-B", str(Path(box, "probe.py")),
                               str(Path(box, "job.json"))], capture_output=True, timeout=60, cwd=box)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert Path(box, "ok").exists()
    for leftover in ("/tmp/svgap-landlock-x", "/dev/shm/svgap-landlock-x", "/var/tmp/svgap-landlock-x"):
        assert not os.path.exists(leftover), leftover
        assert out["write " + leftover] in ("PermissionError", "FileNotFoundError"), (leftover, out)
    for path in ("/etc/shadow", "/etc/passwd", str(PROJECT_FILE), "/root/.bashrc", "/proc/self/environ"):
        assert out["read " + path] in ("PermissionError", "FileNotFoundError"), (path, out)
    assert out["read /etc/passwd"] == "PermissionError", out  # readable by anyone, but not under Landlock
    assert out["write box"] == "done" and out["read stdlib"] == "done", out
    for action in ("fork", "socket", "memfd_create"):
        assert out[action] == "PermissionError", (action, out)
    assert out["abi"] >= 1 and int(out["CapEff"], 16) == 0, out
    assert out["uid"] == (NOBODY if os.geteuid() == 0 else os.getuid()), out


def test_the_sandbox_interpreter_is_readable_without_capabilities(monkeypatch):
    """The interpreter bwrap runs is one others can read; where there is none, grading refuses, naming why."""
    assert kernel._readable_by_others(kernel.interpreter())
    monkeypatch.setattr(kernel, "_readable_by_others", lambda path: False)
    kernel.interpreter.cache_clear()
    kernel._probe.cache_clear()
    sandbox_module._landlock_probe.cache_clear()
    try:
        for isolation in ("bwrap", "landlock", "auto"):
            why = "no Python the sandbox's user can read.*isolation: none"
            with pytest.raises(kernel.IsolationUnavailable, match=why):
                run_tests(ADD, ADD_TESTS, isolation=isolation)
    finally:
        kernel.interpreter.cache_clear()
        kernel._probe.cache_clear()
        sandbox_module._landlock_probe.cache_clear()


def _mbpp_rows() -> list[dict]:
    import json

    paths = [Path(__file__).parent / "fixtures" / "mbpp.jsonl"]
    if os.environ.get("SVGAP_MBPP_FILE"):  # the published file (974 problems), where the machine has it
        paths.append(Path(os.environ["SVGAP_MBPP_FILE"]))
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def test_every_mbpp_reference_solution_passes():
    """Every reference solution passes; where a test cannot be judged by the grader (on the published file:
    task 596, whose expected side is `sys.getsizeof(...)`, computed in the sandbox), the default fails it,
    counted, and `child_judged="run"` runs it."""
    for row in _mbpp_rows():
        setup = row.get("test_setup_code", "")
        result = run_tests(row["code"], row["test_list"], setup=setup)
        if all(judge.split(test).parent_judged for test in row["test_list"]):
            assert result.passed and result.n_parent_judged == len(row["test_list"]), (row["task_id"], result)
        else:
            assert not result.passed and "child_judged" in result.detail, (row["task_id"], result)
            ran = run_tests(row["code"], row["test_list"], setup=setup, child_judged="run")
            assert ran.passed, (row["task_id"], ran)


def test_splitting_a_dataset_with_invalid_escapes_warns_nothing():
    """MBPP tests hold regex strings such as "\\d+" without an r prefix: the grader only reads their shape,
    so its parse must not fill the logs with DeprecationWarnings (the sandbox compiles them)."""
    import warnings

    backslash_d = "\\" + "d"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = judge.split(f'assert f("{backslash_d}") == 1')
    assert split.parent_judged and split.probes == (f"f({backslash_d!r})",)


# -- the grader's side of the boundary (issue 16 review) --------------------------------------


@pytest.mark.parametrize(("code", "test"), [
    # the solution rebinding what the grader evaluates: the grader's own builtins and math count
    ("import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 0",
     "assert math.isclose(area(2), 12.56, rel_tol=0.001)"),
    ("set = lambda *a: 0\ndef similar(a, b):\n    return [1]", "assert set(similar((3, 4), (4, 5))) == set((4, 5))"),
    ("abs = lambda v: 0\ndef f(x):\n    return 0", "assert abs(f(2) - 3.0) < 1e-06"),
    # records written before the runner's own: a probe twice
    ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'\\nvalue 0 3\\n')\n    except OSError:\n"
     "        pass\ndef add(a, b):\n    return 0", "assert add(1, 2) == 3"),
])
def test_a_solution_cannot_move_the_expected_side_into_the_sandbox(code, test):
    result = run_tests(code, [test])
    assert not result.passed, result


def test_a_comparison_of_two_sandbox_values_is_child_judged():
    for test in ("assert f(1) == f(2)", "assert f(x) == Pair(1, 2)", "assert math.isclose(f(1), g(2))"):
        assert not judge.split(test).parent_judged, test
    for test in ("assert f(1) == 2 and not g(2)", "assert math.isclose(f(1), 2.5)", "assert [*f(x)] == [1, 2]",
                 "assert round(*f(x)) == 2", "assert f(x)"):
        assert judge.split(test).parent_judged, test
    code = "def f(x):\n    return [1, 2]\ndef g(x):\n    return False"
    assert run_tests(code, ["assert [*f(0)] == [1, 2]", "assert round(*f(0)) == 1", "assert not g(1)"]).passed


def test_values_cannot_make_the_grader_work_for_long():
    """2 ** f(x), a list times f(x), math.factorial(f(x)) with a huge f(x): the guarded operations fail the
    test instead of computing; a set of colliding integers larger than the cap is not rebuilt."""
    code = "def f(x):\n    return 10 ** 9"
    for test in ("assert 2 ** f(0) == 8", "assert [0] * f(0) == []", "assert math.factorial(f(0)) == 1",
                 "assert pow(3, f(0)) == 1", "assert 1 << f(0) == 2"):
        result = run_tests(code, [test])
        assert (result.passed, result.status) == (False, "failed"), (test, result)
        assert "Overflow" in result.detail or "Memory" in result.detail, (test, result)
    colliding = "def f(x):\n    return {k * (2 ** 61 - 1) + 7 for k in range(3000)}"
    result = run_tests(colliding, ["assert f(0) == set()"])
    assert not result.passed and "more than 2000 items" in result.detail, result
    with pytest.raises(ValueError, match="more than"):
        sandbox_module.decode_value('{"dict": [' + ",".join(f"[{k}, 0]" for k in range(2001)) + "]}")


def test_forged_records_make_the_run_an_error():
    records = "\nstart\n\nvalue 0 3\n\nvalue 0 4\n\ndone 0\n"
    seen = sandbox_module._parse(records)
    assert "twice" in seen["forged"] and seen["probes"] == {0: ("value", "3")}
    splits = [judge.split("assert add(1, 2) == 3")]
    result = sandbox_module._result(records, splits, [[0]], "fail", True, 5.0, 0, "", "none")
    assert (result.passed, result.status, result.n_passed) == (False, "error", 0), result
    honest = sandbox_module._result("\nstart\n\nvalue 0 3\n\ndone 0\n", splits, [[0]], "fail", True, 5.0, 0, "",
                                    "none")
    assert honest.passed, honest


def test_ctypes_is_not_reachable_from_the_code():
    """Without bwrap the child needs ctypes (prctl, Landlock, seccomp); it then starts a fresh interpreter,
    so no class of ctypes is left for `type.__subclasses__` to find (with one, memory is readable and the
    audit hook can be switched off)."""
    code = ("def walk():\n    seen, todo = set(), [object]\n    while todo:\n        k = todo.pop()\n"
            "        for sub in type.__subclasses__(k):\n            if sub not in seen:\n"
            "                seen.add(sub)\n                todo.append(sub)\n    return seen\n"
            "MODULES = sorted({str(getattr(k, '__module__', '')) for k in walk()})\n"
            "def f(x):\n    return [m for m in MODULES if 'ctypes' in m]")
    result = run_tests(code, ["assert f(0) == []"])
    assert result.passed, result


def test_deep_directories_are_refused_and_the_run_directory_always_goes():
    code = "import os\npath = 'd'\nfor i in range(200):\n    os.mkdir(path)\n    path += '/d'\n" + ADD
    result = run_tests(code, ADD_TESTS)
    assert not result.passed, result
    if ISOLATION == "none":
        assert result.status == "blocked" and "directories" in result.detail, result
    here = os.getcwd()
    with sandbox_module._run_directory() as box:
        fd = os.open(box, os.O_RDONLY)
        try:
            for _ in range(1500):  # deeper than shutil.rmtree's recursion in Python 3.11
                os.mkdir("d", dir_fd=fd)
                inner = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = inner
        finally:
            os.close(fd)
            os.chdir(here)
    assert not os.path.exists(box)


def test_a_solution_named_like_a_builtin_is_the_one_tested():
    """MBPP task 126 defines `sum(a, b)`; its tests call that one (the test names nothing else of the
    solution). A test that also names a function of the solution uses the grader's builtins."""
    code = "def sum(a, b):\n    return 6 if (a, b) == (10, 15) else 0"
    assert run_tests(code, ["assert sum(10, 15) == 6"]).passed
    names = judge.solution_names("def sum(a, b):\n    return 0\ndef f(x):\n    return [x]")
    assert judge.split("assert sum(f(1)) == sum([1])", names) == judge.Split(("sum(f(1))",),
                                                                            f"{judge.PROBE}0 == sum([1])")
    assert judge.split("assert sum(10, 15) == 6", names).probes == ("sum(10, 15)",)
