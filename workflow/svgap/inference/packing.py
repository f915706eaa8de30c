"""Prompts that share prefixes, packed as prefix trees: every shared token is computed once.

After the head that every prompt of a batch shares (a verifier's instructions and worked examples, kept
once: `svgap.inference.attention.shared_prefix`), a batch's suffixes still share much among themselves:
the N responses to one question share the question and often their first words, and identical
responses share everything. Left-padded, one row per prompt, each of those tokens is computed once per
prompt; packed as prefix trees (tries), once.

`pack` sorts the suffixes (so that prompts sharing a prefix are neighbours), builds their trie and cuts
it into rows of at most `width` nodes: a node is one token, at the position of its depth, which attends
to its ancestors and itself (`Packing.mask`) and, through the shared head, to the head. Every prompt is
a path of nodes within one row (`Packing.paths`); its last node's hidden state gives its next-token
logits, and its path's keys and values, gathered (`Packing.gather_index`), are its own KV cache for
decoding. The result is the left-padded prefill's up to rounding (`tests/test_backend.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from svgap.inference.backend import cut_batches


@dataclass(frozen=True)
class Packing:
    """Prompts' suffixes laid out as prefix trees in rows.

    tokens / parents / depths: per row, per node (slot): its token, its parent's slot (-1 for a root) and
        its depth (0 for a root: the suffix's first token).
    row_of / paths: per prompt (in the order given to `pack`): its row and the slots of its tokens there.
    """

    tokens: list[list[int]]
    parents: list[list[int]]
    depths: list[list[int]]
    row_of: list[int]
    paths: list[list[int]]

    @property
    def width(self) -> int:
        return max(len(t) for t in self.tokens)

    @property
    def nodes(self) -> int:
        """Tokens computed (the padded layout computes rows x width)."""
        return sum(len(t) for t in self.tokens)

    def inputs(self, pad_id: int, offset: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input ids and position ids (rows, width), right-padded, positions `offset` + depth, and the boolean
        attention mask (rows, 1, width, width): a node sees its ancestors and itself, padding sees nothing."""
        rows, width = len(self.tokens), self.width
        ids = np.full((rows, width), pad_id, dtype=np.int64)
        pos = np.zeros((rows, width), dtype=np.int64)
        mask = np.zeros((rows, width, width), dtype=bool)
        for r, (tokens, parents, depths) in enumerate(zip(self.tokens, self.parents, self.depths, strict=True)):
            ids[r, :len(tokens)] = tokens
            pos[r, :len(tokens)] = np.asarray(depths) + offset
            for slot, parent in enumerate(parents):  # a parent's slot comes before its children's
                if parent >= 0:
                    mask[r, slot] = mask[r, parent]
                mask[r, slot, slot] = True
        as_tensor = torch.from_numpy
        return as_tensor(ids).to(device), as_tensor(pos).to(device), as_tensor(mask).unsqueeze(1).to(device)

    def gather_index(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Each prompt's path as indices into the rows' flattened (rows x width) positions, left-padded to
        the longest path (padding points at position 0), and the matching 0/1 mask (prompts, longest path)."""
        longest, width = max(len(p) for p in self.paths), self.width
        index = np.zeros((len(self.paths), longest), dtype=np.int64)
        mask = np.zeros((len(self.paths), longest), dtype=np.int64)
        for i, (row, path) in enumerate(zip(self.row_of, self.paths, strict=True)):
            index[i, longest - len(path):] = row * width + np.asarray(path)
            mask[i, longest - len(path):] = 1
        return torch.from_numpy(index).to(device), torch.from_numpy(mask).to(device)


def pack(suffixes: Sequence[Sequence[int]], width: int) -> Packing:
    """The prefix trees of `suffixes` (each non-empty) in rows of at most `width` nodes (or one suffix's
    length, where a suffix is longer). Suffixes are taken in sorted order, each into the current row while
    its new nodes fit, else into a new row; a prefix shared across two rows is computed in both."""
    if any(len(s) == 0 for s in suffixes):
        raise ValueError("pack: every suffix needs at least one token")
    tokens: list[list[int]] = []
    parents: list[list[int]] = []
    depths: list[list[int]] = []
    row_of = [0] * len(suffixes)
    paths: list[list[int]] = [[] for _ in suffixes]
    children: dict[tuple[int, int], int] = {}  # (parent slot, token) -> slot, in the current row

    def new_nodes(suffix: Sequence[int]) -> int:
        parent, depth = -1, 0
        while depth < len(suffix) and (parent, suffix[depth]) in children:
            parent, depth = children[parent, suffix[depth]], depth + 1
        return len(suffix) - depth

    for i in sorted(range(len(suffixes)), key=lambda i: tuple(suffixes[i])):
        suffix = suffixes[i]
        if not tokens or (len(tokens[-1]) and len(tokens[-1]) + new_nodes(suffix) > width):
            tokens.append([])
            parents.append([])
            depths.append([])
            children = {}
        parent = -1
        for depth, token in enumerate(suffix):
            slot = children.get((parent, token))
            if slot is None:
                slot = len(tokens[-1])
                children[parent, token] = slot
                tokens[-1].append(int(token))
                parents[-1].append(parent)
                depths[-1].append(depth)
            paths[i].append(slot)
            parent = slot
        row_of[i] = len(tokens) - 1
    return Packing(tokens, parents, depths, row_of, paths)


def sorted_batches(suffixes: Sequence[Sequence[int]], extra: int, max_tokens: int, max_rows: int) -> list[list[int]]:
    """Batches of suffix indices for packed prefills: in the suffixes' sorted order, so that suffixes sharing
    a prefix share a batch, cut where the batch's own cache (rows x (longest suffix + `extra`)) would exceed
    `max_tokens` or its rows `max_rows`. Every index is in exactly one batch; a suffix longer than
    `max_tokens` forms its own."""
    order = sorted(range(len(suffixes)), key=lambda i: tuple(suffixes[i]))
    return cut_batches(order, [len(s) + extra for s in suffixes], max_tokens, max_rows)
