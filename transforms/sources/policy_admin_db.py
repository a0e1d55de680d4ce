"""The synthetic policy-administration system as a database: its tables and how the generator
loads the book into them.

Why: a real policy-administration system is a database the pipeline pulls from, incrementally,
by `updated_at` (transforms/sources/policy_admin_extract.py); the file drop is the other way the
same rows reach the landing zone. Both carry the same rows: the generator loads each day's
policy-admin rows (planted defects included) with `updated_at` at that day's midnight UTC, so
that an extract of a day writes the files the file drop writes for it, byte for byte.

Tables (schema `public` of the database `policy_admin`): `contracts` and `quotes`, one column per
classified source column, in the classification's order, as text as the system exports it
(ISO dates, `true`/`false`, amounts with two decimals, NULL for empty), plus `row_id` (the order
the rows were recorded in) and `updated_at`. Each row is a version: a change to a contract is a
new row with a later `updated_at` (`record_change`), so an extract of a past interval reads the
same rows again however often it runs. Values never leave this module except into the database.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from transforms.classification import Classification
from transforms.sources.common import format_cents

SYSTEM = "policy_admin"
TABLES = ("contracts", "quotes")


class PolicyAdminLoadError(RuntimeError):
    """A day's rows could not be loaded; the message names the table, day and SQLSTATE only."""


def day_start(day: date) -> datetime:
    """Midnight UTC of a delivery date: the `updated_at` of the rows the generator loads."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def columns(classification: Classification, table: str) -> list[str]:
    return classification.entity(SYSTEM, table).column_names


def create_tables(conn: Any, classification: Classification, *, replace: bool = False) -> None:
    """Create the tables (dropping them first when `replace`: a new book)."""
    with conn.cursor() as cur:
        for table in TABLES:
            if replace:
                cur.execute(f'drop table if exists "{table}"')
            cols = ", ".join(f'"{c}" text' for c in columns(classification, table))
            cur.execute(f'create table if not exists "{table}" (row_id bigserial primary key, '
                        f"{cols}, updated_at timestamptz not null)")
            cur.execute(f'create index if not exists "{table}_updated_at" on "{table}" '
                        "(updated_at)")
    conn.commit()


def as_text(frame: pl.DataFrame, classification: Classification, table: str) -> pl.DataFrame:
    """The frame's classified columns as the text the delivery files hold (nulls stay null)."""
    entity = classification.entity(SYSTEM, table)
    exprs = []
    for column in entity.columns:
        dtype = frame.schema[column.name]
        col = pl.col(column.name)
        if column.type == "decimal" and dtype.is_integer():
            exprs.append(format_cents(column.name))
        elif dtype == pl.Date:
            exprs.append(col.dt.strftime("%Y-%m-%d"))
        elif dtype == pl.Boolean:
            exprs.append(pl.when(col).then(pl.lit("true")).when(col.not_())
                         .then(pl.lit("false")).otherwise(None).alias(column.name))
        else:
            exprs.append(col.cast(pl.String))
    return frame.select(exprs)


def load_delivery(conn: Any, classification: Classification, day: date,
                  frames: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Record one day's rows of each table (typed frames as the generator builds them), with
    `updated_at` at the day's midnight UTC, in their file order. Returns rows per table."""
    counts: dict[str, int] = {}
    stamp = day_start(day).isoformat()
    with conn.cursor() as cur:
        for table in TABLES:
            text = as_text(frames[table], classification, table)
            text = text.with_columns(pl.lit(stamp).alias("updated_at"))
            buffer = io.BytesIO()
            text.write_csv(buffer, line_terminator="\n", null_value="")
            names = ", ".join(f'"{c}"' for c in text.columns)
            buffer.seek(0)
            # CSV COPY: an unquoted empty field is NULL, a quoted one ("") an empty string
            try:
                cur.copy_expert(f'copy "{table}" ({names}) from stdin with (format csv, '
                                "header true)", buffer)
            except Exception as exc:  # the server's message quotes the failing row: not passed on
                conn.rollback()
                raise PolicyAdminLoadError(
                    f"loading {table} for {day} failed (SQLSTATE "
                    f"{getattr(exc, 'pgcode', None) or 'unknown'}); nothing was loaded for that "
                    "day") from None
            counts[table] = text.height
    conn.commit()
    return counts


def record_change(conn: Any, classification: Classification, table: str, key: str,
                  changes: dict[str, str | None], at: datetime) -> int:
    """The system changes a row: a new version of the latest row with that key, with
    `changes` applied and `updated_at` = `at`. Returns the number of rows recorded (0 when
    the key is unknown)."""
    cols = columns(classification, table)
    key_column = classification.entity(SYSTEM, table).key[0]
    unknown = set(changes) - set(cols)
    if unknown:
        raise KeyError(f"not a column of {table}: {len(unknown)} name(s)")
    selected = ", ".join(f'%s as "{c}"' if c in changes else f'"{c}"' for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    params = [changes[c] for c in cols if c in changes]
    with conn.cursor() as cur:
        cur.execute(f'insert into "{table}" ({names}, updated_at) '
                    f'select {selected}, %s from "{table}" where "{key_column}" = %s '
                    "order by row_id desc limit 1", [*params, at, key])
        inserted = cur.rowcount
    conn.commit()
    return inserted
