"""The stage entry points the Snakemake rules call, one function per rule, and the per-split steps of `select`.

Each entry point takes file paths and plain values (the rule's slice of the config), reads and
writes the tables of `svgap.tables`, and logs its progress. A checkpoint's tables hold both splits
in a `split` column; the per-split steps (`grade`, `select`, `compute_metrics`) take and return
DataFrames of one split, and `generate` / `verify_samples` take a loaded model and return tables.
Nothing here imports Snakemake: the functions run from a test or a notebook as well. torch and
transformers are imported only by the stages that run a model, so the table stages need neither.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl

from svgap import bon, metrics, tables, verify
from svgap.chat import render
from svgap.seeds import stable_seed
from svgap.tasks import make_task

log = logging.getLogger("svgap")
SCORE_COLUMN = {"tf": "tf_score", "qe": "qe_score", "mc": "p_correct"}
SPLITS = ("train", "test")  # every table of the loop holds both, in this order, in a `split` column


def make_data(kind: str, options: dict, n_train: int, n_test: int, seed: int, out) -> None:
    """The prompts and gold answers of both splits: one table, its rows in SPLITS order."""
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


def by_split(df: pl.DataFrame, path) -> dict[str, pl.DataFrame]:
    """{split: rows} of a table, in SPLITS order, without the split column; `path` names the file in errors."""
    unknown = sorted(set(df["split"].unique().to_list()) - set(SPLITS))
    if unknown:
        raise ValueError(f"{path}: split value(s) {unknown} are neither of {list(SPLITS)}")
    parts = df.partition_by("split", as_dict=True, include_key=False, maintain_order=True)
    return {split: parts[(split,)] for split in SPLITS if (split,) in parts}


def with_split(parts: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The per-split tables as one, the split column first (the inverse of `by_split`). A column with no
    value in one split (a task's extra grade, e.g. GSM8K's strict answer) takes the other split's type."""
    return pl.concat([df.select(pl.lit(split).alias("split"), pl.all()) for split, df in parts.items()],
                     how="vertical_relaxed")


def base_model(name: str, spec: dict, out_json, weights_dir) -> None:
    from svgap import models

    desc = models.resolve_model(name, spec, Path(weights_dir))
    Path(out_json).write_text(json.dumps(desc, indent=2) + "\n")
    log.info("model %s: %s", name, desc)


def load_model(model_json, adapter, inference: dict, threads: int, merge: bool = True):
    """The descriptor, tokenizer and model of an epoch: the base model plus the epoch's adapter."""
    import torch

    from svgap import models

    torch.set_num_threads(threads)
    desc = models.read_descriptor(model_json)
    device = models.pick_device(inference["device"])
    dtype = models.pick_dtype(inference["dtype"], device)
    tokenizer = models.load_tokenizer(desc)
    model = models.load_model(desc, dtype, device, Path(adapter) if adapter else None, merge=merge)
    log.info("loaded %s%s on %s as %s", desc["location"], f" + {adapter}" if adapter else "", device, dtype)
    return desc, tokenizer, model


def load_backend(model_json, adapter, inference: dict, threads: int):
    """The descriptor, tokenizer and a backend on the model of an epoch.

    transformers: the adapter merged into the base weights. vllm: the base weights with the adapter
    served as a LoRA request.
    """
    from svgap import models

    backend = inference.get("backend", "transformers")
    if backend == "transformers":
        from svgap.hf_backend import HFBackend

        desc, tokenizer, model = load_model(model_json, adapter, inference, threads)
        return desc, tokenizer, HFBackend(model, tokenizer, inference["max_batch_tokens"],
                                          inference["max_batch_rows"])
    if backend != "vllm":
        raise ValueError(f"inference.backend: {backend!r} is not a backend (transformers, vllm)")
    from svgap.vllm_backend import VLLMBackend

    desc = models.read_descriptor(model_json)
    tokenizer = models.load_tokenizer(desc)
    dtype = models.pick_dtype(inference["dtype"], models.pick_device(inference["device"]))
    engine = VLLMBackend(desc["location"], models.eos_token_ids(desc, tokenizer), dtype=str(dtype).split(".")[-1],
                         revision=desc.get("revision"), adapter=Path(adapter) if adapter else None,
                         threads=threads, options=inference.get("vllm"))
    return desc, tokenizer, engine


