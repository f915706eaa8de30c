"""Attention for grouped-query models without copying the KV cache.

transformers' SDPA attention repeats every key/value head `num_key_value_groups` times before calling
`scaled_dot_product_attention` whenever a mask is given on a CPU (its `use_gqa_in_sdpa`): a copy of the
layer's whole KV cache, three times over for SmolLM2's 9 query / 3 KV heads, per layer per forward pass
(in a verifier prefill of 125 rows x 261 positions that copy was half the time). There is a cheaper exact
rewrite: the `groups` query heads that share a KV head are laid out as `groups` x q query positions of
that head, each under its own position's mask row (the mask repeated `groups` times along the query
axis), and one SDPA call over the unrepeated cache gives every head's output. Passes without a mask
(causal, no padding) go to transformers' SDPA, which uses SDPA's own GQA there.

`use_decode_gqa(model)` registers the function and switches a transformers model to it.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

NAME = "svgap_decode_gqa"


def decode_gqa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                         attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                         **kwargs) -> tuple[torch.Tensor, None]:
    """SDPA attention; (batch, heads, q, dim) queries of a masked GQA layer go through the unrepeated cache."""
    groups = getattr(module, "num_key_value_groups", 1)
    batch, heads, length, dim = query.shape
    if (groups == 1 or dropout or attention_mask is None or attention_mask.shape[1] != 1
            or kwargs.get("position_bias") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    # heads h*groups..h*groups+groups-1 share KV head h: (batch, kv heads, groups x q, dim)
    grouped = query.reshape(batch, heads // groups, groups * length, dim)
    mask = attention_mask
    if length > 1:  # each query position's mask row, once per head of the group
        mask = mask.expand(batch, 1, length, mask.shape[-1]).repeat(1, 1, groups, 1)
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=mask, scale=scaling)
    return out.view(batch, heads, length, dim).transpose(1, 2), None


def use_decode_gqa(model) -> None:
    """Run `model`'s attention through `decode_gqa_attention` when it uses transformers' SDPA."""
    if model.config._attn_implementation != "sdpa":
        return
    AttentionInterface.register(NAME, decode_gqa_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
