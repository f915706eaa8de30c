"""What every rule's script shares: the svgap library on sys.path, the job's log, and its wildcards.

Rule `r` runs `workflow/scripts/r.py`, which does one thing: call the library function `r` with the
rule's paths, params and wildcards inside `job(snakemake)`, which sends the library's log records to
the rule's `log:` file (and stderr) and writes a failure's traceback there too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # workflow/, where svgap lives

NOISY = ("httpx", "urllib3", "filelock")


@contextlib.contextmanager
def job(smk):
    """Log to the rule's log file (mode w: a rerun starts a fresh log) and stderr; log a failure, re-raise;
    after a success, end the process without the interpreter's teardown where that is safe (quick_exit)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        handlers.append(logging.FileHandler(smk.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    except Exception:
        logging.getLogger("svgap").exception("rule %s failed", smk.rule)
        raise
    if quick_exit_is_safe():
        quick_exit()


def quick_exit_is_safe() -> bool:
    """Whether the job may end without the interpreter's teardown: no child process alive (an inductor
    compile pool, a vLLM engine core) and no vLLM imported, whose engines clean up at exit."""
    import psutil  # Snakemake's own dependency

    return "vllm" not in sys.modules and not psutil.Process().children()


def quick_exit() -> None:
    """End a finished job's process now. The interpreter's teardown garbage-collects every object the
    job's imports made (some 400 000 once torch and transformers are loaded): 1.3-1.6 s per model job and
    0.7 s per plotting job (docs/performance.md), for nothing the job wrote (its outputs are written and
    closed by then). Logs and the standard streams are flushed first; the exit status is 0."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def checkpoint(label: str) -> int | float:
    """The `t` of a checkpoint label: an int for a whole epoch (from which seeds were always derived),
    a float for a half-epoch checkpoint t + 0.5."""
    return int(label) if label.isdigit() else float(label)


def optional(paths) -> str | None:
    """A named input that may be empty (the adapter of the base model, t = 0): its path, or None."""
    if isinstance(paths, list):
        return paths[0] if paths else None
    return paths or None


def params(smk) -> dict:
    """The rule's params as keyword arguments of its function; `settings`, a line the report's captions
    show, is for the report only."""
    return {k: v for k, v in smk.params.items() if k != "settings"}
