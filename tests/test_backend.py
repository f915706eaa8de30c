"""The transformers backend on the embedded model: NLL, sampling, determinism, prefix sharing."""

import numpy as np
import pytest
import torch

from svgap.inference.backend import length_batches, sequence_seed
from svgap.inference.chat import render
from svgap.inference.hf_backend import BLOCK, common_prefix_length, draw, inverse_cdf, nucleus
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


def test_inverse_cdf_matches_a_full_cumulative_sum_and_never_draws_a_zero():
    """The two-level (block, then token) search gives the token one searchsorted over the whole
    vocabulary's float64 cumulative sum gives, across block boundaries and at u near 0 and 1."""
    g = torch.Generator().manual_seed(3)
    vocab = 3 * BLOCK + 17  # a last, partial block
    probs = torch.softmax(torch.randn(64, vocab, generator=g) * 3, dim=-1)
    probs[:, 5 * 7 :: 7] = 0.0  # holes, a whole block of them included
    probs[:8, BLOCK : 2 * BLOCK] = 0.0
    u = torch.rand(64, generator=g, dtype=torch.float64)
    u[:4] = torch.tensor([0.0, 1e-12, 1 - 1e-12, 1.0], dtype=torch.float64)
    cdf = probs.double().cumsum(-1)
    expected = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
    got = inverse_cdf(probs, u)
    last_positive = vocab - 1 - (probs.flip(-1) > 0).int().argmax(-1)
    assert torch.equal(got, torch.minimum(expected, last_positive))
    assert (probs.gather(1, got.unsqueeze(1)) > 0).all()
    # u exactly on a block's cumulative edge (exact in binary): the next block's first token
    row = torch.full((1, 2 * BLOCK), 1 / (2 * BLOCK))
    assert inverse_cdf(row, torch.tensor([0.5], dtype=torch.float64)).item() == BLOCK


def test_nucleus_is_the_smallest_top_set_reaching_p():
    probs = torch.tensor([[0.1, 0.4, 0.05, 0.3, 0.15]], dtype=torch.float64)
    # sorted: 0.4 (1), 0.3 (3), 0.15 (4), 0.1 (0), 0.05 (2); cumulative 0.4, 0.7, 0.85, 0.95, 1.0
    assert nucleus(probs, 0.9).nonzero()[:, 1].tolist() == [0, 1, 3, 4]
    assert nucleus(probs, 0.7).nonzero()[:, 1].tolist() == [1, 3]  # 0.4 + 0.3 reaches 0.7: no third token
    assert nucleus(probs, 0.2).nonzero()[:, 1].tolist() == [1]  # the top token is always kept
    assert torch.equal(nucleus(probs, 1.0), probs)
    kept = nucleus(probs, 0.9)
    assert torch.allclose(kept[kept > 0], probs[probs != 0.05])  # kept tokens keep their probabilities


def test_top_p_draws_follow_the_renormalised_nucleus():
    probs = torch.tensor([0.45, 0.25, 0.15, 0.1, 0.05])
    logits = torch.log(probs)[None]
    gens = [torch.Generator().manual_seed(i) for i in range(4000)]
    picks = torch.cat([draw(logits, 1.0, [g], top_p=0.8) for g in gens]).numpy()
    freq = np.bincount(picks, minlength=5) / len(picks)
    expected = np.array([0.45, 0.25, 0.15, 0, 0]) / 0.85  # 0.45 + 0.25 < 0.8, so 0.15 joins; the rest never
    assert freq[3] == freq[4] == 0
    assert np.allclose(freq, expected, atol=0.03)
    # at temperature 0.5 the nucleus is taken of the sharpened distribution
    sharp = torch.softmax(logits.double() / 0.5, -1)[0].numpy()
    picks = torch.cat([draw(logits, 0.5, [g], top_p=0.8) for g in gens]).numpy()
    assert set(np.unique(picks)) == {0, 1}  # sharp = 0.66, 0.20, ...: the first two reach 0.8
    assert np.allclose(np.bincount(picks, minlength=2)[:2] / len(picks), sharp[:2] / sharp[:2].sum(), atol=0.03)


