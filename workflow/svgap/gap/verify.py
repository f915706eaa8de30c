"""The verification job of MTG (§3, App. C, G): every method on one sampling of a model.

- MC: MTG's own prompt ("... Answer with either Correct or Incorrect"), scored without decoding:
  P(Correct) / (P(Correct) + P(Incorrect)) from the next-token distribution after the prompt, the first
  token of each word summed over its spellings (`svgap.loop.verification.verdict_token_ids`), one
  batched forward. (The loop's P(correct) after its TF prompt, `p_correct`, is another number.)
- CoT-Binary and CoT-Score: one reply per response at the verifier's temperature and top-p, parsed by
  `svgap.gap.parse` (unparsed replies scored by its rule and counted).
- Tournament: `svgap.gap.tournament`, one reply per match, all matches of a round in one batch.
- Repeats (MTG App. D.4, Fig. 11): `repeats` more CoT-Binary replies for each of the first
  `repeat_samples` responses of a prompt, each seeded apart.

The prompts: the task's MTG templates (`Task.verifier_templates`); with `shots`, the task's worked
verification examples come first as chat turns whose reply is the method's verdict line alone
("Correct", "Correctness: <correct>", "Score: 10"), showing the format. The tournament's examples pair
a correct example's response with an incorrect one's, the correct one as A, then as B, alternately
(`tournament_shots`). Every call is seeded by (seed, method, prompt, sample or match), so
a verdict does not depend on the batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from svgap.gap import parse, tournament
from svgap.gap.filters import METHODS
from svgap.inference.chat import render
from svgap.loop.verification import p_correct, word_tokens
from svgap.seeds import stable_seed

log = logging.getLogger(__name__)

MC_WORDS = (("Correct",), ("Incorrect",))

SCORE_SCHEMA = {"prompt_id": pl.String, "sample": pl.Int64, "mc": pl.Float64,
                "cot_binary": pl.Float64, "cot_binary_parsed": pl.Boolean, "cot_binary_reply": pl.String,
                "cot_score": pl.Float64, "cot_score_parsed": pl.Boolean, "cot_score_reply": pl.String,
                "tournament": pl.Int64}
MATCH_SCHEMA = {"prompt_id": pl.String, "round": pl.Int64, "match": pl.Int64, "a": pl.Int64, "b": pl.Int64,
                "reply": pl.String, "winner": pl.Int64, "winner_position": pl.String, "decided_by": pl.String}
REPEAT_SCHEMA = {"prompt_id": pl.String, "sample": pl.Int64, "repeat": pl.Int64, "score": pl.Float64,
                 "parsed": pl.Boolean, "reply": pl.String}


@dataclass(frozen=True)
class Spec:
    """The config's gap.verifier section."""

    methods: tuple[str, ...]
    temperature: float
    top_p: float
    max_new_tokens: int
    shots: bool
    rounds: int  # 0: until one response remains
    repeats: int
    repeat_samples: int

    @classmethod
    def from_config(cls, cfg: dict) -> Spec:
        unknown = [m for m in cfg["methods"] if m not in METHODS]
        if unknown:
            raise ValueError(f"gap.verifier.methods: {unknown} not among {METHODS}")
        return cls(tuple(cfg["methods"]), float(cfg["temperature"]), float(cfg["top_p"]), int(cfg["max_new_tokens"]),
                   bool(cfg["shots"]), int(cfg["tournament_rounds"]), int(cfg["repeats"]), int(cfg["repeat_samples"]))


SHOT_REPLY = {
    "mc": lambda q: "Correct" if q >= 0.5 else "Incorrect",
    "cot_binary": lambda q: f"Correctness: <{'correct' if q >= 0.5 else 'incorrect'}>",
    "cot_score": lambda q: f"Score: {1 + round(9 * q)}",
}


def tournament_shots(task) -> list[tuple[dict[str, str], str]]:
    """Worked comparisons from the task's verification examples: each correct example's question with
    its response against an incorrect example's response (an answer to another question, so wrong
    here), the correct one shown as A in the first pair, B in the second, and so on."""
    good = [s for s in task.verifier_shots if s.quality >= 0.5]
    bad = [s for s in task.verifier_shots if s.quality < 0.5]
    out = []
    for k, (g, b) in enumerate(zip(good, bad, strict=False)):
        first = k % 2 == 0
        fields = {"question": g.question, "response_a": g.response if first else b.response,
                  "response_b": b.response if first else g.response}
        out.append((fields, f"Preferred solution: <{'A' if first else 'B'}>"))
    return out


