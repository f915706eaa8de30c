"""Benchmark of the workflow's planning: the time of a dry run of each paper config, and its job count.

    python -m svgap.bench_dag [config/paper/all.yaml ...]

Runs `snakemake -n --configfile <config>` (no weights or data needed) in the current folder, the
workflow's root, `--repeat` times per config, and prints per config: jobs, the median and the
fastest of the times, milliseconds per job, against the target of 10 s for the largest config. A
dry run prints every job; the time is what a researcher waits. The median of a few runs is the
figure: a shared machine's single runs vary by a third.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 10.0


def dry_run(config: Path) -> tuple[int, float]:
    """(jobs, seconds) of a dry run of the whole DAG of `config`."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    start = time.perf_counter()
    done = subprocess.run([snakemake, "-n", "--configfile", str(config)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dry run of {config} failed:\n{done.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", done.stdout + done.stderr, re.MULTILINE)
    if total is None:
        raise RuntimeError(f"dry run of {config}: no job table in its output")
    return int(total.group(1)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", type=Path, help="default: every config/paper/*.yaml")
    parser.add_argument("--repeat", type=int, default=3, help="dry runs per config (default 3)")
    args = parser.parse_args()
    configs = args.configs or sorted(Path("config/paper").glob("*.yaml"))
    results = []
    for config in configs:
        runs = [dry_run(config) for _ in range(args.repeat)]
        jobs, median, fastest = runs[0][0], statistics.median(s for _, s in runs), min(s for _, s in runs)
        results.append((config, jobs, median))
        print(f"dry run {config}: {jobs} jobs in {median:.1f} s (median of {args.repeat}; fastest {fastest:.1f} s; "
              f"{1000 * median / jobs:.2f} ms per job)")
    config, jobs, seconds = max(results, key=lambda r: r[1])
    verdict = "meets" if seconds < TARGET_S else "misses"
    print(f"largest: {config} ({jobs} jobs) {seconds:.1f} s: {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
