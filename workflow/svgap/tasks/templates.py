"""Mind the Gap's verification prompts (MTG App. G) as configurable templates, in the project's words.

MC (the probability of "Correct" after the prompt), CoT-Binary (reason, then a <correct>/<incorrect>
verdict), CoT-Score (reason, then a 1-10 score) and Tournament (which of two responses is better).
The loop's verification methods today are TF, QE and P(correct); these templates are the prompts the
MTG methods use, kept per task (`Task.verifier_templates`) and overridable through the task option
`verifier_templates: {name: template}`. Placeholders: {question} and {response}; the tournament has
{response_a} and {response_b}.
"""

from __future__ import annotations

PLACEHOLDERS = {
    "mc": ("question", "response"),
    "cot_binary": ("question", "response"),
    "cot_score": ("question", "response"),
    "tournament": ("question", "response_a", "response_b"),
}

GENERIC = {
    "mc": "Is the following solution to the problem correct? Reply Correct or Incorrect.\n"
          "Problem: {question}\nSolution: {response}\nJudgement:",
    "cot_binary": "Check the attempted solution to the problem. The final answer follows the phrase "
                  "\"The answer is\"; without that phrase the solution counts as incorrect. Check the reasoning "
                  "too, but judge the final answer. Justify in at most 50 words, then end with "
                  "\"Correctness: <correct>\" or \"Correctness: <incorrect>\".\n"
                  "Problem: {question}\nAttempted solution: {response}\nJudgement:",
    "cot_score": "Score the attempted solution to the problem from 1 to 10: 1 when the final answer (after "
                 "\"The answer is\") is missing or wrong, 10 when the answer and the reasoning are both right. "
                 "Justify in at most 50 words, then end with \"Score: <score>\".\n"
                 "Problem: {question}\nAttempted solution: {response}\nJudgement:",
    "tournament": "Which of two attempted solutions to the problem is better? Prefer a correct final answer "
                  "(after \"The answer is\") over a wrong one, a solution that states its answer over one that "
                  "does not, and otherwise the better reasoning. Justify in at most 50 words, then end with "
                  "\"Preferred solution: <A>\" or \"Preferred solution: <B>\".\n"
                  "Problem: {question}\nSolution A: {response_a}\nSolution B: {response_b}\nJudgement:",
}

SUDOKU = {
    **GENERIC,
    "mc": "Is the proposed solution of this 4x4 Sudoku correct? Every row, column and 2x2 quadrant must hold "
          "1-4 without repetition, and every given of the puzzle must be kept. Reply Correct or Incorrect.\n"
          "Puzzle: {question}\nProposed solution: {response}\nJudgement:",
}


def check(templates: dict[str, str]) -> None:
    """Every template fills with exactly its placeholders; the error names the template."""
    for name, template in templates.items():
        if name not in PLACEHOLDERS:
            raise ValueError(f"verifier_templates: unknown template {name!r}; known: {sorted(PLACEHOLDERS)}")
        try:
            template.format(**{p: "" for p in PLACEHOLDERS[name]})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"verifier_templates.{name}: only {PLACEHOLDERS[name]} may be filled in "
                             f"(write literal braces as {{{{ }}}}): {exc!r}") from exc
