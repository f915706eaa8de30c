"""Kernel isolation of one sandbox run: bubblewrap namespaces and a seccomp filter (docs/sandbox.md).

`bwrap_command` wraps the sandbox's interpreter in Debian's `bubblewrap`: every namespace unshared
(user, mount, pid, network, IPC, UTS, cgroup), no nested user namespaces, all capabilities dropped, uid and
gid 65534 inside, `--die-with-parent`. Everything inside stays in the process group of the session
`run_tests` starts (no `--new-session`: that session has no terminal), so the grader's group kill
reaches it. The mount namespace holds only what the
interpreter needs, read-only (`/usr` and the library links, the interpreter's prefix, the runner and
its job), a fresh `/proc` and minimal `/dev` (read-only, like the root), and a size-limited tmpfs at
`/tmp`, the only writable place, gone when the run ends. Nothing of the host's `/etc`, `/home`, `/root`
or the project is there. Started by root, bwrap itself runs as nobody (`user_switch`), so the sandbox's
uid is nobody on the host too, never root; the interpreter is therefore one that others can read
(`interpreter`).
The seccomp filter (libseccomp through `pyseccomp`, loaded by bwrap before it starts the interpreter)
makes the syscalls of `DENIED_SYSCALLS` fail with EPERM: no new processes or threads, no anonymous
memory files (`memfd_create` would hold memory outside the address-space limit), no tracing, no
new namespaces or mounts, no kernel keyring, BPF, io_uring or sockets.

Where bubblewrap, user namespaces or libseccomp are missing, `require_bwrap` raises
`IsolationUnavailable` saying why and naming the setting that allows running without isolation
(`options.isolation: none` of an MBPP task). `isolation="auto"` then falls back to Landlock and the same
seccomp filter, applied by the child to itself (`svgap.tasks.sandbox.choose_isolation`), logged and
recorded per result; where that fails too, grading refuses. Nothing falls back silently.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import subprocess
import sys
import tempfile

ISOLATIONS = ("auto", "bwrap", "landlock", "none")  # auto: bwrap, else landlock, else refuse
LAYERS = {"bwrap": "bwrap+seccomp", "landlock": "landlock+seccomp", "none": "none"}  # SandboxResult.isolation
TMPFS_MB = 32  # the only writable place (files there are memory outside RLIMIT_AS: this bounds it)
SANDBOX_UID = 65534
RUN_DIR = "/run/svgap"  # where the runner and its job are mounted, read-only

DENIED_SYSCALLS = (
    # processes and threads
    "fork", "vfork", "clone", "clone3",
    # memory outside the address-space limit, other processes' memory, tracing
    "memfd_create", "memfd_secret", "process_vm_readv", "process_vm_writev", "ptrace", "process_madvise",
    "userfaultfd", "perf_event_open",
    # namespaces, mounts, roots, handles to files by id
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    # kernel facilities with a history of exploits, and the machine's state
    "bpf", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "syslog", "personality", "settimeofday", "clock_settime", "mknod",
    "mknodat",
    # the network (the namespace has only a loopback that is down; sockets are refused outright)
    "socket", "socketpair",
)

INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and libseccomp, and allow user "
    "namespaces (sysctl user.max_user_namespaces > 0; on Debian/Ubuntu also kernel.unprivileged_userns_clone=1 "
    "or the AppArmor rule for bwrap). To grade without kernel isolation (trusted code only), set the MBPP "
    "task's `options.isolation: none` (run_tests(isolation='none')).")


class IsolationUnavailable(RuntimeError):
    """Kernel isolation cannot be set up here; MBPP grading refuses to run (the message says why)."""


@functools.cache
def seccomp_program() -> bytes:
    """The compiled BPF program of the seccomp filter (native architecture; other ABIs are killed)."""
    try:
        import pyseccomp
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 is missing
        raise IsolationUnavailable(f"the seccomp filter needs pyseccomp and libseccomp: {exc}. {INSTALL_HINT}") from exc
    sandbox_filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            sandbox_filter.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError):
            continue  # a syscall this architecture does not have (fork on aarch64, say)
    with tempfile.TemporaryFile() as f:
        sandbox_filter.export_bpf(f)
        f.seek(0)
        return f.read()


SYSTEM_PYTHON = "/usr/bin/python3"


def _readable_by_others(path: str) -> bool:
    """Whether a user with no capabilities and none of the owner's ids can read `path` (the child's own
    check, `sandbox._readable_by_others`; a path that cannot be examined counts as unreadable)."""
    from svgap.tasks import sandbox

    try:
        return sandbox._readable_by_others(path)
    except OSError:
        return False


@functools.cache
def interpreter() -> str:
    """The interpreter the sandbox runs: one its user can read without capabilities (the sandbox needs only
    the stdlib). This process's base interpreter (a venv's python links to it) when it and its stdlib are
    readable by others, else the system's python3 (a Python under /root, as pyenv installs it, is not:
    run as root, bwrap would otherwise have to map the sandbox's user to root to read it). The trial run
    of `require_bwrap` checks that the one chosen works (and is Python 3.11 or later)."""
    base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if _readable_by_others(base) and _readable_by_others(os.__file__):
        return base
    if _readable_by_others(SYSTEM_PYTHON):
        return os.path.realpath(SYSTEM_PYTHON)
    raise IsolationUnavailable(
        f"no Python the sandbox's user can read: {base} (or its stdlib {os.path.dirname(os.__file__)}) is not "
        f"readable by others and {SYSTEM_PYTHON} is missing or not readable (Debian/Ubuntu: apt-get install "
        f"python3-minimal). {INSTALL_HINT}")


def user_switch() -> dict:
    """`subprocess.Popen` arguments that start bwrap as the sandbox's user when this process is root, so
    that the user namespace maps the sandbox's uid to nobody on the host, not to root; {} otherwise (an
    ordinary user's bwrap maps it to that user)."""
    if os.geteuid() != 0:
        return {}
    return {"user": SANDBOX_UID, "group": SANDBOX_UID, "extra_groups": []}


