"""Answer extraction and grading for the published benchmarks: GSM8K, MATH, ProntoQA, Natural Questions.

Every `*_grade` function takes a model response and the gold answer and returns a dict holding what
was extracted (`pred...`, None when nothing was found) and whether it is correct (`correct...`), so
that both can be recorded. Extraction follows the phrase the prompts ask for, "The answer is ...":

- GSM8K: a strict answer (the number right after "The answer is") and a flexible one (the last
  number of the response), compared as numbers: "$1,234." == "1234", "7.0" == "7", ".5" == "0.5".
- MATH: the last `\\boxed{...}` (or `\\fbox{...}`, `\\boxed 5`) of the response, else what follows
  "The (final) answer is"; equivalence by HuggingFace math-verify (fractions, decimals, intervals,
  sets, matrices), any error or timeout counting as incorrect.
- ProntoQA: the last "true" / "false" word of the response, case-insensitive.
- Natural Questions: SQuAD-normalised exact match against any of the acceptable answers.
"""

from __future__ import annotations

import logging
import re
import string
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from svgap.tasks.base import answer_after

log = logging.getLogger(__name__)

#: the phrase the solver prompts ask the model to end with
ANSWER_PHRASE = "the answer is"
#: a number as written in a response: "-1,234.5", "0.5", ".5", "18" (a trailing "." is not taken)
NUMBER = r"-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)"
#: the LaTeX commands that box a final answer, the last of which is taken
BOX_COMMANDS = ("\\boxed", "\\fbox")
#: seconds math-verify may spend parsing one answer, and comparing two
MATH_TIMEOUT_S = 5
PUNCTUATION = frozenset(string.punctuation)


# ---------------------------------------------------------------------------------------------- numbers


def number_key(text: str | None) -> str | None:
    """A canonical form of a written number, or None when `text` is not one.

    "$1,234." -> "1234"; "7.0" -> "7"; ".5" -> "0.5"; "-3" -> "-3"; "-0" -> "0". Exact (decimal, not
    float), so large GSM8K answers keep all their digits.
    """
    if text is None:
        return None
    cleaned = text.strip().replace("\u2212", "-").replace(",", "").replace("$", "").replace(" ", "")
    cleaned = cleaned.rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _unicode_minus(text: str) -> str:
    return text.replace("\u2212", "-")


# ----------------------------------------------------------------------------------------------- GSM8K


def gsm8k_extract_strict(response: str) -> str | None:
    """The number right after the first "The answer is" (case-insensitive; "$", ":" and commas allowed),
    as `number_key` writes it; None when the response does not state it that way."""
    found = answer_after(ANSWER_PHRASE, r"\$?\s*" + NUMBER, _unicode_minus(response))
    return number_key(found) if found else None


def gsm8k_extract_flexible(response: str) -> str | None:
    """The last number of the response, as `number_key` writes it; None when there is none."""
    for found in reversed(re.findall(NUMBER, _unicode_minus(response))):
        key = number_key(found)
        if key is not None:
            return key
    return None


def gsm8k_grade(response: str, gold: str) -> dict:
    """Both extractions of a GSM8K response and their correctness against the gold number.

    Returns {pred_strict, pred_flexible, correct_strict, correct_flexible}; raises ValueError when
    the gold answer is not a number (a loading bug, not a model error).
    """
    gold_key = number_key(gold)
    if gold_key is None:
        raise ValueError(f"GSM8K gold answer {gold!r} is not a number")
    strict, flexible = gsm8k_extract_strict(response), gsm8k_extract_flexible(response)
    return {"pred_strict": strict, "pred_flexible": flexible,
            "correct_strict": strict == gold_key, "correct_flexible": flexible == gold_key}


# ------------------------------------------------------------------------------------------------ MATH


