"""Checksums of a publication, to prove a refactoring left the published data byte-identical.

Run it after `make run` before and after a change (same master key, same book) and diff the two
outputs: one line per Parquet extract (SHA-256 of the file's bytes) and one per table of the
published marts.duckdb (MD5 of its rows in stored order and in sorted order, and its row count).
It prints digests and counts only, never a value.

    uv run python scripts/publication_checksums.py [data/published] > /tmp/before.txt
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import duckdb


def extract_digests(published: Path) -> list[str]:
    """SHA-256 of every Parquet file under the publication's extracts."""
    return [f"extract {path.relative_to(published)} "
            f"sha256={hashlib.sha256(path.read_bytes()).hexdigest()}"
            for path in sorted(published.rglob("*.parquet"))]


def table_digests(marts: Path) -> list[str]:
    """Per table: row count, MD5 of the rows as stored (order counts) and sorted (order ignored)."""
    lines = []
    with duckdb.connect(str(marts), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "order by table_schema, table_name").fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            count, stored, ordered = con.execute(
                "select count(*), "
                "md5(coalesce(string_agg(t::varchar, '|' order by t.rowid), '')), "
                "md5(coalesce(string_agg(t::varchar, '|' order by t::varchar), '')) "
                f"from {name} as t").fetchone()
            lines.append(f"table {schema}.{table} rows={count} stored={stored} sorted={ordered}")
    return lines


def main(argv: list[str]) -> int:
    published = Path(argv[0] if argv else "data/published")
    marts = published / "marts.duckdb"
    if not marts.is_file():
        print(f"no publication at {published}", file=sys.stderr)
        return 1
    print("\n".join(table_digests(marts) + extract_digests(published)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