@pytest.fixture(scope="module")
def prompts(tokenizer):
    task = make_task("arithmetic")
    return [render(tokenizer, task.solver_messages(f"What is {a} + {b}?"), True) for a, b in [(1, 2), (3, 5), (8, 9)]]


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampling_nll_equals_a_separate_forward_pass(backend, prompts, temperature):
    """The recorded NLL is the raw model's (temperature 1) at any sampling temperature."""
    done = backend.sample(prompts, 3, 24, temperature, [11, 12, 13])
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
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_first_token_distribution_matches_the_sampler(backend, prompts, temperature):
    """The sampled first tokens follow softmax(logits / T) of a plain forward pass; their NLL is that of
    softmax(logits), the raw model's, whatever T."""
    prompt = prompts[0]
    with torch.inference_mode():
        logits = backend.model(torch.tensor([prompt])).logits[0, -1].double()
    raw = torch.softmax(logits, -1).numpy()
    scaled = torch.softmax(logits / temperature, -1).numpy()
    top = np.argsort(scaled)[::-1][:3]
    done = backend.sample([prompt], 600, 1, temperature, [5])[0]
    firsts = np.array([c.token_ids[0] for c in done])
    for tok in top:
        p = scaled[tok]
        assert abs((firsts == tok).mean() - p) < 4 * np.sqrt(p * (1 - p) / 600) + 1e-3
    assert np.allclose([c.nll for c in done], -np.log(raw[firsts]), atol=1e-4)
    if temperature != 1.0:  # the two readings differ here, so the check above can tell them apart
        assert not np.allclose(-np.log(raw[firsts]), -np.log(scaled[firsts]), atol=1e-2)


