"""Tasks by kind. A task kind names a `Task` subclass; the config's `tasks.<name>.kind` picks one."""

from svgap.tasks.arithmetic import Arithmetic
from svgap.tasks.base import Item, Task, VerifierShot
from svgap.tasks.benchmarks import GSM8K, MATH, MBPP, NaturalQuestions, ProntoQA
from svgap.tasks.guess import Guess
from svgap.tasks.logic import Logic
from svgap.tasks.sudoku import Sudoku

KINDS: dict[str, type[Task]] = {
    "arithmetic": Arithmetic, "logic": Logic, "sudoku": Sudoku, "guess": Guess,
    "gsm8k": GSM8K, "math": MATH, "prontoqa": ProntoQA, "mbpp": MBPP, "nq": NaturalQuestions,
}


def make_task(kind: str, options: dict | None = None) -> Task:
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}; known: {sorted(KINDS)}")
    return KINDS[kind](options)


__all__ = ["KINDS", "Item", "Task", "VerifierShot", "make_task"]
