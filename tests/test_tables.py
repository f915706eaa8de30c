"""Stage-boundary tables: documented columns, clear errors, atomic writes."""

import re
from pathlib import Path

import polars as pl
import pytest

from svgap import tables

ROOT = Path(__file__).resolve().parents[1]


def test_missing_column_names_the_file_and_the_column(tmp_path):
    path = tmp_path / "picks.parquet"
    pl.DataFrame({"prompt_id": ["a"], "sample": [0]}).write_parquet(path)
    with pytest.raises(ValueError, match=r"picks\.parquet: picks table lacks column\(s\) \['n_candidates'"):
        tables.read(path, "picks")


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "generations.parquet"
    path.write_text("not parquet")
    with pytest.raises(ValueError, match="generations.parquet: not a readable Parquet generations table"):
        tables.read(path, "generations")


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out" / "t.parquet"
    tables.write(pl.DataFrame({"a": [1]}), path)

    def boom(self, *a, **k):
        raise KeyboardInterrupt  # a job killed while writing

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(KeyboardInterrupt):
        tables.write(pl.DataFrame({"a": [2]}), path)
    assert pl.read_parquet(path)["a"].to_list() == [1]  # the finished table is untouched


def test_every_documented_column_is_in_the_docs():
    doc = (ROOT / "docs" / "tables.md").read_text()
    for kind, columns in tables.COLUMNS.items():
        section = re.search(rf"^## {kind}\b.*?(?=^## |\Z)", doc, flags=re.S | re.M)
        assert section, f"docs/tables.md has no section '## {kind}'"
        for column in columns:
            assert f"`{column}`" in section.group(0), f"docs/tables.md: {kind}.{column} undocumented"
