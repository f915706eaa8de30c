"""Reading MTG's verification replies: one documented rule per method (MTG App. G's formats).

Each parser returns the value it read, or None when the reply holds none; the caller scores a None by
the method's rule and counts it (a `*_parsed` column), never an error:

- CoT-Binary: the *last* verdict in the reply, written "Correctness: <correct>" / "<incorrect>"
  (brackets, bold or a colon optional), or a bare "<correct>" / "<incorrect>". The last, because a
  reply that quotes the instructions ("<correct> or <incorrect>") and then judges ends on its
  judgement. Unparsed: 0, a response the verifier does not vouch for.
- CoT-Score: the last "Score: n" with n in 1..10 (decimals allowed, "8/10" reads 8). Unparsed: 1,
  the scale's lowest score, which MTG's prompt gives an answer that breaks the format.
- Tournament: the last "Preferred solution: <A>" / "<B>", or a bare "<A>" / "<B>". Unparsed: the match
  is decided by a seeded fair coin (`svgap.gap.tournament`), so an unreadable reply favours neither
  position, and it is left out of the first-position win rate.
"""

from __future__ import annotations

import re

_VERDICT = re.compile(r"(?:correctness\s*[:=]?\s*\**\s*<?\s*(correct|incorrect)\b)|<\s*(correct|incorrect)\s*>",
                      re.IGNORECASE)
_SCORE = re.compile(r"score\s*[:=]?\s*\**\s*<?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_PREFERENCE = re.compile(r"(?:preferred\s+solution\s*[:=]?\s*\**\s*<?\s*([AB])\b)|<\s*([AB])\s*>", re.IGNORECASE)

UNPARSED_BINARY = 0.0
UNPARSED_SCORE = 1.0
SCORE_RANGE = (1.0, 10.0)


def _last(pattern: re.Pattern, reply: str) -> str | None:
    matches = list(pattern.finditer(reply))
    if not matches:
        return None
    last = matches[-1]
    return next(g for g in last.groups() if g is not None)


def cot_binary(reply: str) -> float | None:
    """1.0 for a last verdict of 'correct', 0.0 for 'incorrect', None for no verdict."""
    verdict = _last(_VERDICT, reply)
    return None if verdict is None else float(verdict.lower() == "correct")


def cot_score(reply: str) -> float | None:
    """The last 'Score: n' with n in 1..10, else None."""
    matches = [float(m.group(1)) for m in _SCORE.finditer(reply)]
    if not matches or not SCORE_RANGE[0] <= matches[-1] <= SCORE_RANGE[1]:
        return None
    return matches[-1]


def preference(reply: str) -> str | None:
    """'A' or 'B' for the last stated preference, else None."""
    choice = _last(_PREFERENCE, reply)
    return None if choice is None else choice.upper()
