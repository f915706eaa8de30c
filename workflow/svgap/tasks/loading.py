"""Loading benchmark splits from local files in their published formats, with errors that say where.

Files are read by `read_records` (JSONL, JSON or Parquet); each record is then checked and turned
into an `Item` by the converter of its dataset (`to_item_gsm8k`, ... ; `CONVERTERS` by name).
`load_split` does both. A record that does not fit raises `DatasetError`, whose message names the
file, the line (JSONL, 1-based) or the index (JSON, Parquet, 0-based) and the field; with
`bad_rows="skip"` such records are skipped instead, logged with a count and the first reasons, and
counted in what `load_split` returns, never dropped silently.

Published formats, and what the items hold:

- GSM8K (JSONL): `question`, `answer` = rationale ending "#### <number>". Item answer: the number,
  canonical ("1,234" -> "1234"); meta: `rationale` (the text before "####").
- MATH (a JSON file per problem, or JSON/JSONL of problems): `problem`, `solution`, `level`
  ("Level 3"), `type` ("Algebra"; `subject` in MATH-500). Item answer: the content of the last
  `\\boxed{...}` of the solution (or the record's `answer` field, when it has one, as MATH-500
  does); meta: `solution`, `level` (int or None for "Level ?"), `type`.
- ProntoQA (JSON): a dict of examples, `{"example1": {"in_context_example0": {...}, ...,
  "test_example": {...}}, ...}`; each test example holds `question` (facts and rules), `query`
  ("True or false: ..."), `chain_of_thought` (list of steps), `answer` ("True" / "False"). The
  in-context examples are dropped (tasks bring their own shots). Item question: facts, then query.
- MBPP (JSONL): `task_id`, `text`, `code`, `test_list` (asserts), `test_setup_code`,
  `challenge_test_list`. Item question: `text`; answer: the reference `code`; meta: the tests and
  `task_id` (a solver prompt should show `test_list`, which names the function to write).
- Natural Questions open (JSONL): `question`, `answer` (list of acceptable strings). Item answer:
  the first; meta `answers`: all of them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from svgap.tasks.base import Item
from svgap.tasks.grading import last_boxed, number_key

log = logging.getLogger(__name__)

BadRows = Literal["error", "skip"]
#: keys under which a JSON example may nest its item (ProntoQA's generated files)
NESTED_ITEM_KEYS = ("test_example",)
#: the key a record of a JSON object gets, holding the object's key for it ("example1")
KEY_FIELD = "_key"
FORMATS = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
#: how many skip reasons the warning shows
SHOWN_REASONS = 5


class DatasetError(ValueError):
    """A file or record that does not match its published format.

    `field` names the field at fault ("" for the file or the record as a whole); `source` and
    `where` (e.g. "line 3") are set once the record's place is known (see `at`).
    """

    def __init__(self, problem: str, field: str = "", source: str | None = None, where: str | None = None):
        self.problem, self.field, self.source, self.where = problem, field, source, where
        place = ", ".join(part for part in (source, where) if part)
        subject = f"field {field!r}: " if field else ""
        super().__init__(f"{place}: {subject}{problem}" if place else f"{subject}{problem}")

    def at(self, source: str, where: str) -> DatasetError:
        """The same error, placed in `source` at `where`."""
        return DatasetError(self.problem, self.field, source, where)


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _Raw:
    """One record as read, or the reason it could not be read, and its position."""

    position: int
    record: dict | None
    error: DatasetError | None = None


def infer_format(path: Path, fmt: str | None = None) -> str:
    """`fmt` when given, else the format named by the file's suffix."""
    if fmt is not None:
        if fmt not in FORMATS.values():
            raise ValueError(f"unknown format {fmt!r}; known: {sorted(FORMATS.values())}")
        return fmt
    if path.suffix.lower() not in FORMATS:
        raise DatasetError(f"cannot tell the format from the suffix {path.suffix!r}; "
                           f"use one of {sorted(FORMATS)} or pass fmt", source=str(path))
    return FORMATS[path.suffix.lower()]


def position_label(fmt: str, position: int) -> str:
    """"line 3" for JSONL (1-based), "index 3" for JSON, Parquet and hub rows (0-based)."""
    return f"line {position}" if fmt == "jsonl" else f"index {position}"


