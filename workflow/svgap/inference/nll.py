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


def last_positions(length: int, keep: int, device: torch.device) -> torch.Tensor:
    """The last `keep` positions of a sequence of `length`, as an index tensor for `logits_to_keep`.

    Given an int, transformers slices the hidden states (`h[:, -keep:]`), a non-contiguous view. torch 2.13's
    matmul folds such a 3-D input into one mm only while the weight requires grad; for a frozen lm_head (a
    merged adapter, LoRA's frozen base) it takes the bmm path and copies the whole head (49152 x 576 for
    SmolLM2) once per row: 4.2 s instead of 9 ms for 64 rows (docs/performance.md). An index tensor gathers
    the positions into a contiguous tensor, and the head is one mm whatever requires grad.
    """
    return torch.arange(length - keep, length, device=device)


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
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos,
                   logits_to_keep=last_positions(ids.shape[1], keep, ids.device)).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = ids[:, -(keep - 1):]
    token_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    offsets = torch.arange(keep - 1, device=device)
    in_response = offsets.unsqueeze(0) >= (keep - 1 - lengths).unsqueeze(1)
    return -(token_logp * in_response).sum(-1)
