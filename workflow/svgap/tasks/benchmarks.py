"""The papers' benchmarks as tasks: GSM8K, MATH, ProntoQA, MBPP (SVG) and Natural Questions (MTG).

Items come from the published files (`svgap.tasks.loading`, options in `svgap.tasks.dataset`);
grading is `svgap.tasks.grading` (and `svgap.tasks.sandbox` for MBPP). Prompts are in the project's own
words, asking for the final answer after "The answer is" so that strict extraction has a target.
Each task's `grade` returns `pred` and `correct` (what the loop uses) and records extras as columns
of grades.parquet.
"""

from __future__ import annotations

import dataclasses
import re

from svgap.tasks import grading, sandbox
from svgap.tasks.base import VerifierShot
from svgap.tasks.dataset import DatasetTask
from svgap.tasks.isolation import ISOLATIONS

ANSWER = "End with 'The answer is <answer>.'"


class GSM8K(DatasetTask):
    """Grade-school math word problems; gold = the number after '####'.

    Both extractions are recorded: strict (after "The answer is") and flexible (the last number). The
    loop's `correct` uses strict, falling back to flexible when the response states no answer phrase.
    """

    dataset = "gsm8k"
    solver_template = "{question}\nSolve it step by step. End with 'The answer is <number>.'"
    solver_shots = (("Tom has 3 boxes of 4 apples and eats 2 apples. How many apples are left?",
                     "3 boxes of 4 apples is 3 * 4 = 12 apples. After eating 2, 12 - 2 = 10 are left. "
                     "The answer is 10."),)
    verifier_shots = (
        VerifierShot("A pen costs $2. How much do 5 pens cost?", "5 * 2 = 10. The answer is 10.", 1.0),
        VerifierShot("A pen costs $2. How much do 5 pens cost?", "5 + 2 = 7. The answer is 7.", 0.0),
    )

    def reference(self, item):
        """The dataset's rationale (calculator annotations <<...>> removed) and its number."""
        rationale = re.sub(r"<<[^>]*>>", "", item.meta["rationale"]).strip()
        return f"{rationale}\nThe answer is {item.answer}."

    def extract(self, response):
        return grading.gsm8k_extract_strict(response) or grading.gsm8k_extract_flexible(response)

    def grade(self, response, answer, meta):
        g = grading.gsm8k_grade(response, answer)
        strict_found = g["pred_strict"] is not None
        return {"pred": g["pred_strict"] if strict_found else g["pred_flexible"],
                "correct": g["correct_strict"] if strict_found else g["correct_flexible"], **g}


class MATH(DatasetTask):
    """Competition math; gold = the last \\boxed{} of the solution; equivalence by math-verify."""

    dataset = "math"
    solver_template = "{question}\nSolve it step by step and put the final answer in \\boxed{{}}."
    solver_shots = (("What is $\\frac{1}{2} + \\frac{1}{3}$?",
                     "With the common denominator 6: $\\frac{3}{6} + \\frac{2}{6} = \\frac{5}{6}$. "
                     "The answer is $\\boxed{\\frac{5}{6}}$."),)
    verifier_shots = (
        VerifierShot("What is $2^5$?", "$2^5 = 32$, so the answer is $\\boxed{32}$.", 1.0),
        VerifierShot("What is $2^5$?", "$2^5 = 2 \\cdot 5 = 10$, so the answer is $\\boxed{10}$.", 0.0),
    )

    def reference(self, item):
        return item.meta["solution"]

    def extract(self, response):
        return grading.math_extract(response)

    def grade(self, response, answer, meta):
        return grading.math_grade(response, answer)


class ProntoQA(DatasetTask):
    """Deductive reasoning over a fictional rule base; the answer is True or False."""

    dataset = "prontoqa"
    solver_template = "{question}\nReason step by step. End with 'The answer is True.' or 'The answer is False.'"
    solver_shots = (("Every wumpus is cold. Max is a wumpus. True or false: Max is cold.",
                     "Max is a wumpus. Every wumpus is cold. So Max is cold. The answer is True."),)
    verifier_shots = (
        VerifierShot("Every yumpus is red. Sam is a yumpus. True or false: Sam is not red.",
                     "Sam is a yumpus, so Sam is red. The answer is False.", 1.0),
        VerifierShot("Every yumpus is red. Sam is a yumpus. True or false: Sam is not red.",
                     "Sam is a yumpus. The answer is True.", 0.0),
    )

    def reference(self, item):
        steps = " ".join(step.strip() for step in item.meta["chain_of_thought"])
        return f"{steps} The answer is {item.answer}.".strip()

    def extract(self, response):
        return grading.prontoqa_extract(response)

    def grade(self, response, answer, meta):
        return grading.prontoqa_grade(response, answer)


