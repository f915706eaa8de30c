"""From a Snakemake job to a stage function: logging set-up and the rule -> function table."""

from __future__ import annotations

import logging
import sys

from svgap import stages, tables, trajectory
from svgap.dynamics import stages as dynamics


def setup_logging(path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _optional(named, key: str):
    """A named input that may be absent (the adapter of epoch 0): its path, or None."""
    value = getattr(named, key, None) if key in named.keys() else None
    if isinstance(value, list):
        return value[0] if value else None
    return value or None


def _trajectory(metrics, out, run) -> None:
    tables.write(trajectory.build(list(metrics), dict(run)), out)


def _plot(table, png, pdf, plot, title) -> None:
    trajectory.plot(tables.read(table, "trajectory"), png, pdf, title=title, **dict(plot))


def checkpoint(label: str) -> int | float:
    """The `t` of a checkpoint label: an int for whole epochs (from which seeds were always derived), else a
    float (t + 0.5, a half-epoch checkpoint)."""
    return int(label) if label.isdigit() else float(label)


def run_rule(smk) -> None:
    setup_logging(smk.log[0] if smk.log else None)
    i, o, w = smk.input, smk.output, smk.wildcards
    p = dict(smk.params.items())
    threads = smk.threads
    # what identifies the job comes from its wildcards (in the output paths), not from params
    job = {"method": w.method} if "method" in w.keys() else {}
    if "seed" in w.keys():
        job["seed"] = int(w.seed)
    if "t" in w.keys():
        job["t"] = checkpoint(w.t)
    calls = {
        "data": lambda: stages.make_data(out=o[0], **p),
        "base_model": lambda: stages.base_model(out_json=o.descriptor, weights_dir=o.weights, **p),
        "generate_and_verify": lambda: stages.generate_and_verify(i.model, _optional(i, "adapter"), i.data,
                                                                  dict(o.items()), threads=threads, seed=job["seed"],
                                                                  t=job["t"], **p),
        "select": lambda: stages.select_and_measure(i.data, i.generations, i.verify, dict(o.items()),
                                                    method=job["method"], t=job["t"], **p),
        # the finetune producing epoch t trains on the picks of epoch t - 1
        "finetune": lambda: stages.finetune(i.model, _optional(i, "adapter"), i.picks, o.adapter, threads=threads,
                                            half_dir=_optional(o, "half"), seed=job["seed"], t=job["t"] - 1, **p),
        "trajectory": lambda: _trajectory(i.metrics, o[0], **p),
        "plot_trajectory": lambda: _plot(i[0], o.png, o.pdf, **p),
        "simulate_trajectory": lambda: dynamics.simulate_trajectory(o[0], **p["simulation"]),
        "analyse_dynamics": lambda: dynamics.analyse_run(i[0], dict(o.items()), **p),
        "predict_early": lambda: dynamics.predict_run(i[0], dict(o.items()), **p),
        "compare_laws": lambda: dynamics.compare_run(i[0], dict(o.items()), **p),
        "cross_improvement": lambda: dynamics.cross_run(i[0], dict(o.items()), **p),
        "paper_tables": lambda: dynamics.paper_tables(dict(i.items()), dict(o.items()), **p),
        "plot_dgdt_runs": lambda: dynamics.plot_runs(i[0], dict(o.items()), **p),
    }
    calls["plot_analysis"] = lambda: dynamics.plot_figures(dict(i.items()), dict(o.items()), **p)
    if smk.rule not in calls:
        raise KeyError(f"no stage function for rule {smk.rule!r}")
    try:
        calls[smk.rule]()
    except Exception:
        logging.getLogger("svgap").exception("rule %s failed", smk.rule)  # into the rule's log file too
        raise
