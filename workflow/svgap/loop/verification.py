"""Self-verification: the same model judges each sampled response.

Three scores per response, all in [0, 1]:

- TF (TrueFalse, SVG App. D.2): the model answers whether the response is correct; the verdict is
  generated at the verifier temperature and parsed: 1 for a 'correct' word, 0 for an 'incorrect'
  word.
- QE (Quality Evaluation): the model rates the response on an integer scale 0..`qe_scale`; the
  score is the rating / `qe_scale`.
- MC (P("correct"), MTG §3): from the next-token distribution after the TF prompt, with no decoding:
  P(correct words) / (P(correct words) + P(incorrect words)), the first token of each word counted.

A run that selects by one of Mind the Gap's methods (MC, CoT-Binary, CoT-Score, Tournament) also
gets that method's scores, from `svgap.gap.verify` with the loop's verifier temperature, top-p and
reply length, the task's worked examples shown (as for TF and QE) and `tournament_rounds` rounds; the
other MTG columns of the verify table stay null.

`verifier.methods` names the scores a job computes: `tf` (the TF reply; P(correct) then comes free from
its prefill), `qe` (the QE reply) and `p_correct` (without `tf`: one prefill of the TF prompts, no reply).
The config's default, `auto`, is resolved per job by `svgap.config.verifier_methods` (a run's own method,
the N sweep's or the cross-evaluation's methods); called without the key, all three. The columns of a
method left out are null; the config check refuses a list that leaves out a method a run selects by.

Malformed verifier output follows one documented rule: a TF reply with no verdict word, or a QE reply
with no number in 0..qe_scale, scores 0 (a response the verifier does not vouch for is not trusted)
and is counted (`tf_parsed` / `qe_parsed` false), never an error.

The prompts: the task's worked examples (question, response, quality) are shown as earlier chat
turns with the verdict the verifier should give (quality >= 0.5 is the 'correct' word; QE rating
round(quality * qe_scale)), then the response to judge.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from svgap.config import LOOP_METHODS, TEMPLATE_KEYS, check_template, computed_scores, prompt_keys
from svgap.inference.chat import render
from svgap.seeds import stable_seed
from svgap.tables import by_split, with_split
from svgap.tasks.base import VerifierShot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifierSpec:
    """The verifier's prompts and vocabulary (the config's `verifier` section); those of a method a job does not
    compute may be absent (None, empty): `svgap.config.verifier_settings` leaves them out of its params."""

    tf_template: str | None
    qe_template: str | None
    correct_words: tuple[str, ...]
    incorrect_words: tuple[str, ...]
    qe_scale: int | None

    @classmethod
    def from_config(cls, cfg: dict, methods: Sequence[str] = LOOP_METHODS) -> VerifierSpec:
        """The settings `methods` need must be there (the TF prompt's for tf and p_correct, QE's for qe)."""
        missing = [key for key in prompt_keys(methods) if key not in cfg]
        if missing:
            raise ValueError(f"verifier settings {missing} missing, which methods {list(methods)} need")
        for key in TEMPLATE_KEYS:
            if key in cfg:
                check_template(key, cfg[key])
        scale = cfg.get("qe_scale")
        return cls(cfg.get("tf_template"), cfg.get("qe_template"), tuple(cfg.get("correct_words", ())),
                   tuple(cfg.get("incorrect_words", ())), None if scale is None else int(scale))


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
    return word_tokens(tokenizer, spec.correct_words, spec.incorrect_words)


def word_tokens(tokenizer, correct: tuple[str, ...], incorrect: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """Disjoint first-token sets of two word lists (the loop's TF words, MTG's MC words)."""
    yes, no = verdict_token_ids(tokenizer, correct), verdict_token_ids(tokenizer, incorrect)
    clash = set(yes) & set(no)
    if clash:
        raise ValueError(f"verifier words share first tokens {sorted(clash)}: correct {correct}, "
                         f"incorrect {incorrect}; choose words that start differently")
    return yes, no


def p_correct(first_logprobs: np.ndarray, n_yes: int) -> np.ndarray:
    """P(correct) of MTG's MC verification from the log-probabilities of the verdict tokens.

    `first_logprobs` has one row per response: the log-probabilities, at the first position of the
    verifier's reply, of the correct words' first tokens (the first `n_yes` columns) and then of the
    incorrect words' (`verdict_tokens`). P(correct) = P(yes) / (P(yes) + P(no)), the probabilities
    of each side summed over its tokens.
    """
    probs = np.exp(np.asarray(first_logprobs, dtype=float))
    p_yes, p_no = probs[:, :n_yes].sum(-1), probs[:, n_yes:].sum(-1)
    return p_yes / (p_yes + p_no)


def verify_samples(loaded, task, data: Mapping[str, pl.DataFrame], gens: pl.DataFrame, *, verifier: dict,
                   seed: int, t: float, where: str, mtg_methods: tuple[str, ...] = ()) -> pl.DataFrame:
    """The verify table: TF, QE and P(correct) of every sample of a generations table (those `verifier.methods`
    lists; null columns for the others), and the scores of `mtg_methods` (svgap.gap.verify; null columns for the
    MTG methods not asked for).

    `loaded` is what `svgap.inference.backend.load_backend` returns (the model that sampled `gens`),
    `task` a `svgap.tasks.Task`, `data` the data table by split, `verifier` the config's verifier
    section (templates, words, scale, temperature, max_new_tokens); `where` names `gens` in errors.
    Every split is checked against the data table before the model runs on any.
    """
    desc, tokenizer, backend = loaded
    methods = verifier.get("methods", LOOP_METHODS)
    if isinstance(methods, str):  # `auto` depends on the job (svgap.config.verifier_settings resolves it)
        raise ValueError(f"verifier.methods {methods!r} must be resolved to a list before verification "
                         f"(svgap.config.verifier_settings)")
    spec = VerifierSpec.from_config(verifier, methods)
    questions = {}
    for split, split_gens in by_split(gens, where).items():
        if split not in data:
            raise ValueError(f"{where}: the {split} split is missing from the data table")
        questions[split] = split_gens.join(data[split].select("prompt_id", "prompt"), on="prompt_id", how="left")
        if questions[split]["prompt"].null_count():
            raise ValueError(f"{where}: {split} prompt ids not in the {split} split of the data table")
    return with_split({split: _verify_split(backend, tokenizer, desc["chat_template"], spec, task.verifier_shots,
                                            split_gens, verifier, tuple(methods), seed, split, t)
                       .join(_mtg_scores(loaded, task, split_gens, verifier, mtg_methods, seed, split, t, where),
                             on=["prompt_id", "sample"], how="left")
                       for split, split_gens in questions.items()})


def _mtg_scores(loaded, task, gens: pl.DataFrame, verifier: dict, methods: tuple[str, ...], seed: int, split: str,
                t: float, where: str) -> pl.DataFrame:
    """The MTG score columns of one split's generations (`gens` with each sample's prompt joined)."""
    from svgap.gap import verify as mtg

    if not methods:
        return gens.select("prompt_id", "sample").with_columns(
            [pl.lit(None, dtype=dtype).alias(name) for name, dtype in mtg.SCORE_SCHEMA.items()
             if name not in ("prompt_id", "sample")])
    spec = mtg.Spec(tuple(methods), float(verifier["temperature"]), float(verifier.get("top_p", 1.0)),
                    int(verifier["max_new_tokens"]), True, int(verifier.get("tournament_rounds", 0)), 0, 0)
    scores, matches, _ = mtg.verify(loaded, task, gens.select("prompt_id", "prompt").unique("prompt_id"),
                                    gens.drop("prompt"), spec, stable_seed(seed, "verify-mtg", split, t), where)
    log.info("%s: MTG %s scored (%d tournament matches)", split, ", ".join(methods), matches.height)
    return scores


def _replies(backend, tokenizer, prompts, verifier: dict, seeds, first_token_ids=()) -> tuple[list[str], list]:
    """One reply per verifier prompt (the config's verifier temperature, top-p and reply length)."""
    done = backend.sample(prompts, 1, verifier["max_new_tokens"], verifier["temperature"], seeds,
                          first_token_ids=first_token_ids, top_p=verifier.get("top_p", 1.0))
    return [tokenizer.decode(c[0].token_ids, skip_special_tokens=True) for c in done], done


def _verify_split(backend, tokenizer, chat, spec, shots, gens: pl.DataFrame, verifier: dict,
                  methods: tuple[str, ...], seed: int, split: str, t: float) -> pl.DataFrame:
    """The verify table of one split's generations (`gens` with each sample's prompt joined): the scores of
    `methods`; the columns of the others are null."""
    pairs = list(zip(gens["prompt"], gens["text"], strict=True))
    keys = list(zip(gens["prompt_id"], gens["sample"], strict=True))
    df = gens.select("prompt_id", "sample")
    if "tf" in methods or "p_correct" in methods:
        start = time.perf_counter()
        yes, no = verdict_tokens(tokenizer, spec)
        prompts = [render(tokenizer, tf_messages(spec, shots, q, r), chat) for q, r in pairs]
        if "tf" in methods:  # P(correct): the next-token distribution after the TF prompt, from its prefill
            seeds = [stable_seed(seed, "verify-tf", split, t, pid, j) for pid, j in keys]
            replies, done = _replies(backend, tokenizer, prompts, verifier, seeds, yes + no)
            first = np.array([c[0].first_logprobs for c in done]).reshape(len(done), len(yes + no))
            scores = [parse_tf(spec, r) for r in replies]
            df = df.with_columns(tf_reply=pl.Series(replies, dtype=pl.String),
                                 tf_score=pl.Series([s if s is not None else 0.0 for s in scores], dtype=pl.Float64),
                                 tf_parsed=pl.Series([s is not None for s in scores], dtype=pl.Boolean))
        else:
            first = backend.next_token_logprobs(prompts, yes + no)
        df = df.with_columns(p_correct=pl.Series(p_correct(first, len(yes)), dtype=pl.Float64))
        log.info("%s TF: %d %s in %.1f s", split, len(prompts),
                 "replies" if "tf" in methods else "prefills (P(correct) alone)", time.perf_counter() - start)
    if "qe" in methods:
        start = time.perf_counter()
        prompts = [render(tokenizer, qe_messages(spec, shots, q, r), chat) for q, r in pairs]
        seeds = [stable_seed(seed, "verify-qe", split, t, pid, j) for pid, j in keys]
        replies, _ = _replies(backend, tokenizer, prompts, verifier, seeds)
        scores = [parse_qe(spec, r) for r in replies]
        df = df.with_columns(qe_reply=pl.Series(replies, dtype=pl.String),
                             qe_score=pl.Series([s if s is not None else 0.0 for s in scores], dtype=pl.Float64),
                             qe_parsed=pl.Series([s is not None for s in scores], dtype=pl.Boolean))
        log.info("%s QE: %d replies in %.1f s", split, len(prompts), time.perf_counter() - start)
    df = df.with_columns([pl.lit(None, dtype=dtype).alias(name) for name, dtype in VERIFY_SCHEMA.items()
                          if name not in df.columns])
    computed = computed_scores(methods)
    log.info("%s: unparsed verifier replies (scored 0): TF %s, QE %s of %d; not computed: %s", split,
             (~df["tf_parsed"]).sum() if "tf" in methods else "-", (~df["qe_parsed"]).sum() if "qe" in methods else "-",
             df.height, ", ".join(m for m in LOOP_METHODS if m not in computed) or "none")
    return df.select("prompt_id", "sample", *VERIFY_SCHEMA)


VERIFY_SCHEMA = {"tf_reply": pl.String, "tf_score": pl.Float64, "tf_parsed": pl.Boolean, "qe_reply": pl.String,
                 "qe_score": pl.Float64, "qe_parsed": pl.Boolean, "p_correct": pl.Float64}
