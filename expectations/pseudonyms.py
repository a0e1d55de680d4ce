"""Pseudonym domains: the documented format, and the pseudonyms of each purpose's domain.

Why: each purpose hashes under its own derived key, so an actuarial pseudonym and a marketing
pseudonym of the same contract differ and cannot be linked. A mart that carries a pseudonym
of another domain (a join across domains in dbt, a copied column) undoes that separation; the
gate looks for exactly those values. The warehouse's `pseudo_<purpose>` tables hold every
pseudonym made in each domain, which is what `foreign_pseudonyms` reads.

Why a join in DuckDB and not Python sets: a million-contract book has some 16 million pseudonyms;
held in memory they were a large part of the gate's peak. `WarehousePseudonyms` leaves them in the
warehouse and asks DuckDB (bounded by its memory limit, spilling to disk) which of a mart's values
are among another domain's; only values shaped like a pseudonym (64 hex characters) can be, so
only those are sent. Tests may still give small in-memory sets (`SeriesPseudonyms`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

from transforms import settings
from transforms.classification import Classification
from transforms.classification import load as load_classification

PSEUDONYM_REGEX = r"^[0-9a-f]{64}$"

ForeignPseudonyms = Mapping[str, Collection[str] | pl.Series]


class PseudonymMatcher(Protocol):
    def matches(self, values: pl.Series) -> pl.Series:
        """For each value: is it a pseudonym of another domain? (booleans, nulls False)"""
        ...


def _hash_columns(classification: Classification) -> dict[str, list[tuple[str, str, str]]]:
    """purpose -> [(schema, table, column)] of every hashed output in the warehouse."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for entity in classification.entities:
        for item in (*entity.columns, *entity.composites):
            for t in item.treatments:
                if t.verb == "hash":
                    schema, table = entity.table_name(t.purpose).split(".", 1)
                    out.setdefault(t.purpose, []).append((schema, table, t.output))
    return out


def _present(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    return {
        (s, t, c)
        for s, t, c in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall()
    }


def domain_pseudonyms(
    warehouse: Path, classification: Classification | None = None
) -> dict[str, pl.Series]:
    """purpose -> distinct pseudonyms made in that purpose's domain (from pseudo_<purpose>).
    In memory: for tests and small warehouses; the gate uses `WarehousePseudonyms`."""
    classification = classification or load_classification()
    con = duckdb.connect(str(warehouse))
    try:
        present = _present(con)
        result: dict[str, pl.Series] = {}
        for purpose, cols in _hash_columns(classification).items():
            parts = [
                con.sql(f'select distinct "{c}" as p from "{s}"."{t}" where "{c}" is not null')
                .pl()["p"]
                for s, t, c in cols
                if (s, t, c) in present
            ]
            result[purpose] = (
                pl.concat(parts).unique() if parts else pl.Series("p", [], dtype=pl.String)
            )
        return result
    finally:
        con.close()


class SeriesPseudonyms:
    """Foreign pseudonyms given in memory (tests, small sets)."""

    def __init__(self, values: Collection[str] | pl.Series) -> None:
        self.values = as_series(values)

    def matches(self, values: pl.Series) -> pl.Series:
        """values.is_in(foreign), by 64-bit hashes first (cheap to set up over many
        pseudonyms), confirmed on the strings for the few hash hits."""
        values = values.cast(pl.String)
        seed = 20261127
        maybe = values.hash(seed).is_in(self.values.hash(seed).implode()).fill_null(False)
        if not maybe.any():
            return maybe
        exact = values.filter(maybe).is_in(self.values.implode())
        return maybe.scatter(maybe.arg_true(), exact)


class WarehousePseudonyms:
    """The pseudonyms of every domain but one, left in the warehouse and joined there."""

    def __init__(self, warehouse: Path, columns: list[tuple[str, str, str]]) -> None:
        self.warehouse = Path(warehouse)
        self.columns = columns

    def matches(self, values: pl.Series) -> pl.Series:
        values = values.cast(pl.String)
        shaped = values.str.contains(PSEUDONYM_REGEX).fill_null(False)
        out = pl.Series(values.name, [False] * values.len(), dtype=pl.Boolean)
        if not self.columns or not shaped.any():
            return out
        candidates = values.filter(shaped).unique().rename("v").to_frame()
        union = " union all ".join(f'select "{c}" as p from "{s}"."{t}"'
                                   for s, t, c in self.columns)
        con = duckdb.connect(str(self.warehouse))
        try:
            settings.bound_duckdb(con)
            con.register("_candidates", candidates.to_arrow())
            found = con.sql(f"select distinct c.v from ({union}) f "
                                "join _candidates c on c.v = f.p").pl()["v"]
        finally:
            con.close()
        return values.is_in(found.implode()).fill_null(False).rename(values.name)


def foreign_pseudonyms(
    warehouse: Path, classification: Classification | None = None
) -> dict[str, WarehousePseudonyms]:
    """purpose -> the pseudonyms of every *other* domain, which must not appear in its marts.

    Nothing is read here: each matcher joins in the warehouse when the gate asks it.
    """
    classification = classification or load_classification()
    con = duckdb.connect(str(warehouse))
    try:
        present = _present(con)
    finally:
        con.close()
    by_domain = _hash_columns(classification)
    return {
        purpose: WarehousePseudonyms(warehouse, [
            col for p, cols in by_domain.items() if p != purpose for col in cols
            if col in present])
        for purpose in classification.purposes
    }


def matcher(values: Collection[str] | pl.Series | PseudonymMatcher) -> PseudonymMatcher:
    """A matcher for what run_gate was given: a matcher as it is, values in memory wrapped."""
    return values if hasattr(values, "matches") else SeriesPseudonyms(values)


def as_series(values: Collection[str] | pl.Series | None) -> pl.Series | None:
    if values is None:
        return None
    if isinstance(values, pl.Series):
        return values.cast(pl.String).rename("p")
    return pl.Series("p", list(values), dtype=pl.String)