def messages(task, method: str, shots: bool, **fields) -> list[dict[str, str]]:
    """The chat of one verification: the worked examples (with `shots`), then the response(s) to judge."""
    template = task.verifier_templates[method]
    turns = []
    if shots and method in SHOT_REPLY:
        for shot in task.verifier_shots:
            turns += [{"role": "user", "content": template.format(question=shot.question, response=shot.response)},
                      {"role": "assistant", "content": SHOT_REPLY[method](shot.quality)}]
    elif shots and method == "tournament":
        for shot_fields, reply in tournament_shots(task):
            turns += [{"role": "user", "content": template.format(**shot_fields)},
                      {"role": "assistant", "content": reply}]
    turns.append({"role": "user", "content": template.format(**fields)})
    return turns


class _Calls:
    """The model calls of one job: rendering, seeding, timing."""

    def __init__(self, loaded, spec: Spec, seed: int, where: str):
        self.desc, self.tokenizer, self.backend = loaded
        self.spec, self.seed, self.where = spec, seed, where

    def render(self, chat):
        return render(self.tokenizer, chat, self.desc["chat_template"])

    def replies(self, label: str, prompts: list, keys: list, n: int = 1) -> list[list[str]]:
        start = time.perf_counter()
        seeds = [stable_seed(self.seed, "mtg", label, *key) for key in keys]
        done = self.backend.sample(prompts, n, self.spec.max_new_tokens, self.spec.temperature, seeds,
                                   top_p=self.spec.top_p)
        out = [[self.tokenizer.decode(c.token_ids, skip_special_tokens=True) for c in row] for row in done]
        log.info("%s: %d prompts x %d replies, %d tokens in %.1f s", label, len(prompts), n,
                 sum(len(c.token_ids) for row in done for c in row), time.perf_counter() - start)
        return out


