"""Decode-step attention for grouped-query models without copying the KV cache.

transformers' SDPA attention repeats every key/value head `num_key_value_groups` times before calling
`scaled_dot_product_attention` whenever a mask is given on a CPU (its `use_gqa_in_sdpa`): in a decode
step that is a copy of the layer's whole KV cache, three times over for SmolLM2's 9 query / 3 KV heads,
per layer per token. With one query position there is a cheaper exact rewrite: the `groups` query heads
that share a KV head are laid out as `groups` query positions of that head, all under the same padding
mask (one query position has no causal structure among them), and one SDPA call over the unrepeated
cache gives every head's output. Prefill (more than one query position) goes to transformers' SDPA.

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
    """SDPA attention; (batch, heads, 1, dim) queries of a GQA layer go through the unrepeated cache."""
    groups = getattr(module, "num_key_value_groups", 1)
    batch, heads, length, dim = query.shape
    if groups == 1 or length != 1 or dropout or (attention_mask is not None and attention_mask.shape[1] != 1):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    grouped = query.view(batch, heads // groups, groups, dim)  # heads h*groups..h*groups+groups-1 share KV head h
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(batch, 1, heads, dim), None


def use_decode_gqa(model) -> None:
    """Run `model`'s attention through `decode_gqa_attention` when it uses transformers' SDPA."""
    if model.config._attn_implementation != "sdpa":
        return
    AttentionInterface.register(NAME, decode_gqa_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
