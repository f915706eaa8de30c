"""Stage-boundary tables: documented columns, clear errors, atomic writes."""

import re
from pathlib import Path

import polars as pl
import pytest
from helpers import verifier_params

from svgap import tables
from svgap.columns import COLUMNS
from svgap.config import load as load_config
from svgap.loop.verification import verify_samples
from svgap.tasks import make_task

ROOT = Path(__file__).resolve().parents[1]


def test_missing_column_names_the_file_and_the_column(tmp_path):
    path = tmp_path / "picks.parquet"
    pl.DataFrame({"split": ["train"], "prompt_id": ["a"], "sample": [0]}).write_parquet(path)
    with pytest.raises(ValueError, match=r"picks\.parquet: picks table lacks column\(s\) \['n_candidates'"):
        tables.read(path, "picks")


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "generations.parquet"
    path.write_text("not parquet")
    with pytest.raises(ValueError, match="generations.parquet: not a readable Parquet generations table"):
        tables.read(path, "generations")


def test_write_is_atomic(tmp_path, monkeypatch):
    """A writer killed half way (it has written part of a file) leaves the finished table as it was, no new
    table under its final name, and no partial file behind."""
    path = tmp_path / "out" / "t.parquet"
    tables.write(pl.DataFrame({"a": [1]}), path)
    fresh = tmp_path / "out" / "new.parquet"

    def killed_half_way(self, target, *a, **k):
        Path(target).write_bytes(b"PAR1 half a table")  # bytes reach the file it was given
        raise KeyboardInterrupt  # a job killed while writing

    monkeypatch.setattr(pl.DataFrame, "write_parquet", killed_half_way)
    for target in (path, fresh):
        with pytest.raises(KeyboardInterrupt):
            tables.write(pl.DataFrame({"a": [2]}), target)
    monkeypatch.undo()
    assert pl.read_parquet(path)["a"].to_list() == [1]  # the finished table is untouched
    assert not fresh.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.parquet"]


def test_every_documented_column_is_in_the_docs():
    doc = (ROOT / "docs" / "tables.md").read_text()
    for kind, columns in COLUMNS.items():
        section = re.search(rf"^## {kind}\b.*?(?=^## |\Z)", doc, flags=re.S | re.M)
        assert section, f"docs/tables.md has no section '## {kind}'"
        for column in columns:
            assert f"`{column}`" in section.group(0), f"docs/tables.md: {kind}.{column} undocumented"


def test_a_checkpoint_table_splits_and_joins_back_in_split_order(tmp_path):
    parts = {"train": pl.DataFrame({"prompt_id": ["a", "b"], "sample": [0, 1]}),
             "test": pl.DataFrame({"prompt_id": ["c"], "sample": [0]})}
    joined = tables.with_split(parts)
    assert joined.columns == ["split", "prompt_id", "sample"]
    assert joined["split"].to_list() == ["train", "train", "test"]
    # a table written test-first still comes back train first, each split's rows in file order
    back = tables.by_split(joined.reverse(), "t.parquet")
    assert list(back) == ["train", "test"]
    assert back["train"].equals(parts["train"].reverse()) and back["test"].equals(parts["test"])


def test_a_column_empty_in_one_split_takes_the_type_of_the_other():
    parts = {"train": pl.DataFrame({"sample": [0], "pred_strict": [None]}),  # no strict answer in the train split
             "test": pl.DataFrame({"sample": [0], "pred_strict": ["42"]})}
    joined = tables.with_split(parts)
    assert joined.schema["pred_strict"] == pl.String and joined["pred_strict"].to_list() == [None, "42"]


def test_an_unknown_split_value_names_the_file():
    df = pl.DataFrame({"split": ["train", "valid"], "prompt_id": ["a", "b"]})
    with pytest.raises(ValueError, match=r"verify\.parquet: split value\(s\) \['valid'\]"):
        tables.by_split(df, "results/run/epoch0/verify.parquet")


@pytest.mark.parametrize("gens,message", [
    ({"train": ["a"], "test": ["c"]}, r"gen\.parquet: the test split is missing from the data table"),
    ({"train": ["a", "z"]}, r"gen\.parquet: train prompt ids not in the train split of the data table"),
])
def test_verify_samples_names_generations_the_data_table_does_not_cover(gens, message):
    """Both splits are checked before the model runs on either (a stand-in model that cannot run reaches
    the error)."""
    verifier = verifier_params(load_config(root=ROOT))
    data = {"train": pl.DataFrame({"prompt_id": ["a", "b"], "prompt": ["1 + 1", "2 + 2"]})}
    table = tables.with_split({split: pl.DataFrame({"prompt_id": ids, "sample": [0] * len(ids), "text": "2"})
                               for split, ids in gens.items()})
    with pytest.raises(ValueError, match=message):
        verify_samples(({"chat_template": True}, None, None), make_task("arithmetic", {}), data, table,
                              verifier=verifier, seed=0, t=0, where="gen.parquet")
