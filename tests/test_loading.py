"""Loading the published benchmark formats: the fixtures, and errors that name file, place and field."""

import json
import logging
import sys
import types
from pathlib import Path

import polars as pl
import pytest

from svgap.tasks.loading import (
    DatasetError,
    HubUnavailableError,
    load_hub,
    load_split,
    read_records,
    to_item_gsm8k,
)

FIXTURES = Path(__file__).parent / "fixtures"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


# ------------------------------------------------------------------------------------------ reading


def test_read_records_jsonl_numbers_lines_and_skips_blank_ones():
    records = read_records(FIXTURES / "gsm8k.jsonl")
    assert [position for position, _ in records] == [1, 2, 3, 5, 6, 7]
    assert records[0][1]["question"].startswith("Natalia")


def test_read_records_json_dict_of_nested_examples_is_flattened():
    records = read_records(FIXTURES / "prontoqa.json")
    assert [position for position, _ in records] == [0, 1, 2]
    assert [record["_key"] for _, record in records] == ["example1", "example2", "example3"]
    # the test example replaces its wrapper; the in-context examples are dropped
    assert records[0][1]["query"] == "True or false: Alex is transparent."
    assert "in_context_example0" not in records[0][1]


def test_read_records_json_list_single_object_parquet_and_explicit_format(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "math.jsonl").read_text().splitlines()]
    (tmp_path / "list.json").write_text(json.dumps(rows[:2]))
    assert [p for p, _ in read_records(tmp_path / "list.json")] == [0, 1]
    (tmp_path / "1.json").write_text(json.dumps(rows[0]))  # MATH's published layout: a file per problem
    assert read_records(tmp_path / "1.json") == [(0, rows[0])]
    pl.DataFrame(rows).write_parquet(tmp_path / "math.parquet")
    parquet = read_records(tmp_path / "math.parquet")
    assert [p for p, _ in parquet] == list(range(len(rows))) and parquet[2][1]["solution"] == rows[2]["solution"]
    (tmp_path / "data.txt").write_text((FIXTURES / "nq.jsonl").read_text())
    assert len(read_records(tmp_path / "data.txt", fmt="jsonl")) == 4
    with pytest.raises(DatasetError, match="suffix"):
        read_records(tmp_path / "data.txt")


def test_read_records_names_the_bad_line(tmp_path):
    path = write_jsonl(tmp_path / "broken.jsonl", [{"question": "q", "answer": ["a"]}, '{"question": "q", '])
    with pytest.raises(DatasetError, match=r"broken\.jsonl, line 2: invalid JSON"):
        read_records(path)
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "absent.jsonl")


# ----------------------------------------------------------------------------------------- fixtures


def test_gsm8k_fixture():
    items, skipped = load_split(FIXTURES / "gsm8k.jsonl", "gsm8k")
    assert skipped == 0
    assert [item.answer for item in items] == ["72", "10", "6170", "-3", "5", "0.5"]
    assert items[0].prompt_id == "gsm8k-1" and "<<48/2=24>>" in items[0].meta["rationale"]
    assert "####" not in items[0].meta["rationale"]


def test_math_fixture_takes_the_last_box_with_nested_braces():
    items, _ = load_split(FIXTURES / "math.jsonl", "math")
    assert [item.answer for item in items] == [
        "\\frac{1}{2}", "(1,2]", "\\dfrac{1}{2}", "\\{1,2\\}", "\\frac{\\sqrt{3}}{2}", "5", "2"]
    assert items[0].meta["level"] == 1 and items[0].meta["type"] == "Algebra"
    assert items[3].meta["level"] is None  # "Level ?"


def test_prontoqa_fixture():
    items, _ = load_split(FIXTURES / "prontoqa.json", "prontoqa")
    assert [(item.prompt_id, item.answer) for item in items] == [
        ("example1", "False"), ("example2", "True"), ("example3", "False")]
    assert items[1].question.endswith("Sam is a vumpus. True or false: Sam is bright.")
    assert items[1].meta["chain_of_thought"][-1] == "Sam is bright."


def test_mbpp_fixture():
    items, _ = load_split(FIXTURES / "mbpp.jsonl", "mbpp")
    assert [item.prompt_id for item in items] == ["mbpp-2", "mbpp-3", "mbpp-4"]
    last = items[-1]
    assert last.answer.startswith("import heapq") and len(last.meta["test_list"]) == 2
    assert last.meta["test_setup_code"] == "import heapq as hq"
    assert last.meta["challenge_test_list"] == ["assert heap_queue_largest([1, 2, 3], 1) == [3]"]


def test_nq_fixture():
    items, _ = load_split(FIXTURES / "nq.jsonl", "nq")
    assert items[2].answer == "Antarctica" and items[2].meta["answers"] == ["Antarctica", "the Antarctic"]
    assert items[0].answer == "Wilhelm Conrad Röntgen"