def generate_and_verify(model_json, adapter, data_path, out: Mapping[str, Path], *, task: dict, n_samples: int,
                        max_new_tokens: int, temperature: float, verifier: dict, seed: int, t: float,
                        inference: dict, threads: int = 1) -> None:
    """The model of one checkpoint at work on both splits: N samples per prompt (the generations table),
    then the same model's TF, QE and P(correct) of every sample (the verify table). One model load, one
    vLLM engine start on a GPU, serves both steps."""
    loaded = load_backend(model_json, adapter, inference, threads)
    the_task = make_task(task["kind"], task.get("options"))
    data = by_split(tables.read(data_path, "data"), data_path)
    gens = generate(loaded, the_task, data, n_samples=n_samples, max_new_tokens=max_new_tokens,
                    temperature=temperature, seed=seed, t=t)
    tables.write(gens, out["generations"])
    tables.write(verify_samples(loaded, the_task, data, gens, verifier=verifier, seed=seed, t=t,
                                where=str(out["generations"])), out["verify"])


def generate(loaded, the_task, data: Mapping[str, pl.DataFrame], *, n_samples: int, max_new_tokens: int,
             temperature: float, seed: int, t: float) -> pl.DataFrame:
    """The generations table: N samples per prompt of each split (`data`: by_split of the data table), from
    `loaded` = load_backend(...)."""
    desc, tokenizer, backend = loaded
    parts = {}
    for split, data_table in data.items():
        prompts = [render(tokenizer, the_task.solver_messages(q), desc["chat_template"]) for q in data_table["prompt"]]
        seeds = [stable_seed(seed, "generate", split, t, pid) for pid in data_table["prompt_id"]]
        start = time.perf_counter()
        done = backend.sample(prompts, n_samples, max_new_tokens, temperature, seeds)
        elapsed = time.perf_counter() - start
        rows = []
        for pid, prompt, completions in zip(data_table["prompt_id"], prompts, done, strict=True):
            for j, c in enumerate(completions):
                rows.append({"prompt_id": pid, "sample": j, "prompt_token_ids": prompt, "token_ids": list(c.token_ids),
                             "text": tokenizer.decode(c.token_ids, skip_special_tokens=True),
                             "length": len(c.token_ids), "nll": c.nll, "finished": c.finished})
        parts[split] = pl.DataFrame(rows, schema={"prompt_id": pl.String, "sample": pl.Int64,
                                                  "prompt_token_ids": pl.List(pl.Int64),
                                                  "token_ids": pl.List(pl.Int64), "text": pl.String,
                                                  "length": pl.Int64, "nll": pl.Float64, "finished": pl.Boolean})
        n_tokens = int(parts[split]["length"].sum())
        log.info("%s: generated %d samples, %d tokens in %.1f s (%.1f tokens/s)", split, parts[split].height,
                 n_tokens, elapsed, n_tokens / elapsed if elapsed else float("nan"))
    return with_split(parts)


def verify_samples(loaded, the_task, data: Mapping[str, pl.DataFrame], gens: pl.DataFrame, *, verifier: dict,
                   seed: int, t: float, where: str) -> pl.DataFrame:
    """The verify table: TF, QE and P(correct) of every sample of a generations table (`where` names it in
    errors; `data`: by_split of the data table), from `loaded` = load_backend(...)."""
    desc, tokenizer, backend = loaded
    spec = verify.VerifierSpec.from_config(verifier)
    questions = {}  # every split checked before the model runs on any
    for split, split_gens in by_split(gens, where).items():
        if split not in data:
            raise ValueError(f"{where}: the {split} split is missing from the data table")
        questions[split] = split_gens.join(data[split].select("prompt_id", "prompt"), on="prompt_id", how="left")
        if questions[split]["prompt"].null_count():
            raise ValueError(f"{where}: {split} prompt ids not in the {split} split of the data table")
    return with_split({split: _verify_split(backend, tokenizer, desc["chat_template"], spec, the_task.verifier_shots,
                                            split_gens, verifier, seed, split, t)
                       for split, split_gens in questions.items()})


