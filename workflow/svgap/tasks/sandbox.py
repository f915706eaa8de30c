"""Grade model-written Python (MBPP responses) by running it against assert tests in a sandbox.

`run_tests(code, tests)` runs `code`, then optional `setup`, then each test statement (an
`assert ...` line of MBPP's `test_list`) in a fresh Python process and returns a `SandboxResult`.
It never raises for bad code: a syntax error, an exception, a hang, a crash or a refused operation
all come back as a result that did not pass. Linux only.

What protects the host (docs/sandbox.md has the details):

- A separate process, `python -I -S -B` (isolated mode, no site-packages, no .pyc writes) running
  this file as its script, in a fresh temporary directory that is its working directory, HOME and
  TMPDIR, with a minimal environment, stdin/stdout/stderr on /dev/null, in its own session and
  process group. A wall-clock timeout kills the whole group (SIGKILL), which is killed after every
  run anyway; the directory is deleted.
- Kernel limits (setrlimit): address space (`memory_mb`), CPU seconds, file size, open files, no
  core files, no new processes or threads (RLIMIT_NPROC: the kernel ignores it for root).
- Best effort, where the kernel allows it: a new network namespace (only a loopback that is down);
  when started as root, a switch to uid/gid 65534 (nobody), keeping only CAP_DAC_READ_SEARCH when
  the stdlib is not readable by others; no_new_privs.
- An audit hook (`sys.addaudithook`; Python code cannot remove it), installed before the code
  runs. It refuses: process creation and signals; network sockets; writes, deletes, renames,
  chmod/chown outside the temporary directory; reads outside it and the stdlib; opening directories
  and links; importing ctypes, subprocess, multiprocessing and other native escape hatches;
  hand-made code objects and marshal; tracing, frame and gc introspection. A refused operation raises
  PermissionError in the code and makes the result "blocked".
- The child reports through a file descriptor the code cannot read back, each record signed with a
  random token the code never sees: printing "passed" or exiting early cannot fake a pass.

What it does not protect against: native code. The audit hook sees only what CPython reports. C
functions that are already loaded and unaudited (a few are removed from `os` as a speed bump, which
`_imp.create_builtin` gets round), crafted bytecode if a way in is found, and kernel exploits are out
of its reach; beyond the hook, the kernel stops only what the process's user (nobody, or the
calling user) may not do. The host still lends up to `timeout_s` of CPU and `memory_mb` of memory
per call. For adversarial code, run the grader itself in a container or VM (or nsjail, bubblewrap).

The module runs on both sides: the parent imports it, the child runs it as a script. It imports only
light stdlib modules at the top so that the child's `sys.modules` holds nothing the code under test
should reach (`subprocess`, for one, is imported inside `run_tests`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

STATUSES = ("passed", "failed", "error", "timeout", "killed", "blocked")

FILE_SIZE_LIMIT = 8 * 2**20  # bytes, per file the code writes (RLIMIT_FSIZE)
MAX_FILE_WRITES = 32  # files the code may open for writing (bounds its disk use with FILE_SIZE_LIMIT)
OPEN_FILES_LIMIT = 64
DETAIL_CHARS = 500
NOBODY = 65534

_RUNNER = os.path.abspath(__file__)
_PAYLOAD = "payload.json"


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one `run_tests` call.

    passed: every test passed and nothing was blocked. n_passed of n_tests test statements passed.
    status: "passed", "failed" (some test failed), "error" (the code or setup raised, e.g. a
    SyntaxError, or the child ended without a result), "timeout" (wall clock), "killed" (a signal:
    the CPU limit, a segfault, an abort), "blocked" (the code tried something the sandbox refuses).
    detail: a short reason (the first failing test, the exception, the blocked operation).
    """

    passed: bool
    n_passed: int
    n_tests: int
    status: str
    detail: str