def test_parquet_split(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "mbpp.jsonl").read_text().splitlines()]
    pl.DataFrame(rows).write_parquet(tmp_path / "mbpp.parquet")
    items, _ = load_split(tmp_path / "mbpp.parquet", "mbpp")
    assert [item.meta["test_list"] for item in items] == [row["test_list"] for row in rows]


# ------------------------------------------------------------------------------------- bad records

GOOD = {
    "gsm8k": {"question": "What is 2 + 2?", "answer": "2 + 2 = 4\n#### 4"},
    "math": {"problem": "What is 2 + 2?", "level": "Level 1", "type": "Prealgebra", "solution": "$\\boxed{4}$"},
    "prontoqa": {"question": "Every cat is a feline. Fae is a cat.", "query": "True or false: Fae is a feline.",
                 "chain_of_thought": ["Fae is a cat.", "Fae is a feline."], "answer": "True"},
    "mbpp": {"task_id": 1, "text": "Write a function f returning 1.", "code": "def f():\n    return 1",
             "test_list": ["assert f() == 1"], "test_setup_code": "", "challenge_test_list": []},
    "nq": {"question": "capital of france", "answer": ["Paris"]},
}


@pytest.mark.parametrize("dataset,change,field", [
    ("gsm8k", {"answer": None}, "answer"),
    ("gsm8k", {"question": "  "}, "question"),
    ("gsm8k", {"answer": "2 + 2 = 4, so the answer is 4"}, "answer"),  # no ####
    ("gsm8k", {"answer": "#### four"}, "answer"),
    ("math", {"problem": None}, "problem"),
    ("math", {"solution": "It is 4."}, "solution"),
    ("math", {"solution": "$\\boxed{\\frac{1}{2}$"}, "solution"),  # unclosed box
    ("math", {"level": "hard"}, "level"),
    ("prontoqa", {"answer": "Maybe"}, "answer"),
    ("prontoqa", {"chain_of_thought": "Fae is a cat."}, "chain_of_thought"),
    ("prontoqa", {"query": "Is Fae a feline?"}, "query"),
    ("mbpp", {"task_id": "1"}, "task_id"),
    ("mbpp", {"test_list": []}, "test_list"),
    ("mbpp", {"test_list": ["f() == 1"]}, "test_list"),
    ("mbpp", {"code": None}, "code"),
    ("nq", {"answer": "Paris"}, "answer"),
    ("nq", {"answer": []}, "answer"),
    ("nq", {"answer": ["Paris", 3]}, "answer"),
])
def test_bad_record_names_file_line_and_field(tmp_path, dataset, change, field):
    bad = {key: value for key, value in {**GOOD[dataset], **change}.items() if value is not None}
    second = {**GOOD[dataset], "task_id": 2} if dataset == "mbpp" else GOOD[dataset]
    path = write_jsonl(tmp_path / f"{dataset}.jsonl", [GOOD[dataset], second, bad])
    with pytest.raises(DatasetError) as caught:
        load_split(path, dataset)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and repr(field) in message
    assert caught.value.field == field and caught.value.where == "line 3"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("line", ['{"question": "q"', "[1, 2]", '"just a string"'])
def test_unreadable_line_names_file_and_line(tmp_path, line):
    path = write_jsonl(tmp_path / "nq.jsonl", [GOOD["nq"], line])
    with pytest.raises(DatasetError, match=r"nq\.jsonl, line 2: "):
        load_split(path, "nq")


def test_bad_json_example_is_named_by_index_and_key(tmp_path):
    data = json.loads((FIXTURES / "prontoqa.json").read_text())
    del data["example2"]["test_example"]["answer"]
    path = tmp_path / "prontoqa.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"prontoqa\.json, index 1: field 'answer': missing"):
        load_split(path, "prontoqa")


def test_bad_parquet_row_is_named_by_index(tmp_path):
    rows = [GOOD["gsm8k"], GOOD["gsm8k"] | {"answer": "no final answer"}]
    pl.DataFrame(rows).write_parquet(tmp_path / "gsm8k.parquet")
    with pytest.raises(DatasetError, match=r"gsm8k\.parquet, index 1: field 'answer'"):
        load_split(tmp_path / "gsm8k.parquet", "gsm8k")


def test_invalid_json_file(tmp_path):
    path = tmp_path / "prontoqa.json"
    path.write_text('{"example1": ')
    with pytest.raises(DatasetError, match=r"prontoqa\.json.*invalid JSON"):
        load_split(path, "prontoqa")


