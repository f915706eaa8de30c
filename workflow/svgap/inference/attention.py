"""Decode-step attention for grouped-query models without copying the KV cache.

transformers' SDPA attention repeats every key/value head `num_key_value_groups` times before calling
`scaled_dot_product_attention` whenever a mask is given on a CPU (its `use_gqa_in_sdpa`): in a decode
step that is a copy of the layer's whole KV cache, three times over for SmolLM2's 9 query / 3 KV heads,
per layer per token. With one query position there is a cheaper exact rewrite: the `groups` query heads
that share a KV head are laid out as `groups` query positions of that head, all under the same padding
mask (one query position has no causal structure among them), and one SDPA call over the unrepeated
cache gives every head's output: 880 against 715 tokens/s at the default's batch (docs/performance.md).
Prefill (more than one query position) goes to transformers' SDPA: the same rewrite there (the mask
repeated per head) measured no faster once freed memory is reused (svgap.inference.models.keep_freed_memory).

A batch whose prompts share a prefix (a verifier's instructions and worked examples, a solver's system
prompt) can also keep that prefix's keys and values once instead of once per row: inside
`shared_prefix(layers)` every query attends to the rows' own cache (the suffixes and what was generated)
and to the one shared copy, in two flash-attention calls whose outputs are merged by their log-sum-exps
(exact up to rounding: softmax over the union of the keys). The shared part is one call for all rows'
queries, so its keys are read once per layer, not once per row.

`use_decode_gqa(model)` registers the function and switches a transformers model to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

NAME = "svgap_decode_gqa"
_PREFIX: ContextVar[list[tuple[torch.Tensor, torch.Tensor]] | None] = ContextVar("svgap_shared_prefix", default=None)
_MASKS: ContextVar[dict | None] = ContextVar("svgap_prepared_masks", default=None)


@contextmanager
def shared_prefix(layers: list[tuple[torch.Tensor, torch.Tensor]] | None) -> Iterator[None]:
    """Within: every layer also attends to its (keys, values) in `layers`, shaped (1, kv heads, prefix, dim),
    positions before the rows' own cache (None: no shared prefix)."""
    token, masks = _PREFIX.set(layers), _MASKS.set({})  # every layer of a forward gets the same mask
    try:
        yield
    finally:
        _PREFIX.reset(token)
        _MASKS.reset(masks)


def _flash(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
           scaling: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The CPU flash attention kernel (SDPA's), with the log-sum-exp of every query's scores."""
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, False,
                                                                          attn_mask=mask, scale=scaling)
    return out, lse


def cascade_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
                      prefix_key: torch.Tensor, prefix_value: torch.Tensor, groups: int,
                      scaling: float | None) -> torch.Tensor:
    """Attention of (batch, heads, q, dim) queries over the shared prefix and the rows' own keys, as
    (batch, q, heads, dim); `mask` (batch, 1, q, own keys) is the rows' own padding and causal mask."""
    batch, heads, length, dim = query.shape
    kv_heads, width = heads // groups, key.shape[-2]
    grouped = query.reshape(batch, kv_heads, groups * length, dim)  # the heads of a KV head as query positions
    additive, has_key = _own_mask(mask, batch, length, width, groups, query.dtype, query.device)
    own, own_lse = _flash(grouped, key, value, additive, scaling)
    own_lse = own_lse.masked_fill(~has_key, float("-inf"))  # a query with no key of its own (padding)
    flat = grouped.transpose(0, 1).reshape(1, kv_heads, batch * groups * length, dim)
    shared, shared_lse = _flash(flat, prefix_key, prefix_value, None, scaling)
    shared = shared.view(kv_heads, batch, groups * length, dim).transpose(0, 1)
    shared_lse = shared_lse.view(kv_heads, batch, groups * length).transpose(0, 1)
    top = torch.maximum(own_lse, shared_lse)
    w_own, w_shared = (own_lse - top).exp().unsqueeze(-1), (shared_lse - top).exp().unsqueeze(-1)
    out = (own.float() * w_own + shared.float() * w_shared) / (w_own + w_shared)
    return out.to(query.dtype).view(batch, heads, length, dim).transpose(1, 2)


def _own_mask(mask: torch.Tensor | None, batch: int, length: int, width: int, groups: int, dtype: torch.dtype,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The additive mask of `cascade_attention`'s own keys (batch, 1, groups x length, width) and which queries
    have a key of their own; made once per forward inside `shared_prefix` (every layer gets the same mask)."""
    memo = _MASKS.get()
    key = (length, width, groups, dtype)
    if memo is not None and key in memo and memo[key][0] is mask:
        return memo[key][1]
    source = mask
    if mask is None:  # transformers' convention: causal from the first key (a prefill into an empty cache)
        mask = torch.ones(length, width, dtype=torch.bool, device=device)
        mask = (mask.tril() if length > 1 else mask)[None, None]
    elif mask.dtype != torch.bool:  # an additive mask: 0 where allowed
        mask = mask > torch.finfo(mask.dtype).min / 2
    mask = mask.expand(batch, 1, length, width)
    if length > 1:
        mask = mask.repeat(1, 1, groups, 1)
    prepared = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill_(~mask, float("-inf")), mask.any(-1)
    if memo is not None:
        memo[key] = (source, prepared)  # holding `source` keeps its identity from being reused
    return prepared


def decode_gqa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                         **kwargs) -> tuple[torch.Tensor, None]:
    """SDPA attention; (batch, heads, 1, dim) queries of a GQA layer go through the unrepeated cache, and
    every query inside `shared_prefix` also through the shared prefix."""
    groups = getattr(module, "num_key_value_groups", 1)
    batch, heads, length, dim = query.shape
    prefix = _PREFIX.get()
    if prefix is not None:
        if dropout or kwargs.get("position_bias") is not None:
            raise ValueError("shared-prefix attention takes no dropout or position bias")
        return cascade_attention(query, key, value, attention_mask, *prefix[module.layer_idx], groups, scaling), None
    if (groups == 1 or length != 1 or dropout or (attention_mask is not None and attention_mask.shape[1] != 1)
            or kwargs.get("position_bias") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    grouped = query.view(batch, heads // groups, groups, dim)  # heads h*groups..h*groups+groups-1 share KV head h
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(batch, 1, heads, dim), None


def use_decode_gqa(model) -> bool:
    """Run `model`'s attention through `decode_gqa_attention` when it uses transformers' SDPA; whether it does."""
    if model.config._attn_implementation not in ("sdpa", NAME):
        return False
    AttentionInterface.register(NAME, decode_gqa_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True
