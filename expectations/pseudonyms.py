"""Pseudonym domains: the documented format, and the pseudonyms of each purpose's domain.

Why: each purpose hashes under its own derived key, so an actuarial pseudonym and a marketing
pseudonym of the same contract differ and cannot be linked. A mart that carries a pseudonym
of another domain (a join across domains in dbt, a copied column) undoes that separation; the
gate looks for exactly those values. The warehouse's `pseudo_<purpose>` tables hold every
pseudonym made in each domain, which is what `foreign_pseudonyms` reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import duckdb
import polars as pl

from transforms.classification import Classification
from transforms.classification import load as load_classification

PSEUDONYM_REGEX = r"^[0-9a-f]{64}$"

ForeignPseudonyms = Mapping[str, Collection[str] | pl.Series]


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


def domain_pseudonyms(
    warehouse: Path, classification: Classification | None = None
) -> dict[str, pl.Series]:
    """purpose -> distinct pseudonyms made in that purpose's domain (from pseudo_<purpose>)."""
    classification = classification or load_classification()
    con = duckdb.connect(str(warehouse))
    try:
        present = {
            (s, t, c)
            for s, t, c in con.execute(
                "select table_schema, table_name, column_name from information_schema.columns"
            ).fetchall()
        }
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


def foreign_pseudonyms(
    warehouse: Path, classification: Classification | None = None
) -> dict[str, pl.Series]:
    """purpose -> pseudonyms of every *other* domain: what must not appear in its marts.

    Returned as polars Series, not frozensets: a million-contract book has millions of
    pseudonyms, and a Series holds them in a fraction of the memory. `run_gate` takes either.
    """
    classification = classification or load_classification()
    by_domain = domain_pseudonyms(warehouse, classification)
    out: dict[str, pl.Series] = {}
    for purpose in classification.purposes:
        others = [s for p, s in by_domain.items() if p != purpose]
        out[purpose] = (
            pl.concat(others).unique() if others else pl.Series("p", [], dtype=pl.String)
        )
    return out


def as_series(values: Collection[str] | pl.Series | None) -> pl.Series | None:
    if values is None:
        return None
    if isinstance(values, pl.Series):
        return values.cast(pl.String).rename("p")
    return pl.Series("p", list(values), dtype=pl.String)