def _verify_split(backend, tokenizer, chat, spec, shots, gens: pl.DataFrame, verifier: dict, seed: int,
                  split: str, t: float) -> pl.DataFrame:
    """The verifier table of one split's generations (`gens` with each sample's prompt joined)."""
    pairs = list(zip(gens["prompt"], gens["text"], strict=True))
    tf_prompts = [render(tokenizer, verify.tf_messages(spec, shots, q, r), chat) for q, r in pairs]
    qe_prompts = [render(tokenizer, verify.qe_messages(spec, shots, q, r), chat) for q, r in pairs]
    keys = list(zip(gens["prompt_id"], gens["sample"], strict=True))
    yes, no = verify.verdict_tokens(tokenizer, spec)
    replies, first = {}, None
    for method, prompts in (("tf", tf_prompts), ("qe", qe_prompts)):
        start = time.perf_counter()
        seeds = [stable_seed(seed, f"verify-{method}", split, t, pid, j) for pid, j in keys]
        done = backend.sample(prompts, 1, verifier["max_new_tokens"], verifier["temperature"], seeds,
                              first_token_ids=yes + no if method == "tf" else ())
        replies[method] = [tokenizer.decode(c[0].token_ids, skip_special_tokens=True) for c in done]
        if method == "tf":  # P(correct): the next-token distribution after the TF prompt, from its prefill
            first = np.array([c[0].first_logprobs for c in done]).reshape(len(done), len(yes + no))
        log.info("%s %s: %d replies in %.1f s", split, method.upper(), len(prompts), time.perf_counter() - start)
    probs = np.exp(first)
    p_yes, p_no = probs[:, :len(yes)].sum(-1), probs[:, len(yes):].sum(-1)
    p_correct = p_yes / (p_yes + p_no)
    tf = [verify.parse_tf(spec, r) for r in replies["tf"]]
    qe = [verify.parse_qe(spec, r) for r in replies["qe"]]
    df = pl.DataFrame({
        "prompt_id": gens["prompt_id"], "sample": gens["sample"],
        "tf_reply": replies["tf"], "tf_score": [s if s is not None else 0.0 for s in tf],
        "tf_parsed": [s is not None for s in tf],
        "qe_reply": replies["qe"], "qe_score": [s if s is not None else 0.0 for s in qe],
        "qe_parsed": [s is not None for s in qe],
        "p_correct": p_correct,
    })
    log.info("%s: unparsed verifier replies (scored 0): TF %d, QE %d of %d", split,
             (~df["tf_parsed"]).sum(), (~df["qe_parsed"]).sum(), df.height)
    return df


def grade(the_task, data: pl.DataFrame, gens: pl.DataFrame) -> pl.DataFrame:
    """Each sample of one split judged against its prompt's gold answer: the grades table (without split)."""
    gens = gens.join(data.select("prompt_id", "answer", "meta"), on="prompt_id", how="left")
    rows = [{"prompt_id": pid, "sample": j, **the_task.grade(text, answer, json.loads(meta))}
            for pid, j, text, answer, meta in gens.select("prompt_id", "sample", "text", "answer", "meta").iter_rows()]
    # pred and correct first, then the task's extras (e.g. GSM8K's strict and flexible extractions)
    df = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("sample").cast(pl.Int64), pl.col("pred").cast(pl.String), pl.col("correct").cast(pl.Boolean))
    log.info("graded %d samples: %.3f correct, %d without an answer", df.height, df["correct"].mean(),
             df["pred"].null_count())
    return df


def samples(gens: pl.DataFrame, scores: pl.DataFrame, grades: pl.DataFrame, where: str) -> pl.DataFrame:
    """Generations, verifier scores and grades side by side, one row per (prompt, sample); `where` names the
    files and split in errors."""
    keys = ["prompt_id", "sample"]
    joined = gens.join(scores, on=keys, how="left").join(grades, on=keys, how="left")
    for column, kind in (("tf_score", "verifier scores"), ("correct", "grades")):
        if joined[column].null_count():
            raise ValueError(f"{where}: {joined[column].null_count()} samples have no {kind}")
    return joined