def run_tests(
    code: str, tests: list[str], setup: str = "", timeout_s: float = 5.0, memory_mb: int = 512
) -> SandboxResult:
    """Run `code`, then `setup`, then each statement of `tests` in a fresh sandboxed process.

    `timeout_s` is the wall-clock limit for the whole run (the CPU limit is a little above it);
    `memory_mb` the address-space limit of the process (keep it >= 64: the interpreter needs room).
    Raises ValueError only for invalid limits; everything the code does becomes a result.
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb!r}")
    tests = [str(test) for test in tests]
    if not tests:
        return SandboxResult(False, 0, 0, "error", "no tests to run")

    # Imported here, not at the top: the child runs this file and must not have these loaded.
    import subprocess
    import tempfile

    nonce = os.urandom(16).hex()
    with (
        tempfile.TemporaryDirectory(prefix="svgap-sandbox-", ignore_cleanup_errors=True) as box,
        tempfile.TemporaryFile() as stderr_file,
    ):
        # The result channel: a deleted file the child gets write-only (so the code cannot read the
        # records, and with them the nonce, back); the parent keeps its own read descriptor.
        read_fd, result_path = tempfile.mkstemp(prefix="svgap-result-")
        write_fd = os.open(result_path, os.O_WRONLY | os.O_APPEND)
        os.unlink(result_path)
        try:
            payload = {"nonce": nonce, "result_fd": write_fd, "code": code, "setup": setup, "tests": tests,
                       "timeout_s": timeout_s, "memory_mb": memory_mb}
            with open(os.path.join(box, _PAYLOAD), "w", encoding="utf-8") as f:
                json.dump(payload, f)
            env = {"PATH": os.defpath, "HOME": box, "TMPDIR": box, "LC_ALL": "C.UTF-8"}
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-B", _RUNNER], cwd=box, env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=stderr_file, pass_fds=(write_fd,), start_new_session=True)
            except OSError as exc:
                return SandboxResult(False, 0, len(tests), "error", f"could not start the sandbox: {exc}")
            finally:
                os.close(write_fd)
            try:
                finished = _wait_without_reaping(proc.pid, timeout_s)
            finally:
                _kill_group(proc.pid)  # the code's leftovers too; the unreaped child keeps the group id ours
                proc.wait()
            with os.fdopen(read_fd, "rb", closefd=False) as f:
                records = f.read(4 * FILE_SIZE_LIMIT).decode("utf-8", "replace")
        finally:
            os.close(read_fd)
        stderr_file.seek(max(0, stderr_file.seek(0, os.SEEK_END) - 2000))
        stderr_tail = stderr_file.read().decode("utf-8", "replace").strip()
    return _result(records, nonce, len(tests), finished, timeout_s, proc.returncode, stderr_tail)


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


def _result(records: str, nonce: str, n_tests: int, finished: bool, timeout_s: float, returncode: int,
            stderr_tail: str) -> SandboxResult:
    """Turn the child's signed records and exit state into a SandboxResult."""
    started = done = False
    blocked = error = first_failure = ""
    passed_tests: set[int] = set()
    prefix = nonce + " "
    for line in records.splitlines():
        if not line.startswith(prefix):
            continue  # not written by the runner (or garbled): ignored
        kind, _, rest = line[len(prefix):].partition(" ")
        if kind == "start":
            started = True
        elif kind == "blocked" and not blocked:
            blocked = rest
        elif kind == "error":
            error = rest
        elif kind in ("pass", "fail"):
            index, _, why = rest.partition(" ")
            if kind == "pass" and index.isdigit() and int(index) < n_tests:
                passed_tests.add(int(index))
            elif kind == "fail" and not first_failure:
                first_failure = f"test {index}: {why}"
        elif kind == "done":
            done = True
            if rest not in ("", "0") and not blocked:
                blocked = "a blocked operation (record lost)"
    n_passed = len(passed_tests)

    def result(status: str, detail: str) -> SandboxResult:
        return SandboxResult(status == "passed", n_passed, n_tests, status, detail[:DETAIL_CHARS])

    if blocked:
        return result("blocked", blocked)
    if not finished:
        return result("timeout", f"no result within {timeout_s:g} s (wall clock); process group killed")
    if error:
        return result("error", error)
    if returncode < 0:
        return result("killed", _signal_reason(-returncode) + (f"; stderr: {stderr_tail}" if stderr_tail else ""))
    if not started:
        return result("error", f"the sandbox did not start (exit code {returncode}): {stderr_tail}")
    if not done:
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
# The child: runs as `python -I -S -B sandbox.py` in the sandbox directory.
# ---------------------------------------------------------------------------------------------

