"""Grade model-written Python (MBPP responses) by running it against assert tests in a sandbox.

`run_tests(code, tests)` runs `code`, then optional `setup`, in a fresh sandboxed Python process and
returns a `SandboxResult`. It never raises for bad code: a syntax error, an exception, a hang, a crash
or a refused operation all come back as a result that did not pass. Linux only. docs/sandbox.md says
what each layer protects and what it does not.

- **The verdict is the grader's.** Each test is split with `ast` (`svgap.tasks.judge`): the sandbox
  evaluates only the sub-expressions that need the solution (`f(x)` of `assert f(x) == y`) and sends
  their values back as plain data (`encode_value` there, `decode_value` here); this process compares
  them with the expected side, which the sandbox never sees. Nothing in the sandbox can sign or
  decide a result, so forged records and objects whose `__eq__` always says yes gain nothing.
- **Kernel isolation** (`isolation="auto"`, the default; `svgap.tasks.isolation`): bubblewrap with
  every namespace unshared, no capabilities, a read-only view of only the interpreter, a 32 MB tmpfs
  as the only writable place, and a seccomp filter. Where bubblewrap cannot run (no user namespaces),
  the child restricts itself with Landlock (reads of the interpreter's files, writes in its directory
  only) and the same seccomp filter. Where neither can, `run_tests` raises `IsolationUnavailable`;
  `isolation="none"` runs without them (trusted code only), with the process layer below and the hook.
  `SandboxResult.isolation` records which ran.
- **The process**: `python -I -S -B` (isolated mode, no site-packages, no .pyc writes) running this
  file as its script, with a minimal environment, stdin/stdout/stderr on /dev/null, in its own
  session. Kernel limits (setrlimit): address space (`memory_mb`), CPU seconds, file size, open files,
  no core files, no new processes. A wall-clock timeout kills it (SIGKILL). Without bubblewrap, and
  best effort: a new network namespace, a switch from root to nobody, no_new_privs.
- **An audit hook** (`sys.addaudithook`), a second layer inside the interpreter: it refuses process
  creation and signals, sockets, file changes outside the working directory and reads outside it and
  the stdlib, native escape hatches (ctypes, `_imp` loaders of blocked modules), code-object surgery,
  frames, tracing and gc introspection. A refused operation raises PermissionError in the code and
  makes the result "blocked". It sees only what CPython reports: native code is beyond it.

The module runs on both sides: the parent imports it, the child runs it as a script. It imports only
light stdlib modules at the top so that the child's `sys.modules` holds nothing the code under test
should reach (`subprocess`, for one, is imported inside `run_tests`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

STATUSES = ("passed", "failed", "error", "timeout", "killed", "blocked")
CHILD_JUDGED = ("fail", "run")

FILE_SIZE_LIMIT = 8 * 2**20  # bytes, per file the code writes (RLIMIT_FSIZE); also caps the result file
MAX_FILE_WRITES = 32  # files the code may open for writing (bounds its disk use with FILE_SIZE_LIMIT)
MAX_DIRECTORIES = 64  # directories the code may make (bounds the depth of what it leaves to remove)
OPEN_FILES_LIMIT = 64
VALUE_CHARS = 2**20  # the encoded value of one probe, at most
DETAIL_CHARS = 500
NOBODY = 65534

_RUNNER = os.path.abspath(__file__)
_JOB = "job.json"


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one `run_tests` call.

    passed: every test passed and nothing was blocked. n_passed of n_tests test statements passed.
    status: "passed", "failed" (some test failed), "error" (the code or setup raised, e.g. a
    SyntaxError, or the child ended without a result), "timeout" (wall clock), "killed" (a signal:
    the CPU limit, a segfault, an abort), "blocked" (the code tried something the sandbox refuses).
    detail: a short reason (the first failing test, the exception, the blocked operation).
    isolation: the layer that ran ("bwrap+seccomp" or "none"; the audit hook runs in both).
    n_parent_judged: tests whose verdict this process decided (the others are child-judged).
    """

    passed: bool
    n_passed: int
    n_tests: int
    status: str
    detail: str
    isolation: str = ""
    n_parent_judged: int = 0


def run_tests(code: str, tests: list[str], setup: str = "", timeout_s: float = 5.0, memory_mb: int = 512,
              isolation: str = "auto", child_judged: str = "fail") -> SandboxResult:
    """Run `code`, then `setup`, in a fresh sandboxed process, and judge each statement of `tests`.

    `timeout_s` is the wall-clock limit for the whole run (the CPU limit is a little above it);
    `memory_mb` the address-space limit of the process (keep it >= 64: the interpreter needs room).
    `isolation`: "auto" (bubblewrap, else Landlock; kernel isolation is required unless "none" is asked
    for), "bwrap", "landlock" or "none" (`choose_isolation`).
    `child_judged`: what happens to tests that do not split (svgap.tasks.judge): "fail" or "run".
    Raises ValueError for invalid arguments and `IsolationUnavailable` where the isolation asked for cannot
    run; everything the code does becomes a result.
    """
    from svgap.tasks import isolation as kernel
    from svgap.tasks import judge

    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb!r}")
    if isolation not in kernel.ISOLATIONS:
        raise ValueError(f"isolation must be one of {kernel.ISOLATIONS}, got {isolation!r}")
    if child_judged not in CHILD_JUDGED:
        raise ValueError(f"child_judged must be one of {CHILD_JUDGED}, got {child_judged!r}")
    isolation = choose_isolation(isolation)
    tests = [str(test) for test in tests]
    layer = kernel.LAYERS[isolation]
    if not tests:
        return SandboxResult(False, 0, 0, "error", "no tests to run", layer)

    names = judge.solution_names(code, setup)
    splits = [judge.split(test, names) for test in tests]
    probes: list[tuple[str, str]] = []  # (kind, source): "eval" a probe, "exec" a child-judged statement
    owners: list[list[int]] = []  # per test, the indices of its probes
    for s in splits:
        if s.parent_judged or child_judged == "run":
            kind = "eval" if s.parent_judged else "exec"
            owners.append(list(range(len(probes), len(probes) + len(s.probes))))
            probes.extend((kind, source) for source in s.probes)
        else:
            owners.append([])
    job = {"code": code, "setup": setup, "probes": probes, "timeout_s": timeout_s, "memory_mb": memory_mb,
           "isolation": isolation}
    records, finished, returncode, stderr_tail = _run_child(job, timeout_s, isolation)
    return _result(records, splits, owners, child_judged, finished, timeout_s, returncode, stderr_tail, layer)


