"""Removal events (erasures, retention purges) and what they mean for publications and the
warehouse file.

Why: removing rows from the warehouse is not the end of it. Publications made before the
removal still hold the removed rows (row-level marts, extracts), and DuckDB keeps deleted rows'
bytes in its file until the table is rewritten. So every removal is recorded here with its time
(`audit.data_removals`: when, which process, how many rows; nothing about whom), and:

* `retire_stale_publications` deletes every publication made before the latest removal, except
  the one `data/published` points at: readers must never find it gone. That one becomes stale as
  soon as the rebuild triggered by the removal publishes a new one, and is retired by the next
  call (the retention_and_rights DAG calls it daily; build_and_publish may call it after publish);
* the warehouse file is rewritten so that deleted rows do not survive in it: every removal
  marks a compaction due, done once per run (transforms/compaction.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from transforms.compaction import compact_warehouse, mark_compaction_due
from transforms.publish.publication import MANIFEST, current_publication, publications_root

log = logging.getLogger(__name__)

__all__ = ["compact_warehouse", "latest_removal", "record_removal",
           "retire_stale_publications", "utc_now"]

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


def latest_removal(warehouse: Path) -> datetime | None:
    if not warehouse.exists():
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


def _created_at(folder: Path) -> datetime | None:
    """When a publication was made (its manifest), naive UTC; None when unknown."""
    try:
        text = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["created_at"]
        stamp = datetime.fromisoformat(text)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def retire_stale_publications(published_dir: Path, removed_at: datetime | None) -> dict[str, int]:
    """Delete every publication made before `removed_at`, except the current one.

    Returns counts: retired publications, and whether the current one is itself stale (it then
    waits for the rebuild to publish a newer one).
    """
    root = publications_root(published_dir)
    out = {"publications_retired": 0, "current_is_stale": 0}
    if removed_at is None or not root.is_dir():
        return out
    current = current_publication(published_dir)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        created = _created_at(folder)
        if created is not None and created >= removed_at:
            continue
        if current is not None and folder.resolve() == current.resolve():
            out["current_is_stale"] = 1
            continue
        shutil.rmtree(folder)
        out["publications_retired"] += 1
    if out["publications_retired"]:
        log.info("retired %d publication(s) made before the latest removal",
                 out["publications_retired"])
    return out
