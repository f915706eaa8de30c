"""Sampling: N responses per prompt from the model of a checkpoint (SVG Algorithm 1, line 3).

Sample 0 of each prompt is the solver's response y_i of U_s (Eq. 5); all N are the Best-of-N
candidates. Each prompt's samples are seeded by (run seed, split, t, prompt id), so a sample does not
depend on the other prompts of the call. The NLL of each response is the raw (temperature-1) model's,
read off the sampling pass itself (svgap.inference.backend).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import polars as pl

from svgap.inference.chat import render
from svgap.seeds import stable_seed
from svgap.tables import with_split

log = logging.getLogger(__name__)

SCHEMA = {"prompt_id": pl.String, "sample": pl.Int64, "prompt_token_ids": pl.List(pl.Int64),
          "token_ids": pl.List(pl.Int64), "text": pl.String, "length": pl.Int64, "nll": pl.Float64,
          "finished": pl.Boolean}


def generate(loaded, task, data: Mapping[str, pl.DataFrame], *, n_samples: int, max_new_tokens: int,
             temperature: float, seed: int, t: float, top_p: float = 1.0) -> pl.DataFrame:
    """The generations table: N samples per prompt of each split.

    `loaded` is what `svgap.inference.backend.load_backend` returns, `task` a `svgap.tasks.Task`,
    `data` the data table by split (`svgap.tables.by_split`); `top_p` < 1 samples within the nucleus
    (MTG §3), the NLL still the raw model's.
    """
    desc, tokenizer, backend = loaded
    parts = {}
    for split, data_table in data.items():
        prompts = [render(tokenizer, task.solver_messages(q), desc["chat_template"]) for q in data_table["prompt"]]
        seeds = [stable_seed(seed, "generate", split, t, pid) for pid in data_table["prompt_id"]]
        start = time.perf_counter()
        done = backend.sample(prompts, n_samples, max_new_tokens, temperature, seeds, top_p=top_p)
        elapsed = time.perf_counter() - start
        rows = []
        for pid, prompt, completions in zip(data_table["prompt_id"], prompts, done, strict=True):
            for j, c in enumerate(completions):
                rows.append({"prompt_id": pid, "sample": j, "prompt_token_ids": prompt, "token_ids": list(c.token_ids),
                             "text": tokenizer.decode(c.token_ids, skip_special_tokens=True),
                             "length": len(c.token_ids), "nll": c.nll, "finished": c.finished})
        parts[split] = pl.DataFrame(rows, schema=SCHEMA)
        n_tokens = int(parts[split]["length"].sum())
        log.info("%s: generated %d samples, %d tokens in %.1f s (%.1f tokens/s)", split, parts[split].height,
                 n_tokens, elapsed, n_tokens / elapsed if elapsed else float("nan"))
    return with_split(parts)
