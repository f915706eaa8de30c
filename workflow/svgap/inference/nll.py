"""The teacher-forced NLL of a response given its prompt: -log pi(y | x), summed over y's tokens.

One function serves both sides of the loop: the transformers backend's `nll` (under inference mode)
and the finetune loss L_t = U_v(t) (with gradients). Rows are left-padded so every sequence ends at
the last position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device: torch.device):
    """Left-pad token sequences; returns input ids, attention mask and position ids."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        if len(s):
            ids[r, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
            mask[r, width - len(s):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def response_nll(model, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]],
                 pad_id: int, device: torch.device) -> torch.Tensor:
    """-log pi(response | prompt) per row, summed over response tokens (differentiable).

    Rows are left-padded so every sequence ends at the last position; only the last
    max(len(response)) + 1 positions go through the LM head, so memory does not grow with
    the prompt length.
    """
    seqs = [list(p) + list(r) for p, r in zip(prompts, responses, strict=True)]
    ids, mask, pos = left_pad(seqs, pad_id, device)
    lengths = torch.tensor([len(r) for r in responses], device=device)
    keep = int(lengths.max()) + 1
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = ids[:, -(keep - 1):]
    token_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    offsets = torch.arange(keep - 1, device=device)
    in_response = offsets.unsqueeze(0) >= (keep - 1 - lengths).unsqueeze(1)
    return -(token_logp * in_response).sum(-1)
