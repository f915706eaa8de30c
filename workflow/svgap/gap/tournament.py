"""The single-elimination tournament of MTG App. C, as a bracket independent of the model.

A prompt's N responses are put in a seeded random order (the bracket). Each round pairs the
remaining responses in bracket order, (1st, 2nd), (3rd, 4th), ...: the earlier one of a pair is shown
as solution A, the later as B, so the position each response gets is drawn by the seed too. With an
odd number left, the last one has a bye: it advances without a match (recorded, and counted as a
round survived). The winners keep their bracket order. Rounds go on until one response remains or
`rounds` have been played.

A response's tournament score is the number of rounds it survived: 0 for a first-round loser, r for
the last one standing after r rounds. "To round k" (MTG Table 3's "To round 5") keeps the responses
with score >= k, the survivors of round k: N / 2^k of them when N is a power of two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Match:
    """One comparison of a round: `a` and `b` are sample indices (`b` None for a bye)."""

    key: str  # the prompt id
    round: int  # 1-based
    index: int  # the match's position in its round
    a: int
    b: int | None


def full_rounds(n: int) -> int:
    """Rounds until one of n responses remains (ceil(log2 n)); 0 for n <= 1."""
    return int(np.ceil(np.log2(n))) if n > 1 else 0


def bracket(samples: Sequence[int], seed: int) -> list[int]:
    """The seeded order of a prompt's samples."""
    return [samples[i] for i in np.random.default_rng(seed).permutation(len(samples))]


def pairs(key: str, alive: Sequence[int], round_: int) -> list[Match]:
    """The matches of one round among the `alive` samples, in bracket order."""
    out = [Match(key, round_, i // 2, alive[i], alive[i + 1]) for i in range(0, len(alive) - 1, 2)]
    if len(alive) % 2:
        out.append(Match(key, round_, len(alive) // 2, alive[-1], None))
    return out


def play(brackets: dict[str, list[int]], rounds: int,
         judge: Callable[[list[Match]], list[str]]) -> tuple[dict[str, dict[int, int]], list[tuple[Match, str]]]:
    """Run every prompt's bracket round by round; `judge` decides all the real matches of a round at
    once (a batch of model calls) and returns 'A' or 'B' for each.

    Returns each prompt's {sample: rounds survived} and every match with its winner position
    ('A', 'B' or 'bye').
    """
    alive = {key: list(order) for key, order in brackets.items()}
    score = {key: dict.fromkeys(order, 0) for key, order in brackets.items()}
    played: list[tuple[Match, str]] = []
    for r in range(1, rounds + 1):
        matches = [m for key, left in alive.items() if len(left) > 1 for m in pairs(key, left, r)]
        if not matches:
            break
        real = [m for m in matches if m.b is not None]
        verdicts = dict(zip(real, judge(real), strict=True))
        for key in {m.key for m in matches}:
            alive[key] = []
        for m in matches:
            won = "bye" if m.b is None else verdicts[m]
            if won not in ("A", "B", "bye"):
                raise ValueError(f"tournament judge returned {won!r} for {m}; expected 'A' or 'B'")
            winner = m.b if won == "B" else m.a
            alive[m.key].append(winner)
            score[m.key][winner] = r
            played.append((m, won))
    return score, played
