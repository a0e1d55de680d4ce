"""Synthetic marts with exactly the classification's columns and types, for tests and timing.

Why: the gate's tests and its benchmark need marts that pass (so that each planted leak is the
only reason to fail) without running the whole pipeline, and at sizes (a million rows) that a
quick test run cannot produce through dbt. Rows are made in DuckDB SQL from a seed: plausible
dimension values, random 64-hex pseudonyms, counts of at least k; nothing personal.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.classification import Classification, Mart, MartColumn
from transforms.classification import load as load_classification
from transforms.privacy.generalise import (
    COMMON_MAKES,
    DRIVER_AGE_BANDS,
    MILEAGE_BANDS,
    VEHICLE_AGE_BANDS,
)

KEY_VERSION = "kv-2026a0b1c2d3"  # the format of keys.py: the gate holds marts to it
VOCABULARY: dict[str, list[str]] = {
    "product": ["warranty", "mechanical_breakdown", "assistance"],
    "tier": ["bronze", "silver", "gold"],
    "vehicle_age_band": [label for _, label in VEHICLE_AGE_BANDS],
    "mileage_band": [label for _, label in MILEAGE_BANDS],
    "driver_age_band": [label for _, label in DRIVER_AGE_BANDS],
    "make_group": sorted(COMMON_MAKES) + ["other"],
    "fuel_type": ["petrol", "diesel", "hybrid", "electric"],
    "region": ["GB-SW", "GB-M", "GB-EH", "GB-B", "FR-75", "FR-69", "FR-13", "FR-974", "other"],
    "sales_channel": ["dealer", "direct", "online", "broker"],
    "failed_component": ["engine", "gearbox", "turbo", "clutch", "electrics", "cooling"],
    "component_group": ["chassis", "electrical", "engine_and_drivetrain", "other", "all"],
    "country": ["GB", "FR"],
    "tenure_band": ["0-1", "2-3", "4-5", "6+"],
    "status": ["open", "closed", "reopened"],
    "currency": ["GBP", "EUR"],
}


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


# Row-level marts: rows come in blocks sharing their quasi-identifiers, so that no unit is unique
# on them (each planted uniqueness is then the only one).
CLASS_SIZE = 20


def _expression(mart: Mart, col: MartColumn, seed: int, min_cell_size: int) -> str:
    """A DuckDB expression over `i` (the row number) for one column."""
    rule = mart.disclosure
    blocked = rule is not None and not mart.aggregated and col.name in rule.quasi_identifiers
    row = f"i // {CLASS_SIZE}" if blocked else "i"
    h = f"hash({row}, '{mart.name}.{col.name}', {seed})"
    dtype = col.data_type.lower()
    if col.cls == "pseudonym":
        return f"sha256('{seed}/{mart.name}/{col.name}/' || i)"
    if col.name == "key_version":
        return f"'{KEY_VERSION}'"
    if col.cls == "count":
        return f"cast({min_cell_size} + {h} % 500 as {dtype})"
    if dtype == "date":
        return f"date_trunc('month', date '2019-01-01' + cast({h} % 2000 as integer))::date"
    if dtype in ("bigint", "integer"):
        return f"cast({h} % 48 as {dtype})"
    if dtype == "double":
        return f"({h} % 100000) / 1000.0"
    if dtype.startswith("decimal"):
        return f"cast(({h} % 10000000) / 100.0 as {dtype})"
    if dtype == "boolean":
        return f"({h} % 2 = 0)"
    values = VOCABULARY.get(col.name, [f"{col.name}_{n}" for n in ("a", "b", "c")])
    return f"{_sql_list(values)}[1 + cast({h} % {len(values)} as integer)]"


def rows_for(mart: Mart, rows: int) -> int:
    """Row-level marts get `rows`; aggregated marts a hundredth (at least 50), as in a book."""
    return rows if not mart.aggregated else max(50, rows // 100)


def synthetic_marts(
    warehouse: Path,
    *,
    classification: Classification | None = None,
    rows: int = 200,
    seed: int = 0,
    min_cell_size: int = 10,
) -> dict[str, int]:
    """(Re)create every mart of the classification in the DuckDB file; returns rows per mart."""
    classification = classification or load_classification()
    made: dict[str, int] = {}
    con = duckdb.connect(str(warehouse))
    try:
        for mart in classification.marts:
            n = rows_for(mart, rows)
            cols = ", ".join(
                f'{_expression(mart, c, seed, min_cell_size)} as "{c.name}"' for c in mart.columns
            )
            con.execute(f'create schema if not exists "{mart.schema}"')
            con.execute(
                f'create or replace table "{mart.schema}"."{mart.table}" as '
                f"select {cols} from range({n}) t(i)"
            )
            made[mart.name] = n
    finally:
        con.close()
    return made
