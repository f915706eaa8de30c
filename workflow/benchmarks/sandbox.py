"""Benchmark of MBPP grading: every reference solution of an MBPP file through the sandbox, per isolation.

    python workflow/benchmarks/sandbox.py --mbpp mbpp.jsonl [--limit N] [--baseline OLD_SANDBOX.py]

For each problem of the file (the published one has 974) it runs the reference `code` against its
`test_list` (with `test_setup_code`) through `svgap.tasks.sandbox.run_tests`, with bubblewrap
(`isolation="bwrap"`), with Landlock (`"landlock"`) and without kernel isolation (`"none"`), interleaved
problem by problem so that all see the same machine. It prints the share of tests the grader judged
itself (split into probes and an expected side), the problems whose reference solution did not pass
(with the reason), and the median and mean milliseconds per run with the ratios between the layers.
`--baseline` times another version of the sandbox module too (a file with its own `run_tests(code,
tests, setup=...)`, e.g. the version before kernel isolation:
`git show 74fbbb3:workflow/svgap/tasks/sandbox.py > old.py`).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

from svgap.tasks import judge, sandbox


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location("sandbox_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_isolated(code: str, tests: list[str], setup: str, isolation: str) -> sandbox.SandboxResult:
    # child_judged="run": the few tests the grader cannot split run too, so every solution costs its full run
    return sandbox.run_tests(code, tests, setup=setup, isolation=isolation, child_judged="run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mbpp", type=Path, required=True, help="an MBPP JSONL file (task_id, code, test_list)")
    parser.add_argument("--limit", type=int, default=None, help="the first N problems only")
    parser.add_argument("--baseline", type=Path, default=None, help="another sandbox module to time beside")
    args = parser.parse_args(argv)
    rows = []
    with args.mbpp.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{args.mbpp}:{line_no}: not JSON ({exc})") from exc
    rows = rows[: args.limit]
    runners = {name: functools.partial(run_isolated, isolation=name) for name in ("bwrap", "landlock", "none")}
    if args.baseline is not None:
        baseline = load_module(args.baseline)
        runners["baseline"] = lambda c, t, s: baseline.run_tests(c, t, setup=s)
    times: dict[str, list[float]] = {name: [] for name in runners}
    failures: dict[str, list[str]] = {name: [] for name in runners}
    n_tests = n_parent = 0
    for i, row in enumerate(rows, 1):
        code, tests, setup = row["code"], row["test_list"], row.get("test_setup_code", "")
        names = judge.solution_names(code, setup)
        n_tests += len(tests)
        n_parent += sum(judge.split(test, names).parent_judged for test in tests)
        for name, run in runners.items():
            start = time.perf_counter()
            result = run(code, tests, setup)
            times[name].append(time.perf_counter() - start)
            if not result.passed:
                failures[name].append(f"task {row['task_id']}: {result.status}: {result.detail[:160]}")
        if i % 100 == 0:
            print(f"  {i}/{len(rows)} problems", file=sys.stderr, flush=True)
    print(f"MBPP file: {args.mbpp} ({len(rows)} problems, {n_tests} tests)")
    print(f"tests judged by the grader (parent): {n_parent}/{n_tests} = {n_parent / max(n_tests, 1):.4f}")
    for name in runners:
        ms = [1000 * t for t in times[name]]
        print(f"{name:>8}: reference solutions passing {len(rows) - len(failures[name])}/{len(rows)}; "
              f"ms per run median {statistics.median(ms):.1f}, mean {statistics.fmean(ms):.1f}")
        for failure in failures[name]:
            print(f"          not passed: {failure}")
    for name in runners:
        if name != "bwrap":
            ratio = statistics.median(times["bwrap"]) / statistics.median(times[name])
            print(f"bwrap / {name} (median ms per run): {ratio:.2f}")
    if "baseline" in runners:
        ratio = statistics.median(times["landlock"]) / statistics.median(times["baseline"])
        print(f"landlock / baseline (median ms per run): {ratio:.2f}")
    return 0 if not failures["bwrap"] and not failures["landlock"] else 1


if __name__ == "__main__":
    sys.exit(main())
