"""Removal events (erasures, retention purges): when rows left the warehouse.

Why: removing rows from the warehouse is not the end of it. Publications made before the
removal still hold the removed rows (row-level marts, extracts), and DuckDB keeps deleted rows'
bytes in its file until the table is rewritten. So every removal is recorded here with its time
(`audit.data_removals`: when, which process, how many rows; nothing about whom), and:

* the publish stage retires every publication made before the latest removal
  (`latest_removal` here, `transforms/publish/retirement.py` there);
* the warehouse file is rewritten so that deleted rows do not survive in it: every removal
  marks a compaction due, done once per run (transforms/compaction.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from transforms.compaction import mark_compaction_due

DDL = (
    "create schema if not exists audit",
    """create table if not exists audit.data_removals (
        removed_at timestamp, source varchar, rows bigint)""",
)


def utc_now() -> datetime:
    """Naive UTC timestamp, as stored in the audit tables."""
    return datetime.now(UTC).replace(tzinfo=None)


def record_removal(con: duckdb.DuckDBPyConnection, source: str, rows: int,
                   at: datetime | None = None) -> None:
    """Record that `rows` rows were removed by `source` (inside the caller's transaction)."""
    for ddl in DDL:
        con.execute(ddl)
    con.execute("insert into audit.data_removals values (?, ?, ?)",
                [at or utc_now(), source, rows])
    if rows:
        mark_compaction_due(con, source, rows)


def latest_removal(warehouse: Path | None) -> datetime | None:
    if warehouse is None or not warehouse.exists():
        return None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'audit' "
            "and table_name = 'data_removals'").fetchall()[0][0]
        if not exists:
            return None
        return con.execute("select max(removed_at) from audit.data_removals "
                           "where rows > 0").fetchall()[0][0]
    finally:
        con.close()
