"""Self-verification: the same model judges each sampled response.

Three scores per response, all in [0, 1]:

- TF (TrueFalse, SVG App. D.2): the model answers whether the response is correct; the verdict is
  generated at the verifier temperature and parsed: 1 for a 'correct' word, 0 for an 'incorrect'
  word.
- QE (Quality Evaluation): the model rates the response on an integer scale 0..`qe_scale`; the
  score is the rating / `qe_scale`.
- MC (P("correct"), MTG §3): from the next-token distribution after the TF prompt, with no decoding:
  P(correct words) / (P(correct words) + P(incorrect words)), the first token of each word counted.

Malformed verifier output follows one documented rule: a TF reply with no verdict word, or a QE reply
with no number in 0..qe_scale, scores 0 (a response the verifier does not vouch for is not trusted)
and is counted (`tf_parsed` / `qe_parsed` false), never an error.

The prompts: the task's worked examples (question, response, quality) are shown as earlier chat
turns with the verdict the verifier should give (quality >= 0.5 is the 'correct' word; QE rating
round(quality * qe_scale)), then the response to judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from svgap.tasks.base import VerifierShot


@dataclass(frozen=True)
class VerifierSpec:
    """The verifier's prompts and vocabulary (the config's `verifier` section)."""

    tf_template: str
    qe_template: str
    correct_words: tuple[str, ...]
    incorrect_words: tuple[str, ...]
    qe_scale: int

    @classmethod
    def from_config(cls, cfg: dict) -> VerifierSpec:
        for key in ("tf_template", "qe_template"):
            try:
                cfg[key].format(question="", response="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"verifier.{key}: only {{question}} and {{response}} may be filled in "
                                 f"(write literal braces as {{{{ }}}}): {exc!r}") from exc
        return cls(cfg["tf_template"], cfg["qe_template"], tuple(cfg["correct_words"]),
                   tuple(cfg["incorrect_words"]), int(cfg["qe_scale"]))


def messages(template: str, shots: tuple[VerifierShot, ...], answer_of, question: str, response: str):
    """A chat: each worked example with its expected verdict, then the response to judge."""
    turns = []
    for shot in shots:
        turns += [{"role": "user", "content": template.format(question=shot.question, response=shot.response)},
                  {"role": "assistant", "content": answer_of(shot.quality)}]
    turns.append({"role": "user", "content": template.format(question=question, response=response)})
    return turns


def tf_messages(spec: VerifierSpec, shots, question: str, response: str):
    def verdict(q):
        return spec.correct_words[0] if q >= 0.5 else spec.incorrect_words[0]
    return messages(spec.tf_template, shots, verdict, question, response)


def qe_messages(spec: VerifierSpec, shots, question: str, response: str):
    return messages(spec.qe_template, shots, lambda q: str(round(q * spec.qe_scale)), question, response)


def _word_pattern(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def parse_tf(spec: VerifierSpec, reply: str) -> float | None:
    """1.0 / 0.0 for the first verdict word in the reply (whole word, any case); None if none."""
    pattern = rf"\b({_word_pattern(spec.correct_words)}|{_word_pattern(spec.incorrect_words)})\b"
    m = re.search(pattern, reply, flags=re.IGNORECASE)
    if m is None:
        return None
    return 1.0 if m.group(1).lower() in {w.lower() for w in spec.correct_words} else 0.0


def parse_qe(spec: VerifierSpec, reply: str) -> float | None:
    """The first number of the reply divided by qe_scale, if it lies in 0..qe_scale; else None.

    '7', '7/10', 'Score: 7.' all read as 7; '0.7' reads as 0.7 (a score already in [0, 1] when the
    scale is 1) only if it lies within the scale.
    """
    m = re.search(r"-?\d+(?:\.\d+)?", reply)
    if m is None:
        return None
    value = float(m.group())
    if not 0 <= value <= spec.qe_scale:
        return None
    return value / spec.qe_scale


def verdict_token_ids(tokenizer, words: tuple[str, ...]) -> list[int]:
    """The first token of each word, bare and with a leading space, in upper and lower case."""
    ids = set()
    for w in words:
        for variant in {w, w.lower(), w.capitalize(), " " + w, " " + w.lower(), " " + w.capitalize()}:
            tokens = tokenizer(variant, add_special_tokens=False).input_ids
            if tokens:
                ids.add(tokens[0])
    return sorted(ids)


def verdict_tokens(tokenizer, spec: VerifierSpec) -> tuple[list[int], list[int]]:
    """Disjoint first-token sets for the correct and the incorrect words."""
    yes, no = verdict_token_ids(tokenizer, spec.correct_words), verdict_token_ids(tokenizer, spec.incorrect_words)
    clash = set(yes) & set(no)
    if clash:
        raise ValueError(f"verifier words share first tokens {sorted(clash)}: correct {spec.correct_words}, "
                         f"incorrect {spec.incorrect_words}; choose words that start differently")
    return yes, no
