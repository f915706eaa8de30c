"""Arithmetic: short questions 'What is a + b?' with integer answers, generated from a seed.

The default (single-digit addition, one worked example) is within reach of SmolLM2-135M-Instruct at
temperature 1: about 40% of its samples state the right answer in the requested form, so both the
solver and the verifier have room to move.
"""

from __future__ import annotations

import itertools
import operator
import random

from svgap.tasks.base import Item, Task, VerifierShot, answer_after

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
NUMBER = r"-?\d[\d,]*(?:\.\d+)?"


def normalise_number(text: str) -> str:
    """'1,234.' -> '1234'; '7.0' -> '7'."""
    text = text.replace(",", "").rstrip(".")
    value = float(text)
    return str(int(value)) if value == int(value) else str(value)


class Arithmetic(Task):
    solver_shots = (("What is 3 + 4?", "3 + 4 = 7. The answer is 7."),)
    # Alternating right / wrong examples: with SmolLM2-135M the TF verdict then splits (about 70% True
    # at t = 0, P(correct) AUROC about 0.7); with one example of each it answers True to everything.
    verifier_shots = (
        VerifierShot("What is 2 + 5?", "2 + 5 = 7. The answer is 7.", 1.0),
        VerifierShot("What is 6 + 3?", "6 + 3 = 8. The answer is 8.", 0.0),
        VerifierShot("What is 5 + 1?", "5 + 1 = 6. The answer is 6.", 1.0),
        VerifierShot("What is 7 + 2?", "7 + 2 = 8. The answer is 8.", 0.0),
    )

    def items(self, n_train, n_test, seed):
        lo, hi = self.options.get("min_operand", 1), self.options.get("max_operand", 9)
        ops = self.options.get("ops", ["+"])
        pool = [(a, op, b) for op in ops for a, b in itertools.product(range(lo, hi + 1), repeat=2)]
        if n_train + n_test > len(pool):
            raise ValueError(f"arithmetic: {n_train} + {n_test} prompts asked, but operands {lo}..{hi} with "
                             f"ops {ops} give only {len(pool)} distinct questions")
        random.Random(seed).shuffle(pool)
        made = [Item(prompt_id=f"{a}{op}{b}", question=f"What is {a} {op} {b}?",
                     answer=str(OPS[op](a, b)), meta={"a": a, "b": b, "op": op})
                for a, op, b in pool[: n_train + n_test]]
        return {"train": made[:n_train], "test": made[n_train:]}

    def reference(self, item):
        m = item.meta
        return f"{m['a']} {m['op']} {m['b']} = {item.answer}. The answer is {item.answer}."

    def extract(self, response):
        found = answer_after("the answer is", NUMBER, response)
        return normalise_number(found) if found else None