def _unisolated_interpreter() -> str:
    """For `isolation="none"`: an interpreter others can read where there is one (so that a child started
    as root can become nobody without keeping a capability), else this one."""
    from svgap.tasks import isolation as kernel

    try:
        return kernel.interpreter()
    except kernel.IsolationUnavailable:
        return sys.executable


@contextlib.contextmanager
def _run_directory():
    """A fresh directory for one run, removed afterwards whatever the code left in it: `shutil.rmtree` first,
    `rm -rf` where that fails (a tree deeper than Python's recursion limit, say)."""
    import shutil
    import subprocess
    import tempfile

    box = tempfile.mkdtemp(prefix="svgap-sandbox-")
    try:
        yield box
    finally:
        try:
            shutil.rmtree(box)
        except (OSError, RecursionError):
            subprocess.run(["rm", "-rf", "--", box], stdin=subprocess.DEVNULL, capture_output=True, check=False)


def choose_isolation(isolation: str) -> str:
    """The isolation a run gets: "auto" is bubblewrap where it works, else Landlock (logged once, and
    recorded in every result), else IsolationUnavailable; "bwrap" and "landlock" are required as asked."""
    from svgap.tasks import isolation as kernel

    if isolation == "none":
        return isolation
    why_bwrap = kernel._probe() if isolation in ("auto", "bwrap") else ""
    if isolation == "bwrap" or (isolation == "auto" and not why_bwrap):
        if why_bwrap:
            raise kernel.IsolationUnavailable(why_bwrap)
        return "bwrap"
    why_landlock = _landlock_probe()
    if why_landlock:
        if isolation == "auto":
            raise kernel.IsolationUnavailable(f"neither bubblewrap nor Landlock can isolate the sandbox here. "
                                              f"Landlock: {why_landlock}. bubblewrap: {why_bwrap}")
        raise kernel.IsolationUnavailable(f"{why_landlock}. {kernel.INSTALL_HINT}")
    if isolation == "auto":
        _warn_landlock_fallback(why_bwrap)
    return "landlock"


@functools.cache
def _warn_landlock_fallback(why_bwrap: str) -> None:
    import logging

    logging.getLogger(__name__).warning("MBPP sandbox: bubblewrap cannot run here (%s); grading with Landlock "
                                        "and seccomp instead (sandbox_isolation = landlock+seccomp)", why_bwrap)


@functools.cache
def _landlock_probe() -> str:
    """'' when a trivial run under Landlock and seccomp works here, else why not (cached per process)."""
    from svgap.tasks import isolation as kernel

    try:
        kernel.seccomp_program()
        kernel.interpreter()
        abi = landlock_abi()
    except (kernel.IsolationUnavailable, ImportError, OSError) as exc:
        return str(exc)
    if abi < 1:
        return "Landlock is not available in this kernel (it needs Linux 5.13 or later with Landlock among its LSMs)"
    job = {"code": "", "setup": "", "probes": [["eval", "6 * 7"]], "timeout_s": 10.0, "memory_mb": 512,
           "isolation": "landlock"}
    records, finished, returncode, stderr_tail = _run_child(job, 10.0, "landlock")
    seen = _parse(records)
    if seen["probes"].get(0) == ("value", "42") and "done" in seen:
        return ""
    return f"a trial run under Landlock and seccomp failed ({seen.get('error') or stderr_tail or returncode})"


