"""Answer extraction and grading: GSM8K numbers, MATH equivalence, ProntoQA verdicts, NQ exact match."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from svgap.tasks.grading import (
    gsm8k_grade,
    last_boxed,
    math_equivalent,
    math_extract,
    math_grade,
    nq_extract,
    nq_grade,
    number_key,
    prontoqa_extract,
    prontoqa_grade,
    squad_normalise,
)
from svgap.tasks.loading import load_split

FIXTURES = Path(__file__).parent / "fixtures"

# ---------------------------------------------------------------------------------------------- GSM8K


@pytest.mark.parametrize("text,key", [
    ("1,234", "1234"), ("$1,234.", "1234"), ("7.0", "7"), ("7.50", "7.5"), (".5", "0.5"), ("0.5", "0.5"),
    ("-3", "-3"), ("\u22123", "-3"), ("-0", "0"), ("123456789012345678901", "123456789012345678901"),
    ("seven", None), ("", None), (None, None), ("nan", None),
])
def test_number_key(text, key):
    assert number_key(text) == key


@pytest.mark.parametrize("response,gold,strict,flexible", [
    ("48 / 2 = 24 in May, 48 + 24 = 72 in all. The answer is 72.", "72", "72", "72"),
    ("The answer is $1,234.", "1234", "1234", "1234"),
    ("the answer is: 1234", "1,234", "1234", "1234"),
    ("It drops 8 degrees from 5, so it is -3 degrees. The answer is -3.", "-3", "-3", "-3"),
    ("THE ANSWER IS 7.0", "7", "7", "7"),
    ("Each glass holds half a liter. The answer is .5 liters.", "0.5", "0.5", "0.5"),
    ("Each glass holds 0.50 liters.", "0.5", None, "0.5"),  # no phrase: only the flexible answer
    ("She earned $10.", "10", None, "10"),
    ("The answer is 12. Question: Tom has 3 apples. The answer is 3.", "12", "12", "3"),  # first phrase, last number
    ("The answer is 5, not 6", "6", "5", "6"),
    ("The answer is twelve.", "12", None, None),
    ("", "5", None, None),
])
def test_gsm8k_grade(response, gold, strict, flexible):
    graded = gsm8k_grade(response, gold)
    assert graded["pred_strict"] == strict and graded["pred_flexible"] == flexible
    assert graded["correct_strict"] == (strict is not None and strict == number_key(gold))
    assert graded["correct_flexible"] == (flexible is not None and flexible == number_key(gold))


def test_gsm8k_grades_the_fixture_rationales_right():
    items, _ = load_split(FIXTURES / "gsm8k.jsonl", "gsm8k")
    for item in items:
        graded = gsm8k_grade(item.meta["rationale"] + f" The answer is {item.answer}.", item.answer)
        assert graded["correct_strict"] and graded["correct_flexible"], item


def test_gsm8k_gold_must_be_a_number():
    with pytest.raises(ValueError, match="not a number"):
        gsm8k_grade("The answer is 3", "three")


# ----------------------------------------------------------------------------------------------- MATH


@pytest.mark.parametrize("text,boxed", [
    ("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("first \\boxed{1}, then \\boxed{\\frac{\\sqrt{3}}{\\sqrt{\\frac{1}{4}}}}",
     "\\frac{\\sqrt{3}}{\\sqrt{\\frac{1}{4}}}"),
    ("the set $\\boxed{\\{1,2\\}}$", "\\{1,2\\}"),  # escaped braces do not count
    ("$2+3=\\boxed 5$", "5"),
    ("it is $\\fbox{2}$.", "2"),
    ("\\boxed{1} and an unclosed \\boxed{\\frac{1}{2}", "1"),
    ("\\boxed{\\frac{1}{2}", None),
    ("no box", None),
])
def test_last_boxed(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize("response,pred", [
    ("Hence the answer is $\\boxed{\\dfrac{1}{2}}$.", "\\dfrac{1}{2}"),
    ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("Final Answer: The final answer is $(1, 2]$. I hope it is correct.", "(1, 2]"),
    ("The answer is 0.5.", "0.5"),
    ("The answer is \\(3\\sqrt{2}\\)", "3\\sqrt{2}"),
    ("I do not know.", None),
])
def test_math_extract(response, pred):
    assert math_extract(response) == pred


@pytest.mark.parametrize("gold,pred,equal", [
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac12", "\\frac{1}{2}", True),
    ("\\dfrac{1}{2}", ".5", True),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("(1,2]", "(1, 2]", True),
    ("(1,2]", "(1,2)", False),
    ("(-\\infty, 3)", "(-\\infty,3)", True),
    ("\\{1,2\\}", "\\{2, 1\\}", True),
    ("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2", True),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("(x+1)^2", "x^2+2x+1", True),
    ("5", "6", False),
    ("\\text{(B)}", "\\text{(B)}", True),
    ("3", "\\frac{{{", False),  # garbage: incorrect, no exception
    ("3", "", False),
    ("3", None, False),
])
def test_math_equivalent(gold, pred, equal):
    assert math_equivalent(gold, pred) is equal


def test_math_grade_the_fixture_solutions_and_a_wrong_answer():
    items, _ = load_split(FIXTURES / "math.jsonl", "math")
    for item in items:
        assert math_grade(item.meta["solution"], item.answer)["correct"], item
    assert math_grade("So the answer is $\\boxed{\\frac{1}{3}}$.", items[0].answer) == {
        "pred": "\\frac{1}{3}", "correct": False}


def test_math_timeout_counts_as_incorrect():
    assert math_equivalent("1", "10^{10^{10^{10}}}", timeout_s=1) is False


def test_math_grade_outside_the_main_thread():
    # math-verify's SIGALRM timeouts only work in the main thread; elsewhere they are turned off
    with ThreadPoolExecutor(max_workers=1) as pool:
        graded = pool.submit(math_grade, "\\boxed{0.5}", "\\frac{1}{2}").result(timeout=30)
    assert graded == {"pred": "0.5", "correct": True}


# ------------------------------------------------------------------------------------------- ProntoQA


@pytest.mark.parametrize("response,pred", [
    ("Alex is a wumpus. Every wumpus is not transparent. The answer is False.", "False"),
    ("TRUE", "True"),
    ("false.", "False"),
    ("It is true that Sam is a zumpus, so the statement is false", "False"),  # the last one counts
    ("Untrue claims aside, the answer is falsehood", None),  # whole words only
    ("I cannot tell.", None),
])
def test_prontoqa_extract(response, pred):
    assert prontoqa_extract(response) == pred


def test_prontoqa_grade():
    assert prontoqa_grade("TRUE", "True") == {"pred": "True", "correct": True}
    assert prontoqa_grade("The answer is false.", "False")["correct"]
    assert not prontoqa_grade("The answer is true.", "False")["correct"]
    assert not prontoqa_grade("no idea", "False")["correct"]
    gold = json.loads((FIXTURES / "prontoqa.json").read_text())["example1"]["test_example"]
    assert prontoqa_grade(" ".join(gold["chain_of_thought"]) + " False", gold["answer"])["correct"]


# ---------------------------------------------------------------------------------- Natural Questions


@pytest.mark.parametrize("text,normal", [
    ("The Antarctic", "antarctic"),
    ("  Wilhelm   Conrad Röntgen. ", "wilhelm conrad röntgen"),
    ("May 18, 2018", "may 18 2018"),
    ("an apple a day", "apple day"),
    ("Theatre", "theatre"),  # articles as whole words only
])
def test_squad_normalise(text, normal):
    assert squad_normalise(text) == normal


@pytest.mark.parametrize("response,answer", [
    ("The answer is Antarctica.\nIt holds most of the ice.", "Antarctica."),
    ("the answer is: Robby Benson", "Robby Benson"),
    ("\n  Dan Stevens\nHe voiced the Beast in 2017.", "Dan Stevens"),
    ("", ""),
])
def test_nq_extract(response, answer):
    assert nq_extract(response) == answer


@pytest.mark.parametrize("response,correct", [
    ("The answer is Antarctica.", True),
    ("the antarctic", True),
    ("THE ANSWER IS: The Antarctic!", True),
    ("The answer is Antarctica, in the south.", False),  # exact match, not containment
    ("Greenland", False),
    ("The answer is the.", False),  # normalises to nothing
])
def test_nq_grade(response, correct):
    assert nq_grade(response, ["Antarctica", "the Antarctic"])["correct"] is correct


def test_nq_grade_on_the_fixture():
    items, _ = load_split(FIXTURES / "nq.jsonl", "nq")
    assert nq_grade("The answer is may 18 2018", items[1].meta["answers"])["correct"]
    assert nq_grade("Dan Stevens", items[3].meta["answers"])["correct"]
    assert nq_grade("Robby Benson", "Robby Benson")["correct"]  # a single answer string


def test_samples_join_a_verify_table_whatever_it_computed_and_name_a_missing_row():
    """A verify table of a QE run (`verifier.methods: auto`: TF's columns null) joins; a sample without a row
    in the verify table, or without a grade, is an error that counts them."""
    import polars as pl

    from svgap.loop.grading import samples

    gens = pl.DataFrame({"prompt_id": ["a", "a", "b"], "sample": [0, 1, 0], "text": ["1", "2", "3"]})
    grades = gens.select("prompt_id", "sample").with_columns(correct=pl.Series([True, False, True]))
    scores = gens.select("prompt_id", "sample").with_columns(tf_score=pl.lit(None, dtype=pl.Float64),
                                                             qe_score=pl.Series([0.7, 0.1, 0.9]))
    joined = samples(gens, scores, grades, "epoch0")
    assert joined.columns == [*gens.columns, "tf_score", "qe_score", "correct"]
    assert joined["qe_score"].to_list() == [0.7, 0.1, 0.9] and joined["tf_score"].null_count() == 3
    with pytest.raises(ValueError, match="epoch0: 1 samples have no verifier scores"):
        samples(gens, scores.head(2), grades, "epoch0")
    with pytest.raises(ValueError, match="epoch0: 2 samples have no grades"):
        samples(gens, scores, grades.tail(1), "epoch0")