def _object_or_error(position: int, value: Any) -> _Raw:
    if isinstance(value, dict):
        return _Raw(position, value)
    return _Raw(position, None, DatasetError(f"expected a JSON object, got {type(value).__name__}"))


def _iter_jsonl(path: Path) -> Iterator[_Raw]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                yield _Raw(number, None, DatasetError(f"invalid JSON: {error.msg} (column {error.colno})"))
                continue
            yield _object_or_error(number, value)


def _unnest(value: Any) -> Any:
    """A ProntoQA-style example `{"in_context_example0": ..., "test_example": {...}}` -> its test example."""
    if isinstance(value, dict):
        for key in NESTED_ITEM_KEYS:
            if isinstance(value.get(key), dict):
                return value[key]
    return value


def _json_examples(data: Any) -> list[tuple[str | None, Any]]:
    """The examples of a JSON document, each with its key in the document (None in a list).

    A list holds examples; an object whose values are all objects holds an example per key
    (ProntoQA); any other object is a single example (a MATH problem file).
    """
    if isinstance(data, list):
        return [(None, value) for value in data]
    if isinstance(data, dict):
        if data and all(isinstance(value, dict) for value in data.values()):
            return [(str(key), _unnest(value)) for key, value in data.items()]
        return [(None, data)]
    raise DatasetError(f"expected a JSON list or object at the top, got {type(data).__name__}")


def _iter_json(path: Path) -> Iterator[_Raw]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DatasetError(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
                           source=str(path)) from error
    try:
        examples = _json_examples(data)
    except DatasetError as error:
        raise error.at(str(path), "") from None
    for index, (key, value) in enumerate(examples):
        raw = _object_or_error(index, value)
        if raw.record is not None and key is not None:
            raw = _Raw(index, {KEY_FIELD: key, **raw.record})
        yield raw


def _iter_parquet(path: Path) -> Iterator[_Raw]:
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except Exception as error:  # polars raises several kinds for unreadable files
        raise DatasetError(f"cannot read as Parquet: {error}", source=str(path)) from error
    for index, row in enumerate(frame.iter_rows(named=True)):
        yield _Raw(index, row)


def _iter_raw(path: Path, fmt: str) -> Iterator[_Raw]:
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {path} does not exist")
    readers = {"jsonl": _iter_jsonl, "json": _iter_json, "parquet": _iter_parquet}
    return readers[fmt](path)


def read_records(path: str | Path, fmt: str | None = None) -> list[tuple[int, dict]]:
    """The records of a dataset file, each with its position: the 1-based line number in JSONL (blank
    lines skipped), the 0-based index in JSON and Parquet.

    `fmt` ("jsonl", "json", "parquet") defaults to the one the suffix names. JSON may be a list of
    objects or an object of objects (`{"example1": {...}, ...}`: each record then gets the key under
    "_key", and an example nesting its item under "test_example" is replaced by that item); a JSON
    object of anything else is one record. Raises `DatasetError` at the first unreadable record.
    """
    path = Path(path)
    fmt = infer_format(path, fmt)
    records = []
    for raw in _iter_raw(path, fmt):
        if raw.error is not None:
            raise raw.error.at(str(path), position_label(fmt, raw.position))
        records.append((raw.position, raw.record))
    return records


# --------------------------------------------------------------------------------------- validation


