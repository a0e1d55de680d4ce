"""Load minimised frames into the DuckDB warehouse, one delivery at a time, idempotently.

Why delete-then-insert by delivery date inside one transaction: loading the same delivery twice
must change nothing, and a failure half-way must leave the warehouse as it was. Entities are
snapshots; dbt staging picks the latest delivery per business key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from transforms.minimise import DELIVERY_COLUMN, KEY_VERSION_COLUMN

AUDIT_DDL = (
    "create schema if not exists audit",
    """create table if not exists audit.deliveries (
        system varchar, entity varchar, delivery_date date, file_sha256 varchar,
        rows_read bigint, rows_quarantined bigint, rows_loaded bigint, key_version varchar,
        loaded_at timestamp)""",
    """create table if not exists audit.quarantine (
        system varchar, entity varchar, delivery_date date, reason varchar, rows bigint)""",
    """create table if not exists audit.nullified (
        system varchar, entity varchar, delivery_date date, column_name varchar, rows bigint)""",
)


class KeyVersionMismatch(RuntimeError):
    """The warehouse holds pseudonyms made with another master-key version."""


@dataclass(frozen=True)
class EntityLoad:
    """Everything one entity of one delivery puts into the warehouse."""

    system: str
    entity: str
    delivery_date: date
    file_sha256: str
    rows_read: int
    rows_quarantined: int
    frames: dict[str, pl.DataFrame]  # table name -> minimised frame
    reason_counts: dict[str, int]
    nullified_counts: dict[str, int]
    key_version: str

    @property
    def rows_loaded(self) -> int:
        return self.rows_read - self.rows_quarantined


def ensure_audit(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in AUDIT_DDL:
        con.execute(ddl)


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(row[0][0])


def _check_key_version(con: duckdb.DuckDBPyConnection, table: str, version: str,
                       delivery_date: date) -> None:
    others = con.execute(
        f"select distinct {KEY_VERSION_COLUMN} from {table} "
        f"where {DELIVERY_COLUMN} <> ? and {KEY_VERSION_COLUMN} <> ?",
        [delivery_date, version],
    ).fetchall()
    if others:
        raise KeyVersionMismatch(
            f"{table} holds pseudonyms made with key version {others[0][0]}, this run uses "
            f"{version}: re-pseudonymise the warehouse from the landing data "
            "(`python -m transforms.rekey`) before loading with a new master key"
        )


def _write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame,
                 delivery_date: date, key_version: str) -> None:
    schema, name = table.split(".", 1)
    con.execute(f"create schema if not exists {schema}")
    arrow = frame.to_arrow()
    con.register("_incoming", arrow)
    try:
        if not _table_exists(con, schema, name):
            con.execute(f"create table {table} as select * from _incoming limit 0")
        else:
            existing = [r[0] for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name]).fetchall()]
            if existing != frame.columns:
                raise RuntimeError(
                    f"{table}: its columns differ from the classification's outputs; the "
                    "classification changed: rebuild the warehouse (make clean-warehouse)"
                )
            _check_key_version(con, table, key_version, delivery_date)
        con.execute(f"delete from {table} where {DELIVERY_COLUMN} = ?", [delivery_date])
        con.execute(f"insert into {table} select * from _incoming")
    finally:
        con.unregister("_incoming")


def load_delivery(con: duckdb.DuckDBPyConnection, loads: Iterable[EntityLoad]) -> None:
    """Write every entity of one delivery in a single transaction (all or nothing)."""
    ensure_audit(con)
    con.execute("begin transaction")
    try:
        for load in loads:
            for table, frame in load.frames.items():
                _write_frame(con, table, frame, load.delivery_date, load.key_version)
            where = "system = ? and entity = ? and delivery_date = ?"
            params = [load.system, load.entity, load.delivery_date]
            for audit_table in ("deliveries", "quarantine", "nullified"):
                con.execute(f"delete from audit.{audit_table} where {where}", params)
            con.execute(
                "insert into audit.deliveries values (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                [*params, load.file_sha256, load.rows_read, load.rows_quarantined,
                 load.rows_loaded, load.key_version],
            )
            for reason, rows in sorted(load.reason_counts.items()):
                con.execute("insert into audit.quarantine values (?, ?, ?, ?, ?)",
                            [*params, reason, rows])
            for column, rows in sorted(load.nullified_counts.items()):
                con.execute("insert into audit.nullified values (?, ?, ?, ?, ?)",
                            [*params, column, rows])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def loaded_checksums(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, date], str]:
    """(system, entity, delivery date) -> sha256 of the file already loaded."""
    ensure_audit(con)
    rows = con.execute(
        "select system, entity, delivery_date, file_sha256 from audit.deliveries"
    ).fetchall()
    return {(s, e, d): h for s, e, d, h in rows}
