"""The task interface: what a task gives the loop.

A task makes (or loads) its prompts with gold answers, says how the solver is asked (a question
template and few-shot turns), extracts the answer from a response and grades it, and brings worked
examples for the verifier (a question, a response and its quality in [0, 1]), from which the TF and
QE verifier prompts are built.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from svgap.tasks import templates


@dataclass(frozen=True)
class Item:
    """One prompt of a split: its id, the question shown to the model, the gold answer, extras."""

    prompt_id: str
    question: str
    answer: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class VerifierShot:
    """A worked verification example: `quality` 1 is fully correct, 0 fully wrong."""

    question: str
    response: str
    quality: float


class Task(ABC):
    """A task; subclasses set the class attributes and implement `items` and `extract`."""

    #: few-shot solver turns: (question, answer written the way the model should answer)
    solver_shots: tuple[tuple[str, str], ...] = ()
    #: worked verification examples shown before the response to judge
    verifier_shots: tuple[VerifierShot, ...] = ()
    #: the solver prompt: `{question}` is replaced by the item's question
    solver_template: str = "{question}"
    #: MTG's verification prompts (mc, cot_binary, cot_score, tournament): see svgap.tasks.templates
    verifier_templates: dict[str, str] = templates.GENERIC

    def __init__(self, options: dict | None = None):
        """`options` may override the prompts: solver_template, solver_shots [[question, answer], ...],
        verifier_shots [[question, response, quality], ...]; the rest is kind-specific."""
        self.options = dict(options or {})
        if "solver_template" in self.options:
            if "{question}" not in self.options["solver_template"]:
                raise ValueError("task option solver_template must contain {question}")
            self.solver_template = self.options["solver_template"]
        if "solver_shots" in self.options:
            self.solver_shots = tuple((str(q), str(a)) for q, a in self.options["solver_shots"])
        if "verifier_templates" in self.options:
            templates.check(self.options["verifier_templates"])
            self.verifier_templates = {**self.verifier_templates, **self.options["verifier_templates"]}
        if "verifier_shots" in self.options:
            self.verifier_shots = tuple(VerifierShot(str(q), str(r), float(s))
                                        for q, r, s in self.options["verifier_shots"])

    @abstractmethod
    def items(self, n_train: int, n_test: int, seed: int) -> dict[str, list[Item]]:
        """Disjoint train and test items."""

    @abstractmethod
    def extract(self, response: str) -> str | None:
        """The answer stated in a response, or None when it states none."""

    def reference(self, item: Item) -> str:
        """The task's reference solution written as a response, in the form the solver is asked for
        (cross-improvement's `reference` external data, SVG §5.2). The task's grader judges it correct."""
        raise NotImplementedError(f"task {type(self).__name__} has no reference response")

    def is_correct(self, pred: str | None, gold: str) -> bool:
        return pred is not None and pred == gold

    def grade(self, response: str, answer: str, meta: dict) -> dict:
        """{"pred": ..., "correct": ...} plus any task-specific extras, which become extra columns of
        grades.parquet (e.g. GSM8K's strict and flexible extractions). `meta` is the item's meta."""
        pred = self.extract(response)
        return {"pred": pred, "correct": self.is_correct(pred, answer)}

    def solver_messages(self, question: str) -> list[dict[str, str]]:
        messages = []
        for q, a in self.solver_shots:
            messages += [{"role": "user", "content": self.solver_template.format(question=q)},
                         {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": self.solver_template.format(question=question)})
        return messages


def answer_after(phrase: str, value: str, text: str) -> str | None:
    """The first `value` match right after `phrase` (case-insensitive), e.g. 'The answer is 7'."""
    m = re.search(re.escape(phrase) + r"\s*[:=]?\s*(" + value + ")", text, flags=re.IGNORECASE)
    return m.group(1) if m else None