def _run_child(job: dict, timeout_s: float, isolation: str) -> tuple[str, bool, int, str]:
    """Start the child on `job`, wait at most `timeout_s`, kill what is left; (records, finished, exit, stderr)."""
    # Imported here, not at the top: the child runs this file and must not have these loaded.
    import shutil
    import subprocess
    import tempfile

    from svgap.tasks import isolation as kernel

    with (
        _run_directory() as box,
        tempfile.TemporaryFile() as stderr_file,
        tempfile.TemporaryFile() as bpf,
    ):
        # The result channel: a deleted file the child gets write-only; the parent keeps its read descriptor.
        read_fd, result_path = tempfile.mkstemp(prefix="svgap-result-")
        write_fd = os.open(result_path, os.O_WRONLY | os.O_APPEND)
        os.unlink(result_path)
        try:
            job = {**job, "result_fd": write_fd}
            if isolation == "landlock":  # the child loads the filter itself (it has no pyseccomp)
                job["seccomp"] = kernel.seccomp_program().hex()
            job_path = os.path.join(box, _JOB)
            with open(job_path, "w", encoding="utf-8") as f:
                json.dump(job, f)
            # A copy of this file beside the job: the sandbox's user may not be able to read the project.
            runner = os.path.join(box, "runner.py")
            shutil.copyfile(_RUNNER, runner)
            pass_fds: tuple[int, ...] = (write_fd,)
            switch: dict = {}
            if isolation == "bwrap":
                bpf.write(kernel.seccomp_program())
                bpf.seek(0)
                info_fd = os.open(os.path.join(box, "info"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                pass_fds += (bpf.fileno(), info_fd)
                kernel.give_to_sandbox_user(box)
                command = kernel.bwrap_command(kernel.interpreter(), runner, job_path, bpf.fileno(), info_fd)
                switch = kernel.user_switch()
            else:  # an interpreter the child can still read once it is nobody
                command = [_unisolated_interpreter() if isolation == "none" else kernel.interpreter(),
                           "-I", "-S", "-B", runner, job_path]
            env = {"PATH": os.defpath, "HOME": box, "TMPDIR": box, "LC_ALL": "C.UTF-8"}
            try:
                proc = subprocess.Popen(command, cwd=box, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=stderr_file, pass_fds=pass_fds,
                                        start_new_session=True, **switch)
            except OSError as exc:
                return f"error could not start the sandbox: {exc}", True, 0, ""
            finally:
                os.close(write_fd)
                if isolation == "bwrap":
                    os.close(info_fd)
            try:
                finished = _wait_without_reaping(proc.pid, timeout_s)
            finally:
                _kill_group(proc.pid)  # the code's leftovers too; the unreaped child keeps the group id ours
                proc.wait()
                if isolation == "bwrap":  # its init and the code are not our children: wait until they are gone
                    with open(os.path.join(box, "info"), "rb") as f:
                        init_pid = kernel.sandbox_init_pid(f.read(4096))
                    if init_pid is not None:
                        kernel.wait_for_namespace(init_pid)
            with os.fdopen(read_fd, "rb", closefd=False) as f:
                records = f.read(4 * FILE_SIZE_LIMIT).decode("utf-8", "replace")
        finally:
            os.close(read_fd)
        stderr_file.seek(max(0, stderr_file.seek(0, os.SEEK_END) - 2000))
        stderr_tail = stderr_file.read().decode("utf-8", "replace").strip()
    returncode = proc.returncode
    if isolation == "bwrap" and returncode > 128:
        returncode = 128 - returncode  # bwrap exits 128 + N for a child killed by signal N
    return records, finished, returncode, stderr_tail


def _wait_without_reaping(pid: int, timeout_s: float) -> bool:
    """Wait until the child exits (True) or `timeout_s` passes (False); leave it a zombie."""
    import time

    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # reaped by someone else (a waitpid(-1) elsewhere in this process)
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(2 * delay, 0.02)


def _kill_group(pgid: int) -> None:
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _parse(records: str) -> dict:
    """The child's one-line records, in the one order the child writes them: `start`, then one record per
    probe, in order (`value k`, `raised k` or `ok k`), or an `error`, then `done`; `blocked` at any point
    (the first counts). Anything else (a probe twice or out of order, a record after `done`) was written by
    the code, not the runner: `seen["forged"]` says what, and the run is an error."""
    seen: dict = {"probes": {}}

    def forged(why: str) -> None:
        seen.setdefault("forged", why)

    for line in records.splitlines():
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        if kind == "blocked":
            seen.setdefault("blocked", rest)
        elif "done" in seen:
            forged(f"a {kind[:20]!r} record after 'done'")
        elif kind == "start":
            if seen.get("start") is not None or seen["probes"]:
                forged("a second 'start'")
            seen["start"] = rest
        elif kind in ("value", "raised", "ok"):
            index, _, data = rest.partition(" ")
            if not index.isdigit() or int(index) != len(seen["probes"]) or "error" in seen:
                forged(f"a {kind!r} record for probe {index[:20]!r} out of order or twice")
            else:
                seen["probes"][int(index)] = (kind, data)
        elif kind == "error":
            if "error" in seen:
                forged("a second 'error'")
            seen.setdefault("error", rest)
        elif kind == "done":
            seen["done"] = rest
        else:
            forged(f"an unknown record {kind[:20]!r}")
    return seen


def _judge_test(check: str | None, kinds: list[tuple[str, str]]) -> str:
    """'' when the test passed, else why not. `kinds`: the (record kind, data) of each of its probes."""
    from svgap.tasks import judge

    values = []
    for kind, data in kinds:
        if kind == "raised":
            return data
        if kind == "ok":
            continue
        if len(data) > VALUE_CHARS:
            return f"a value of more than {VALUE_CHARS} characters"
        try:
            values.append(decode_value(data))
        except (ValueError, TypeError, RecursionError, MemoryError) as exc:
            return f"a value that is not plain data ({exc})"
    if check is None:
        return ""  # a child-judged statement that ran without raising
    try:
        if judge.judge(check, values):
            return ""
    except Exception as exc:  # noqa: BLE001 - the test's own expression raising fails the test
        return f"{type(exc).__name__}: {exc}"
    shown = ", ".join(repr(value)[:80] for value in values)
    return f"AssertionError (got {shown})" if values else "AssertionError"


def _result(records: str, splits: list, owners: list[list[int]], child_judged: str, finished: bool,
            timeout_s: float, returncode: int, stderr_tail: str, layer: str) -> SandboxResult:
    """Judge each test from the child's records and exit state."""
    seen = _parse(records)
    n_tests = len(splits)
    n_parent = sum(s.parent_judged for s in splits)
    n_passed, first_failure = 0, ""
    for index, (s, mine) in enumerate(zip(splits, owners, strict=True)):
        if not s.parent_judged and child_judged == "fail":
            why = "not split into calls and an expected value: child-judged tests fail (child_judged='fail')"
        elif any(k not in seen["probes"] for k in mine):
            why = "no value came back"
        else:
            why = _judge_test(s.check, [seen["probes"][k] for k in mine])
        if why:
            first_failure = first_failure or f"test {index}: {why}"
        else:
            n_passed += 1

    def result(status: str, detail: str) -> SandboxResult:
        return SandboxResult(status == "passed", n_passed, n_tests, status, detail[:DETAIL_CHARS], layer, n_parent)

    if "blocked" in seen or seen.get("done", "0") not in ("", "0"):
        return result("blocked", seen.get("blocked") or "a blocked operation (record lost)")
    if "forged" in seen:
        n_passed = 0
        return result("error", f"the result channel held records the sandbox did not write: {seen['forged']}")
    if not finished:
        return result("timeout", f"no result within {timeout_s:g} s (wall clock); process group killed")
    if "error" in seen:
        return result("error", seen["error"])
    if returncode < 0:
        return result("killed", _signal_reason(-returncode) + (f"; stderr: {stderr_tail}" if stderr_tail else ""))
    if "start" not in seen:
        return result("error", f"the sandbox did not start (exit code {returncode}): {stderr_tail}")
    if "done" not in seen:
        return result("error", f"the code ended the process before the tests finished (exit code {returncode})")
    if n_passed == n_tests:
        return result("passed", f"{n_passed}/{n_tests} tests passed")
    return result("failed", first_failure or f"{n_passed}/{n_tests} tests passed")


def _signal_reason(signum: int) -> str:
    import signal

    why = {signal.SIGKILL: "killed (hard CPU limit or SIGKILL)", signal.SIGXCPU: "CPU time limit",
           signal.SIGXFSZ: "file size limit", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "abort"}
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"killed by {name}" + (f" ({why[signum]})" if signum in why else "")


# ---------------------------------------------------------------------------------------------
# Plain data across the boundary: the child encodes a probe's value, the parent decodes it.
# ---------------------------------------------------------------------------------------------

_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}
MAX_HASHED_ITEMS = 2000  # of one set, frozenset or dict the grader rebuilds (int hashes collide on purpose)


def encode_value(value: object, depth: int = 0) -> object:
    """`value` as JSON-ready data: None, bool, int, float and str as themselves; containers, bytes and
    complex numbers as {tag: items}. Subclasses count as their plain base (a Counter is a dict, a
    namedtuple a tuple). Raises TypeError for anything else (a function, a generator, a class instance)."""
    if depth > 100:
        raise TypeError("nested more than 100 levels")
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value) if type(value) is not plain else value
    if value is None:
        return None
    for tag, plain in _CONTAINERS.items():
        if isinstance(value, plain):
            return {tag: [encode_value(item, depth + 1) for item in plain.__iter__(value)]}
    if isinstance(value, dict):
        return {"dict": [[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in dict.items(value)]}
    if isinstance(value, (bytes, bytearray)):
        return {type(value).__name__ if type(value) in (bytes, bytearray) else "bytes": bytes(value).hex()}
    if isinstance(value, complex):
        return {"complex": [complex.real.__get__(value), complex.imag.__get__(value)]}
    raise TypeError(f"a value of type {type(value).__name__} is not plain data")


def decode_value(text: str) -> object:
    """The parent's side of `encode_value`: only plain types come out, whatever the text says."""
    return _decode(json.loads(text))


def _decode(data: object) -> object:
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is not dict or len(data) != 1:
        raise ValueError(f"unexpected {type(data).__name__}")
    (tag, items), = data.items()
    if tag in ("set", "frozenset", "dict") and type(items) is list and len(items) > MAX_HASHED_ITEMS:
        raise ValueError(f"a {tag} of more than {MAX_HASHED_ITEMS} items")
    if tag in _CONTAINERS and type(items) is list:
        return _CONTAINERS[tag](_decode(item) for item in items)
    if tag == "dict" and type(items) is list:
        if not all(type(pair) is list and len(pair) == 2 for pair in items):
            raise ValueError("a dict item that is not a [key, value] pair")
        return {_decode(key): _decode(value) for key, value in items}
    if tag in ("bytes", "bytearray") and type(items) is str:
        return (bytes if tag == "bytes" else bytearray).fromhex(items)
    if tag == "complex" and type(items) is list and len(items) == 2 and all(type(x) is float for x in items):
        return complex(*items)
    raise ValueError(f"unexpected tag {tag!r}")


# ---------------------------------------------------------------------------------------------
# The child: runs as `python -I -S -B sandbox.py <job.json>` in the sandbox directory.
# ---------------------------------------------------------------------------------------------

# Modules the code under test may not import (any part of the name; `_test*` and `_xx*` too): native
# escape hatches, process creation that bypasses the audited functions, C-level file writers, signal
# handlers (they are handed frames).
_BLOCKED_MODULES = frozenset({
    "ctypes", "_ctypes", "subprocess", "_posixsubprocess", "multiprocessing", "_multiprocessing",
    "_posixshmem", "readline", "curses", "_curses", "_curses_panel", "tkinter", "_tkinter", "ossaudiodev",
    "_dbm", "_gdbm", "syslog", "xxlimited", "xxlimited_35", "xxsubtype", "_interpreters", "_interpqueues",
    "_interpchannels", "signal", "_signal", "faulthandler", "_imp", "_testinternalcapi",
    # C code that reads or writes files the hook never hears of: the password and group databases
    # (/etc/shadow through spwd), SQLite (ATTACH and VACUUM INTO write anywhere the user may)
    "spwd", "pwd", "grp", "sqlite3", "_sqlite3",
})
# Audit events refused outright.
_BLOCKED_EVENTS = frozenset({
    "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.startfile",
    "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "os.link", "os.symlink",
    "resource.setrlimit", "resource.prlimit", "sys.settrace", "sys.setprofile", "sys._current_frames",
    "sys._current_exceptions", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
    "marshal.load", "marshal.loads", "cpython.PyInterpreterState_New", "builtins.breakpoint",
    "webbrowser.open", "sqlite3.enable_load_extension", "sqlite3.load_extension",
})
_BLOCKED_PREFIXES = ("ctypes.", "socket.", "syslog.", "_winapi.", "winreg.", "msvcrt.")
# Audit events with path arguments: (position of the path, position of its dir_fd or None, whether
# the operation changes the file system there). A changed path must lie in the sandbox directory, a
# read one there or in the stdlib. A descriptor as path stands for the file it is open on.
_PATH_ARGUMENTS = {
    "os.remove": ((0, 1, True),), "os.rmdir": ((0, 1, True),), "os.mkdir": ((0, 2, True),),
    "os.rename": ((0, 2, True), (1, 3, True)), "os.truncate": ((0, None, True),), "os.chmod": ((0, 2, True),),
    "os.chown": ((0, 3, True),), "os.utime": ((0, 3, True),), "os.setxattr": ((0, None, True),),
    "os.removexattr": ((0, None, True),), "os.listdir": ((0, None, False),), "os.scandir": ((0, None, False),),
    "os.getxattr": ((0, None, False),), "os.listxattr": ((0, None, False),),
    "shutil.rmtree": ((0, 1, True),), "shutil.move": ((0, None, True), (1, None, True)),
    "shutil.copyfile": ((0, None, False), (1, None, True)), "shutil.copymode": ((1, None, True),),
    "shutil.copystat": ((1, None, True),), "shutil.copytree": ((0, None, False), (1, None, True)),
    "shutil.chown": ((0, None, True),), "shutil.make_archive": ((0, None, True),),
    "shutil.unpack_archive": ((0, None, False), (1, None, True)), "sqlite3.connect": ((0, None, True),),
}
# Attributes that hand out frames (and through them the runner's state): refused quietly.
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_READABLE_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"})
# Unaudited os functions that act outside the process (create files by path, touch other
# processes or namespaces). Removing them is a speed bump, not a wall: see the module docstring.
_UNAUDITED_OS = ("mknod", "mkfifo", "chroot", "pidfd_open", "setns", "unshare", "setpriority",
                 "sched_setaffinity", "sched_setscheduler", "sched_setparam", "memfd_create", "eventfd")
# Functions of _signal that install handlers or timers (a handler receives the interrupted frame).
_SIGNAL_FUNCTIONS = ("signal", "setitimer", "alarm", "set_wakeup_fd", "pthread_kill", "pidfd_send_signal",
                     "raise_signal", "siginterrupt")
# Loaded before the hook, with the frozen modules (the hook refuses marshal, so later imports
# compile from source).
_PRELOAD = ("math", "cmath", "re", "collections", "heapq", "bisect", "itertools", "functools", "operator",
            "string", "typing", "array", "copy")


RESTRICTED = "--restricted"  # argv[2] of the second interpreter, started once the process is restricted


def _child_main(job_path: str, restricted: bool = False) -> None:
    """Read the job, shrink what the process may do (limits; without bubblewrap also network, user, Landlock
    and seccomp, then a fresh interpreter), arm the hook, run the code and the probes."""
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    sandbox = os.path.realpath(os.getcwd())
    emit = _make_emit(job["result_fd"])
    _set_limits(job["timeout_s"], job["memory_mb"])
    if job["isolation"] in ("landlock", "none") and not restricted:  # bubblewrap did this already, and better
        _restrict_then_exec(job, job_path, sandbox, emit)
    if job["isolation"] in ("landlock", "none"):
        os.remove(job_path)
        _forget_ctypes()
    _set_limit("RLIMIT_NPROC", 0)  # no new processes or threads (ignored by the kernel for root)
    import _imp

    frozen = getattr(_imp, "_frozen_module_names", lambda: ())()  # loading them needs marshal, too
    for name in (*_PRELOAD, *sorted(frozen)):
        if not name.startswith("__") and name != "site":  # site would add site-packages to sys.path
            __import__(name)
    for module in (os, sys.modules.get("posix")):
        for name in (*_UNAUDITED_OS, "pidfd_send_signal"):
            if module is not None and hasattr(module, name):
                delattr(module, name)
    for name in ("signal", "_signal"):  # re-importing them is refused by name
        module = sys.modules.pop(name, None)
        for function in _SIGNAL_FUNCTIONS:
            if module is not None and hasattr(module, function):
                delattr(module, function)
    sys.implementation.cache_tag = None  # no .pyc reading: it would need marshal, which the hook refuses
    read_roots = tuple(os.path.realpath(p) for p in sys.path if p)
    hook, violations, deny = _make_audit_hook(sandbox, read_roots, emit, job["result_fd"])
    _guard_loaders(_imp, deny)
    run = _make_run(emit, violations)
    os.environ.pop("PWD", None)  # bubblewrap sets it; the code sees PATH, HOME, TMPDIR and LC_ALL only
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # stderr kept startup errors for the parent; the code's output goes nowhere
    os.close(devnull)
    sys.addaudithook(hook)
    emit("start")
    run(job["code"], job["setup"], job["probes"])


def _restrict_then_exec(job: dict, job_path: str, sandbox: str, emit: Callable[..., None]) -> None:
    """Without bubblewrap: a network namespace where the kernel allows one, nobody instead of root, no new
    privileges, under "landlock" Landlock and seccomp (failing closed), then a fresh interpreter on the same
    job. The restrictions survive exec; the ctypes this needed does not, so nothing of it is reachable from
    the code's objects (`type.__subclasses__` finds classes of modules long gone from sys.modules). Where
    root had to keep the capability to read the interpreter (`_drop_privileges`), exec would lose it: the
    code then runs in this process, with ctypes's classes loaded (docs/sandbox.md)."""
    was_root = os.geteuid() == 0
    _isolate_network(was_root)
    kept_read = _drop_privileges(sandbox) if was_root else False
    try:  # PR_SET_NO_NEW_PRIVS: no exec can gain privileges, e.g. through a setuid binary
        _libc()[1].prctl(38, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass
    if job["isolation"] == "landlock":
        try:
            restrict_with_landlock(_landlock_read_roots(), sandbox)
            load_seccomp(bytes.fromhex(job["seccomp"]))
        except (ImportError, OSError, AttributeError, ValueError) as exc:  # fail closed: no code runs
            emit("error", f"sandbox: Landlock and seccomp could not be applied ({exc})")
            os._exit(3)
    if kept_read:
        return
    try:
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-B", os.path.abspath(__file__), job_path, RESTRICTED])
    except OSError as exc:
        emit("error", f"sandbox: could not start the restricted interpreter ({exc})")
        os._exit(3)


def _guard_loaders(imp_module, deny: Callable[[str], None]) -> None:
    """`_imp.create_dynamic` and `create_builtin` load a module under any name (so `_ctypes` could come
    in as `x`): wrap them to refuse a blocked module by each part of its name and by its file's name.
    The wrappers build their own spec from the strings read once (a crafted spec cannot change its name
    after the check)."""
    from importlib.machinery import ModuleSpec

    create_dynamic, create_builtin = imp_module.create_dynamic, imp_module.create_builtin
    blocked, str_, type_ = frozenset(_BLOCKED_MODULES), str, type

    def refused(name: object) -> bool:
        if type_(name) is not str_:
            return True
        return any(part in blocked or part.startswith(("_test", "_xx")) for part in name.split("."))

    def checked(spec) -> ModuleSpec:
        name, origin = spec.name, spec.origin
        file_name = origin.rpartition("/")[2].partition(".")[0] if type_(origin) is str_ else ""
        if refused(name) or (origin is not None and (type_(origin) is not str_ or refused(file_name))):
            deny("_imp loading a blocked module")
        return ModuleSpec(name, None, origin=origin)

    def guarded_dynamic(spec, file=None):
        return create_dynamic(checked(spec)) if file is None else create_dynamic(checked(spec), file)

    def guarded_builtin(spec):
        spec = checked(spec)
        if spec.name in ("posix", "sys", "builtins"):  # fresh copies of what was trimmed
            deny(f"_imp.create_builtin {spec.name}")
        return create_builtin(spec)

    imp_module.create_dynamic, imp_module.create_builtin = guarded_dynamic, guarded_builtin


# Landlock (linux/landlock.h): file-system rights by ABI version, the rights that apply to files, syscalls.
_LL_EXECUTE, _LL_WRITE_FILE, _LL_READ_FILE, _LL_READ_DIR = 1, 2, 4, 8
_LL_TRUNCATE, _LL_IOCTL_DEV = 1 << 14, 1 << 15
_LL_FILE_RIGHTS = _LL_EXECUTE | _LL_WRITE_FILE | _LL_READ_FILE | _LL_TRUNCATE | _LL_IOCTL_DEV
_LL_CREATE_RULESET, _LL_ADD_RULE, _LL_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_LL_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 where Landlock is missing or disabled)."""
    ctypes, libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(ctypes.c_long(_LL_CREATE_RULESET), None, ctypes.c_long(0), ctypes.c_long(1))
    return max(int(version), 0)


def _landlock_read_roots() -> list[str]:
    """What the interpreter may read under Landlock: /usr (the interpreter, the stdlib, the C libraries),
    ld.so's cache, the interpreter's prefix and sys.path."""
    roots = ["/usr", "/etc/ld.so.cache", sys.base_prefix, *(p for p in sys.path if p)]
    return [os.path.realpath(p) for p in roots if os.path.exists(p)]


def restrict_with_landlock(read_roots: list[str], writable: str) -> int:
    """Restrict this process and all it starts, for good, to reading `read_roots` (and executing from them),
    reading and writing the null and random devices, and doing anything beneath `writable`; with ABI >= 4
    no TCP bind or connect, with ABI >= 6 no signals to and no abstract Unix sockets of processes outside.
    Every other file-system access fails with EACCES. Returns the ABI version; raises OSError."""
    ctypes, libc = _libc()
    import stat

    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    handled = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0) | (
        _LL_IOCTL_DEV if abi >= 5 else 0)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    def check(value: int, what: str) -> int:
        if value < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")
        return value

    libc.syscall.restype = ctypes.c_long
    attr = RulesetAttr(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = check(libc.syscall(ctypes.c_long(_LL_CREATE_RULESET), ctypes.byref(attr), ctypes.c_long(size),
                                 ctypes.c_long(0)), "landlock_create_ruleset")
    try:
        def allow(path: str, rights: int) -> None:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    rights &= _LL_FILE_RIGHTS
                rule = PathBeneath(rights & handled, fd)
                check(libc.syscall(ctypes.c_long(_LL_ADD_RULE), ctypes.c_long(ruleset), ctypes.c_long(1),
                                   ctypes.byref(rule), ctypes.c_long(0)), f"landlock_add_rule {path}")
            finally:
                os.close(fd)

        for path in read_roots:
            allow(path, _LL_EXECUTE | _LL_READ_FILE | _LL_READ_DIR)
        for path in _LL_DEVICES:
            if os.path.exists(path):
                allow(path, _LL_READ_FILE | _LL_WRITE_FILE)
        allow(writable, handled)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, which landlock_restrict_self requires
            check(-1, "prctl(PR_SET_NO_NEW_PRIVS)")
        check(libc.syscall(ctypes.c_long(_LL_RESTRICT_SELF), ctypes.c_long(ruleset), ctypes.c_long(0)),
              "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def load_seccomp(program: bytes) -> None:
    """Install the compiled seccomp filter `program` (raw BPF, `isolation.seccomp_program()`) on this process
    and all it starts; raises OSError."""
    ctypes, libc = _libc()

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    if not program or len(program) % 8:
        raise ValueError("a seccomp program is a non-empty array of 8-byte instructions")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(ctypes.c_int(22), ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0)):
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)")


def _make_emit(fd: int) -> Callable[..., None]:
    """A writer of one-line records to the result descriptor (nothing in them is secret or signed: the
    parent decides every verdict from values)."""
    write, encode, replace, os_error = os.write, str.encode, str.replace, OSError

    def emit(*fields: str) -> None:
        text = " ".join(replace(replace(field, "\n", " "), "\r", " ") for field in fields)
        try:
            write(fd, encode("\n" + text + "\n", "utf-8", "replace"))
        except os_error:
            pass  # the code closed or replaced the descriptor: the parent sees a missing record

    return emit


def _set_limit(name: str, soft: int, hard: int | None = None) -> None:
    import resource

    resource_id = getattr(resource, name, None)
    if resource_id is None:
        return
    hard = soft if hard is None else hard
    _, current_hard = resource.getrlimit(resource_id)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    try:
        resource.setrlimit(resource_id, (soft, hard))
    except (ValueError, OSError):
        pass


def _set_limits(timeout_s: float, memory_mb: int) -> None:
    cpu_s = int(timeout_s) + 1
    _set_limit("RLIMIT_CPU", cpu_s, cpu_s + 1)  # SIGXCPU, then SIGKILL one second later
    _set_limit("RLIMIT_AS", memory_mb * 2**20)
    _set_limit("RLIMIT_FSIZE", FILE_SIZE_LIMIT)
    _set_limit("RLIMIT_NOFILE", OPEN_FILES_LIMIT)
    _set_limit("RLIMIT_CORE", 0)


def _libc() -> tuple:
    """(the ctypes module, the C library); ctypes is imported only here, before the hook."""
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _forget_ctypes() -> None:
    """Drop ctypes from sys.modules: the code under test would have to import it, which the hook refuses."""
    for name in [name for name in sys.modules if name.split(".")[0] in ("ctypes", "_ctypes")]:
        del sys.modules[name]


def _isolate_network(as_root: bool) -> None:
    """Move into a new network namespace (a loopback that is down, nothing else), if the kernel lets us."""
    flags = 0x40000000  # CLONE_NEWNET
    if not as_root:
        flags |= 0x10000000  # CLONE_NEWUSER: lets an unprivileged user own the network namespace
    try:
        if hasattr(os, "unshare"):  # Python >= 3.12
            os.unshare(flags)
        else:
            _libc()[1].unshare(flags)
    except (ImportError, OSError, AttributeError):
        pass


def _drop_privileges(sandbox: str) -> bool:
    """As root: become nobody (uid and gid 65534), so that file permissions protect the host too; returns
    whether the read capability below was kept.

    Imports must keep working. Where the stdlib is not readable by others (a Python under /root, only
    with `isolation="none"`: the other isolations run an interpreter others can read), the process keeps
    one capability, CAP_DAC_READ_SEARCH (read any file): writes, signals and processes are then still the
    kernel's business, reads stay the audit hook's. If the switch cannot be made exactly, the child stops
    (fail closed) rather than run the code as root.
    """
    keep_read = any(os.path.exists(path) and not _readable_by_others(path) for path in sys.path)
    try:
        if keep_read:
            ctypes, libc = _libc()
            if libc.prctl(8, 1, 0, 0, 0) != 0:  # PR_SET_KEEPCAPS: keep the permitted set across setuid
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS)")
        os.chown(sandbox, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    except (ImportError, OSError, AttributeError) as exc:
        raise SystemExit(f"sandbox: could not switch from root to nobody ({exc})") from exc
    if keep_read:
        cap_dac_read_search = 1 << 2
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)(cap_dac_read_search, cap_dac_read_search, 0, 0, 0, 0)  # eff, perm, inh x2
        if libc.capset(header, data) != 0:
            raise SystemExit("sandbox: could not reduce the capabilities after setuid")
    return keep_read


def _readable_by_others(path: str) -> bool:
    import stat

    path = os.path.realpath(path)
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        mode = os.stat("/".join(parts[:i]) or "/").st_mode
        needed = stat.S_IXOTH if stat.S_ISDIR(mode) else 0
        if i == len(parts):
            needed |= stat.S_IROTH
        if mode & needed != needed:
            return False
    return True


def _make_audit_hook(sandbox: str, read_roots: tuple[str, ...], emit: Callable[..., None],
                     result_fd: int) -> tuple[Callable[[str, tuple], None], Callable[[], int], Callable[[str], None]]:
    """The audit hook that enforces the policy, a counter of the violations it saw, and its `deny`.

    Everything the hook uses is bound here, before the code under test runs, and its tables are private
    copies: the code may replace builtins, os functions or this module's globals, but it cannot reach
    these local references (frames, gc and code-object surgery are refused), and CPython gives no way
    to remove an audit hook. Messages never call an object of the code (no repr of a path object).
    """
    type_, str_, bytes_, int_, len_, tuple_item = type, str, bytes, int, len, tuple.__getitem__
    os_error, permission_error, value_error, attribute_error = OSError, PermissionError, ValueError, AttributeError
    readlink, stat, getcwd = os.readlink, os.stat, os.getcwd
    blocked_events, blocked_prefixes = frozenset(_BLOCKED_EVENTS), tuple(_BLOCKED_PREFIXES)
    blocked_modules = frozenset(_BLOCKED_MODULES)
    path_arguments = {event: tuple(tuple(rule) for rule in rules) for event, rules in _PATH_ARGUMENTS.items()}
    get_rules = path_arguments.get
    frame_attributes, readable_devices = frozenset(_FRAME_ATTRIBUTES), frozenset(_READABLE_DEVICES)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    o_directory, af_unix, max_writes, max_dirs = os.O_DIRECTORY, 1, MAX_FILE_WRITES, MAX_DIRECTORIES
    roots = (sandbox, *read_roots)
    counts = [0, 0, 0]  # violations, files opened for writing, directories made

    def shown(obj: object) -> str:
        """A path for a message: str and bytes as text, anything else by no call at all."""
        if type_(obj) is str_:
            return str_.__repr__(obj[:200])
        if type_(obj) is bytes_:
            return bytes_.__repr__(obj[:200])
        if type_(obj) is int_:
            return "descriptor " + int_.__repr__(obj)
        return "(an object that is not a str, bytes or int)"

    def deny(what: str) -> None:
        counts[0] += 1
        if counts[0] == 1:
            emit("blocked", "refused: " + what)
        raise permission_error(f"sandbox: {what} is not allowed")

    def resolve(path: object) -> str | None:
        """The absolute path the kernel would reach, symlinks followed; None if it is no path."""
        if type_(path) is bytes_:
            path = path.decode("utf-8", "surrogateescape")
        if type_(path) is not str_:
            return None
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        done: list[str] = []
        todo = path.split("/")[::-1]
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            done.append(part)
            try:
                target = readlink("/" + "/".join(done))
            except (os_error, value_error):
                continue  # not a symlink, or missing: kept as it is
            hops += 1
            if hops > 40:
                return None
            done.pop()
            if target.startswith("/"):
                done = []
            todo.extend(target.split("/")[::-1])
        return "/" + "/".join(done)

    def inside(path: str, root: str) -> bool:
        return path == root or path.startswith(root + "/")

    def file_type(path: str) -> int | None:
        try:
            return tuple_item(stat(path), 0) & 0o170000
        except (os_error, value_error):
            return None

    def fd_path(fd: int) -> str | None:
        try:
            return resolve(readlink(f"/proc/self/fd/{fd}"))
        except (os_error, value_error):
            return None

    def effective_path(path: object, dir_fd: object) -> object:
        """`path` as the kernel reads it: a descriptor stands for its file, dir_fd for its directory."""
        if type_(path) is int_:
            return fd_path(path)
        if type_(dir_fd) is int_ and dir_fd >= 0 and type_(path) in (str_, bytes_):
            base = fd_path(dir_fd)
            if base is None:
                return None
            return base + "/" + (path.decode("utf-8", "surrogateescape") if type_(path) is bytes_ else path)
        return path

    def check_write(event: str, path: object) -> None:
        if event == "sqlite3.connect" and type_(path) in (str_, bytes_):
            if path in (":memory:", "", b":memory:", b""):
                return
            if path[:5] in ("file:", b"file:"):
                deny(f"{event} {shown(path)} (URI file names)")
        resolved = resolve(path)
        if resolved is None or not inside(resolved, sandbox):
            deny(f"{event} {shown(path)} (outside the sandbox directory)")

    def check_read(event: str, path: object) -> None:
        resolved = resolve("." if path is None else path)
        if resolved is None:
            deny(f"{event} {shown(path)}")
        if resolved in readable_devices:
            return
        for root in roots:
            if inside(resolved, root):
                return
        deny(f"{event} {shown(path)} (only the sandbox directory and the stdlib are readable)")

    def check_open(path: object, mode: object, flags: object) -> None:
        if type_(path) is int_:
            if path == result_fd:
                deny("opening the result descriptor")
            return  # an already open descriptor
        resolved = resolve(path)
        if resolved is None:
            deny(f"open {shown(path)}")
        writing = (type_(mode) is str_ and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
            type_(flags) is int_ and flags & write_flags)
        kind = file_type(resolved)
        if kind == 0o040000 or (type_(flags) is int_ and flags & o_directory):
            # Directory descriptors only inside the sandbox (shutil.rmtree needs them). "open" does not
            # report dir_fd, but with the working directory fixed to the sandbox, a path relative to a
            # directory in the sandbox that looks inside it from there is inside it from here too.
            if not inside(resolved, sandbox):
                deny(f"open {shown(path)} (a directory outside the sandbox directory)")
        elif not writing:
            check_read("open", resolved)
        elif resolved != "/dev/null":
            if not inside(resolved, sandbox):
                deny(f"open {shown(path)} for writing (outside the sandbox directory)")
            if kind is not None and kind != 0o100000:
                deny(f"open {shown(path)} for writing (not a regular file)")
            counts[1] += 1
            if counts[1] > max_writes:
                deny(f"open {shown(path)} for writing (more than {max_writes} files)")

    def hook(event: str, args: tuple) -> None:
        if event in ("exec", "compile", "builtins.id", "time.sleep"):
            return

        def arg(i: int | None) -> object:  # None where this Python passes fewer arguments than expected
            return tuple_item(args, i) if i is not None and i < len_(args) else None

        if event == "open":
            check_open(arg(0), arg(1), arg(2))
        elif event == "import":
            name = arg(0)
            if type_(name) is not str_:
                deny("import of a name that is not a str")
            for part in name.split("."):
                if part in blocked_modules or part.startswith("_test") or part.startswith("_xx"):
                    deny(f"import {shown(name)}")
        elif event == "sys._getframe":
            raise value_error("sandbox: frames are not available")  # quietly: namedtuple and typing cope
        elif event == "object.__getattr__":
            if arg(1) in frame_attributes:
                raise attribute_error("sandbox: frames are not available")
        elif event in ("object.__setattr__", "object.__delattr__"):
            if arg(1) == "__code__":  # a function given new code (the hook's own, say)
                deny(f"{event} {shown(arg(1))} (code-object surgery)")
        elif event == "socket.__new__":
            if arg(1) != af_unix:
                deny("creating a network socket")
        elif event in blocked_events or event.startswith(blocked_prefixes):
            deny(event)
        elif event == "os.chdir":  # the working directory stays the sandbox (see check_open)
            if resolve(effective_path(arg(0), None)) != sandbox:
                deny(f"os.chdir {shown(arg(0))} (the working directory stays the sandbox directory)")
        else:
            if event == "os.mkdir":
                counts[2] += 1
                if counts[2] > max_dirs:
                    deny(f"os.mkdir (more than {max_dirs} directories)")
            for path_at, dir_fd_at, changes in get_rules(event, ()):
                raw = arg(path_at)
                if event == "os.truncate" and type_(raw) is int_ and raw != result_fd:
                    continue  # ftruncate needs a descriptor open for writing, and those were checked
                path = effective_path(raw, arg(dir_fd_at))
                if changes:
                    check_write(event, path)
                else:
                    check_read(event, path)

    def violations() -> int:
        return counts[0]

    return hook, violations, deny


def _make_run(emit: Callable[..., None], violations: Callable[[], int]) -> Callable[[str, str, list], None]:
    """The probe loop, bound (like the hook) to references the code under test cannot replace."""
    import types

    exec_, eval_, compile_, type_, str_, replace, base_exception, exit_ = (
        exec, eval, compile, type, str, str.replace, BaseException, os._exit)
    dumps, encode, limit = json.dumps, encode_value, VALUE_CHARS
    new_module, modules = types.ModuleType, sys.modules

    def describe(exc: BaseException) -> str:
        try:
            name, message = type_(exc).__name__, str_(exc)
            return replace(name + (": " + message if message else ""), "\n", " ")[:DETAIL_CHARS]
        except base_exception:
            return "an exception that cannot be described"

    def run(code: str, setup: str, probes: list) -> None:
        # A real module (dataclasses and pickle look classes up in sys.modules), not named "__main__":
        # `if __name__ == "__main__":` blocks of the response stay off.
        module = new_module("solution")
        modules["solution"] = module
        namespace = module.__dict__
        try:
            exec_(compile_(code, "<solution>", "exec"), namespace)
            if setup:
                exec_(compile_(setup, "<setup>", "exec"), namespace)
        except base_exception as exc:
            emit("error", describe(exc))
            emit("done", str_(violations()))
            exit_(0)
        index = 0
        for kind, source in probes:
            try:
                if kind == "exec":  # a child-judged statement: it passes when it does not raise
                    exec_(compile_(source, f"<test {index}>", "exec"), namespace)
                    emit("ok", str_(index))
                else:
                    text = dumps(encode(eval_(compile_(source, f"<probe {index}>", "eval"), namespace)))
                    if len(text) > limit:
                        raise ValueError(f"the value takes more than {limit} characters")
                    emit("value", str_(index), text)
            except base_exception as exc:
                emit("raised", str_(index), describe(exc))
            index += 1
        emit("done", str_(violations()))
        exit_(0)  # no atexit handlers, finalizers or threads of the code after the last record

    return run


if __name__ == "__main__":
    _child_main(sys.argv[1], restricted=sys.argv[2:] == [RESTRICTED])
