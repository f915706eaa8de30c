"""The Parquet tables at every stage boundary: reading and writing them safely.

Each table kind's columns are listed, with their meaning, in `svgap.columns` (the same text is in
docs/tables.md; a test keeps the two in step). `read` checks that a file has the columns its kind
needs and names the file and the missing column when it does not; `write` writes beside the target
and renames, so a killed job never leaves a partial table under the final name. The tables of a task
and of a checkpoint hold both splits in a `split` column: `by_split` and `with_split` take them apart
and put them together.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from svgap.columns import COLUMNS, LOCATIONS

SPLITS = ("train", "test")  # every table of the loop holds both, in this order, in a `split` column


def read(path: str | Path, kind: str) -> pl.DataFrame:
    """Read a table and check it has the columns of its kind."""
    path = Path(path)
    try:
        df = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise ValueError(f"{path}: not a readable Parquet {kind} table ({exc})") from exc
    missing = [c for c in COLUMNS[kind] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: {kind} table lacks column(s) {missing}")
    return df


def write(df: pl.DataFrame, path: str | Path, csv: str | Path | None = None) -> None:
    """Write atomically: to a sibling temporary file, then rename; `csv` also writes a CSV copy."""
    _atomic(path, df.write_parquet)
    if csv is not None:
        _atomic(csv, df.write_csv)


def write_text(text: str, path: str | Path) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_text(text))


def _atomic(path: str | Path, writer) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves neither a partial file nor a changed table
        raise


def by_split(df: pl.DataFrame, path) -> dict[str, pl.DataFrame]:
    """{split: rows} of a table, in SPLITS order, without the split column; `path` names the file in errors."""
    unknown = sorted(set(df["split"].unique().to_list()) - set(SPLITS))
    if unknown:
        raise ValueError(f"{path}: split value(s) {unknown} are neither of {list(SPLITS)}")
    parts = df.partition_by("split", as_dict=True, include_key=False, maintain_order=True)
    return {split: parts[(split,)] for split in SPLITS if (split,) in parts}


def with_split(parts: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The per-split tables as one, the split column first (the inverse of `by_split`). A column with no
    value in one split (a task's extra grade, e.g. GSM8K's strict answer) takes the other split's type."""
    return pl.concat([df.select(pl.lit(split).alias("split"), pl.all()) for split, df in parts.items()],
                     how="vertical_relaxed")


def markdown() -> str:
    """The column reference of docs/tables.md (`python -m svgap.tables > docs/tables.md`)."""
    out = ["# Tables", "",
           "Every stage reads and writes Parquet. `<run>` is `<model>/<task>/<method>/seed<seed>` "
           "(`<model>/<task>/<method>/<schedule>/seed<seed>` for a cross-improvement run); "
           "the tables of a task and of a checkpoint hold both splits (`split`: `train`, `test`); "
           "`t` runs 0..T. Generated from `svgap.columns.COLUMNS` "
           "(`python -m svgap.tables > docs/tables.md`).", ""]
    for kind, columns in COLUMNS.items():
        out += [f"## {kind}", "", f"`{LOCATIONS[kind]}`", "", "| column | meaning |", "|---|---|"]
        out += [f"| `{name}` | {text.replace('|', chr(92) + '|')} |" for name, text in columns.items()]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
