"""Rewrite the warehouse file so that removed and replaced rows are gone from its bytes.

Why: DuckDB keeps the bytes of deleted rows in its file until their blocks are reused; a
`DELETE`, or the delete-then-insert of a redelivered delivery, leaves the old values readable in
`data/warehouse.duckdb` although no table holds them. Only rewriting the database into a new
file (`COPY FROM DATABASE`) and switching to it makes them unrecoverable.

Why "due" and not at once: a run may replace rows in several deliveries, erase several subjects
and apply retention; compacting after each would copy the whole warehouse each time. So every
writer that removes or replaces rows marks a compaction due (`audit.compaction_due`, inside its
own transaction: a rolled-back change marks nothing), and `compact_if_due` rewrites the file
once: the rights DAG at its end, build_and_publish before dbt, and the command-line tools after
their work. A compaction that fails leaves the mark, so the next run does it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from transforms import settings
from transforms.transaction import unordered_inserts

log = logging.getLogger(__name__)

TABLE = "audit.compaction_due"
DDL = (
    "create schema if not exists audit",
    f"create table if not exists {TABLE} (marked_at timestamp, source varchar, rows bigint)",
)


def mark_compaction_due(con: duckdb.DuckDBPyConnection, source: str, rows: int) -> None:
    """Record, inside the caller's transaction, that `rows` rows were removed or replaced."""
    for ddl in DDL:
        con.execute(ddl)
    con.execute(f"insert into {TABLE} values (?, ?, ?)",
                [datetime.now(UTC).replace(tzinfo=None), source, rows])


def compaction_due(con: duckdb.DuckDBPyConnection) -> int:
    """Rows removed or replaced since the last compaction (0: nothing to do)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'audit' "
        "and table_name = 'compaction_due'").fetchall()[0][0]
    if not exists:
        return 0
    return int(con.execute(f"select coalesce(sum(rows), 0) from {TABLE}").fetchall()[0][0])


def compact_if_due(warehouse: Path, derived: Collection[str] = ()) -> dict[str, int]:
    """Compact the warehouse once if any removal or replacement marked it due (`derived`: see
    compact_warehouse)."""
    if not warehouse.exists():
        return {"compacted": 0, "rows_due": 0}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        due = compaction_due(con)
    finally:
        con.close()
    if not due:
        return {"compacted": 0, "rows_due": 0}
    compact_warehouse(warehouse, derived)
    log.info("warehouse compacted: %d removed or replaced rows no longer in its bytes", due)
    return {"compacted": 1, "rows_due": due}


def compact_warehouse(warehouse: Path, derived: Collection[str] = ()) -> None:
    """Rewrite the warehouse into a new file and switch to it, so that the bytes of deleted rows
    are gone from disk. The copy is checked table by table before the switch; on any problem
    the original stays. Clears the compaction marks in the copy. Needs the warehouse free of
    other connections (the DAG's tasks run one at a time).

    `derived`: schemas whose relations are rebuilt from the others at every build (dbt's
    staging, intermediate and marts: transforms/build/dbt_run.built_schemas). They are not
    copied: the build that follows a removal makes them again, and the rows they hold predate
    the removal (an erased subject's pseudonyms), so carrying them into the new file would
    keep what the compaction is for. At 1M contracts they are 15.5M of the warehouse's 36M
    rows. Publications are separate files (data/published/marts.duckdb) and keep their marts.
    """
    fresh = warehouse.with_name(warehouse.name + ".compact")
    for stale in (fresh, fresh.with_name(fresh.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))
    # the copy streams through a bounded buffer pool, not the file
    settings.bound_duckdb(con, settings.duckdb_maintenance_memory_limit())
    try:
        source = con.execute("select current_database()").fetchall()[0][0]
        con.execute(f"attach '{fresh}' as compacted")
        try:
            tables = [(schema, table) for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_catalog = ?", [source]).fetchall()
                if schema not in derived]
            _copy(con, source, tables, derived)
            for schema, table in tables:
                a = con.execute(f'select count(*) from "{source}"."{schema}"."{table}"'
                                ).fetchall()[0][0]
                b = con.execute(f'select count(*) from compacted."{schema}"."{table}"'
                                ).fetchall()[0][0]
                if a != b:
                    raise RuntimeError(f"compaction: {schema}.{table} differs; original kept")
            if (("audit", "compaction_due")) in tables:
                con.execute("drop table compacted.audit.compaction_due")
        finally:
            con.execute("detach compacted")
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    # a write-ahead log left beside the old file must never be replayed onto the new one
    warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)
    os.replace(fresh, warehouse)


def _copy(con: duckdb.DuckDBPyConnection, source: str, tables: list[tuple[str, str]],
          derived: Collection[str]) -> None:
    """Copy catalog `source` into the attached `compacted`, less the `derived` schemas: every
    definition first (schemas, tables, views, macros), then the rows of `tables`, in parallel
    (the order rows were stored in means nothing to any reader)."""
    if not derived:
        con.execute(f'copy from database "{source}" to compacted')
        return
    con.execute(f'copy from database "{source}" to compacted (schema)')
    for schema in derived:
        con.execute(f'drop schema if exists compacted."{schema}" cascade')
    with unordered_inserts(con):
        for schema, table in tables:
            con.execute(f'insert into compacted."{schema}"."{table}" '
                        f'select * from "{source}"."{schema}"."{table}"')
