"""Skip the warehouse rules of retention when their inputs are those of a run that removed nothing.

Why: every rule is a query over the pseudonymised tables for the as-of date (contract ends,
restrictions, claims' last activity, quotes' last contact), and at 1M contracts they cost about
5 s of a run in which nothing new arrived and nothing was due, i.e. in every rerun of a day.
The rules are deterministic: the same tables, the same as-of date, the same periods and the
same rules give the same result. So when a run removes nothing, the digest of its inputs is
recorded with its counts (`audit.retention_unchanged`, one row); a later run whose inputs have
the same digest would remove nothing again, and reports the recorded counts instead.

The digest covers: the as-of date; the retention periods and the billing columns; the source
of the rules (this module, `rules.py`, `run.py`: a changed rule is a new input); and every
`pseudo_*` table's columns, row count and order-independent row-hash sum
(checksums.table_parts, the same digest the build's skip decision uses). Any
delivery, erasure, restriction, resolution or purge changes a table and so the digest; a
new day changes the as-of date. Nothing of a row's value leaves DuckDB: only digests of
aggregates are stored, as in the build's fingerprint. A run that removed rows records nothing
(what it left is a new input for the next run).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb

from transforms.checksums import table_parts

TABLE = "audit.retention_unchanged"
_SOURCES = ("rules.py", "run.py", "unchanged.py")


def inputs_digest(con: duckdb.DuckDBPyConnection, as_of: date, settings: dict[str, object]
                  ) -> str:
    """SHA-256 of everything the warehouse rules read for `as_of` (`settings`: the periods and
    the billing columns, JSON-serialisable)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    digest.update(json.dumps({"as_of": as_of.isoformat(), "settings": settings},
                             sort_keys=True).encode())
    for name in _SOURCES:
        digest.update(hashlib.sha256((here / name).read_bytes()).digest())
    for part, sha in sorted(table_parts(con).items()):
        digest.update(f"{part}:{sha}\0".encode())
    return digest.hexdigest()


def recorded_counts(con: duckdb.DuckDBPyConnection, digest: str
                    ) -> dict[str, dict[str, int]] | None:
    """The counts of the last run that removed nothing, if its inputs had this digest."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'audit' "
        "and table_name = 'retention_unchanged'").fetchall()[0][0]
    if not exists:
        return None
    row = con.execute(f"select counts from {TABLE} where digest = ?", [digest]).fetchall()
    return json.loads(row[0][0]) if row else None


def record(con: duckdb.DuckDBPyConnection, digest: str, counts: dict[str, dict[str, int]]
           ) -> None:
    """Keep this run's digest and counts (it removed nothing) as the only record."""
    con.execute("create schema if not exists audit")
    con.execute(f"create table if not exists {TABLE} (digest varchar, counts varchar, "
                "recorded_at timestamp)")
    con.execute(f"delete from {TABLE}")
    con.execute(f"insert into {TABLE} values (?, ?, current_timestamp)",
                [digest, json.dumps(counts, sort_keys=True)])

