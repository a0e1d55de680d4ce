"""Load minimised frames into the DuckDB warehouse, one delivery at a time, idempotently.

Why delete-then-insert by delivery date inside one transaction: loading the same delivery twice
must change nothing, and a failure half-way must leave the warehouse as it was. Entities are
snapshots; dbt staging picks the latest delivery per business key.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from transforms.compaction import mark_compaction_due
from transforms.ingest.minimise import DELIVERY_COLUMN, KEY_VERSION_COLUMN
from transforms.transaction import unordered_inserts

SPOOL_PREFIX = ".load-spool-"  # beside the warehouse; a killed run's is removed (leftovers.py)

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

    @classmethod
    def of(cls, where: str, found: str, used: str) -> KeyVersionMismatch:
        """The refusal, with what to do (the same words on every engine)."""
        return cls(f"{where} holds pseudonyms made with key version {found}, this run uses "
                   f"{used}: re-pseudonymise the warehouse from the landing data "
                   "(`python -m transforms.operations.rekey`) before loading with a new "
                   "master key")


@dataclass
class EntityAudit:
    """What one entity of one delivery did: counts only, for the audit tables."""

    system: str
    entity: str
    delivery_date: date
    file_sha256: str
    key_version: str
    rows_read: int = 0
    rows_quarantined: int = 0
    reason_counts: Counter = field(default_factory=Counter)
    nullified_counts: Counter = field(default_factory=Counter)

    @property
    def rows_loaded(self) -> int:
        return self.rows_read - self.rows_quarantined


def ensure_audit(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in AUDIT_DDL:
        con.execute(ddl)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` exists (the ingest's audit tables, the gate's marts)."""
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
        raise KeyVersionMismatch.of(table, others[0][0], version)


class DeliveryWriter:
    """Writes one delivery into the warehouse inside a single transaction (all or nothing).

    Use as a context manager: tables are prepared (created, checked against the classification's
    outputs and the key version, emptied of this delivery's earlier rows) on first use, batches
    are appended, and the transaction commits only when the block ends without an exception.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, delivery_date: date, key_version: str,
                 system: str = ""):
        self.con = con
        self.system = system
        self.delivery_date = delivery_date
        self.key_version = key_version
        self._prepared: set[str] = set()
        self._spool: Path | None = None
        self._spooled: dict[str, list[Path]] = {}
        self.rows_replaced = 0  # rows of an earlier load of this delivery, deleted

    def __enter__(self) -> DeliveryWriter:
        ensure_audit(self.con)
        others = self.con.execute(
            "select distinct key_version from audit.deliveries where key_version <> ? "
            "and not (system = ? and delivery_date = ?)",
            [self.key_version, self.system, self.delivery_date],
        ).fetchall()
        if others:
            raise KeyVersionMismatch.of("the warehouse", others[0][0], self.key_version)
        self.con.execute("begin transaction")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    self._insert_spooled()
                    if self.rows_replaced:  # their bytes stay in the file until compacted
                        mark_compaction_due(self.con, "redelivery", self.rows_replaced)
                except BaseException:
                    self.con.execute("rollback")
                    raise
                self.con.execute("commit")
            else:
                self.con.execute("rollback")
        finally:
            if self._spool is not None:
                shutil.rmtree(self._spool, ignore_errors=True)

    def _insert_spooled(self) -> None:
        """Insert each table's spooled batches with one statement, inside the transaction.

        Why spool: DuckDB keeps a transaction's appended rows in memory outside its memory
        limit (measured: 2.4 GB for 10 million rows appended batch by batch in one transaction);
        reading them back from Parquet in one INSERT ... SELECT streams them (0.6 GB), and the
        delivery still commits all or nothing.

        Without `preserve_insertion_order` (for these statements only): DuckDB then inserts with
        every thread. No reader depends on the order rows were loaded in (staging keeps the
        latest delivery per key, the warehouse digests are order-free sums); at 1M contracts
        the inserts took 8.7 s instead of 15.3 s.
        """
        with unordered_inserts(self.con):
            for table, files in self._spooled.items():
                listing = ", ".join(f"'{f}'" for f in files)
                self.con.execute(f"insert into {table} select * from read_parquet([{listing}])")

    def _prepare(self, table: str, frame: pl.DataFrame) -> None:
        schema, name = table.split(".", 1)
        self.con.execute(f"create schema if not exists {schema}")
        if not table_exists(self.con, schema, name):
            self.con.register("_incoming", frame.head(0).to_arrow())
            try:
                self.con.execute(f"create table {table} as select * from _incoming")
            finally:
                self.con.unregister("_incoming")
        else:
            existing = [r[0] for r in self.con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name]).fetchall()]
            if existing != frame.columns:
                raise RuntimeError(
                    f"{table}: its columns differ from the classification's outputs; the "
                    "classification changed: rebuild the warehouse (make clean-warehouse)"
                )
            _check_key_version(self.con, table, self.key_version, self.delivery_date)
        deleted = self.con.execute(f"delete from {table} where {DELIVERY_COLUMN} = ?",
                                   [self.delivery_date]).fetchall()[0][0]
        self.rows_replaced += int(deleted or 0)
        self._prepared.add(table)

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Add a batch of minimised rows; they reach the table when the block commits."""
        if table not in self._prepared:
            self._prepare(table, frame)
        if frame.height == 0:
            return
        if self._spool is None:
            db_file = self.con.execute(
                "select path from duckdb_databases() where database_name = current_database()"
            ).fetchall()[0][0]
            parent = Path(db_file).parent if db_file else Path(tempfile.gettempdir())
            self._spool = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX, dir=parent))
        files = self._spooled.setdefault(table, [])
        path = self._spool / f"{table}.{len(files):06d}.parquet"
        # lz4, not polars' default zstd: the spool lives for one transaction, and at 1M
        # contracts zstd's compression was 6 of the 13 s of these writes
        frame.write_parquet(path, compression="lz4")
        files.append(path)

    def audit(self, entity: EntityAudit) -> None:
        where = "system = ? and entity = ? and delivery_date = ?"
        params = [entity.system, entity.entity, entity.delivery_date]
        for audit_table in ("deliveries", "quarantine", "nullified"):
            self.con.execute(f"delete from audit.{audit_table} where {where}", params)
        self.con.execute(
            "insert into audit.deliveries values (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [*params, entity.file_sha256, entity.rows_read, entity.rows_quarantined,
             entity.rows_loaded, entity.key_version],
        )
        for reason, rows in sorted(entity.reason_counts.items()):
            self.con.execute("insert into audit.quarantine values (?, ?, ?, ?, ?)",
                             [*params, reason, rows])
        for column, rows in sorted(entity.nullified_counts.items()):
            self.con.execute("insert into audit.nullified values (?, ?, ?, ?, ?)",
                             [*params, column, rows])


def loaded_checksums(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, date], str]:
    """(system, entity, delivery date) -> sha256 of the file already loaded."""
    ensure_audit(con)
    rows = con.execute(
        "select system, entity, delivery_date, file_sha256 from audit.deliveries"
    ).fetchall()
    return {(s, e, d): h for s, e, d, h in rows}
