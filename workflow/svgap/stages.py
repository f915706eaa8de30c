"""The entry points of the loop's rules: one function per rule, named after it.

Rule `r` of rules/*.smk runs workflow/scripts/r.py, which calls `stages.r` (or, for the analysis
rules, `svgap.dynamics.stages.r`) with the rule's input and output paths, its params (the config
values it uses) and its wildcards. Each function reads and writes the tables of `svgap.tables` and
logs its progress; the science is in `svgap.loop`, `svgap.inference` and `svgap.tasks`. Nothing here
imports Snakemake, so the functions run from a test or a notebook as well; torch and transformers
are imported only by the stages that run a model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl

from svgap import tables
from svgap.loop import bon, cross, grading
from svgap.loop.metrics import row as metrics_row
from svgap.seeds import stable_seed
from svgap.tables import SPLITS, by_split, with_split
from svgap.tasks import make_task

log = logging.getLogger("svgap")


def data(out, *, kind: str, options: dict, n_train: int, n_test: int, seed: int) -> None:
    """Rule `data`: the prompts and gold answers of both splits of a task, one table, rows in SPLITS order."""
    task = make_task(kind, options)
    splits = task.items(n_train, n_test, seed)
    parts = []
    for split in SPLITS:
        items = splits[split]
        ids = [it.prompt_id for it in items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"task {kind}: duplicate prompt ids in the {split} split")
        parts.append(pl.DataFrame({"split": split, "prompt_id": ids, "prompt": [it.question for it in items],
                                   "answer": [it.answer for it in items],
                                   "meta": [json.dumps(it.meta, sort_keys=True) for it in items]},
                                  schema={"split": pl.String, "prompt_id": pl.String, "prompt": pl.String,
                                          "answer": pl.String, "meta": pl.String}))
        log.info("%s: %d %s prompts", kind, len(ids), split)
    tables.write(pl.concat(parts), out)
    log.info("-> %s", out)


def base_model(descriptor, weights, *, name: str, spec: dict, base=None, adapter=None) -> None:
    """Rule `base_model`: make the model loadable (the embedded GGUF converted once, a checkpoint's adapter
    merged into its `base`) and describe it."""
    from svgap.inference import models

    desc = models.resolve_model(name, spec, Path(weights), base, adapter)
    Path(descriptor).write_text(json.dumps(desc, indent=2) + "\n")
    log.info("model %s: %s", name, desc)


def generate_and_verify(*, model, adapter, data, generations, verify, task: dict, n_samples: int,
                        max_new_tokens: int, temperature: float, verifier: dict, inference: dict, seed: int,
                        t: float, top_p: float = 1.0, mtg_methods: tuple[str, ...] = (), threads: int = 1) -> None:
    """Rule `generate_and_verify`: the model of checkpoint t (base `model` + `adapter`, None at t = 0) at
    work on both splits: N samples per prompt (the generations table), then the same model's scores of every
    sample, those `verifier["methods"]` lists of TF, QE and P(correct) and the `mtg_methods` scores (the verify
    table). One model load (one vLLM engine start) for both."""
    from svgap.inference.backend import load_backend
    from svgap.loop.sampling import generate
    from svgap.loop.verification import verify_samples

    loaded = load_backend(model, adapter, inference, threads)
    the_task = make_task(task["kind"], task.get("options"))
    prompts = by_split(tables.read(data, "data"), data)
    gens = generate(loaded, the_task, prompts, n_samples=n_samples, max_new_tokens=max_new_tokens,
                    temperature=temperature, top_p=top_p, seed=seed, t=t)
    tables.write(gens, generations)
    tables.write(verify_samples(loaded, the_task, prompts, gens, verifier=verifier, seed=seed, t=t,
                                where=str(generations), mtg_methods=tuple(mtg_methods)), verify)


def select(*, data, generations, verify, grades, picks, metrics, task: dict, method: str, sigma: float,
           empty_policy: str, t: float, quantile: float | None = None, selection: str = "bon", external=None,
           chosen_table=None) -> None:
    """Rule `select`: one checkpoint's table work, split by split: the grades, the targets `selection`
    chooses by `method`'s score at `sigma` or its per-prompt `quantile` (svgap.loop.bon: the Best-of-N
    pick of Eq. 4, or MTG's rejection sampling) and the metrics rows (Eqs. 5-6). In a cross-improvement run
    (`external`: the checkpoint's scored external responses, `chosen_table`: the chosen prompts) the
    train prompts chosen by epoch floor(t) + 1 take their external response as the pick (SVG §5)."""
    the_task = make_task(task["kind"], task.get("options"))
    prompts = by_split(tables.read(data, "data"), data)
    scores = by_split(tables.read(verify, "verify"), verify)
    graded, chosen, rows = {}, {}, []
    for split, gens in by_split(tables.read(generations, "generations"), generations).items():
        log.info("%s split", split)
        if split not in prompts or split not in scores:
            raise ValueError(f"{generations}: the {split} split is missing from {data} or {verify}")
        graded[split] = grading.grade(the_task, prompts[split], gens)
        joined = grading.samples(gens, scores[split], graded[split], f"{generations} ({split})")
        chosen[split] = bon.picks(joined, method=method, sigma=sigma, empty_policy=empty_policy, quantile=quantile,
                                  selection=selection)
        if external and split == "train":
            now = cross.external_at(tables.read(chosen_table, "chosen"), t)
            chosen[split] = cross.substitute(chosen[split], tables.read(external, "external_scores"), now)
        rows.append(metrics_row(joined, chosen[split], method=method, sigma=sigma, split=split, t=t,
                                empty_policy=empty_policy, quantile=quantile))
    tables.write(with_split(graded), grades)
    tables.write(with_split(chosen), picks)
    tables.write(pl.concat(rows), metrics)


def external_data(*, data, out, task: dict, name: str, source: dict, model=None, inference: dict | None = None,
                  seed: int = 0, threads: int = 1) -> None:
    """Rule `external_data`: one external response per train prompt of task `name` from its source
    (SVG §5.2; svgap.loop.external), graded by the task: the external data's own accuracy."""
    from svgap.loop import external

    the_task = make_task(task["kind"], task.get("options"))
    train = by_split(tables.read(data, "data"), data)["train"]
    kind = source["source"]
    if kind == "reference":
        responses, label = external.reference(the_task, train), "reference"
    elif kind == "file":
        responses, label = external.from_file(source["path"], train, source["missing"]), "file"
    else:
        from svgap.inference.backend import load_backend

        loaded = load_backend(model, None, inference, threads)
        responses = external.from_model(loaded, the_task, train, temperature=source["temperature"],
                                        max_new_tokens=source["max_new_tokens"], seed=seed)
        label = f"model:{source['model']}"
    tables.write(external.graded(the_task, train, responses, label), out)
    log.info("-> %s", out)


def chosen_prompts(*, external, out, n: list[int], task: str, seed: int) -> None:
    """Rule `chosen_prompts`: which train prompts take external data, and from which epoch
    (svgap.loop.cross: one seeded draw per task and seed, n[t-1] of them at epoch t)."""
    ids = tables.read(external, "external")["prompt_id"].to_list()
    table = cross.chosen_prompts(ids, list(n), task=task, seed=seed)
    log.info("%d prompts chosen, per epoch %s", table.height, list(n))
    tables.write(table, out)


def score_external(*, model, adapter, data, external, chosen, out, task: dict, inference: dict, t: float,
                   threads: int = 1) -> None:
    """Rule `score_external`: the NLL, under the model of checkpoint t, of the external responses of the
    prompts external there. Teacher forcing runs on transformers whatever the run's backend: vLLM's
    prompt log-probabilities ignore a LoRA adapter (vllm#29955)."""
    from svgap.inference.backend import load_backend
    from svgap.loop import external as ext

    now = cross.external_at(tables.read(chosen, "chosen"), t)
    in_use = pl.col("prompt_id").is_in(pl.Series(now, dtype=pl.String).implode())
    table = tables.read(external, "external").filter(in_use)
    loaded = load_backend(model, adapter, inference, threads)
    train = by_split(tables.read(data, "data"), data)["train"]
    tables.write(ext.score(loaded, make_task(task["kind"], task.get("options")), train, table), out)
    log.info("-> %s", out)


def finetune(*, model, adapter, picks, out, half=None, spec: dict, device: str, dtype: str, seed: int, t: int,
             threads: int = 1) -> None:
    """Rule `finetune`: the adapter of epoch t, trained on the train-split picks of epoch t - 1 starting
    from the adapter of epoch t - 1 (`adapter`, None for t = 1); with `half`, also the half-epoch
    adapter (checkpoint t - 0.5)."""
    from svgap.inference import models
    from svgap.loop.finetune import FinetuneSpec, train

    _, tokenizer, base = models.load(model, None, device, dtype, threads)
    rows = tables.read(picks, "picks").filter(pl.col("split") == "train").drop("split").drop_nulls("token_ids")
    log.info("%d picks of %d prompts", rows.height, rows["prompt_id"].n_unique())
    log.info("finetuning epoch %d -> %d on %d picks, from %s", t - 1, t, rows.height,
             f"the adapter {adapter}" if adapter else "the base model")
    history = train(base, rows, FinetuneSpec.from_config(spec), Path(adapter) if adapter else None, Path(out),
                    stable_seed(seed, "finetune", t - 1), tokenizer.pad_token_id, Path(half) if half else None)
    log.info("done: %d optimiser steps, mean loss %.4f", history.height,
             history["loss"].mean() if history.height else float("nan"))


def trajectory(*, metrics: list, out, csv, run: dict) -> None:
    """Rule `trajectory`: every (split, t) metrics row of a run with the run's settings."""
    from svgap.loop import trajectory as traj

    tables.write(traj.build(list(metrics), dict(run)), out, csv)


def plot_trajectory(*, trajectory, png, pdf, plot: dict, title: str) -> None:
    """Rule `plot_trajectory`: U_s, U_v, G and the accuracies against t (SVG Figs. 3, 10-13)."""
    from svgap.loop import trajectory as traj

    traj.plot(tables.read(trajectory, "trajectory"), png, pdf, title=title, **dict(plot))


def hyperparameters(*, html, md, loop: dict, verifier: dict, finetune: dict) -> None:
    """Rule `hyperparameters`: SVG Table 3 beside this config's values (docs/design.md says why each
    value the paper leaves open was chosen)."""
    from svgap.dynamics import report
    from svgap.paper import TABLE3

    sections = {"loop": loop, "verifier": verifier, "finetune": finetune}

    def value(section: str, key: str) -> str:
        v = sections[section][key]
        return ", ".join(f"{k} {x}" for k, x in v.items()) if isinstance(v, dict) else str(v)

    table = pl.DataFrame([{"hyperparameter": name, "SVG Table 3": paper, "this config": value(*where),
                           "config key": ".".join(where)} for name, paper, where in TABLE3]).to_pandas()
    title = "Table 3: hyperparameters (SVG) and this config's"
    tables.write_text(report.html(table, title), html)
    tables.write_text(report.markdown(table, title), md)


def index(*, out, targets: list[str]) -> None:
    """Rule `index`: results/index.md, every table and figure of both papers with the files among `targets`
    (the rule's inputs: every figure and table this config makes)."""
    from svgap.paper import index_markdown

    tables.write_text(index_markdown(list(targets)), out)
    log.info("-> %s", out)


def pass_at_k(*, grades: list, table, csv, checkpoints: list, k: list) -> None:
    """Rule `pass_at_k`: pass@k of each of the run's `checkpoints` (its grades tables, in that order) for
    every k, both splits (svgap.evaluation.passk)."""
    from svgap.evaluation import passk

    if len(grades) != len(checkpoints):
        raise ValueError(f"pass_at_k: {len(grades)} grades tables for checkpoints {checkpoints}")
    parts = [passk.per_checkpoint(tables.read(path, "grades"), list(k), t) for path, t in zip(grades, checkpoints,
                                                                                                strict=True)]
    result = pl.concat(parts)
    for row in result.filter(pl.col("split") == "test").iter_rows(named=True):
        log.info("test t=%g: pass@%d %.3f (%d prompts x %d samples)", row["t"], row["k"], row["pass_at_k"],
                 row["n_prompts"], row["n_samples"])
    tables.write(result, table, csv)


def plot_pass_at_k(*, table, png, pdf, checkpoints: list, k: list, plot: dict, title: str) -> None:
    """Rule `plot_pass_at_k`: pass@k against k and against t (SVG Fig. 23; MTG Fig. 4 right)."""
    from svgap.evaluation import passk

    passk.plot(tables.read(table, "pass_at_k"), png, pdf, title=title, **dict(plot))


def iterative(*, trajectories: list, table, csv, md) -> None:
    """Rule `iterative`: MTG Fig. 4's per-round accuracy and gap of every run of a task
    (svgap.evaluation.iterative)."""
    from svgap.evaluation import iterative as it

    rounds = it.rounds([tables.read(p, "trajectory") for p in trajectories])
    for (model, method, split), part in rounds.group_by("model", "method", "split", maintain_order=True):
        log.info("%s %s %s: gap per round %s, saturated (<= 0.5%%) at %s", model, method, split,
                 [round(100 * g, 2) for g in part["gv_gap"]], part["saturated_at"][0])
    tables.write(rounds, table, csv)
    tables.write_text(it.markdown(rounds), md)


def plot_iterative(*, table, png, pdf, plot: dict, title: str) -> None:
    """Rule `plot_iterative`: MTG Fig. 4 (left), accuracy and gap against the round."""
    from svgap.evaluation import iterative as it

    it.plot(tables.read(table, "rounds"), png, pdf, title=title, **dict(plot))


def _graded(the_task, prompts: dict, generations) -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    """Per split: the responses of `generations` and their grades against the gold answers."""
    out = {}
    for split, gens in by_split(tables.read(generations, "generations"), generations).items():
        if split not in prompts:
            raise ValueError(f"{generations}: the {split} split is missing from the data")
        out[split] = (gens, grading.grade(the_task, prompts[split], gens))
    return out


def _joined(graded: dict, generations, verify) -> dict[str, pl.DataFrame]:
    """Per split: the graded responses (`_graded` of `generations`) with the scores of `verify`
    (svgap.loop.grading.samples)."""
    scores = by_split(tables.read(verify, "verify"), verify)
    out = {}
    for split, (gens, grades) in graded.items():
        if split not in scores:
            raise ValueError(f"{verify}: the {split} split of {generations} is not verified")
        out[split] = grading.samples(gens, scores[split], grades, f"{generations} ({split}) with {verify}")
    return out


def n_sweep(*, data, generations, verify, table, csv, md, task: dict, methods: list, n: list, sigma: dict,
            quantile: dict, empty_policy: str, seed: int) -> None:
    """Rule `n_sweep`: the solver's and the verifier's figures at every N of `n`, from nested, seeded subsets
    of one sampling of max(n) (svgap.evaluation.nsweep)."""
    from svgap.evaluation import nsweep

    the_task = make_task(task["kind"], task.get("options"))
    prompts = by_split(tables.read(data, "data"), data)
    parts = [nsweep.sweep(samples, split=split, ns=list(n), methods=list(methods), sigma=dict(sigma),
                          quantile=dict(quantile), empty_policy=empty_policy, seed=seed, where=str(generations))
             for split, samples in _joined(_graded(the_task, prompts, generations), generations, verify).items()]
    result = pl.concat(parts)
    for r in result.filter(pl.col("split") == "test").iter_rows(named=True):
        log.info("test %s N=%d: acc_s %.3f acc_v %.3f U_s %.2f U_v %.2f", r["method"], r["n"], r["acc_s"], r["acc_v"],
                 r["U_s"], r["U_v"])
    tables.write(result, table, csv)
    tables.write_text(nsweep.markdown(result), md)


def plot_n_sweep(*, table, png, pdf, plot: dict, title: str) -> None:
    """Rule `plot_n_sweep`: SVG Figs. 18-20."""
    from svgap.evaluation import nsweep

    nsweep.plot(tables.read(table, "n_sweep"), png, pdf, title=title, **dict(plot))


def cross_eval_sample(*, model, data, generations, task: dict, n_samples: int, seed: int, max_new_tokens: int,
                      temperature: float, top_p: float, inference: dict, threads: int = 1) -> None:
    """Rule `cross_eval_sample`: a base model's N responses per prompt, both splits, for the matrix (t = 0)."""
    from svgap.inference.backend import load_backend
    from svgap.loop.sampling import generate

    loaded = load_backend(model, None, inference, threads)
    the_task = make_task(task["kind"], task.get("options"))
    prompts = by_split(tables.read(data, "data"), data)
    tables.write(generate(loaded, the_task, prompts, n_samples=n_samples, max_new_tokens=max_new_tokens,
                          temperature=temperature, top_p=top_p, seed=seed, t=0), generations)


def cross_eval_verify(*, model, adapter, data, generations, verify, task: dict, verifier: dict, inference: dict,
                      seed: int, t: float, mtg_methods: tuple[str, ...] = (), threads: int = 1) -> None:
    """Rule `cross_eval_verify`: the verifier checkpoint (base `model` + `adapter`) scores the solver's
    responses, seeded by the solver's (seed, t), so that a checkpoint verifying itself repeats its own
    verification (svgap.loop.verification.verify_samples)."""
    from svgap.inference.backend import load_backend
    from svgap.loop.verification import verify_samples

    loaded = load_backend(model, adapter, inference, threads)
    the_task = make_task(task["kind"], task.get("options"))
    prompts = by_split(tables.read(data, "data"), data)
    gens = tables.read(generations, "generations")
    tables.write(verify_samples(loaded, the_task, prompts, gens, verifier=verifier, seed=seed, t=t,
                                where=str(generations), mtg_methods=tuple(mtg_methods)), verify)


def cross_eval(*, data, generations: list, verify: list, table, csv, md, task: dict, names: list, methods: list,
               sigma: dict, quantile: dict, empty_policy: str) -> None:
    """Rule `cross_eval`: the solver x verifier cells of every method and split (svgap.evaluation.crosseval);
    `generations` in `names` order, `verify` solver-major."""
    from svgap.evaluation import crosseval

    names = list(names)
    if len(generations) != len(names) or len(verify) != len(names) ** 2:
        raise ValueError(f"cross_eval: {len(generations)} responses and {len(verify)} verifications for {names}")
    the_task = make_task(task["kind"], task.get("options"))
    prompts = by_split(tables.read(data, "data"), data)
    parts = []
    for i, solver in enumerate(names):
        graded = _graded(the_task, prompts, generations[i])  # once per solver (MBPP grading runs code)
        for j, verifier in enumerate(names):
            for split, samples in _joined(graded, generations[i], verify[i * len(names) + j]).items():
                parts.append(crosseval.cells(samples, solver=solver, verifier=verifier, split=split,
                                             methods=list(methods), sigma=dict(sigma), quantile=dict(quantile),
                                             empty_policy=empty_policy))
    matrix = pl.concat(parts)
    for r in matrix.filter(pl.col("split") == "test").iter_rows(named=True):
        log.info("test %s: %s verified by %s: acc_s %.3f acc_v %.3f G %.2f gap %.3f", r["method"], r["solver"],
                 r["verifier"], r["acc_s"], r["acc_v"], r["G"], r["gv_gap"])
    tables.write(matrix, table, csv)
    tables.write_text(crosseval.markdown(matrix, names), md)


def plot_cross_eval(*, table, png, pdf, names: list, plot: dict, title: str) -> None:
    """Rule `plot_cross_eval`: the matrices as heat maps."""
    from svgap.evaluation import crosseval

    crosseval.plot(tables.read(table, "cross_eval"), png, pdf, names=list(names), title=title, **dict(plot))


def training_stages(*, fits: list, table, csv, md, labels: list) -> None:
    """Rule `training_stages`: each stage's joint fit side by side (svgap.evaluation.training_stages)."""
    from svgap.evaluation import training_stages as ts

    if len(fits) != len(labels):
        raise ValueError(f"training_stages: {len(fits)} fits tables for stages {labels}")
    result = ts.table(list(labels), [tables.read(p, "fits") for p in fits])
    for r in result.iter_rows(named=True):
        log.info("%s %s: %s, rate %.4g, alpha' %.4g, delta %.4g", r["stage"], r["split"], r["status"], r["rate"],
                 r["alpha_p"], r["delta"])
    tables.write(result, table, csv)
    tables.write_text(ts.markdown(result), md)


def plot_training_stages(*, table, trajectories: list, png, pdf, labels: list, unit: str, plot: dict,
                         title: str) -> None:
    """Rule `plot_training_stages`: SVG Figs. 5 and 9."""
    from svgap.evaluation import training_stages as ts

    ts.plot(list(labels), [tables.read(p, "trajectory") for p in trajectories], tables.read(table, "stages"), png,
            pdf, unit=unit, title=title, **dict(plot))
