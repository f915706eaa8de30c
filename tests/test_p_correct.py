"""P(correct) of MC verification (MTG §3) on a stand-in model whose next-token logits are known.

The verifier's TF prompt is sent to a stand-in backend; the log-probabilities it reports for the verdict
tokens are those of known logits over a small vocabulary, so P(correct) = P(yes) / (P(yes) + P(no)) can
be computed here from the vocabulary itself, the first token shared by two correct words counted once.
"""

import numpy as np
import polars as pl
import pytest

from svgap.inference.backend import Completion
from svgap.inference.chat import render
from svgap.loop import verification as verify

# "Yes" and "Yeah" both begin with the piece "Ye" (and its lower-case and spaced forms)
PIECES = ["Ye", " Ye", "ye", " ye", "No", " No", "no", " no", "s", "ah"]
YES, NO = {"Ye", " Ye", "ye", " ye"}, {"No", " No", "no", " no"}
VOCAB = PIECES + [chr(c) for c in range(32, 127)]  # then single characters


class Pieces:
    """A stand-in tokenizer: greedy longest match over PIECES, one token per other character."""

    chat_template = None
    pad_token_id = eos_token_id = len(VOCAB)

    def __call__(self, text, add_special_tokens=True):
        ids, i = [], 0
        while i < len(text):
            piece = max((p for p in PIECES if text.startswith(p, i)), key=len, default=text[i])
            ids.append(VOCAB.index(piece) if piece in VOCAB else VOCAB.index("?"))
            i += len(piece)
        return type("Encoding", (), {"input_ids": ids})()

    def decode(self, ids, skip_special_tokens=True):
        return "".join(VOCAB[i] for i in ids if i < len(VOCAB))


def known_logits(prompt) -> np.ndarray:
    """The stand-in model's logits after a prompt: fixed by the prompt, most mass off the verdict tokens."""
    return np.random.default_rng(sum(prompt)).normal(0.0, 2.0, len(VOCAB) + 1)


class StandIn:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def sample(self, prompts, n, max_new_tokens, temperature, seeds, first_token_ids=(), top_p=1.0):
        out = []
        for p in prompts:
            logits = known_logits(p)
            logp = logits - np.log(np.exp(logits).sum())
            reply = tuple(self.tokenizer("Yes").input_ids)
            out.append([Completion(reply, 1.0, True, tuple(logp[list(first_token_ids)].tolist()))] * n)
        return out


def spec(correct=("Yes", "Yeah"), incorrect=("No",)):
    return verify.VerifierSpec("Q: {question}\nA: {response}\nCorrect?", "Q: {question}\nA: {response}\nScore:",
                               correct, incorrect, 10)


def test_the_verdict_tokens_are_each_words_first_tokens_once():
    yes, no = verify.verdict_tokens(Pieces(), spec())
    assert sorted(VOCAB[i] for i in yes) == sorted(YES)  # "Yes" and "Yeah" share their four first tokens
    assert sorted(VOCAB[i] for i in no) == sorted(NO)


def test_p_correct_is_p_yes_over_p_yes_and_p_no_of_the_known_logits():
    tokenizer = Pieces()
    gens = pl.DataFrame({"prompt_id": ["a", "a", "b"], "sample": [0, 1, 0], "prompt": ["1+1?", "1+1?", "2+2?"],
                         "text": ["2", "3", "4"]})
    verifier = {"max_new_tokens": 2, "temperature": 0.0}
    table = verify._verify_split(StandIn(tokenizer), tokenizer, False, spec(), (), gens, verifier, verify.LOOP_METHODS,
                                 0, "train", 0)
    for row, (q, r) in zip(table.iter_rows(named=True), zip(gens["prompt"], gens["text"], strict=True), strict=True):
        prompt = render(tokenizer, verify.tf_messages(spec(), (), q, r), False)
        probs = np.exp(known_logits(prompt))
        probs /= probs.sum()
        p_yes = sum(probs[VOCAB.index(p)] for p in YES)
        p_no = sum(probs[VOCAB.index(p)] for p in NO)
        assert 0.0 < p_yes + p_no < 0.5  # the verdict tokens hold a minority of the mass: the ratio renormalises
        assert row["p_correct"] == pytest.approx(p_yes / (p_yes + p_no), rel=1e-12)
        assert row["tf_score"] == 1.0 and row["tf_reply"] == "Yes"


def test_p_correct_of_log_probabilities():
    first = np.log([[0.2, 0.1, 0.1], [0.01, 0.01, 0.18]])  # two correct tokens, then one incorrect
    assert verify.p_correct(first, 2) == pytest.approx([0.75, 0.1])


def test_words_of_both_sides_sharing_a_first_token_are_an_error():
    with pytest.raises(ValueError, match=r"verifier words share first tokens .*'Yes'.*'Yeah'"):
        verify.verdict_tokens(Pieces(), spec(correct=("Yes",), incorrect=("Yeah",)))