def _field(record: dict, name: str, kind: type | tuple[type, ...] = str, required: bool = True) -> Any:
    """`record[name]`, checked to be of `kind` (and, for strings, not blank)."""
    if name not in record or record[name] is None:
        if required:
            raise DatasetError("missing", field=name)
        return None
    value = record[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DatasetError(f"expected {_kind_name(kind)}, got bool", field=name)
    if not isinstance(value, kind):
        raise DatasetError(f"expected {_kind_name(kind)}, got {type(value).__name__}", field=name)
    if isinstance(value, str) and not value.strip():
        raise DatasetError("empty", field=name)
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _string_list(record: dict, name: str, required: bool = True, non_empty: bool = True) -> list[str]:
    """`record[name]` checked to be a list of non-blank strings (a missing optional one is [])."""
    value = _field(record, name, list, required=required)
    if value is None:
        return []
    if non_empty and not value:
        raise DatasetError("empty list", field=name)
    for index, element in enumerate(value):
        if not isinstance(element, str) or not element.strip():
            raise DatasetError(f"element {index} is not a non-empty string: {element!r}", field=name)
    return list(value)


def _prompt_id(record: dict, prefix: str, position: int) -> str:
    return str(record.get(KEY_FIELD) or f"{prefix}-{position}")


GSM8K_GOLD = re.compile(r"####\s*(.+?)\s*$", flags=re.DOTALL)


def to_item_gsm8k(record: dict, position: int) -> Item:
    """A GSM8K record {question, answer: "<rationale>\\n#### <number>"} -> Item with the gold number."""
    question = _field(record, "question")
    solution = _field(record, "answer")
    match = GSM8K_GOLD.search(solution)
    if not match:
        raise DatasetError("no '#### <number>' final answer", field="answer")
    gold = number_key(match.group(1))
    if gold is None:
        raise DatasetError(f"the final answer {match.group(1)!r} after '####' is not a number", field="answer")
    return Item(prompt_id=_prompt_id(record, "gsm8k", position), question=question.strip(), answer=gold,
                meta={"rationale": solution[: match.start()].strip()})


def _math_level(level: Any) -> int | None:
    """"Level 3" -> 3; "Level ?" and a missing level -> None; an int stays."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        found = re.fullmatch(r"\s*(?:Level\s*)?(\d+)\s*", level)
        if found:
            return int(found.group(1))
        if re.fullmatch(r"\s*Level\s*\?\s*", level):
            return None
    raise DatasetError(f"expected 'Level <n>' or an int, got {level!r}", field="level")


def to_item_math(record: dict, position: int) -> Item:
    """A MATH record {problem, solution, level, type} -> Item whose answer is the last boxed answer of
    the solution (or the record's own `answer`, when given)."""
    problem = _field(record, "problem")
    solution = _field(record, "solution")
    level = _field(record, "level", (str, int), required=False)
    kind = _field(record, "type", required=False) or _field(record, "subject", required=False)
    answer = _field(record, "answer", required=False)
    if answer is None:
        answer = last_boxed(solution)
        if not answer:
            raise DatasetError("no \\boxed{...} answer (or an unclosed one)", field="solution")
    meta = {"solution": solution, "level": None if level is None else _math_level(level), "type": kind}
    prompt_id = str(record.get("unique_id") or _prompt_id(record, "math", position))
    return Item(prompt_id=prompt_id, question=problem.strip(), answer=answer.strip(), meta=meta)


def to_item_prontoqa(record: dict, position: int) -> Item:
    """A ProntoQA test example {question, query, chain_of_thought, answer} -> Item asking the query
    after the facts and rules, with answer "True" or "False"."""
    facts = _field(record, "question")
    query = _field(record, "query")
    steps = _string_list(record, "chain_of_thought", non_empty=False)
    answer = _field(record, "answer")
    if answer.strip().lower() not in ("true", "false"):
        raise DatasetError(f"expected 'True' or 'False', got {answer!r}", field="answer")
    if not query.strip().lower().startswith("true or false"):
        raise DatasetError(f"expected 'True or false: ...', got {query[:40]!r}", field="query")
    return Item(prompt_id=_prompt_id(record, "prontoqa", position), question=f"{facts.strip()} {query.strip()}",
                answer=answer.strip().capitalize(),
                meta={"facts": facts.strip(), "query": query.strip(), "chain_of_thought": steps})


def to_item_mbpp(record: dict, position: int) -> Item:
    """An MBPP record {task_id, text, code, test_list, test_setup_code, challenge_test_list} -> Item
    with the task's description as question and the reference code as answer; the tests go to meta."""
    task_id = _field(record, "task_id", int)
    text = _field(record, "text")
    code = _field(record, "code")
    tests = _string_list(record, "test_list")
    for index, test in enumerate(tests):
        if not test.lstrip().startswith("assert"):
            raise DatasetError(f"element {index} is not an assert statement: {test[:40]!r}", field="test_list")
    setup = record.get("test_setup_code") or ""
    if not isinstance(setup, str):
        raise DatasetError(f"expected str, got {type(setup).__name__}", field="test_setup_code")
    challenge = _string_list(record, "challenge_test_list", required=False, non_empty=False)
    meta = {"task_id": task_id, "test_list": tests, "test_setup_code": setup, "challenge_test_list": challenge}
    return Item(prompt_id=f"mbpp-{task_id}", question=text.strip(), answer=code, meta=meta)


def to_item_nq(record: dict, position: int) -> Item:
    """A Natural Questions (open) record {question, answer: [acceptable, ...]} -> Item whose answer is
    the first acceptable answer; all of them are in meta["answers"]."""
    question = _field(record, "question")
    answers = _string_list(record, "answer")
    return Item(prompt_id=_prompt_id(record, "nq", position), question=question.strip(), answer=answers[0],
                meta={"answers": answers})


Converter = Callable[[dict, int], Item]
CONVERTERS: dict[str, Converter] = {"gsm8k": to_item_gsm8k, "math": to_item_math, "prontoqa": to_item_prontoqa,
                                    "mbpp": to_item_mbpp, "nq": to_item_nq}


# ------------------------------------------------------------------------------------------ loading


def _converter(dataset: str) -> Converter:
    if dataset not in CONVERTERS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(CONVERTERS)}")
    return CONVERTERS[dataset]


def _convert(raws: Iterable[_Raw], dataset: str, source: str, fmt: str, bad_rows: BadRows) -> tuple[list[Item], int]:
    """Items of the records, applying the bad-row policy; (items, number skipped)."""
    if bad_rows not in ("error", "skip"):
        raise ValueError(f"bad_rows must be 'error' or 'skip', not {bad_rows!r}")
    convert = _converter(dataset)
    items: list[Item] = []
    seen: set[str] = set()
    reasons: list[str] = []
    for raw in raws:
        where = position_label(fmt, raw.position)
        try:
            if raw.error is not None:
                raise raw.error
            item = convert(raw.record, raw.position)
            if item.prompt_id in seen:
                raise DatasetError(f"duplicate id {item.prompt_id!r}", field="prompt_id")
        except DatasetError as error:
            placed = error.at(source, where)
            if bad_rows == "error":
                raise placed from None
            reasons.append(str(placed))
            continue
        seen.add(item.prompt_id)
        items.append(item)
    if reasons:
        log.warning("%s: skipped %d bad %s record(s) of %d; first: %s", source, len(reasons), dataset,
                    len(reasons) + len(items), "; ".join(reasons[:SHOWN_REASONS]))
    if not items:
        raise DatasetError(f"no usable {dataset} records" + (f" ({len(reasons)} skipped)" if reasons else ""),
                           source=source)
    return items, len(reasons)


def load_split(path: str | Path, dataset: str, bad_rows: BadRows = "error",
               fmt: str | None = None) -> tuple[list[Item], int]:
    """The items of a local dataset file and how many bad records were skipped.

    `dataset` is a key of `CONVERTERS`; `fmt` as in `read_records`. With `bad_rows="error"` the first
    bad record raises `DatasetError` (file, line or index, field); with "skip" bad records are left out,
    logged (count and first reasons) and counted. Duplicate ids are bad records too. A file with no
    usable record raises `DatasetError` either way.
    """
    path = Path(path)
    fmt = infer_format(path, fmt)
    return _convert(_iter_raw(path, fmt), dataset, str(path), fmt, bad_rows)


class HubUnavailableError(RuntimeError):
    """The Hugging Face hub cannot be used here: `datasets` missing, or the hub out of reach."""


def load_hub(dataset_id: str, config: str | None, split: str, dataset: str,
             bad_rows: BadRows = "error") -> tuple[list[Item], int]:
    """Like `load_split`, for a split of a Hugging Face hub dataset (e.g. "openai/gsm8k", "main", "test").

    Needs the `datasets` library (a dependency) and a reachable hub; raises `HubUnavailableError` otherwise,
    saying to give a local file instead. Rows are placed by 0-based index in messages.
    """
    hint = "give a local dataset file (JSONL, JSON or Parquet) instead"
    try:
        import datasets
    except ImportError as error:
        raise HubUnavailableError(f"loading {dataset_id!r} from the hub needs the `datasets` library, "
                                  f"which is not installed; {hint}") from error
    try:
        rows = datasets.load_dataset(dataset_id, config, split=split)
    except Exception as error:  # offline, unknown id, missing config: all mean "use a local file"
        raise HubUnavailableError(f"cannot load {dataset_id!r} (config {config!r}, split {split!r}) from the "
                                  f"hub: {error}; {hint}") from error
    source = f"hub:{dataset_id}" + (f"/{config}" if config else "") + f"[{split}]"
    raws = (_object_or_error(index, row) for index, row in enumerate(rows))
    return _convert(raws, dataset, source, "hub", bad_rows)
