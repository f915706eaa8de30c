"""The transformers backend: sampling with a KV cache, teacher-forced NLL, next-token log-probs.

Sampling is a hand-written decode loop rather than `model.generate` for three reasons the loop
depends on: (1) the NLL must come from the raw temperature-1 logits of the sampling pass itself,
(2) each sequence draws its noise from its own seeded generator (one uniform per step, inverse-CDF
sampling), so results do not depend on batch composition, and (3) finished sequences leave the batch
at once, so no compute is spent on padding after EOS. The prompt of a batch is prefilled once and its
KV cache shared by its N continuations.

What prompts share is computed once too (on a CPU, where `svgap.inference.attention` provides the shared-
prefix attention): the head every prompt of a call shares (a verifier's instructions and worked examples,
a system prompt) once per job (`_head`), and the rest of a batch's prompts as prefix trees
(`svgap.inference.packing`: a question's N responses share the question, identical responses everything).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
from transformers import StaticCache

from svgap.inference.attention import shared_prefix, use_decode_gqa
from svgap.inference.backend import Completion, length_batches, sequence_seed
from svgap.inference.linear import use_onednn_linears
from svgap.inference.nll import last_positions, left_pad, response_nll
from svgap.inference.packing import pack, sorted_batches

log = logging.getLogger(__name__)


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    """Tokens shared by all sequences, leaving at least one token of each outside the prefix."""
    shortest = min(len(s) for s in seqs)
    first = seqs[0]
    n = 0
    while n < shortest - 1 and all(s[n] == first[n] for s in seqs):
        n += 1
    return n


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """`probs` (rows summing to 1) restricted to each row's top-p nucleus, not renormalised.

    The nucleus (Holtzman et al., 2020) is the smallest set of the most probable tokens whose
    probabilities sum to at least `top_p`: a token is kept when the tokens ranked before it sum to
    less than `top_p`, so the most probable token always is (among tied tokens the ranking is
    torch's). The ranking is a top-k of each row, k = 64 first, where a language model's nucleus
    almost always lies; rows whose top k fall short of `top_p` try k = 1024, then the whole row.
    """
    if top_p >= 1:
        return probs
    kept = torch.zeros_like(probs, dtype=torch.bool)
    rows = torch.arange(probs.shape[0], device=probs.device)
    for k in (64, 1024, probs.shape[-1]):
        k = min(k, probs.shape[-1])
        top, order = probs[rows].topk(k, dim=-1)
        done = (top.sum(-1) >= top_p) | (k == probs.shape[-1])
        inside = (top[done].cumsum(-1) - top[done]) < top_p
        kept[rows[done]] = kept.new_zeros((int(done.sum()), probs.shape[-1])).scatter(-1, order[done], inside)
        rows = rows[~done]
        if not len(rows):
            break
    return probs.masked_fill(~kept, 0.0)


BLOCK = 256  # vocabulary block of the two-level inverse-CDF search in `draw`


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per row, the first token whose cumulative probability exceeds u x the row's total.

    A two-level search: cumulative sums of the vocabulary's blocks of `BLOCK` tokens (in float64) find
    the block, then one block's cumulative sum finds the token, so no cumulative sum of the whole
    vocabulary is written (for 128 rows of a 49k vocabulary that was most of a decode step). A token of
    probability 0 is never drawn.
    """
    rows, vocab = probs.shape
    width = -(-vocab // BLOCK) * BLOCK
    padded = torch.nn.functional.pad(probs, (0, width - vocab)).view(rows, width // BLOCK, BLOCK)
    block_cdf = padded.sum(-1).double().cumsum(-1)
    target = (u * block_cdf[:, -1]).unsqueeze(1)
    block = torch.searchsorted(block_cdf, target, right=True).clamp(max=block_cdf.shape[1] - 1)
    before = torch.where(block > 0, block_cdf.gather(1, (block - 1).clamp(min=0)), 0.0)
    inside = padded[torch.arange(rows, device=probs.device), block.squeeze(1)]
    j = torch.searchsorted(inside.double().cumsum(-1), target - before, right=True).squeeze(1)
    last_positive = BLOCK - 1 - (inside.flip(-1) > 0).int().argmax(-1)  # where float64 sums round past the end
    return block.squeeze(1) * BLOCK + torch.minimum(j, last_positive)


def draw(logits: torch.Tensor, temperature: float, gens: list[torch.Generator], top_p: float = 1.0) -> torch.Tensor:
    """One token per row from softmax(logits / temperature) within its top-p nucleus (renormalised),
    greedy when temperature is 0.

    Inverse-CDF sampling with one uniform per row from that row's own generator: the draw of a
    row does not depend on the other rows, and costs one random number instead of a vocabulary
    of noise (as Gumbel-max sampling would need). Probabilities are float32, cumulative sums float64.
    """
    if temperature <= 0:
        return logits.argmax(-1)
    scaled = logits.float() if temperature == 1 else logits.float() / temperature
    probs = nucleus(torch.softmax(scaled, dim=-1), top_p)
    u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in gens]).to(logits.device)
    return inverse_cdf(probs, u)


def select_rows(cache, rows: torch.Tensor) -> None:
    """Keep (or repeat) the batch rows `rows` of every layer of a KV cache, dynamic or static."""
    for layer in cache.layers:
        if layer.is_initialized:
            layer.keys, layer.values = layer.keys[rows], layer.values[rows]


class HFBackend:
    """A `Backend` on a transformers causal LM (CPU or CUDA)."""

    min_shared_prefix = 8
    pack_width = 256  # nodes per row of a packed prefill (svgap.inference.packing)
    kept_heads = 4  # shared heads whose KV is kept for later batches and calls (the last used)

    def __init__(self, model, tokenizer, max_batch_tokens: int = 32768, max_batch_rows: int = 128):
        self.model = model.eval()
        self.device = next(model.parameters()).device
        # a shared prefix's KV kept once (svgap.inference.attention.cascade_attention: the CPU flash kernel),
        # else copied to every row; not for sliding-window attention
        self.keep_prefix_once = (use_decode_gqa(model) and self.device.type == "cpu"
                                 and getattr(model.config, "sliding_window", None) is None)
        if routed := use_onednn_linears(model):  # float32 on a CPU: oneDNN's GEMMs (svgap.inference.linear)
            log.info("%d float32 linear layers run through oneDNN", routed)
        eos = model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        eos = [e for e in [*eos, tokenizer.eos_token_id] if e is not None]
        if not eos:
            raise ValueError("the tokenizer and generation config name no end-of-sequence token")
        self.eos_token_ids = frozenset(int(e) for e in eos)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos)
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_rows = max_batch_rows
        self._heads: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def _forward_last(self, ids, mask, pos, cache=None, prefix=None):
        with shared_prefix(prefix):
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                             use_cache=True, logits_to_keep=last_positions(ids.shape[1], 1, ids.device))
        return out.logits[:, -1].float(), out.past_key_values

    def _head(self, tokens: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The keys and values of a shared head, per layer. Computed once and kept (the `kept_heads` used last),
        so the batches and calls of a job with the same verifier prompts compute their head once."""
        key = tuple(int(t) for t in tokens)
        if key in self._heads:
            self._heads[key] = self._heads.pop(key)  # the most recently used last
            return self._heads[key]
        while len(self._heads) >= self.kept_heads:
            del self._heads[next(iter(self._heads))]
        head = torch.tensor([key], device=self.device)
        _, cache = self._forward_last(head, torch.ones_like(head), torch.arange(len(key), device=self.device)[None])
        self._heads[key] = [(layer.keys, layer.values) for layer in cache.layers]
        return self._heads[key]

    def _prefill(self, prompts: Sequence[Sequence[int]], room: int = 0, shared: int | None = None):
        """Last-position logits of the prompts and their KV cache, a static cache with `room` positions more;
        returns (logits, cache, mask, last positions, shared prefix).

        The first `shared` tokens (default: the longest prefix shared by every prompt of the batch; a system
        prompt, few-shot turns, a verifier's instructions) are computed once and kept once, outside the rows'
        cache, and attended to inside `shared_prefix` (pass it to `_forward_last`); the rest of the prompts are
        packed as prefix trees (`_packed_prefill`). Where that attention is not available (`keep_prefix_once`
        false) the prefix is copied into every row, the suffixes are left-padded after it, and the returned
        prefix is None. The mask spans the cache: 1 at written positions, 0 at padding and at the room still
        unwritten.
        """
        shared = common_prefix_length(prompts) if shared is None else shared
        if shared < self.min_shared_prefix:
            ids, mask, pos = left_pad(prompts, self.pad_id, self.device)
            cache = StaticCache(config=self.model.config, max_cache_len=ids.shape[1] + room)
            logits, cache = self._forward_last(ids, mask, pos, cache)
            return logits, cache, self._with_room(mask, room), pos[:, -1], None
        if self._packs(shared):
            return self._packed_prefill(prompts, shared, room)
        head = torch.tensor([list(prompts[0][:shared])], device=self.device)
        positions = torch.arange(shared, device=self.device)[None]
        ids, mask, pos = left_pad([p[shared:] for p in prompts], self.pad_id, self.device)
        cache = StaticCache(config=self.model.config, max_cache_len=shared + ids.shape[1] + room)
        _, cache = self._forward_last(head, torch.ones_like(head), positions, cache)
        select_rows(cache, torch.zeros(len(prompts), dtype=torch.long, device=self.device))
        mask = torch.cat([mask.new_ones((len(prompts), shared)), mask], dim=1)
        logits, cache = self._forward_last(ids, mask, pos + shared, cache)
        return logits, cache, self._with_room(mask, room), pos[:, -1] + shared, None

    def _packs(self, shared: int) -> bool:
        """Whether prompts sharing their first `shared` tokens get a packed prefill (`_prefill`, `_batches`)."""
        return self.keep_prefix_once and shared >= self.min_shared_prefix

    def _packed_prefill(self, prompts: Sequence[Sequence[int]], shared: int, room: int):
        """`_prefill` with the head kept once (`_head`) and the suffixes packed as prefix trees
        (`svgap.inference.packing`): each token a batch's suffixes share is computed once. The lm head sees
        only each prompt's last token (a pre-hook gathers them), and each prompt's own cache is its path's
        keys and values, gathered and left-padded."""
        prefix = self._head(prompts[0][:shared])
        packing = pack([p[shared:] for p in prompts], self.pack_width)
        ids, pos, tree = packing.inputs(self.pad_id, shared, self.device)
        rows = torch.tensor(packing.row_of, device=self.device)
        ends = torch.tensor([path[-1] for path in packing.paths], device=self.device)
        hook = self.model.get_output_embeddings().register_forward_pre_hook(
            lambda _module, args: (args[0][rows, ends].unsqueeze(1), *args[1:]))
        try:
            with shared_prefix(prefix):
                out = self.model(input_ids=ids, attention_mask=tree, position_ids=pos, use_cache=True, logits_to_keep=0)
        finally:
            hook.remove()
        index, own = packing.gather_index(self.device)
        cache = StaticCache(config=self.model.config, max_cache_len=index.shape[1] + room)
        for i, layer in enumerate(out.past_key_values.layers):
            keys, values = (x.transpose(1, 2).flatten(0, 1)[index].transpose(1, 2) for x in (layer.keys, layer.values))
            cache.update(keys, values, i)
            layer.keys = layer.values = None  # each layer of the rows freed once copied: not both caches whole at once
        return out.logits[:, -1].float(), cache, self._with_room(own, room), shared - 1 + own.sum(-1), prefix

    def _batches(self, prompts: Sequence[Sequence[int]], shared: int, extra: int, n: int) -> list[list[int]]:
        """Batches of prompt indices within `max_batch_rows` and `max_batch_tokens` (divided by `n` samples per
        prompt), `extra` tokens counted per prompt. A packed prefill keeps the shared head outside the rows'
        cache: only the suffixes count, and batches follow the suffixes' sorted order, so that prompts sharing
        a prefix share a batch (`sorted_batches`); otherwise batches of similar length (`length_batches`)."""
        tokens, rows = max(1, self.max_batch_tokens // n), max(1, self.max_batch_rows // n)
        if self._packs(shared):
            return sorted_batches([p[shared:] for p in prompts], extra, tokens, rows)
        return length_batches([len(p) + extra for p in prompts], tokens, rows)

    @staticmethod
    def _with_room(mask: torch.Tensor, room: int) -> torch.Tensor:
        return torch.cat([mask, mask.new_zeros((mask.shape[0], room))], dim=1)

    @torch.inference_mode()
    def sample(self, prompts, n, max_new_tokens, temperature, seeds, first_token_ids=(), top_p=1.0):
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        out: list[list[Completion]] = [[] for _ in prompts]
        shared = common_prefix_length(prompts)  # the head of every batch, computed once
        batches = self._batches(prompts, shared, max_new_tokens, n)
        start = time.perf_counter()
        for b, batch in enumerate(batches):
            done = self._sample_batch([prompts[i] for i in batch], n, max_new_tokens, temperature,
                                      [seeds[i] for i in batch], list(first_token_ids), top_p, shared)
            for k, i in enumerate(batch):
                out[i] = done[k]
            tokens = sum(len(c.token_ids) for row in done for c in row)
            log.info("batch %d/%d: %d prompts x %d samples, %d tokens; %.1f s so far", b + 1, len(batches),
                     len(batch), n, tokens, time.perf_counter() - start)
        return out

    def _sample_batch(self, prompts, n, max_new_tokens, temperature, seeds, first_token_ids, top_p, shared):
        logits, cache, mask, last_pos, prefix = self._prefill(prompts, max_new_tokens, shared)
        filled = mask.shape[1] - max_new_tokens  # the cache positions written so far
        first = torch.log_softmax(logits, dim=-1)[:, first_token_ids].double().cpu().numpy()
        if n > 1:
            select_rows(cache, torch.arange(len(prompts), device=self.device).repeat_interleave(n))
            logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
        last_pos = last_pos.repeat_interleave(n)
        total = len(prompts) * n
        gens = [torch.Generator().manual_seed(sequence_seed(seeds[r // n], r % n)) for r in range(total)]
        eos = torch.tensor(sorted(self.eos_token_ids), device=self.device)
        tokens: list[list[int]] = [[] for _ in range(total)]
        nll = np.zeros(total)
        finished = np.zeros(total, dtype=bool)
        row_of = np.arange(total)  # the sequence in each row of the batch, -1 once it has ended
        spare = torch.Generator().manual_seed(0)  # the throwaway draws of ended rows still in the batch
        for step in range(max_new_tokens):
            choice = draw(logits, temperature, [gens[s] if s >= 0 else spare for s in row_of], top_p)
            chosen = logits.gather(1, choice.unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, dim=-1)
            chosen = chosen.double().cpu().numpy()
            ended = torch.isin(choice, eos).cpu().numpy()
            for r, s in enumerate(row_of):
                if s >= 0:
                    tokens[s].append(int(choice[r]))
                    nll[s] -= chosen[r]
                    finished[s] = ended[r]
            row_of = np.where(ended, -1, row_of)
            live = np.flatnonzero(row_of >= 0)
            if step == max_new_tokens - 1 or live.size == 0:
                break
            if live.size <= 0.75 * len(row_of):  # a quarter of the rows ended: drop them (a copy of the cache)
                idx = torch.as_tensor(live, device=self.device)
                select_rows(cache, idx)
                mask, last_pos, choice, row_of = mask[idx], last_pos[idx], choice[idx], row_of[live]
            mask[:, filled] = 1
            filled += 1
            last_pos = last_pos + 1
            logits, cache = self._forward_last(choice.unsqueeze(1), mask, last_pos.unsqueeze(1), cache, prefix)
        return [[Completion(tuple(tokens[i * n + j]), float(nll[i * n + j]), bool(finished[i * n + j]),
                            tuple(first[i].tolist())) for j in range(n)] for i in range(len(prompts))]

    @torch.inference_mode()
    def nll(self, prompts, responses):
        result = np.zeros(len(prompts))
        lengths = [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)]
        for batch in length_batches(lengths, self.max_batch_tokens, self.max_batch_rows):
            values = response_nll(self.model, [prompts[i] for i in batch], [responses[i] for i in batch],
                                  self.pad_id, self.device)
            result[batch] = values.double().cpu().numpy()
        return result

    @torch.inference_mode()
    def next_token_logprobs(self, prompts, token_ids):
        result = np.zeros((len(prompts), len(token_ids)))
        cand = torch.tensor(list(token_ids), device=self.device)
        shared = common_prefix_length(prompts)
        for batch in self._batches(prompts, shared, 0, 1):
            logits = self._prefill([prompts[i] for i in batch], 0, shared)[0]
            result[batch] = torch.log_softmax(logits, -1)[:, cand].double().cpu().numpy()
        return result
