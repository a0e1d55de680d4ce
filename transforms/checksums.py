"""SHA-256, the one digest of the delivery and publication manifests (source systems, ingest,
raw rewrites, publication): files read in blocks, or bytes already in memory; and the content
digest of the warehouse's pseudonymised tables (the build's and retention's skip decisions)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, without holding the file in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes in memory (a raw file being rewritten)."""
    return hashlib.sha256(data).hexdigest()


def quote_identifier(name: str) -> str:
    """A SQL identifier, double-quoted (inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def table_parts(con: duckdb.DuckDBPyConnection, table_type: str = "BASE TABLE"
                ) -> dict[str, str]:
    """One part per table (or, with `table_type="VIEW"`, per view: the Spark warehouse's
    Parquet tables) of the `pseudo_*` schemas: columns, types, rows and row-hash sum."""
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema like 'pseudo\\_%' escape '\\' and table_type = ? "
        "order by 1, 2", [table_type]).fetchall()
    parts: dict[str, str] = {}
    for schema, table in tables:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table]).fetchall()
        rows, row_hash = con.execute(
            f"select count(*), coalesce(sum(hash(t)), 0)::varchar "
            f"from {quote_identifier(schema)}.{quote_identifier(table)} t").fetchall()[0]
        described = json.dumps([columns, rows, row_hash]).encode()
        parts[f"table:{schema}.{table}"] = bytes_sha256(described)
    return parts
