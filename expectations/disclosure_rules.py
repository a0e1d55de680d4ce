"""The classification's disclosure rule of a mart, measured on its rows.

Why apart from expectations/disclosure.py: that module computes risk figures for any frame and
any quasi-identifiers; this one reads which figures apply to a published table from its
`disclosure:` block (unit, quasi-identifiers, k, uniqueness share, hierarchies), so that the
gate, the privacy report and bench/disclosure.py apply the same rule. It also finds categories
that no declared hierarchy level knows (a new, unpooled level would dodge the pooling).
"""

from __future__ import annotations

import duckdb
import polars as pl

from expectations.disclosure import (
    Risk,
    aggregate_risk,
    class_sizes_sql,
    risk_of_classes,
    row_level_risk,
)
from transforms.classification import Classification, Mart


def mart_risk(mart: Mart, frame: pl.DataFrame) -> Risk:
    """The mart's figures under its declared rule (the mart must declare one)."""
    rule = mart.disclosure
    if rule is None:
        raise ValueError(f"{mart.name} declares no disclosure rule")
    if mart.aggregated:
        return aggregate_risk(frame, table=mart.name, unit=rule.unit,
                              count_column=rule.count_column or "", k=rule.k)
    return row_level_risk(frame, table=mart.name, unit=rule.unit, unit_key=rule.unit_key or "",
                          quasi_identifiers=rule.quasi_identifiers, order_by=rule.order_by,
                          k=rule.k, max_unique_share=rule.max_unique_share)


def allowed_levels(classification: Classification, column: str) -> set[str] | None:
    """Every label a pooled column may hold: its band labels, each hierarchy level's labels and
    the hierarchy's top; None if the column has no declared hierarchy (any value allowed)."""
    hierarchy = classification.hierarchies.get(column)
    if hierarchy is None or hierarchy.get("open"):
        return None
    allowed = set(hierarchy.get("levels", ()))
    band = classification.bands.get(hierarchy.get("band", column))
    if band:
        allowed |= set(band["labels"])
    for level in hierarchy.get("pool", ()):
        allowed |= set(level.keys()) if isinstance(level, dict) else {str(level)}
    return allowed


def unpooled_categories(classification: Classification, mart: Mart,
                        frame: pl.DataFrame) -> dict[str, int]:
    """Rows per pooled column whose value is no declared level of its hierarchy (counts only)."""
    rule = mart.disclosure
    out: dict[str, int] = {}
    if rule is None:
        return out
    for name in rule.pooling:
        column = classification.hierarchies[name].get("column", name)
        allowed = allowed_levels(classification, name)
        if allowed is None or column not in frame.columns:
            continue
        values = frame.get_column(column).cast(pl.String)
        out[column] = int((values.is_not_null() & ~values.is_in(sorted(allowed))).sum())
    return out


def disclosure_counts(classification: Classification, mart: Mart,
                      frame: pl.DataFrame) -> tuple[Risk | None, dict[str, int]]:
    """The mart's risk figures and the gate's counts for them (each must be 0): units unique
    beyond the declared share, and rows per pooled column outside its hierarchy."""
    if mart.disclosure is None:
        return None, {}
    risk = mart_risk(mart, frame)
    return risk, rule_counts(mart, risk, unpooled_categories(classification, mart, frame))


def rule_counts(mart: Mart, risk: Risk, unpooled: dict[str, int]) -> dict[str, int]:
    """The gate's counts (each must be 0) from the mart's figures and its unpooled rows."""
    counts: dict[str, int] = {}
    if not mart.aggregated and risk.max_unique_share is not None:
        allowed = int(risk.max_unique_share * risk.units)
        counts["unique_share"] = max(0, risk.unique_units - allowed)
    for column, n in unpooled.items():
        counts[f"unpooled_category:{column}"] = n
    return counts


def warehouse_risk(con: duckdb.DuckDBPyConnection, table: str, mart: Mart) -> Risk:
    """`mart_risk` computed by DuckDB on the table itself (`table`: a quoted, trusted name),
    for the gate, which reads a mart in batches and never holds it whole: the classes of a
    row-level mart come from a window and a group-by that DuckDB spills under its memory limit;
    an aggregate mart's cell counts are one column of a small table."""
    rule = mart.disclosure
    if rule is None:
        raise ValueError(f"{mart.name} declares no disclosure rule")
    if mart.aggregated:
        column = rule.count_column or ""
        frame = con.sql(f'select "{column}" from {table}').pl()
        return aggregate_risk(frame, table=mart.name, unit=rule.unit, count_column=column,
                              k=rule.k)
    sizes = con.sql(class_sizes_sql(table, unit_key=rule.unit_key or "",
                                    quasi_identifiers=rule.quasi_identifiers,
                                    order_by=rule.order_by)).pl().get_column("size")
    return risk_of_classes(sizes.filter(sizes > 0), table=mart.name, unit=rule.unit, k=rule.k,
                           max_unique_share=rule.max_unique_share)


def ledger_shares(ledger: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Shares of each measure that pooling moved and suppression removed, from a disclosure
    ledger (int_frequency_severity_cells, int_claim_development_segments): a measure `m` is
    pooled where `pooled_m` says so (or the row's `is_pooled`), suppressed where the row's
    `is_suppressed` is true. Shares only: the totals stay in the warehouse."""
    out: dict[str, dict[str, float]] = {}
    numeric = [c for c, t in ledger.schema.items()
               if t.is_numeric() and not c.startswith(("pooled_", "suppressed_"))]
    suppressed = ledger.get_column("is_suppressed") if "is_suppressed" in ledger.columns else None
    if suppressed is not None and ledger.height:  # rows of the ledger: cells, segments, units
        out["ledger_rows"] = {"pooled": round(float(ledger.get_column("is_pooled").sum())
                                              / ledger.height, 6)
                              if "is_pooled" in ledger.columns else 0.0,
                              "suppressed": round(float(suppressed.sum()) / ledger.height, 6)}
    for column in numeric:
        values = ledger.get_column(column).cast(pl.Float64).fill_null(0)
        total = float(values.sum())
        if column == "class_size":
            continue
        if f"pooled_{column}" in ledger.columns:
            pooled = float(ledger.get_column(f"pooled_{column}").cast(pl.Float64).fill_null(0)
                           .sum())
        elif "is_pooled" in ledger.columns:
            pooled = float(values.filter(ledger.get_column("is_pooled")).sum())
        else:
            pooled = 0.0
        if f"suppressed_{column}" in ledger.columns:  # part of a unit suppressed (early years)
            removed = float(ledger.get_column(f"suppressed_{column}").cast(pl.Float64)
                            .fill_null(0).sum())
        else:
            removed = float(values.filter(suppressed).sum()) if suppressed is not None else 0.0
        out[column] = {
            "pooled": round(pooled / total, 6) if total else 0.0,
            "suppressed": round(removed / total, 6) if total else 0.0,
        }
    return out
