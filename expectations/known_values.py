"""The run's raw identifier values, as keyed fingerprints, and how to find them in a mart.

Why: pattern detection finds what looks like an identifier; this finds the identifiers we know
were delivered, whatever they look like (a name-based address line, a malformed VIN kept by
mistake). Which delivered values count and how text is searched is decided once, in
transforms/privacy/raw_values.py (shared with the leak scanner); this module applies it to the marts
without holding a raw value: the ingest wrote a keyed fingerprint of each candidate's fold
(transforms/ingest/fingerprints.py), and the gate folds each mart text the same way, fingerprints it
whole and its substrings of the delivered values' lengths, and joins in DuckDB, batch by batch
(spilling to disk under its memory limit, transforms/settings.py). Memory is set by the batch
size, not by the book.

`KnownValues` holds the fingerprint key, so it refuses to be pickled (it cannot reach XCom or a
cache) and its repr shows a count only. `collect_known_values` fingerprints landing files
directly (tests, benchmarks, a gate run on its own); `KnownValues.from_warehouse` reads what the
ingest wrote (the pipeline).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from transforms import settings
from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.ingest.fingerprints import (
    FINGERPRINT,
    PRINT_SCHEMA,
    SCHEMA,
    fingerprint_frame,
    unaccounted,
    with_fingerprint,
)
from transforms.privacy.keys import FINGERPRINT_DOMAIN, DomainKeys
from transforms.privacy.raw_values import (
    MIN_EXACT_CHARS,
    MIN_SUBSTRING_CHARS,
    candidates,
    identifier_frames,
    windows,
)
from transforms.privacy.raw_values import fold as _fold

__all__ = ["MIN_EXACT_CHARS", "MIN_SUBSTRING_CHARS", "KnownValues", "collect_known_values",
           "fold"]


def fold(expr: pl.Expr) -> pl.Expr:
    """The comparison form (transforms/raw_values.fold)."""
    return _fold(expr)


class KnownValues:
    """Keyed fingerprints of the folded raw identifier values of one run. Never pickled.

    The fingerprints live in a DuckDB database: the warehouse (`from_warehouse`) or a private
    in-memory one (`from_folded`, `collect_known_values`); `matches` joins against them there.
    """

    __slots__ = ("_key", "_database", "_tables", "_con", "_lengths", "_count", "columns_read")

    def __init__(self, key_hex: str, *, database: str | None, tables: list[str],
                 con: duckdb.DuckDBPyConnection | None = None, columns_read: int = 0) -> None:
        self._key = key_hex
        self._database = database
        self._tables = tables
        self._con = con
        self.columns_read = columns_read
        with self._connect() as c:
            if tables:
                # for the report only, so an estimate (HyperLogLog, within a few per cent):
                # an exact distinct count of 15M fingerprints (1M contracts) needs a 256 MiB
                # hash table that DuckDB cannot spill, and ran out of a 1GB limit on one thread
                words = ", ".join(FINGERPRINT)
                self._count = c.execute(f"select approx_count_distinct(hash({words})) from "
                                        f"({self._union()})").fetchall()[0][0]
                lengths = [n for (n,) in c.execute(
                    f"select distinct chars from ({self._union()})").fetchall()]
            else:
                self._count, lengths = 0, []
        self._lengths = tuple(sorted(n for n in (lengths or []) if n >= MIN_SUBSTRING_CHARS))

    @classmethod
    def from_warehouse(cls, warehouse: Path, keys: DomainKeys) -> KnownValues:
        """What the ingest fingerprinted (transforms/ingest/fingerprints.py), read where it lies."""
        con = duckdb.connect(str(warehouse))
        try:
            missing = unaccounted(con)
            tables = [f'"{SCHEMA}"."{t}"' for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ? "
                "and database_name = current_database() order by 1", [SCHEMA]).fetchall()]
        finally:
            con.close()
        if missing:
            raise RuntimeError(
                f"{missing} loaded delivery file(s) have no raw-value fingerprints (loaded before "
                "the ingest recorded them): re-ingest them (make clean-warehouse, then run) so "
                "that the gate looks for every delivered value")
        return cls(keys.hmac_key(FINGERPRINT_DOMAIN), database=str(warehouse), tables=tables,
                   columns_read=len(tables))

    @classmethod
    def from_folded(cls, folded: pl.Series, key_hex: str | None = None,
                    columns_read: int = 0) -> KnownValues:
        """Fingerprints of values already folded (benchmarks), in a private database."""
        key_hex = key_hex or os.urandom(32).hex()
        frame = with_fingerprint(pl.DataFrame({"v": folded.cast(pl.String)}).drop_nulls(),
                                 "v", key_hex).select(
            *FINGERPRINT, chars=pl.col("v").str.len_chars().cast(pl.Int32)).unique()
        return cls._in_memory(frame, key_hex, columns_read)

    @classmethod
    def _in_memory(cls, frame: pl.DataFrame, key_hex: str, columns_read: int) -> KnownValues:
        con = duckdb.connect(config=settings.duckdb_config())
        con.register("_incoming", frame.to_arrow())
        con.execute("create table known as select * from _incoming")
        con.unregister("_incoming")
        return cls(key_hex, database=None, tables=["known"], con=con, columns_read=columns_read)

    def __len__(self) -> int:
        return int(self._count)

    def __repr__(self) -> str:
        return (f"KnownValues(about {len(self)} fingerprints from {self.columns_read} "
                "columns)")

    def __reduce__(self) -> object:
        raise TypeError("KnownValues hold the fingerprint key: never pickle them (XCom, caches)")

    def _union(self) -> str:
        """Every fingerprint (the ingest's marker rows, of 0 characters, left out)."""
        return " union all ".join(f"select {', '.join(FINGERPRINT)}, chars from {t} where chars > 0"
                                  for t in self._tables)

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The database holding the fingerprints. Not read_only for the warehouse: dbt-duckdb
        may hold the same file open in this process (see expectations/gate.py)."""
        if self._con is not None:
            yield self._con
            return
        con = duckdb.connect(self._database or ":memory:")
        try:
            settings.bound_duckdb(con)
            yield con
        finally:
            con.close()

    def _hits(self, con: duckdb.DuckDBPyConnection, pieces: pl.DataFrame) -> pl.Series:
        """Row ids `i` of the (i, w) pieces whose fingerprint is known."""
        if pieces.is_empty():
            return pl.Series("i", [], dtype=pl.UInt32)
        prints = with_fingerprint(pieces, "w", self._key).select("i", *FINGERPRINT)
        con.register("_pieces", prints.to_arrow())
        try:
            # an inner join, not `in (subquery)`: DuckDB then builds its hash table on the
            # smaller side (usually the pieces) and streams the fingerprints past it
            found = con.sql(
                f"select distinct p.i from ({self._union()}) k "
                f"join _pieces p on {' and '.join(f'p.{c} = k.{c}' for c in FINGERPRINT)}"
            ).pl()
        finally:
            con.unregister("_pieces")
        return found["i"].cast(pl.UInt32)

    def matches(self, values: pl.Series) -> pl.Series:
        """For each value: does its fold equal a delivered value, or contain one of at least
        MIN_SUBSTRING_CHARS characters? (booleans; nulls False)."""
        texts = (
            pl.DataFrame({"t": values.cast(pl.String)})
            .with_row_index("i")
            .with_columns(fold(pl.col("t")).fill_null(""))
        )
        if not self._tables or self._count == 0 or texts.is_empty():
            return pl.Series(values.name, [False] * values.len(), dtype=pl.Boolean)
        whole = texts.filter(pl.col("t").str.len_chars() >= MIN_EXACT_CHARS).select("i", w="t")
        budget = settings.gate_window_batch()
        hit = []
        with self._connect() as con:
            for lo in range(0, whole.height, budget):
                hit.append(self._hits(con, whole.slice(lo, budget)))
            for batch in windows(texts, self._lengths, budget):
                hit.append(self._hits(con, batch))
        found = pl.concat(hit).unique() if hit else pl.Series("i", [], dtype=pl.UInt32)
        return texts["i"].is_in(found.implode()).rename(values.name)


def _csv_files(deliveries: Iterable[Path]) -> Iterator[Path]:
    for d in deliveries:
        d = Path(d)
        if d.is_dir():
            yield from sorted(d.glob("*.csv"))
        elif d.suffix == ".csv":
            yield d


def collect_known_values(
    deliveries: list[Path], classification: Classification | None = None,
    keys: DomainKeys | None = None,
) -> KnownValues:
    """Fingerprint the landing CSVs (delivery folders or files) into a KnownValues, as the
    ingest would (same candidates, same fold), under the keys' fingerprint key or, without
    keys, a random one (the fingerprints are then compared within this process only).

    A file whose system/entity the classification does not know is skipped here: the ingest
    refuses such deliveries anyway.
    """
    classification = classification or load_classification()
    key_hex = keys.hmac_key(FINGERPRINT_DOMAIN) if keys else os.urandom(32).hex()
    frames: list[pl.DataFrame] = []
    columns = 0
    for entity, frame in identifier_frames(_csv_files(deliveries), classification):
        frames.append(fingerprint_frame(frame, entity, key_hex))
        columns += candidates(frame.lazy(), entity)[1]
    prints = (pl.concat(frames).unique() if frames
              else pl.DataFrame(schema=PRINT_SCHEMA))
    return KnownValues._in_memory(prints, key_hex, columns)