class NaturalQuestions(DatasetTask):
    """Open-domain questions; normalised exact match against any acceptable answer (MTG's
    'unimprovable' task: the model either knows the fact or not)."""

    dataset = "nq"
    solver_template = "Answer the question with a short phrase. {question}\nEnd with 'The answer is <answer>.'"
    solver_shots = (("what is the capital city of france", "The answer is Paris."),)
    verifier_shots = (
        VerifierShot("who wrote the novel moby dick", "The answer is Herman Melville.", 1.0),
        VerifierShot("who wrote the novel moby dick", "The answer is Mark Twain.", 0.0),
    )

    def reference(self, item):
        return f"The answer is {item.answer}."

    def extract(self, response):
        return grading.nq_extract(response)

    def grade(self, response, answer, meta):
        return grading.nq_grade(response, meta.get("answers") or [answer])


CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", flags=re.DOTALL | re.IGNORECASE)


def extract_code(response: str) -> str:
    """The last fenced code block of a response, or the whole response when it has none."""
    blocks = CODE_BLOCK.findall(response)
    return blocks[-1] if blocks else response


class MBPP(DatasetTask):
    """Python programming problems; a response is correct when its code passes every assert of
    `test_list`, run in `svgap.tasks.sandbox` (bubblewrap and a seccomp filter around a limited process, the
    verdict decided outside it; see docs/sandbox.md). Options: timeout_s (5), isolation ("auto": bubblewrap,
    else Landlock; "bwrap", "landlock", or "none" to grade without kernel isolation), child_judged ("fail"
    or "run")."""

    dataset = "mbpp"
    solver_template = "{question}"
    solver_shots = (("Write a function to return the square of a number.\n"
                     "Your code should pass these tests:\nassert square(3) == 9",
                     "```python\ndef square(x):\n    return x * x\n```"),)
    verifier_shots = (
        VerifierShot("Write a function to add two numbers.\nYour code should pass these tests:\nassert add(1, 2) == 3",
                     "```python\ndef add(a, b):\n    return a + b\n```", 1.0),
        VerifierShot("Write a function to add two numbers.\nYour code should pass these tests:\nassert add(1, 2) == 3",
                     "```python\ndef add(a, b):\n    return a - b\n```", 0.0),
    )

    def items(self, n_train, n_test, seed):
        # The tests name the function the code must define: show them, as the MBPP paper's prompt does.
        return {split: [dataclasses.replace(it, question=f"{it.question}\nYour code should pass these tests:\n"
                                                          + "\n".join(it.meta["test_list"]))
                        for it in items]
                for split, items in super().items(n_train, n_test, seed).items()}

    def reference(self, item):
        return f"```python\n{item.answer.strip()}\n```"

    def extract(self, response):
        code = extract_code(response).strip()
        return code or None

    def grade(self, response, answer, meta):
        code = self.extract(response)
        if code is None:
            return {"pred": None, "correct": False, "tests_passed": 0, "sandbox_status": "no_code",
                    "sandbox_isolation": None}
        isolation = self.options.get("isolation", "auto")
        child_judged = self.options.get("child_judged", "fail")
        if isolation not in ISOLATIONS or child_judged not in sandbox.CHILD_JUDGED:
            raise ValueError(f"{self.dataset} task: options.isolation must be one of {ISOLATIONS} and "
                             f"options.child_judged one of {sandbox.CHILD_JUDGED}; got {isolation!r}, {child_judged!r}")
        result = sandbox.run_tests(code, meta["test_list"], setup=meta.get("test_setup_code", ""),
                                   timeout_s=float(self.options.get("timeout_s", 5.0)), isolation=isolation,
                                   child_judged=child_judged)
        return {"pred": code, "correct": result.passed, "tests_passed": result.n_passed,
                "sandbox_status": result.status, "sandbox_isolation": result.isolation}
