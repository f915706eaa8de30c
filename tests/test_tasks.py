"""Generated tasks: their splits and their answer extraction."""

import pytest

from svgap.tasks import make_task


@pytest.mark.parametrize("response,pred", [
    ("3 + 4 = 7. The answer is 7.", "7"),
    ("the answer is -12", "-12"),
    ("The answer is 1,234.", "1234"),
    ("The answer is: 7.0", "7"),
    ("The answer is 2.5", "2.5"),
    ("The answer is = 9", "9"),
    ("3 + 4 is 7", None),  # the strict phrase is required
    ("The answer is seven", None),
    ("", None),
])
def test_arithmetic_extraction(response, pred):
    assert make_task("arithmetic").extract(response) == pred


def test_arithmetic_grading():
    task = make_task("arithmetic")
    assert task.is_correct("7", "7")
    assert not task.is_correct(None, "7")
    assert not task.is_correct("8", "7")


def test_arithmetic_splits_are_disjoint_deterministic_and_correct():
    task = make_task("arithmetic", {"min_operand": 1, "max_operand": 9, "ops": ["+", "-", "*"]})
    a, b = task.items(20, 10, seed=3), task.items(20, 10, seed=3)
    assert a == b
    train_ids = {it.prompt_id for it in a["train"]}
    assert len(train_ids) == 20 and not train_ids & {it.prompt_id for it in a["test"]}
    for it in a["train"] + a["test"]:
        x, op, y = it.meta["a"], it.meta["op"], it.meta["b"]
        assert int(it.answer) == {"+": x + y, "-": x - y, "*": x * y}[op]
    assert a != task.items(20, 10, seed=4)


def test_arithmetic_too_many_prompts_is_an_error():
    with pytest.raises(ValueError, match="only 4 distinct"):
        make_task("arithmetic", {"min_operand": 1, "max_operand": 2}).items(3, 2, seed=0)


def test_logic_items_and_extraction():
    task = make_task("logic")
    items = task.items(30, 30, seed=0)
    answers = [it.answer for it in items["train"] + items["test"]]
    assert set(answers) == {"True", "False"}
    assert len({it.prompt_id for it in items["train"] + items["test"]}) == 60
    assert task.extract("so the answer is TRUE.") == "True"
    assert task.extract("The answer is false") == "False"
    assert task.extract("True") is None


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown task kind"):
        make_task("sudoku9")