def test_duplicate_ids_are_bad_records(tmp_path):
    path = write_jsonl(tmp_path / "mbpp.jsonl", [GOOD["mbpp"], GOOD["mbpp"]])
    with pytest.raises(DatasetError, match=r"line 2: field 'prompt_id': duplicate id 'mbpp-1'"):
        load_split(path, "mbpp")
    items, skipped = load_split(path, "mbpp", bad_rows="skip")
    assert len(items) == 1 and skipped == 1


def test_skip_policy_counts_and_logs(tmp_path, caplog):
    rows = [GOOD["gsm8k"], {"question": "q"}, "not json", GOOD["gsm8k"] | {"answer": "#### 1,234"},
            {"answer": "#### 1"}]
    path = write_jsonl(tmp_path / "gsm8k.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="svgap.tasks.loading"):
        items, skipped = load_split(path, "gsm8k", bad_rows="skip")
    assert skipped == 3
    assert [(item.prompt_id, item.answer) for item in items] == [("gsm8k-1", "4"), ("gsm8k-4", "1234")]
    warning = caplog.records[-1].getMessage()
    assert "skipped 3 bad gsm8k record(s) of 5" in warning
    assert "line 2: field 'answer': missing" in warning and "line 3: invalid JSON" in warning
    assert "line 5: field 'question': missing" in warning


def test_skip_policy_refuses_a_file_with_nothing_usable(tmp_path):
    path = write_jsonl(tmp_path / "nq.jsonl", [{"question": "q"}])
    with pytest.raises(DatasetError, match=r"no usable nq records \(1 skipped\)"):
        load_split(path, "nq", bad_rows="skip")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_split(FIXTURES / "nq.jsonl", "squad")
    with pytest.raises(ValueError, match="bad_rows"):
        load_split(FIXTURES / "nq.jsonl", "nq", bad_rows="ignore")
    with pytest.raises(ValueError, match="unknown format"):
        load_split(FIXTURES / "nq.jsonl", "nq", fmt="csv")


def test_converter_alone_names_the_field():
    with pytest.raises(DatasetError, match="field 'answer': no '#### <number>'"):
        to_item_gsm8k({"question": "q", "answer": "4"}, 1)


# ---------------------------------------------------------------------------------------------- hub


def test_load_hub_without_datasets_says_to_give_a_local_path(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(HubUnavailableError, match="not installed; give a local dataset file"):
        load_hub("openai/gsm8k", "main", "test", "gsm8k")


def test_load_hub_offline_says_to_give_a_local_path(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(HubUnavailableError, match="no route.*give a local dataset file"):
        load_hub("openai/gsm8k", "main", "test", "gsm8k")


def test_load_hub_converts_rows(monkeypatch):
    rows = [GOOD["gsm8k"], {"question": "q"}]
    fake = types.SimpleNamespace(load_dataset=lambda dataset_id, config, split: rows)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(DatasetError, match=r"hub:openai/gsm8k/main\[test\], index 1: field 'answer'"):
        load_hub("openai/gsm8k", "main", "test", "gsm8k")
    items, skipped = load_hub("openai/gsm8k", "main", "test", "gsm8k", bad_rows="skip")
    assert [item.answer for item in items] == ["4"] and skipped == 1


def test_load_hub_through_the_datasets_library(tmp_path, monkeypatch):
    """The hub route with the real `datasets` library (a pinned dependency), offline: a dataset folder
    in the layout of a hub repository (train and test files) loads by its path as a hub id would."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    lines = [line for line in (FIXTURES / "gsm8k.jsonl").read_text().splitlines() if line.strip()]
    repo = tmp_path / "gsm8k-repo"
    repo.mkdir()
    (repo / "train.jsonl").write_text("\n".join(lines[:2]) + "\n")
    (repo / "test.jsonl").write_text("\n".join(lines[2:4]) + "\n")
    items, skipped = load_hub(str(repo), None, "test", "gsm8k")
    local, _ = load_split(repo / "test.jsonl", "gsm8k")
    assert skipped == 0 and len(items) == 2
    assert [(i.question, i.answer) for i in items] == [(i.question, i.answer) for i in local]
    with pytest.raises(HubUnavailableError, match="split 'validation'.*give a local dataset file"):
        load_hub(str(repo), None, "validation", "gsm8k")


def test_local_files_win_over_the_hub_id(monkeypatch):
    """A task with both a local `path` and a `hub` id reads the file and never asks the hub."""
    from svgap.tasks import loading, make_task

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked although a local file is given")

    monkeypatch.setattr(loading, "load_hub", no_hub)
    task = make_task("gsm8k", {"path": str(FIXTURES / "gsm8k.jsonl"), "hub": {"id": "openai/gsm8k", "config": "main"}})
    items = task.items(2, 2, seed=0)
    assert len(items["train"]) == 2 and len(items["test"]) == 2