def select(samples: pl.DataFrame, *, method: str, sigma: float, empty_policy: str) -> pl.DataFrame:
    """The Best-of-N pick of each prompt of one split (Eq. 4): the picks table (without split)."""
    samples = samples.with_columns(score=pl.col(SCORE_COLUMN[method]))
    picks = bon.best_of_n(samples.select("prompt_id", "sample", "nll", "length", "score"), sigma, empty_policy)
    picks = picks.join(samples.select("prompt_id", "sample", "score", "nll", "length", "correct",
                                      "prompt_token_ids", "token_ids"), on=["prompt_id", "sample"], how="left")
    log.info("method %s, sigma %s: %d prompts, %d with no candidate (%s), %d picks", method, sigma, picks.height,
             (picks["n_candidates"] == 0).sum(), empty_policy, picks["sample"].drop_nulls().len())
    return picks


def compute_metrics(samples: pl.DataFrame, picks: pl.DataFrame, *, method: str, sigma: float, split: str,
                    t: float) -> pl.DataFrame:
    """The metrics row of one (split, t): U_s, U_v, G, accuracies and verifier diagnostics."""
    row = metrics.compute(samples, picks, SCORE_COLUMN[method], sigma)
    log.info("%s t=%g: U_s %.3f U_v %.3f G %.3f acc_s %.3f acc_v %.3f", split, t, row["U_s"], row["U_v"],
             row["G"], row["acc_s"], row["acc_v"])
    return pl.DataFrame([{"split": split, "t": float(t), **row}]).select(list(tables.COLUMNS["metrics"]))


def select_and_measure(data_path, generations_path, verify_path, out: Mapping[str, Path], *, task: dict,
                       method: str, sigma: float, empty_policy: str, t: float) -> None:
    """One checkpoint's table work, split by split: grades, the Best-of-N picks, the metrics rows.

    `out` maps "grades", "picks" and "metrics" to their paths.
    """
    the_task = make_task(task["kind"], task.get("options"))
    data = by_split(tables.read(data_path, "data"), data_path)
    scores = by_split(tables.read(verify_path, "verify"), verify_path)
    grades, picks, rows = {}, {}, []
    for split, gens in by_split(tables.read(generations_path, "generations"), generations_path).items():
        log.info("%s split", split)
        if split not in data or split not in scores:
            raise ValueError(f"{generations_path}: the {split} split is missing from {data_path} or {verify_path}")
        grades[split] = grade(the_task, data[split], gens)
        joined = samples(gens, scores[split], grades[split], f"{generations_path} ({split})")
        picks[split] = select(joined, method=method, sigma=sigma, empty_policy=empty_policy)
        rows.append(compute_metrics(joined, picks[split], method=method, sigma=sigma, split=split, t=t))
    tables.write(with_split(grades), out["grades"])
    tables.write(with_split(picks), out["picks"])
    tables.write(pl.concat(rows), out["metrics"])


def finetune(model_json, previous_adapter, picks_path, out_dir, *, spec: dict, seed: int, t: int, inference: dict,
             threads: int = 1, half_dir=None) -> None:
    from svgap.finetune import FinetuneSpec, train

    _, tokenizer, base = load_model(model_json, None, inference, threads)
    picks = tables.read(picks_path, "picks").filter(pl.col("split") == "train").drop("split").drop_nulls("sample")
    log.info("finetuning epoch %d -> %d on %d picks", t, t + 1, picks.height)
    history = train(base, picks, FinetuneSpec.from_config(spec), Path(previous_adapter) if previous_adapter else None,
                    Path(out_dir), stable_seed(seed, "finetune", t), tokenizer.pad_token_id,
                    Path(half_dir) if half_dir else None)
    log.info("done: %d optimiser steps, mean loss %.4f", history.height,
             history["loss"].mean() if history.height else float("nan"))