def _braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at `text[start] == "{"`, braces matched (and `\\{`, `\\}`
    skipped); None when it is not closed."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` / `\\fbox{...}` of `text` (nested braces matched), or of a
    last `\\boxed 5` (up to the next space or "$"); None when there is no closed box."""
    starts = [m for cmd in BOX_COMMANDS for m in re.finditer(re.escape(cmd) + r"(?![A-Za-z])", text)]
    for match in sorted(starts, key=lambda m: m.start(), reverse=True):
        rest = match.end()
        while rest < len(text) and text[rest] == " ":
            rest += 1
        if rest < len(text) and text[rest] == "{":
            content = _braced(text, rest)
            if content is not None:
                return content.strip()
        elif rest > match.end() and rest < len(text):
            bare = re.match(r"[^\s$]+", text[rest:])
            if bare:
                return bare.group(0).rstrip(".")
    return None


def _strip_math_delimiters(text: str) -> str:
    """'$\\frac{1}{2}$.' -> '\\frac{1}{2}'; the first $...$ span when there is one."""
    text = text.strip()
    span = re.search(r"\$+(.+?)\$+", text)
    if span:
        return span.group(1).strip()
    span = re.search(r"\\\((.+?)\\\)", text) or re.search(r"\\\[(.+?)\\\]", text)
    if span:
        return span.group(1).strip()
    return text.rstrip(".").strip()


def math_extract(response: str) -> str | None:
    """The final answer of a MATH response: the last boxed expression, else the rest of the line after
    the first "The (final) answer is" (math delimiters and a final period removed); else None."""
    boxed = last_boxed(response)
    if boxed:
        return boxed
    match = re.search(r"the (?:final )?answer is\s*:?\s*(.*)", response, flags=re.IGNORECASE)
    if not match:
        return None
    line = match.group(1).split("\n", 1)[0]
    # a period ending the sentence (not a decimal point) closes the answer: "is 5. I hope ..."
    line = re.split(r"\.(?=\s|$)", line, maxsplit=1)[0] if "$" not in line else line
    answer = _strip_math_delimiters(line)
    return answer or None


def _squash(latex: str) -> str:
    """A conservative normal form for the exact fast path: no spaces, `\\left`/`\\right`, thin spaces,
    `\\dfrac`/`\\tfrac` as `\\frac`, no trailing period."""
    latex = re.sub(r"\\(?:left|right)(?![A-Za-z])|\\[,;:! ]|\s+", "", latex)
    return re.sub(r"\\[dt]frac", r"\\frac", latex).rstrip(".")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def math_equivalent(gold: str, pred: str | None, timeout_s: int = MATH_TIMEOUT_S) -> bool:
    """Whether `pred` is mathematically equal to `gold`, both bare LaTeX answers (box contents).

    Each is wrapped in `\\boxed{...}` so that math-verify's LaTeX extraction takes it whole, and the
    gold goes first, as `verify` is not symmetric. math-verify enforces its timeouts with SIGALRM,
    which only works in the main thread: elsewhere they are off (the caller must bound the time).
    Parse failures, exceptions and timeouts all count as not equal.
    """
    if pred is None or not pred.strip():
        return False
    if _squash(gold) == _squash(pred):
        return True
    # imported here: math-verify pulls in sympy, slow to import
    from math_verify import parse, verify
    from math_verify.errors import TimeoutException

    timeout = timeout_s if _in_main_thread() else None
    try:
        gold_parsed = parse(f"\\boxed{{{gold}}}", parsing_timeout=timeout)
        pred_parsed = parse(f"\\boxed{{{pred}}}", parsing_timeout=timeout)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except (Exception, TimeoutException) as error:  # TimeoutException is a BaseException
        log.debug("math-verify failed on gold %r, pred %r: %r", gold, pred, error)
        return False


def math_grade(response: str, gold: str) -> dict:
    """The MATH answer of a response and whether math-verify finds it equal to the gold: {pred, correct}."""
    pred = math_extract(response)
    return {"pred": pred, "correct": math_equivalent(gold, pred)}


# -------------------------------------------------------------------------------------------- ProntoQA


def prontoqa_extract(response: str) -> str | None:
    """The last word "true" or "false" of a response (any casing) as "True" / "False"; else None."""
    found = re.findall(r"\b(true|false)\b", response, flags=re.IGNORECASE)
    return found[-1].capitalize() if found else None


def prontoqa_grade(response: str, gold: str) -> dict:
    """The True/False answer of a response and whether it is the gold's: {pred, correct}."""
    pred = prontoqa_extract(response)
    return {"pred": pred, "correct": pred is not None and pred == gold.strip().capitalize()}


# ---------------------------------------------------------------------------------- Natural Questions


def squad_normalise(text: str) -> str:
    """SQuAD answer normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = text.lower()
    text = "".join(char for char in text if char not in PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def nq_extract(response: str) -> str:
    """The short answer of a response: the rest of the line after the first "The answer is" when the
    response says it, else its first non-empty line ("" for an empty response)."""
    match = re.search(ANSWER_PHRASE + r"\s*:?\s*(.*)", response, flags=re.IGNORECASE)
    if match:
        return match.group(1).split("\n", 1)[0].strip()
    return next((line.strip() for line in response.splitlines() if line.strip()), "")


def nq_grade(response: str, answers: Sequence[str] | str) -> dict:
    """Exact match, after SQuAD normalisation, of the response's answer with any acceptable answer:
    {pred, correct}. An answer that normalises to "" never matches."""
    if isinstance(answers, str):
        answers = [answers]
    pred = nq_extract(response)
    key = squad_normalise(pred)
    correct = bool(key) and any(key == squad_normalise(answer) for answer in answers)
    return {"pred": pred, "correct": correct}
