"""The generation / scoring interface every backend implements.

A backend turns token ids into token ids and log-probabilities; it knows nothing of tasks, verifiers
or the Best-of-N rule. Three operations cover the whole loop, each with the minimal number of passes:

- `sample`: N continuations per prompt at a temperature, optionally within the top-p nucleus
  (MTG §3 samples with top-p 0.9). The NLL of each continuation comes from the *raw*
  (temperature-1, unfiltered: no temperature, no nucleus) logits of the very pass that sampled it:
  no second forward pass.
- `nll`: teacher-forced NLL of given responses (one forward per batch).
- `next_token_logprobs`: log-probabilities of a few candidate tokens right after each prompt, from a
  single batched forward with no decoding (the verifier's P("correct")). When the same prompt is
  also sampled from, `sample(..., first_token_ids=...)` returns the same numbers from its prefill,
  saving that forward.

`load_backend` builds the backend a config names on the model of an epoch.

Randomness is per sequence: continuation j of prompt i draws its noise from a generator seeded by
`sequence_seed(seeds[i], j)`, so a sample does not depend on which other prompts share its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Completion:
    """One sampled response.

    token_ids: the generated tokens, including the end-of-sequence token when one was produced.
    nll: -log pi(y|x) summed over token_ids, from the raw temperature-1 logits.
    finished: True when the response ended on an end-of-sequence token, False when it hit the cap.
    first_logprobs: log-probabilities, at the first generated position, of the `first_token_ids`
        the caller asked for (empty if none): the next-token distribution of the prompt, read off
        the prefill that sampling does anyway.
    """

    token_ids: tuple[int, ...]
    nll: float
    finished: bool
    first_logprobs: tuple[float, ...] = ()


class Backend(Protocol):
    """What the loop needs from an inference engine."""

    eos_token_ids: frozenset[int]

    def sample(
        self,
        prompts: Sequence[Sequence[int]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        seeds: Sequence[int],
        first_token_ids: Sequence[int] = (),
        top_p: float = 1.0,
    ) -> list[list[Completion]]: ...

    def nll(self, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]) -> np.ndarray: ...

    def next_token_logprobs(
        self, prompts: Sequence[Sequence[int]], token_ids: Sequence[int]
    ) -> np.ndarray: ...


def sequence_seed(seed: int, j: int) -> int:
    """The 63-bit seed of continuation j of a prompt whose seed is `seed`."""
    return int(np.random.SeedSequence([seed, j]).generate_state(1, dtype=np.uint64)[0] >> 1)


def length_batches(lengths: Sequence[int], max_tokens: int, max_rows: int) -> list[list[int]]:
    """Group indices into batches of similar length to cut padding.

    Indices are sorted by length (longest first, ties by index, so the grouping is deterministic)
    and cut whenever the padded batch (rows x longest row) would exceed `max_tokens` or `max_rows`.
    Every index appears in exactly one batch; a single row longer than `max_tokens` forms its own.
    """
    return cut_batches(sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)), lengths, max_tokens, max_rows)


def cut_batches(order: Sequence[int], lengths: Sequence[int], max_tokens: int, max_rows: int) -> list[list[int]]:
    """Indices in `order`, cut into consecutive batches wherever rows x the batch's longest length would
    exceed `max_tokens` or the rows `max_rows`; an index longer than `max_tokens` forms its own batch."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        if current and ((len(current) + 1) * max(longest, lengths[i]) > max_tokens or len(current) + 1 > max_rows):
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, lengths[i])
    if current:
        batches.append(current)
    return batches


BACKENDS = ("transformers", "vllm")


def load_backend(model_json, adapter, inference: dict, threads: int):
    """The descriptor, tokenizer and a backend on the model of an epoch (`adapter`: None at t = 0).

    `inference` is the rule's slice of the config's `inference` section: `backend`, `device`, `dtype`
    and that backend's own settings (transformers: `max_batch_tokens`, `max_batch_rows`; vllm: `vllm`).
    transformers merges the adapter into the base weights; vllm serves it as a LoRA request.
    """
    from svgap.inference import models

    backend = inference["backend"]
    if backend not in BACKENDS:
        raise ValueError(f"inference.backend: {backend!r} is not a backend {BACKENDS}")
    if backend == "transformers":
        from svgap.inference.hf_backend import HFBackend

        desc, tokenizer, model = models.load(model_json, adapter, inference["device"], inference["dtype"], threads)
        return desc, tokenizer, HFBackend(model, tokenizer, inference["max_batch_tokens"], inference["max_batch_rows"])
    from svgap.inference.vllm_backend import VLLMBackend

    desc = models.read_descriptor(model_json)
    tokenizer = models.load_tokenizer(desc)
    dtype = models.pick_dtype(inference["dtype"], models.pick_device(inference["device"]))
    engine = VLLMBackend(desc["location"], models.eos_token_ids(desc, tokenizer), dtype=str(dtype).split(".")[-1],
                         revision=desc.get("revision"), adapter=Path(adapter) if adapter else None,
                         threads=threads, options=inference.get("vllm"))
    return desc, tokenizer, engine