def verify(loaded, task, data: pl.DataFrame, gens: pl.DataFrame, spec: Spec, seed: int,
           where: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(scores, matches, repeats) of one split's generations: a row per response with a column per
    method (null where the method was not asked for), the tournament's matches, the repeated verdicts.
    `data` is the split's data table, `gens` its generations; `where` names them in errors."""
    joined = gens.join(data.select("prompt_id", "prompt"), on="prompt_id", how="left")
    if joined["prompt"].null_count():
        raise ValueError(f"{where}: prompt ids not in the data table")
    calls = _Calls(loaded, spec, seed, where)
    scores = joined.select("prompt_id", "sample")
    pairs = list(zip(joined["prompt"], joined["text"], strict=True))
    keys = list(zip(joined["prompt_id"], joined["sample"], strict=True))
    columns: dict[str, list] = {}
    if "mc" in spec.methods:
        columns["mc"] = _mc(calls, task, pairs)
    for method, reader, unparsed in (("cot_binary", parse.cot_binary, parse.UNPARSED_BINARY),
                                     ("cot_score", parse.cot_score, parse.UNPARSED_SCORE)):
        if method in spec.methods:
            prompts = [calls.render(messages(task, method, spec.shots, question=q, response=r)) for q, r in pairs]
            replies = [row[0] for row in calls.replies(method, prompts, keys)]
            values = [reader(r) for r in replies]
            columns[method] = [unparsed if v is None else v for v in values]
            columns[f"{method}_parsed"] = [v is not None for v in values]
            columns[f"{method}_reply"] = replies
            log.info("%s: %d of %d replies unparsed (scored %g)", method, values.count(None), len(values), unparsed)
    matches = pl.DataFrame(schema=MATCH_SCHEMA)
    if "tournament" in spec.methods:
        columns["tournament"], matches = _tournament(calls, task, joined)
    repeats = _repeats(calls, task, joined) if spec.repeats else pl.DataFrame(schema=REPEAT_SCHEMA)
    scores = scores.with_columns([pl.Series(name, values, dtype=SCORE_SCHEMA[name])
                                  for name, values in columns.items()])
    scores = scores.with_columns([pl.lit(None, dtype=dtype).alias(name) for name, dtype in SCORE_SCHEMA.items()
                                  if name not in scores.columns]).select(list(SCORE_SCHEMA))
    return scores, matches, repeats


def _mc(calls: _Calls, task, pairs) -> list[float]:
    yes, no = word_tokens(calls.tokenizer, *MC_WORDS)
    prompts = [calls.render(messages(task, "mc", calls.spec.shots, question=q, response=r)) for q, r in pairs]
    start = time.perf_counter()
    logprobs = calls.backend.next_token_logprobs(prompts, yes + no)
    log.info("mc: %d prompts in %.1f s (one forward each, no decoding)", len(prompts), time.perf_counter() - start)
    return p_correct(np.asarray(logprobs), len(yes)).tolist()


def _tournament(calls: _Calls, task, joined: pl.DataFrame) -> tuple[list[int], pl.DataFrame]:
    question = dict(zip(joined["prompt_id"], joined["prompt"], strict=False))
    text = {(p, s): t for p, s, t in joined.select("prompt_id", "sample", "text").iter_rows()}
    samples: dict[str, list[int]] = {}
    for pid, s in joined.select("prompt_id", "sample").iter_rows():
        samples.setdefault(pid, []).append(s)
    brackets = {pid: tournament.bracket(ss, stable_seed(calls.seed, "mtg", "bracket", pid))
                for pid, ss in samples.items()}
    most = max(tournament.full_rounds(len(ss)) for ss in samples.values())
    n_rounds = min(calls.spec.rounds, most) if calls.spec.rounds else most
    replies: dict[tournament.Match, str] = {}
    coins: set[tournament.Match] = set()

    def judge(matches):
        prompts = [calls.render(messages(task, "tournament", calls.spec.shots, question=question[m.key],
                                         response_a=text[m.key, m.a], response_b=text[m.key, m.b])) for m in matches]
        out = calls.replies(f"tournament round {matches[0].round}", prompts,
                            [(m.key, m.round, m.index) for m in matches])
        verdicts = []
        for m, (reply,) in zip(matches, out, strict=True):
            replies[m] = reply
            choice = parse.preference(reply)
            if choice is None:
                coins.add(m)
                rng = np.random.default_rng(stable_seed(calls.seed, "mtg", "coin", m.key, m.round, m.index))
                choice = "A" if rng.random() < 0.5 else "B"
            verdicts.append(choice)
        return verdicts

    score, played = tournament.play(brackets, n_rounds, judge)
    rows = [{"prompt_id": m.key, "round": m.round, "match": m.index, "a": m.a, "b": m.b, "reply": replies.get(m),
             "winner": m.b if won == "B" else m.a, "winner_position": won,
             "decided_by": "bye" if won == "bye" else ("coin" if m in coins else "verdict")} for m, won in played]
    matches = pl.DataFrame(rows, schema=MATCH_SCHEMA)
    log.info("tournament: %d rounds, %d matches, %d decided by a coin (unparsed), %d byes", n_rounds,
             (matches["decided_by"] != "bye").sum(), len(coins), (matches["decided_by"] == "bye").sum())
    return [score[p][s] for p, s in joined.select("prompt_id", "sample").iter_rows()], matches


def _repeats(calls: _Calls, task, joined: pl.DataFrame) -> pl.DataFrame:
    chosen = joined.filter(pl.col("sample") < calls.spec.repeat_samples)
    prompts = [calls.render(messages(task, "cot_binary", calls.spec.shots, question=q, response=r))
               for q, r in zip(chosen["prompt"], chosen["text"], strict=True)]
    keys = list(zip(chosen["prompt_id"], chosen["sample"], strict=True))
    out = calls.replies(f"cot_binary x {calls.spec.repeats}", prompts, keys, n=calls.spec.repeats)
    rows = []
    for (pid, s), replies in zip(keys, out, strict=True):
        for k, reply in enumerate(replies):
            value = parse.cot_binary(reply)
            rows.append({"prompt_id": pid, "sample": s, "repeat": k, "reply": reply, "parsed": value is not None,
                         "score": parse.UNPARSED_BINARY if value is None else value})
    return pl.DataFrame(rows, schema=REPEAT_SCHEMA)
