"""Prefix-tree packing of prompt suffixes (svgap.inference.packing), without a model."""

import numpy as np
import pytest
import torch

from svgap.inference.packing import pack, sorted_batches

SUFFIXES = [
    [7, 1, 2, 3],        # question 7, response 1 2, then the template's tail 3
    [7, 1, 2, 3],        # the same response again
    [7, 1, 5, 3],        # another response to question 7
    [8, 1, 2, 3],        # another question
    [7, 1],              # a prefix of the others
    [9, 9, 9, 9, 9, 9],  # longer than the row width below
]


def ancestors(packing, row, slot):
    out = {slot}
    while packing.parents[row][slot] >= 0:
        slot = packing.parents[row][slot]
        out.add(slot)
    return out


@pytest.mark.parametrize("width", [3, 5, 64])
def test_every_suffix_is_a_path_of_its_own_tokens(width):
    packing = pack(SUFFIXES, width)
    for i, suffix in enumerate(SUFFIXES):
        row, path = packing.row_of[i], packing.paths[i]
        assert [packing.tokens[row][s] for s in path] == suffix
        assert [packing.depths[row][s] for s in path] == list(range(len(suffix)))
        assert [packing.parents[row][s] for s in path] == [-1, *path[:-1]]
    for tokens in packing.tokens:  # rows hold at most `width` nodes, or one suffix longer than that
        assert len(tokens) <= max(width, max(map(len, SUFFIXES)))


def test_shared_prefixes_are_one_node_within_a_row():
    packing = pack(SUFFIXES, 64)
    assert set(packing.row_of[:5]) == {0}
    assert packing.paths[0] == packing.paths[1]  # identical suffixes: one path
    assert packing.paths[2][:2] == packing.paths[0][:2] and packing.paths[2][2] != packing.paths[0][2]
    assert packing.paths[4] == packing.paths[0][:2]  # a prefix ends inside another's path
    # 7 1 2 3 | 5 3 | 8 1 2 3 | 9 x 6: 4 + 2 + 4 + 6 nodes instead of 4 + 4 + 4 + 4 + 2 + 6
    assert packing.nodes == 16


def test_a_row_that_is_full_starts_another_and_recomputes_shared_nodes():
    packing = pack([[1, 2, 3], [1, 2, 4], [1, 2, 5]], 4)
    assert packing.row_of == [0, 0, 1]
    assert packing.tokens[1] == [1, 2, 5]


def test_inputs_mask_is_ancestors_and_self_and_positions_follow_depth():
    packing = pack(SUFFIXES, 64)
    ids, pos, mask = packing.inputs(pad_id=0, offset=100, device=torch.device("cpu"))
    assert ids.shape == pos.shape == (len(packing.tokens), packing.width)
    assert mask.shape == (len(packing.tokens), 1, packing.width, packing.width)
    for r, tokens in enumerate(packing.tokens):
        assert ids[r, :len(tokens)].tolist() == tokens
        assert (ids[r, len(tokens):] == 0).all()
        assert pos[r, :len(tokens)].tolist() == [100 + d for d in packing.depths[r]]
        for slot in range(packing.width):
            seen = set(np.flatnonzero(mask[r, 0, slot].numpy()).tolist())
            assert seen == (ancestors(packing, r, slot) if slot < len(tokens) else set())


def test_gather_index_lays_out_each_path_left_padded():
    packing = pack(SUFFIXES, 5)
    index, own = packing.gather_index(torch.device("cpu"))
    longest = max(map(len, SUFFIXES))
    assert index.shape == own.shape == (len(SUFFIXES), longest)
    flat_tokens = torch.zeros(len(packing.tokens) * packing.width, dtype=torch.long)
    for r, tokens in enumerate(packing.tokens):
        flat_tokens[r * packing.width: r * packing.width + len(tokens)] = torch.tensor(tokens)
    for i, suffix in enumerate(SUFFIXES):
        assert own[i].tolist() == [0] * (longest - len(suffix)) + [1] * len(suffix)
        assert flat_tokens[index[i, longest - len(suffix):]].tolist() == suffix


def test_empty_suffix_is_refused():
    with pytest.raises(ValueError, match="at least one token"):
        pack([[1], []], 8)


def test_sorted_batches_cover_every_index_once_keep_neighbours_and_respect_the_budget():
    suffixes = [[3, 1], [1, 2, 3, 4], [1, 2], [2], [1, 2, 3], [9] * 30]
    batches = sorted_batches(suffixes, extra=2, max_tokens=12, max_rows=3)
    assert sorted(i for b in batches for i in b) == list(range(len(suffixes)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * (max(len(suffixes[i]) for i in b) + 2) <= 12
    assert [i for b in batches for i in b] == sorted(range(len(suffixes)), key=lambda i: suffixes[i])
    assert [5] in batches  # longer than the budget: alone
