"""The transformers backend on the embedded model: NLL, sampling, determinism, prefix sharing."""

import numpy as np
import pytest
import torch

from svgap.inference.backend import length_batches, sequence_seed
from svgap.inference.chat import render
from svgap.inference.hf_backend import common_prefix_length, draw
from svgap.tasks import make_task


def test_length_batches_cover_every_index_once_and_respect_the_budget():
    lengths = [5, 50, 7, 49, 3, 48, 100]
    batches = length_batches(lengths, max_tokens=120, max_rows=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 120
    assert batches[0] == [6]  # longest first, alone when it fills the budget


def test_common_prefix_leaves_a_token_for_every_row():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    assert common_prefix_length([[1, 2], [1, 2, 3]]) == 1
    assert common_prefix_length([[5], [6]]) == 0


def test_sequence_seeds_differ():
    seeds = {sequence_seed(s, j) for s in range(20) for j in range(20)}
    assert len(seeds) == 400


def test_draw_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(1, 1)
    gens = [torch.Generator().manual_seed(i) for i in range(3000)]
    picks = torch.cat([draw(logits, 1.0, [g]) for g in gens]).numpy()
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert np.allclose(freq, [0.5, 0.3, 0.2], atol=0.03)
    assert draw(logits, 0.0, gens[:1]).item() == 0


@pytest.fixture(scope="module")
def prompts(tokenizer):
    task = make_task("arithmetic")
    return [render(tokenizer, task.solver_messages(f"What is {a} + {b}?"), True) for a, b in [(1, 2), (3, 5), (8, 9)]]


@pytest.mark.slow
def test_sampling_nll_equals_a_separate_forward_pass(backend, prompts):
    done = backend.sample(prompts, 3, 24, 1.0, [11, 12, 13])
    flat_prompts = [p for p, row in zip(prompts, done, strict=True) for _ in row]
    flat = [c for row in done for c in row]
    forward = backend.nll(flat_prompts, [c.token_ids for c in flat])
    assert np.allclose([c.nll for c in flat], forward, rtol=1e-4, atol=1e-3)
    for c in flat:
        assert c.finished == (c.token_ids[-1] in backend.eos_token_ids)
        assert c.finished or len(c.token_ids) == 24


@pytest.mark.slow
def test_sampling_is_deterministic_and_independent_of_the_batch(backend, prompts):
    a = backend.sample(prompts, 3, 16, 1.0, [1, 2, 3])
    b = backend.sample(prompts, 3, 16, 1.0, [1, 2, 3])
    alone = backend.sample(prompts[2:], 3, 16, 1.0, [3])
    assert a == b
    assert [c.token_ids for c in alone[0]] == [c.token_ids for c in a[2]]
    assert np.allclose([c.nll for c in alone[0]], [c.nll for c in a[2]], atol=1e-3)
    texts = {c.token_ids for row in backend.sample(prompts, 8, 16, 1.0, [7, 8, 9]) for c in row}
    assert len(texts) > 3  # different seeds give different samples


@pytest.mark.slow
def test_first_token_distribution_matches_the_sampler(backend, prompts):
    """The sampled first tokens follow softmax(raw logits) of a plain forward pass."""
    prompt = prompts[0]
    with torch.inference_mode():
        logits = backend.model(torch.tensor([prompt])).logits[0, -1]
    probs = torch.softmax(logits.double(), -1).numpy()
    top = np.argsort(probs)[::-1][:3]
    done = backend.sample([prompt], 600, 1, 1.0, [5])[0]
    firsts = np.array([c.token_ids[0] for c in done])
    for tok in top:
        p = probs[tok]
        assert abs((firsts == tok).mean() - p) < 4 * np.sqrt(p * (1 - p) / 600) + 1e-3
    assert np.allclose([c.nll for c in done], -np.log(probs[firsts]), atol=1e-4)


@pytest.mark.slow
def test_next_token_logprobs_with_shared_prefix_match_an_unpadded_forward(backend, prompts):
    ids = [2, 3, 28, 1035]
    got = backend.next_token_logprobs(prompts, ids)
    for row, prompt in zip(got, prompts, strict=True):
        with torch.inference_mode():
            logits = backend.model(torch.tensor([prompt])).logits[0, -1]
        assert np.allclose(row, torch.log_softmax(logits.double(), -1)[ids].numpy(), atol=1e-4)
    first = backend.sample(prompts, 1, 1, 1.0, [0, 1, 2], first_token_ids=ids)
    assert np.allclose(np.array([r[0].first_logprobs for r in first]), got, atol=1e-5)


@pytest.mark.slow
def test_greedy_samples_are_identical(backend, prompts):
    done = backend.sample(prompts[:1], 3, 12, 0.0, [0])[0]
    assert len({c.token_ids for c in done}) == 1
