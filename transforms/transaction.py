"""One DuckDB transaction: begin, then commit when the block ends, roll back when it raises.

Why one helper: the rights, retention and erasure steps each change several tables that must
change together (rows removed, suppression list, audit record); a missed rollback leaves the
connection inside a failed transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction on `con`; re-raise whatever made it roll back."""
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


@contextmanager
def unordered_inserts(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block's inserts without `preserve_insertion_order`, so that DuckDB inserts with
    every thread; the setting is reset afterwards. For tables whose stored row order no reader
    depends on (the ingest's spooled loads, the compaction's copy)."""
    con.execute("set preserve_insertion_order = false")
    try:
        yield con
    finally:
        con.execute("reset preserve_insertion_order")
