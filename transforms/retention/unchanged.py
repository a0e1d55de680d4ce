"""Skip the warehouse rules of retention on a rerun of the same date over the same tables.

Why: every rule is a query over the pseudonymised tables for the as-of date (contract ends,
restrictions, claims' last activity, quotes' last contact), and at 1M contracts they cost about
5 s of a run in which nothing new arrived, i.e. in every rerun of a day. The rules are
deterministic and idempotent (a second run of a date removes nothing: tests/test_retention.py):
the tables a run leaves are ones the same rules, for the same date, remove nothing from. So each
run records the digest of the inputs it leaves, with the counts a rerun would report (nothing
removed, the same subjects held: rerun_counts), in `audit.retention_unchanged` (one row); a run
whose inputs have that digest reports those counts without running a rule.

The digest covers: the as-of date; the retention periods and the billing columns; the source
of the rules (this module, `rules.py`, `run.py`: a changed rule is a new input); and every
`pseudo_*` table's columns, row count and order-independent row-hash sum
(checksums.table_parts, the digest the build's skip decision uses). Any delivery, erasure,
restriction, resolution or purge changes a table and so the digest; a new day changes the date,
and then no digest is computed before the rules (the record names its date). Nothing of a row's
value leaves DuckDB: only digests of aggregates are stored, as in the build's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb

from transforms.checksums import file_sha256, table_parts
from transforms.retention.rules import columns

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
        digest.update(file_sha256(here / name).encode())
    for part, sha in sorted(table_parts(con).items()):
        digest.update(f"{part}:{sha}\0".encode())
    return digest.hexdigest()


def rerun_counts(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """What a rerun over the tables this run left reports: nothing removed, the same held."""
    return {rule: {t: (n if t.endswith(":held_by_restriction") else 0)
                   for t, n in targets.items()} for rule, targets in counts.items()}


def recorded_counts(con: duckdb.DuckDBPyConnection, as_of: date, settings: dict[str, object]
                    ) -> dict[str, dict[str, int]] | None:
    """The recorded counts, when the record is of `as_of` and the inputs have its digest."""
    if "as_of" not in columns(con, TABLE):  # none yet (or one of an earlier form)
        return None
    row = con.execute(f"select digest, counts from {TABLE} where as_of = ?",
                      [as_of]).fetchall()
    if not row or row[0][0] != inputs_digest(con, as_of, settings):
        return None
    return json.loads(row[0][1])


def record(con: duckdb.DuckDBPyConnection, as_of: date, settings: dict[str, object],
           counts: dict[str, dict[str, int]]) -> None:
    """Keep the digest of the inputs this run leaves, and what a rerun would report, as the
    only record."""
    digest = inputs_digest(con, as_of, settings)
    con.execute("create schema if not exists audit")
    con.execute(f"create or replace table {TABLE} (as_of date, digest varchar, "
                "counts varchar, recorded_at timestamp)")
    con.execute(f"insert into {TABLE} values (?, ?, ?, current_timestamp)",
                [as_of, digest, json.dumps(counts, sort_keys=True)])