def _read_only_mounts(python: str) -> list[str]:
    """bwrap arguments for what the interpreter needs: /usr, the top-level links to it, ld.so's cache,
    the interpreter's prefix (the directory above its bin/: its stdlib and libpython) and its directory,
    each at its own path."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    covered = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
    for path in (os.path.dirname(os.path.dirname(python)), os.path.dirname(python)):
        if not any(path == root or path.startswith(root + "/") for root in covered):
            args += ["--ro-bind", path, path]
            covered.append(path)
    return args


def bwrap_command(python: str, runner: str, job: str, seccomp_fd: int, info_fd: int | None = None) -> list[str]:
    """The command that runs `python -I -S -B <runner> <job>` in the sandbox, both mounted read-only under
    RUN_DIR (they must be readable by the user bwrap runs as: `user_switch`). `seccomp_fd` is a descriptor
    open on `seccomp_program()`; on `info_fd`, if given, bwrap writes JSON with the host pid of the sandbox's
    init (`sandbox_init_pid`). Inherited descriptors (the result channel) stay open inside."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise IsolationUnavailable(f"bubblewrap (bwrap) is not installed. {INSTALL_HINT}")
    return [
        bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
        "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
        *_read_only_mounts(python),
        "--ro-bind", runner, f"{RUN_DIR}/runner.py", "--ro-bind", job, f"{RUN_DIR}/job.json",
        "--proc", "/proc", "--dev", "/dev", "--size", str(TMPFS_MB * 2**20), "--tmpfs", "/tmp",
        # bwrap's root and /dev are tmpfs without a size limit that the sandbox's user owns: read-only, they
        # hold no files (memory outside RLIMIT_AS); /dev/null and the other devices still work
        "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp",
        "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--setenv", "LC_ALL", "C.UTF-8",
        "--setenv", "PATH", "/usr/bin:/bin", "--seccomp", str(seccomp_fd),
        *(["--info-fd", str(info_fd)] if info_fd is not None else []),
        python, "-I", "-S", "-B", f"{RUN_DIR}/runner.py", f"{RUN_DIR}/job.json",
    ]


def sandbox_init_pid(info: bytes) -> int | None:
    """The host pid of the sandbox's init from what bwrap wrote on its info descriptor (None if nothing)."""
    import json

    try:
        pid = json.loads(info.decode("utf-8")).get("child-pid")
    except (ValueError, AttributeError):
        return None
    return pid if type(pid) is int and pid > 0 else None


def wait_for_namespace(init_pid: int, limit_s: float = 5.0) -> bool:
    """Wait until the sandbox's pid namespace is empty, at most `limit_s`; True if it is. Its init is not
    this process's child: when it ends, the kernel first ends every other process of the namespace, so
    init gone or a zombie (reaped by the host's init some time later) means nothing of the run is left."""
    import time

    deadline = time.monotonic() + limit_s
    while True:
        try:
            with open(f"/proc/{init_pid}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            return True
        if state in (b"Z", b"X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


@functools.cache
def _probe() -> str:
    """'' when a trivial run inside the sandbox works here, else why not (cached per process)."""
    try:
        program = seccomp_program()
        python = interpreter()
    except IsolationUnavailable as exc:
        return str(exc)
    with tempfile.TemporaryDirectory(prefix="svgap-bwrap-check-") as box, tempfile.TemporaryFile() as bpf:
        bpf.write(program)
        bpf.seek(0)
        job = os.path.join(box, "job.json")
        runner = os.path.join(box, "runner.py")
        check = "import os, sys; os.write(1, b'ok' if sys.version_info >= (3, 11) else b'old')"
        for path, text in ((job, "{}"), (runner, check)):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        give_to_sandbox_user(box)
        try:
            command = bwrap_command(python, runner, job, bpf.fileno())
        except IsolationUnavailable as exc:
            return str(exc)
        try:
            done = subprocess.run(command, pass_fds=(bpf.fileno(),), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=30, **user_switch())
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not run: {exc}. {INSTALL_HINT}"
    if done.stdout == b"old":
        return f"the sandbox's interpreter {python} is older than Python 3.11. {INSTALL_HINT}"
    if done.returncode != 0 or done.stdout != b"ok":
        why = done.stderr.decode("utf-8", "replace").strip()[-500:] or f"exit code {done.returncode}"
        return f"a trial run in bubblewrap failed ({why}). {INSTALL_HINT}"
    return ""


def give_to_sandbox_user(box: str) -> None:
    """As root, hand the run's directory (its runner and job, mounted read-only) to the sandbox's user, whom
    `user_switch` starts bwrap as; nothing to do for an ordinary user."""
    if os.geteuid() == 0:
        os.chown(box, SANDBOX_UID, SANDBOX_UID)


def require_bwrap() -> None:
    """Raise IsolationUnavailable unless bubblewrap with user namespaces and seccomp works here."""
    why = _probe()
    if why:
        raise IsolationUnavailable(why)