# Modules the code under test may not import (top-level names; `_test*` and `_xx*` too): native
# escape hatches, process creation that bypasses the audited functions, C-level file writers.
_BLOCKED_MODULES = frozenset({
    "ctypes", "_ctypes", "subprocess", "_posixsubprocess", "multiprocessing", "_multiprocessing",
    "_posixshmem", "readline", "curses", "_curses", "_curses_panel", "tkinter", "_tkinter", "ossaudiodev",
    "_dbm", "_gdbm", "syslog", "xxlimited", "xxlimited_35", "xxsubtype", "_interpreters", "_interpqueues",
    "_interpchannels",
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
                 "sched_setaffinity", "sched_setscheduler", "sched_setparam")
# Loaded before the hook, with the frozen modules (the hook refuses marshal, so later imports
# compile from source).
_PRELOAD = ("math", "cmath", "re", "collections", "heapq", "bisect", "itertools", "functools", "operator",
            "string", "typing", "array", "copy")


def _child_main() -> None:
    """Read the job, shrink what the process may do (limits, network, user), arm the hook, run the code."""
    with open(_PAYLOAD, encoding="utf-8") as f:
        payload = json.load(f)
    os.remove(_PAYLOAD)  # the nonce leaves the disk before the code runs
    sandbox = os.path.realpath(os.getcwd())
    emit = _make_emit(payload["result_fd"], payload["nonce"])
    was_root = os.geteuid() == 0
    _set_limits(payload["timeout_s"], payload["memory_mb"])
    _isolate_network(was_root)
    if was_root:
        _drop_privileges(sandbox)
    try:  # PR_SET_NO_NEW_PRIVS: no exec (were there one) can gain privileges, e.g. a setuid binary
        _libc()[1].prctl(38, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass
    _forget_ctypes()
    _set_limit("RLIMIT_NPROC", 0)  # no new processes or threads (ignored by the kernel for root)
    import _imp

    frozen = getattr(_imp, "_frozen_module_names", lambda: ())()  # loading them needs marshal, too
    for name in (*_PRELOAD, *sorted(frozen)):
        if not name.startswith("__") and name != "site":  # site would add site-packages to sys.path
            __import__(name)
    for module in (os, sys.modules.get("posix"), sys.modules.get("_signal"), sys.modules.get("signal")):
        for name in (*_UNAUDITED_OS, "pidfd_send_signal"):
            if module is not None and hasattr(module, name):
                delattr(module, name)
    sys.implementation.cache_tag = None  # no .pyc reading: it would need marshal, which the hook refuses
    read_roots = tuple(os.path.realpath(p) for p in sys.path if p)
    hook, violations = _make_audit_hook(sandbox, read_roots, emit, payload["result_fd"])
    run = _make_run(emit, violations)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # stderr kept startup errors for the parent; the code's output goes nowhere
    os.close(devnull)
    sys.addaudithook(hook)
    emit("start")
    run(payload["code"], payload["setup"], payload["tests"])


def _make_emit(fd: int, nonce: str) -> Callable[..., None]:
    """A writer of signed one-line records to the result descriptor."""
    write, encode, replace, limit, os_error = os.write, str.encode, str.replace, DETAIL_CHARS, OSError

    def emit(*fields: str) -> None:
        text = " ".join(replace(replace(field, "\n", " "), "\r", " ")[:limit] for field in fields)
        try:
            write(fd, encode("\n" + nonce + " " + text + "\n", "utf-8", "replace"))
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


def _drop_privileges(sandbox: str) -> None:
    """As root: become nobody (uid and gid 65534), so that file permissions protect the host too.

    Imports must keep working. Where the stdlib is not readable by others (a Python under /root),
    the process keeps one capability, CAP_DAC_READ_SEARCH (read any file): writes, signals and
    processes are then still the kernel's business, reads stay the audit hook's. If that cannot be
    set up exactly, the child stops (fail closed) rather than run the code with root's capabilities.
    """
    keep_read = any(os.path.exists(path) and not _readable_by_others(path) for path in sys.path)
    try:
        if keep_read:
            ctypes, libc = _libc()
            if libc.prctl(8, 1, 0, 0, 0) != 0:  # PR_SET_KEEPCAPS: keep the permitted set across setuid
                return  # cannot keep the read capability: stay root, the audit hook still applies
        os.chown(sandbox, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    except (ImportError, OSError, AttributeError):
        return
    if keep_read:
        cap_dac_read_search = 1 << 2
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)(cap_dac_read_search, cap_dac_read_search, 0, 0, 0, 0)  # eff, perm, inh x2
        if libc.capset(header, data) != 0:
            raise SystemExit("sandbox: could not reduce the capabilities after setuid")


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
                     result_fd: int) -> tuple[Callable[[str, tuple], None], Callable[[], int]]:
    """The audit hook that enforces the policy, and a counter of the violations it saw.

    Everything the hook uses is bound here, before the code under test runs: the code may replace
    builtins or os functions, but it cannot reach these local references (frames and gc are
    refused), and CPython gives no way to remove an audit hook.
    """
    type_, str_, bytes_, int_, len_, tuple_item = type, str, bytes, int, len, tuple.__getitem__
    os_error, permission_error, value_error, attribute_error = OSError, PermissionError, ValueError, AttributeError
    readlink, stat, getcwd = os.readlink, os.stat, os.getcwd
    blocked_events, blocked_prefixes, blocked_modules = _BLOCKED_EVENTS, _BLOCKED_PREFIXES, _BLOCKED_MODULES
    path_arguments = _PATH_ARGUMENTS
    frame_attributes, readable_devices = _FRAME_ATTRIBUTES, _READABLE_DEVICES
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    o_directory, af_unix, max_writes = os.O_DIRECTORY, 1, MAX_FILE_WRITES
    roots = (sandbox, *read_roots)
    counts = [0, 0]  # violations, files opened for writing

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
                deny(f"{event} {path!r} (URI file names)")
        resolved = resolve(path)
        if resolved is None or not inside(resolved, sandbox):
            deny(f"{event} {path!r} (outside the sandbox directory)")

    def check_read(event: str, path: object) -> None:
        resolved = resolve("." if path is None else path)
        if resolved is None:
            deny(f"{event} {path!r}")
        if resolved in readable_devices:
            return
        for root in roots:
            if inside(resolved, root):
                return
        deny(f"{event} {path!r} (only the sandbox directory and the stdlib are readable)")

    def check_open(path: object, mode: object, flags: object) -> None:
        if type_(path) is int_:
            if path == result_fd:
                deny("opening the result descriptor")
            return  # an already open descriptor
        resolved = resolve(path)
        if resolved is None:
            deny(f"open {path!r}")
        writing = (type_(mode) is str_ and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
            type_(flags) is int_ and flags & write_flags)
        kind = file_type(resolved)
        if kind == 0o040000 or (type_(flags) is int_ and flags & o_directory):
            # Directory descriptors only inside the sandbox (shutil.rmtree needs them). "open" does not
            # report dir_fd, but with the working directory fixed to the sandbox, a path relative to a
            # directory in the sandbox that looks inside it from there is inside it from here too.
            if not inside(resolved, sandbox):
                deny(f"open {path!r} (a directory outside the sandbox directory)")
        elif not writing:
            check_read("open", resolved)
        elif resolved != "/dev/null":
            if not inside(resolved, sandbox):
                deny(f"open {path!r} for writing (outside the sandbox directory)")
            if kind is not None and kind != 0o100000:
                deny(f"open {path!r} for writing (not a regular file)")
            counts[1] += 1
            if counts[1] > max_writes:
                deny(f"open {path!r} for writing (more than {max_writes} files)")

    def hook(event: str, args: tuple) -> None:
        if event in ("exec", "compile", "builtins.id", "time.sleep"):
            return

        def arg(i: int | None) -> object:  # None where this Python passes fewer arguments than expected
            return tuple_item(args, i) if i is not None and i < len_(args) else None

        if event == "open":
            check_open(arg(0), arg(1), arg(2))
        elif event == "import":
            name = arg(0)
            top = name.partition(".")[0] if type_(name) is str_ else ""
            if top in blocked_modules or top.startswith("_test") or top.startswith("_xx"):
                deny(f"import {name}")
        elif event == "sys._getframe":
            raise value_error("sandbox: frames are not available")  # quietly: namedtuple and typing cope
        elif event == "object.__getattr__":
            if arg(1) in frame_attributes:
                raise attribute_error("sandbox: frames are not available")
        elif event == "socket.__new__":
            if arg(1) != af_unix:
                deny("creating a network socket")
        elif event in blocked_events or event.startswith(blocked_prefixes):
            deny(event)
        elif event == "os.chdir":  # the working directory stays the sandbox (see check_open)
            if resolve(effective_path(arg(0), None)) != sandbox:
                deny(f"os.chdir {arg(0)!r} (the working directory stays the sandbox directory)")
        else:
            for path_at, dir_fd_at, changes in path_arguments.get(event, ()):
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

    return hook, violations


def _make_run(emit: Callable[..., None], violations: Callable[[], int]) -> Callable[[str, str, list[str]], None]:
    """The test loop, bound (like the hook) to references the code under test cannot replace."""
    import types

    exec_, compile_, type_, str_, replace, base_exception, exit_ = (
        exec, compile, type, str, str.replace, BaseException, os._exit)
    new_module, modules = types.ModuleType, sys.modules

    def describe(exc: BaseException) -> str:
        try:
            name, message = type_(exc).__name__, str_(exc)
            return replace(name + (": " + message if message else ""), "\n", " ")
        except base_exception:
            return "an exception that cannot be described"

    def run(code: str, setup: str, tests: list[str]) -> None:
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
        for test in tests:
            try:
                exec_(compile_(test, f"<test {index}>", "exec"), namespace)
            except base_exception as exc:
                emit("fail", str_(index), describe(exc))
            else:
                emit("pass", str_(index))
            index += 1
        emit("done", str_(violations()))
        exit_(0)  # no atexit handlers, finalizers or threads of the code after the last record

    return run


if __name__ == "__main__":
    _child_main()
