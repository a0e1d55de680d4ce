"""Both cores at ingest (issue 12, point 5): the preparation threads change nothing but time.

The same small book (several deliveries, planted defects, orphans) is ingested once with one
preparation thread and once with two, in batches small enough that every file is read ahead
batch by batch; every warehouse table (the purposes' tables, the gate fingerprints, the audit
counts) and every quarantine file must be the same. Unit tests on the read-ahead follow.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms.ingest.prepare import read_ahead
from transforms.ingest.run import ingest
from transforms.privacy.keys import DomainKeys
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)
SYSTEMS = ("policy_admin", "claims", "dpo")


def _snapshot(base: Path) -> dict[str, list[tuple]]:
    """Every table's rows, sorted (audit timestamps left out), and every quarantine file's."""
    con = duckdb.connect(str(base / "warehouse.duckdb"), read_only=True)
    try:
        tables = con.execute("select schema_name, table_name from duckdb_tables() "
                             "order by 1, 2").fetchall()
        out = {}
        for schema, table in tables:
            columns = [c for (c,) in con.execute(
                "select column_name from duckdb_columns() where schema_name = ? and "
                "table_name = ? and column_name <> 'loaded_at' order by column_index",
                [schema, table]).fetchall()]
            listing = ", ".join(f'"{c}"' for c in columns)
            out[f"{schema}.{table}"] = sorted(
                con.execute(f'select {listing} from "{schema}"."{table}"').fetchall(),
                key=repr)
    finally:
        con.close()
    for path in sorted((base / "quarantine").rglob("*.parquet")):
        frame = pl.read_parquet(path)
        out[str(path.relative_to(base))] = sorted(frame.rows(), key=repr)
    return out


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("parallel_book")
    generate_book(base / "landing", contracts=200, days=2, as_of=AS_OF, seed=23,
                  truth_dir=base / "truth")
    return base / "landing"


def test_two_preparation_threads_load_what_one_loads(
        landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = DomainKeys.derive(os.urandom(32))
    snapshots = []
    for threads in ("1", "2"):
        monkeypatch.setenv("PIPELINE_INGEST_THREADS", threads)
        base = tmp_path / f"threads{threads}"
        reports = []
        for system in SYSTEMS:
            reports += ingest(landing, base / "warehouse.duckdb", base / "quarantine", keys,
                              systems=[system], batch_rows=150)
        assert reports and all(r.status == "loaded" for r in reports)
        assert sum(r.rows_quarantined for r in reports) > 0  # the planted defects
        snapshots.append(_snapshot(base))
    serial, parallel = snapshots
    assert any(name.startswith("pseudo_") for name in serial)
    assert any("quarantine" in name and name.endswith(".parquet") for name in serial)
    assert serial.keys() == parallel.keys()
    for name in serial:
        assert serial[name] == parallel[name], name


def test_read_ahead_keeps_order_and_holds_one_item_ahead() -> None:
    produced: list[int] = []

    def items():
        for i in range(5):
            produced.append(i)
            yield i

    with ThreadPoolExecutor(max_workers=2) as pool:
        seen = []
        for item in read_ahead(items(), pool):
            seen.append(item)
            assert len(produced) <= item + 2  # the current item and at most the next
    assert seen == [0, 1, 2, 3, 4]


def test_read_ahead_raises_the_producers_error_in_the_consumer() -> None:
    def items():
        yield 1
        raise ValueError("the parse failed")

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(ValueError, match="parse"):
        list(read_ahead(items(), pool))
