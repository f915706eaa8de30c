"""The dataset-backed tasks on the fixtures in tests/fixtures (published formats)."""

import json
from pathlib import Path

import pytest

from svgap.tasks import KINDS, make_task
from svgap.tasks.benchmarks import extract_code
from svgap.tasks.loading import DatasetError

FIXTURES = Path(__file__).parent / "fixtures"
FILES = {"gsm8k": "gsm8k.jsonl", "math": "math.jsonl", "prontoqa": "prontoqa.json", "mbpp": "mbpp.jsonl",
         "nq": "nq.jsonl"}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_one_file_is_split_disjointly_and_deterministically(kind):
    task = make_task(kind, {"path": str(FIXTURES / FILES[kind])})
    a, b = task.items(1, 1, seed=0), task.items(1, 1, seed=0)
    assert a == b
    assert {it.prompt_id for it in a["train"]}.isdisjoint({it.prompt_id for it in a["test"]})
    item = a["train"][0]
    assert item.question and item.answer
    json.dumps(item.meta)  # meta goes to the data table as JSON


def test_train_and_test_files_and_clear_errors(tmp_path):
    path = str(FIXTURES / "gsm8k.jsonl")
    task = make_task("gsm8k", {"train_path": path, "test_path": path})
    with pytest.raises(ValueError, match="share prompt ids"):
        task.items(6, 6, seed=0)
    with pytest.raises(ValueError, match=r"7 train items asked, the train file has 6"):
        task.items(7, 1, seed=0)
    with pytest.raises(ValueError, match="give both train_path and test_path"):
        make_task("gsm8k", {"train_path": path}).items(1, 1, 0)
    with pytest.raises(ValueError, match="needs options"):
        make_task("nq", {}).items(1, 1, 0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "no final number"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl, line 1: field 'answer'"):
        make_task("gsm8k", {"path": str(bad)}).items(1, 0, 0)


def test_gsm8k_records_both_extractions_and_falls_back():
    task = make_task("gsm8k", {"path": str(FIXTURES / "gsm8k.jsonl")})
    strict = task.grade("So 3 + 4 = 7. The answer is $7.", "7", {})
    assert strict["correct"] and strict["pred_strict"] == "7" and strict["correct_flexible"]
    fallback = task.grade("First 2, then 5, finally 1,234", "1234", {})
    assert fallback["pred_strict"] is None and fallback["pred"] == "1234" and fallback["correct"]
    wrong_phrase = task.grade("The answer is 8. Oh wait, 7", "7", {})
    assert not wrong_phrase["correct"] and wrong_phrase["correct_flexible"]


def test_math_prontoqa_nq_grades():
    assert make_task("math", {}).grade("so $\\boxed{\\frac{1}{2}}$", "0.5", {})["correct"]
    assert make_task("prontoqa", {}).grade("... The answer is FALSE.", "False", {})["correct"]
    nq = make_task("nq", {})
    answers = {"answers": ["Atlantic", "Pacific Ocean"]}
    assert nq.grade("The answer is the Pacific Ocean.", "Atlantic", answers)["correct"]
    assert not nq.grade("The answer is Paris.", "Rome", {"answers": ["Rome"]})["correct"]


def test_mbpp_shows_the_tests_and_grades_in_the_sandbox():
    task = make_task("mbpp", {"path": str(FIXTURES / "mbpp.jsonl")})
    item = task.items(1, 0, seed=0)["train"][0]
    assert "Your code should pass these tests:" in item.question and item.meta["test_list"][0] in item.question
    good = f"Here it is:\n```python\n{item.answer}\n```"
    graded = task.grade(good, item.answer, item.meta)
    assert graded["correct"] and graded["tests_passed"] == len(item.meta["test_list"])
    bad = task.grade("```python\ndef nothing():\n    pass\n```", item.answer, item.meta)
    assert not bad["correct"] and bad["tests_passed"] == 0
    assert task.grade("", item.answer, item.meta)["sandbox_status"] == "no_code"
    assert graded["sandbox_isolation"] == "bwrap+seccomp"  # which layer ran, per result
    unisolated = make_task("mbpp", {"path": str(FIXTURES / "mbpp.jsonl"), "isolation": "none"})
    assert unisolated.grade(good, item.answer, item.meta)["sandbox_isolation"] == "none"
    with pytest.raises(ValueError, match="options.isolation"):
        make_task("mbpp", {"path": str(FIXTURES / "mbpp.jsonl"), "isolation": "chroot"}).grade(good, "", item.meta)
    assert extract_code("a\n```py\nx = 1\n```\nb\n```python\ny = 2\n```") == "y = 2\n"


def test_every_kind_is_in_the_schema():
    import yaml
    schema = yaml.safe_load((Path(__file__).parents[1] / "config" / "schema.yaml").read_text())
    kinds = schema["properties"]["tasks"]["additionalProperties"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(KINDS)


def test_mtg_verifier_templates_are_configurable_and_checked():
    task = make_task("gsm8k", {"verifier_templates": {"mc": "Q: {question} A: {response} Correct?"}})
    assert task.verifier_templates["mc"].startswith("Q: ")
    assert "Preferred solution" in task.verifier_templates["tournament"]
    for kind in KINDS:
        for name, template in make_task(kind, {}).verifier_templates.items():
            fill = {"question": "q", "response": "r", "response_a": "a", "response_b": "b"}
            assert "q" in template.format(**fill), (kind, name)
    assert "quadrant" in make_task("sudoku", {}).verifier_templates["mc"]
    with pytest.raises(ValueError, match=r"verifier_templates.mc"):
        make_task("nq", {"verifier_templates": {"mc": "{question} {answer}"}})
    with pytest.raises(ValueError, match="unknown template"):
        make_task("nq", {"verifier_templates": {"judge": "{question}"}})
