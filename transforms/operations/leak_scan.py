"""Search everything the pipeline wrote for the raw identifiers of the landing files.

Why a product command and not only a test: auditors and the DPO must be able to verify the
minimisation without trusting us. Given the landing deliveries (the raw identifiers) and the
places to search (DuckDB files, Parquet extracts, logs, reports), it reports how many raw values
were found where, and never prints a value: a scan that echoed what it found would leak it again.

What counts as a raw value and how text is searched is transforms/privacy/raw_values.py, shared with
the publication gate: every candidate (direct identifiers raw and normalised, full names both
orders) is searched as a whole cell value in every column of every table, and as a substring
(from MIN_SUBSTRING_CHARS characters) in every text cell, every Parquet string column and every
other file's text, with an Aho-Corasick automaton. A single first name or surname is searched as
a whole cell only; inside text, names are searched as full names (an ordinary word such as
"French" is also a surname). Table cells shaped like a keyed hash (64-hex pseudonyms; 32-hex gate
fingerprints of warehouses written before they became 32-bit words) are compared whole but not
searched inside: they hold no identifier, and millions of them would contain a short digit-only
value (a national phone number) by chance.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
from ahocorasick import Automaton

from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.privacy.raw_values import (
    Scope,
    automaton,
    candidates,
    count_in,
    identifier_frames,
    searchable_text,
)
from transforms.privacy.text_fold import unmask_text

TEXT_SUFFIXES = {".log", ".json", ".txt", ".html", ".sql", ".csv", ".yml", ".yaml", ".md", ".js",
                 ".css", ".xml", ".manifest", ".db", ".sqlite", ""}


class Needles(set):
    """Values to look for: every value as a whole cell (the set itself), and `substrings` to
    look for inside text (transforms/privacy/raw_values.py: a single first name or surname is an
    ordinary word too, "French", "Ford", "Rose", so it is counted as a whole cell only)."""

    substrings: set[str]


@dataclass
class ScanResult:
    values_searched: int
    hits: Counter = field(default_factory=Counter)  # location -> count (never a value)

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def as_dict(self) -> dict:
        return {"values_searched": self.values_searched, "total_hits": self.total,
                "hits": dict(self.hits)}


def identifier_values(landing_files: Iterable[Path],
                      classification: Classification | None = None) -> Needles:
    """The candidates (transforms/privacy/raw_values.py) of the given delivery files, as
    delivered or normalised: what the gate looks for, in the form a file would hold it."""
    classification = classification or load_classification()
    values = Needles()
    values.substrings = set()
    for entity, frame in identifier_frames(landing_files, classification):
        query, _ = candidates(frame.lazy(), entity)
        if query is None:
            continue
        found = query.select("form", "scope").unique().collect()
        values.update(found["form"].to_list())
        values.substrings.update(
            found.filter(pl.col("scope") == str(Scope.ANYWHERE))["form"].to_list())
    return values


def _duckdb_tables(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str, str, str]]:
    yield from con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_schema not in ('information_schema', 'pg_catalog') order by 1, 2, 3"
    ).fetchall()


def scan_duckdb(path: Path, values: set[str], auto: Automaton,
                result: ScanResult) -> None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        value_frame = pl.DataFrame({"v": sorted(values)})
        for schema, table, column, _type in _duckdb_tables(con):
            col = pl.from_arrow(con.sql(
                f'select distinct cast("{column}" as varchar) as v from "{schema}"."{table}" '
                f'where "{column}" is not null'
            ).to_arrow_table())
            exact = col.join(value_frame, on="v", how="semi").height
            n = exact + count_in(auto, searchable_text(col["v"]))
            if n:
                result.hits[f"{path.name}:{schema}.{table}.{column}"] += n
            # table and column names too: a value must not become an identifier of SQL
            for name in (schema, table, column):
                if name in values:
                    result.hits[f"{path.name}:name:{schema}.{table}"] += 1
    finally:
        con.close()


def scan_parquet(path: Path, values: set[str], auto: Automaton,
                 result: ScanResult) -> None:
    frame = pl.read_parquet(path)
    value_frame = pl.DataFrame({"v": sorted(values)})
    for name in frame.columns:
        col = frame.select(pl.col(name).cast(pl.String).alias("v")).drop_nulls().unique()
        n = col.join(value_frame, on="v", how="semi").height
        n += count_in(auto, searchable_text(col["v"]))
        if n:
            result.hits[f"{path}:{name}"] += n


def scan_text_file(path: Path, auto: Automaton, result: ScanResult) -> None:
    """Count the values in the text as written and in its unmasked form (transforms/text_fold:
    NFKC, invisible characters removed, Cyrillic and Greek look-alikes made Latin), so that a
    value written in disguise is counted too."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    n = max(count_in(auto, text), count_in(auto, unmask_text(text)))
    if n:
        result.hits[str(path)] += n


def scan(targets: Iterable[Path], values: set[str]) -> ScanResult:
    """Search every file under the targets (files or folders) for the values."""
    result = ScanResult(values_searched=len(values))
    auto = automaton(getattr(values, "substrings", values))
    for target in targets:
        files = [target] if target.is_file() else sorted(p for p in target.rglob("*")
                                                          if p.is_file())
        for f in files:
            if f.suffix == ".duckdb":
                scan_duckdb(f, values, auto, result)
            elif f.suffix == ".parquet":
                scan_parquet(f, values, auto, result)
            elif f.suffix in TEXT_SUFFIXES or f.suffix.startswith(".log"):
                scan_text_file(f, auto, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transforms.operations.leak_scan",
        description="Count raw identifiers of landing deliveries found in pipeline outputs.",
    )
    parser.add_argument("--landing", type=Path, required=True, help="landing folder")
    parser.add_argument("targets", type=Path, nargs="+", help="files or folders to search")
    args = parser.parse_args(argv)
    files = sorted(args.landing.rglob("*.csv"))
    result = scan(args.targets, identifier_values(files))
    print(json.dumps(result.as_dict(), indent=2))
    return 1 if result.total else 0


if __name__ == "__main__":
    sys.exit(main())