@pytest.mark.slow
def test_top_p_samples_stay_in_the_nucleus_and_keep_the_raw_nll(backend, prompts):
    """MTG's sampling (T 0.7, top-p 0.9): every first token lies in the nucleus of softmax(logits / T), and
    each sample's NLL is still the raw model's (temperature 1, no nucleus), first token and whole response."""
    def spread(prompt):  # the first-token distribution, its nucleus, and the mass outside the nucleus
        with torch.inference_mode():
            logits = backend.model(torch.tensor([prompt])).logits[0, -1].double()
        scaled = torch.softmax(logits / 0.7, -1)[None]
        kept = nucleus(scaled, 0.9)[0].numpy()
        return logits, kept, 1 - kept.sum()

    # a position where the nucleus holds several tokens and plain sampling would leave it 5% of the time
    candidates = [p[:cut] for p in prompts for cut in (len(p), len(p) - 3, len(p) // 2)]
    prompt = next(p for p in candidates if spread(p)[2] > 0.05 and (spread(p)[1] > 0).sum() > 1)
    logits, kept, outside = spread(prompt)
    done = backend.sample([prompt], 400, 1, 0.7, [9], top_p=0.9)[0]
    firsts = np.array([c.token_ids[0] for c in done])
    assert (kept[firsts] > 0).all()  # P(no draw outside | no nucleus) = (1 - outside)^400 < 1e-8
    assert len(set(firsts)) > 1
    raw = torch.log_softmax(logits, -1).numpy()
    assert np.allclose([c.nll for c in done], -raw[firsts], atol=1e-4)
    long = backend.sample(prompts[:2], 2, 12, 0.7, [3, 4], top_p=0.9)
    responses = [c for row in long for c in row]
    teacher = backend.nll([p for p in prompts[:2] for _ in range(2)], [c.token_ids for c in responses])
    assert np.allclose([c.nll for c in responses], teacher, atol=2e-3)


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


@pytest.fixture(scope="module")
def verifier_prompts(tokenizer):
    """TF verifier prompts as the loop renders them: one head (instructions and worked examples), then per
    question several responses sharing the question and their first words, one response twice."""
    from svgap.config import load as load_config
    from svgap.loop.verification import VerifierSpec, tf_messages

    spec = VerifierSpec.from_config(load_config("config/config.yaml")["verifier"])
    shots = make_task("arithmetic").verifier_shots
    pairs = [("What is 3 + 4?", "3 + 4 = 7. The answer is 7."), ("What is 3 + 4?", "3 + 4 = 8. The answer is 8."),
             ("What is 3 + 4?", "3 + 4 = 7. The answer is 7."), ("What is 3 + 4?", "Seven."),
             ("What is 13 + 4?", "13 + 4 = 17."), ("What is 5 + 5?", "10")]
    return [render(tokenizer, tf_messages(spec, shots, q, r), True) for q, r in pairs]


@pytest.mark.slow
@pytest.mark.parametrize("width", [256, 80])
def test_prefix_tree_prefill_matches_one_unpadded_forward_per_prompt(backend, verifier_prompts, width, monkeypatch):
    """Verifier prompts packed as prefix trees (identical prompts one path, shared questions and first words one
    node each; at width 80 over several rows) give each prompt's next-token log-probabilities of a plain
    forward of that prompt alone, and the cache they leave decodes as that prompt's would: sampled replies
    keep the NLL of a separate forward pass."""
    from svgap.inference.packing import pack

    monkeypatch.setattr(backend, "pack_width", width)
    shared = common_prefix_length(verifier_prompts)
    assert shared > 200  # instructions and worked examples
    packing = pack([p[shared:] for p in verifier_prompts], width)
    assert packing.nodes < sum(len(p) - shared for p in verifier_prompts)
    assert (len(packing.tokens) > 1) == (width == 80)
    ids = list(range(0, 49152, 997))
    got = backend.next_token_logprobs(verifier_prompts, ids)
    for row, prompt in zip(got, verifier_prompts, strict=True):
        with torch.inference_mode():
            logits = backend.model(torch.tensor([prompt])).logits[0, -1]
        assert np.allclose(row, torch.log_softmax(logits.double(), -1)[ids].numpy(), atol=1e-4)
    done = backend.sample(verifier_prompts, 2, 6, 1.0, list(range(len(verifier_prompts))), first_token_ids=ids)
    assert np.allclose(np.array([r[0].first_logprobs for r in done]), got, atol=1e-5)
    flat = [c for row in done for c in row]
    teacher = backend.nll([p for p in verifier_prompts for _ in range(2)], [c.token_ids for c in flat])
    assert np.allclose([c.nll for c in flat], teacher, atol=2e-3)
    alone = backend.sample(verifier_prompts[2:3], 2, 6, 1.0, [2])[0]  # the twin of prompt 0, with its own seed
    assert [c.token_ids for c in alone] == [c.token_ids for c in done[2]]


@pytest.mark.slow
def test_greedy_samples_are_identical(backend, prompts):
    done = backend.sample(prompts[:1], 3, 12, 0.0, [0])[0]
    assert len({c.token_ids for c in done}) == 1


@pytest.mark.slow
def test_samples_do_not_depend_on_the_batching_or_the_prompt_order(backend, prompts, tokenizer):
    """A (prompt, seed)'s samples are the same whether its prompt is batched with others or alone, first
    or last: the same model behind a batch budget that forces one prompt per batch, and the prompts
    permuted."""
    from svgap.inference.hf_backend import HFBackend

    task = make_task("arithmetic")
    more = prompts + [render(tokenizer, task.solver_messages(q), True)
                      for q in ("What is 12 + 30? Show your work.", "What is 7 + 6?")]
    seeds = [21, 22, 23, 24, 25]
    together = backend.sample(more, 2, 12, 0.7, seeds)
    narrow = HFBackend(backend.model, tokenizer, max_batch_tokens=2 * (max(map(len, more)) + 12), max_batch_rows=2)
    assert len(length_batches([len(p) + 12 for p in more], narrow.max_batch_tokens // 2, 1)) == len(more)
    order = [4, 2, 0, 3, 1]
    apart = narrow.sample([more[i] for i in order], 2, 12, 0.7, [seeds[i] for i in order])
    for k, i in enumerate(order):
        assert [c.token_ids for c in apart[k]] == [c.token_ids for c in together[i]], f"prompt {i}"
        assert np.allclose([c.nll for c in apart[k]], [c.nll for c in together[i]], atol=1e-3)


@pytest.mark.slow
def test_the_converted_model_is_a_working_language_model(backend, tokenizer):
    """The GGUF conversion gives a model, not just weights that agree with themselves: it answers a sum
    greedily, and a fluent sentence is far likelier than the same words shuffled."""
    task = make_task("arithmetic")
    answer = backend.sample([render(tokenizer, task.solver_messages("What is 2 + 3?"), True)], 1, 24, 0.0, [0])[0][0]
    assert "5" in tokenizer.decode(answer.token_ids, skip_special_tokens=True)
    sentence = "The cat sat on the mat and looked out of the window at the rain."
    words = sentence.rstrip(".").split()
    shuffled = " ".join(words[i] for i in np.random.default_rng(0).permutation(len(words))) + "."
    start = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else tokenizer("\n").input_ids
    fluent, scrambled = backend.nll([start, start], [tokenizer(t, add_special_tokens=False).input_ids
                                                     for t in (sentence, shuffled)])
    assert fluent < scrambled - 10, (fluent, scrambled)


@pytest.mark.parametrize("length", [1, 7])
def test_grouped_query_attention_equals_transformers_sdpa(length):
    """The unrepeated-cache GQA rewrite of a decode step (svgap.inference.attention) gives transformers' SDPA
    output under left padding; a prefill (7 positions, causal mask) goes to transformers' SDPA itself."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from svgap.inference.attention import decode_gqa_attention

    class Layer(torch.nn.Module):
        num_key_value_groups, is_causal = 3, True

    g = torch.Generator().manual_seed(0)
    batch, heads, kv, dim = 5, 9, 20, 16
    q = torch.randn(batch, heads, length, dim, generator=g)
    k, v = torch.randn(2, batch, 3, kv, dim, generator=g)
    mask = torch.ones(batch, 1, length, kv, dtype=torch.bool).tril(kv - length)
    mask[:, :, :, :3] = False  # padding on the left of every row, more on row 0
    mask[0, :, :, :6] = False
    ours, _ = decode_gqa_attention(Layer(), q, k, v, mask, scaling=0.25)
    theirs, _ = sdpa_attention_forward(Layer(), q, k, v, mask, scaling=0.25)
    assert ours.shape == theirs.shape == (batch, length, heads, dim)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("length", [1, 5])
def test_shared_prefix_attention_equals_attention_over_the_prefix_copied_to_every_row(length):
    """svgap.inference.attention.cascade_attention: one copy of the shared prefix's keys, merged by
    log-sum-exp with the rows' own (left-padded, causal) keys, gives SDPA over the concatenation; a row
    whose query has no key of its own (padding) still attends to the prefix."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from svgap.inference.attention import cascade_attention

    class Layer(torch.nn.Module):
        num_key_value_groups, is_causal = 3, True

    g = torch.Generator().manual_seed(1)
    batch, heads, dim, shared, own = 4, 9, 16, 7, 10
    q = torch.randn(batch, heads, length, dim, generator=g)
    k, v = torch.randn(2, batch, 3, own, dim, generator=g)
    pk, pv = torch.randn(2, 1, 3, shared, dim, generator=g)
    mask = torch.ones(batch, 1, length, own, dtype=torch.bool).tril(own - length)
    mask[0, :, :, :3] = False
    mask[1, :, 0, :] = False  # a query with no key of its own
    ours = cascade_attention(q, k, v, mask, pk, pv, 3, 0.25)
    full = torch.cat([torch.ones(batch, 1, length, shared, dtype=torch.bool), mask], -1)
    keys, values = (torch.cat([p.expand(batch, -1, -1, -1), x], 2) for p, x in ((pk, k), (pv, v)))
    theirs, _ = sdpa_attention_forward(Layer(), q, keys, values, full, scaling=0.25)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    if length > 1:  # no mask: causal from the first of the rows' own keys
        unmasked = cascade_attention(q, k[:, :, :length], v[:, :, :length], None, pk, pv, 3, 0.25)
        causal = torch.ones(length, length, dtype=torch.bool).tril().expand(batch, 1, length, length)
        expected = cascade_attention(q, k[:, :, :length], v[:, :, :length], causal, pk, pv, 3, 0.25)
        torch.testing.assert_close(unmasked, expected)


def test_the_default_configs_token_cap_keeps_sampling_whole_and_splits_verification(backend, tokenizer):
    """config/config.yaml's `inference.max_batch_tokens` (the batches' cache): the default's sampling keeps
    `max_batch_rows` rows per batch (32 prompts x N = 4), while its longer verifier prompts, with responses
    as long as the default allows, go fewer at a time (the generate-and-verify job's peak RSS,
    docs/performance.md)."""
    from svgap.config import load as load_config
    from svgap.inference.hf_backend import HFBackend
    from svgap.loop.verification import VerifierSpec, qe_messages, tf_messages

    config = load_config("config/config.yaml")
    inference, loop, verifier = config["inference"], config["loop"], config["verifier"]
    capped = HFBackend(backend.model, tokenizer, inference["max_batch_tokens"], inference["max_batch_rows"])
    task_spec = config["tasks"]["add"]
    task = make_task(task_spec["kind"], task_spec["options"])
    questions = [it.question for it in task.items(task_spec["n_train"], 2, task_spec["seed"])["train"]]

    def batches(prompts, extra, n):
        return capped._batches(prompts, common_prefix_length(prompts), extra, n)

    solver = [render(tokenizer, task.solver_messages(q), True) for q in questions]
    assert [len(b) * loop["n_samples"] for b in batches(solver, loop["max_new_tokens"], loop["n_samples"])] == \
        [inference["max_batch_rows"]] * (len(solver) * loop["n_samples"] // inference["max_batch_rows"])
    # a response of the default's longest length (max_new_tokens), for every question
    long = " ".join(["12"] * 40)
    response = tokenizer.decode(tokenizer(long, add_special_tokens=False)["input_ids"][:loop["max_new_tokens"]])
    spec = VerifierSpec.from_config(verifier)
    for messages in (tf_messages, qe_messages):
        prompts = [render(tokenizer, messages(spec, task.verifier_shots, q, response), True) for q in questions]
        rows = [len(b) for b in batches(prompts, verifier["max_new_tokens"], 1)]
        assert sum(rows) == len(prompts) and 64 <= max(rows) < inference["max_batch_rows"], (messages.__name__, rows)
