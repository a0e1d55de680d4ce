"""Disclosure risk of a published table: k-anonymity, sample uniqueness, prosecutor risk.

Why a module of its own: the gate enforces these figures, the privacy report shows them and
`bench/disclosure.py` prints them, and all three must compute exactly the same numbers (an
independent check with pycanon lives in the tests). Everything here returns counts and shares
only, never a value of the table.

Two kinds of table (declared per mart in the classification's `disclosure:` block):
- aggregate: each row is a cell; its count column holds the distinct units behind it. The
  smallest non-empty cell must count at least k.
- row-level: each unit (a contract, a customer) may span several rows (one per period); the
  intruder is assumed to know the quasi-identifiers of the unit's first row (smallest values of
  the `order_by` columns), which include the dates and exposure that reveal when its cover
  started. An equivalence class is a set of units sharing those values; a unit in a class of
  size 1 is unique, its prosecutor risk is 1 / class size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import polars as pl

from transforms.checksums import quote_identifier


@dataclass(frozen=True)
class Risk:
    """Figures for one table (counts and shares only)."""

    table: str
    kind: str  # aggregate | row_level
    unit: str
    k: int
    units: int = 0  # rows (aggregate: non-empty cells' units summed) or distinct units
    cells: int = 0  # aggregate: non-empty cells; row-level: equivalence classes
    smallest: int | None = None  # smallest non-empty cell / class
    cells_below_k: int = 0
    records_below_k: int = 0  # units in cells/classes below k
    unique_units: int = 0  # row-level: units alone in their class; aggregate: cells of 1
    share_unique: float = 0.0
    average_risk: float = 0.0  # mean over units of 1 / class size
    highest_risk: float = 0.0  # 1 / smallest
    max_unique_share: float | None = None
    cell_sizes: list[int] = field(default_factory=list)  # histogram input for the report

    @property
    def passed(self) -> bool:
        if self.kind == "aggregate":
            return self.smallest is None or self.smallest >= self.k
        # row-level: classes of 1 are expected in any micro-data; their share is the rule
        return self.max_unique_share is None or self.share_unique <= self.max_unique_share

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("cell_sizes")
        out["passed"] = self.passed
        return out


def _size_figures(sizes: pl.Series, units: int) -> dict[str, object]:
    """Figures from a series of class sizes (one entry per class, each >= 1)."""
    if sizes.len() == 0:
        return {"smallest": None, "average_risk": 0.0, "highest_risk": 0.0}
    smallest = int(sizes.min())  # type: ignore[arg-type]
    # each unit of a class of size s has risk 1/s; a class contributes s * 1/s = 1
    return {
        "smallest": smallest,
        "average_risk": round(sizes.len() / units, 6) if units else 0.0,
        "highest_risk": round(1 / smallest, 6),
    }


def aggregate_risk(frame: pl.DataFrame, *, table: str, unit: str, count_column: str,
                   k: int) -> Risk:
    """Risk of an aggregate mart: every row is a cell, `count_column` its distinct units.

    Cells counting 0 units (a full triangle's empty cells) disclose nobody and are not cells.
    A null count is treated as a cell of 0 units and must be caught by the gate's not-null rule.
    """
    sizes = frame.get_column(count_column).drop_nulls().cast(pl.Int64)
    sizes = sizes.filter(sizes > 0)
    units = int(sizes.sum()) if sizes.len() else 0
    below = sizes.filter(sizes < k)
    return Risk(
        table=table, kind="aggregate", unit=unit, k=k, units=units, cells=sizes.len(),
        cells_below_k=below.len(), records_below_k=int(below.sum()) if below.len() else 0,
        unique_units=int((sizes == 1).sum()),
        share_unique=round(float((sizes == 1).sum()) / sizes.len(), 6) if sizes.len() else 0.0,
        cell_sizes=sorted(sizes.to_list()),
        **_size_figures(sizes, units),  # type: ignore[arg-type]
    )


def unit_signatures(frame: pl.DataFrame, *, unit_key: str, quasi_identifiers: Sequence[str],
                    order_by: Sequence[str] = ()) -> pl.DataFrame:
    """One row per unit: the quasi-identifiers of its first row (by `order_by`).

    The unit key comes back as a dense code (UInt32, one per distinct key), not the key: the
    figures need units told apart, not named. Why: the sort copies the columns it orders, and
    a 64-character pseudonym on each of a 2M-row mart's rows made that copy the gate's peak.
    """
    qis = list(quasi_identifiers)
    ordered = frame.select(pl.col(unit_key).rank("dense").alias(unit_key),
                           *dict.fromkeys([*order_by, *qis]))
    if order_by:
        ordered = ordered.sort([*order_by, unit_key], nulls_last=True)
    return ordered.group_by(unit_key, maintain_order=True).first().select([unit_key, *qis])


def class_sizes(signatures: pl.DataFrame, quasi_identifiers: Sequence[str]) -> pl.Series:
    """Size of every equivalence class (units sharing all quasi-identifier values)."""
    if not quasi_identifiers:
        return pl.Series("size", [signatures.height] if signatures.height else [], pl.Int64)
    return (signatures.group_by(list(quasi_identifiers)).len()
            .get_column("len").cast(pl.Int64).alias("size"))


def row_level_risk(frame: pl.DataFrame, *, table: str, unit: str, unit_key: str,
                   quasi_identifiers: Sequence[str], order_by: Sequence[str] = (), k: int,
                   max_unique_share: float | None) -> Risk:
    """Risk of a row-level mart on its declared quasi-identifiers, per unit."""
    signatures = unit_signatures(frame, unit_key=unit_key, quasi_identifiers=quasi_identifiers,
                                 order_by=order_by)
    return risk_of_classes(class_sizes(signatures, quasi_identifiers), table=table, unit=unit,
                           k=k, max_unique_share=max_unique_share)


def class_sizes_sql(table: str, *, unit_key: str, quasi_identifiers: Sequence[str],
                    order_by: Sequence[str] = ()) -> str:
    """The SQL of `class_sizes(unit_signatures(...))` on a DuckDB table (one row per class, its
    size in `size`), for a mart too large to hold: DuckDB's window and aggregate spill under its
    memory limit. Same rule as `unit_signatures`: a unit's first row by `order_by`, nulls last
    (ties broken by the quasi-identifiers, where polars' stable sort keeps table order: equal
    figures whenever tied rows agree on them). `table` is a quoted, trusted name."""
    qis = [quote_identifier(c) for c in quasi_identifiers]
    key = quote_identifier(unit_key)
    order = ", ".join([*(f"{quote_identifier(c)} asc nulls last" for c in order_by),
                       *(f"{q} asc nulls last" for q in qis)]) or key
    first = (f"select {', '.join(qis) or '1 as one'} from (select *, row_number() over "
             f"(partition by {key} order by {order}) as _rank from {table}) where _rank = 1")
    group = f" group by {', '.join(qis)}" if qis else ""
    return f"select count(*)::bigint as size from ({first}){group}"


def risk_of_classes(sizes: pl.Series, *, table: str, unit: str, k: int,
                    max_unique_share: float | None) -> Risk:
    """Row-level figures from the equivalence classes' sizes (one entry per class)."""
    units = int(sizes.sum()) if sizes.len() else 0
    below = sizes.filter(sizes < k)
    unique = int((sizes == 1).sum())
    return Risk(
        table=table, kind="row_level", unit=unit, k=k, units=units, cells=sizes.len(),
        cells_below_k=below.len(), records_below_k=int(below.sum()) if below.len() else 0,
        unique_units=unique, share_unique=round(unique / units, 6) if units else 0.0,
        max_unique_share=max_unique_share, cell_sizes=sorted(sizes.to_list()),
        **_size_figures(sizes, units),  # type: ignore[arg-type]
    )


def histogram(sizes: Sequence[int], k: int) -> list[tuple[str, int]]:
    """Cells per size bucket (1, 2-4, 5-9 i.e. below k, then k-19, 20-49, 50-99, 100+)."""
    edges = sorted({1, 2, 5, k, 2 * k, 50, 100})
    labels = []
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        labels.append((lo, hi, f"{lo}" if hi == lo + 1 else (f"{lo}-{hi - 1}" if hi else f"{lo}+")))
    out = []
    for lo, hi, label in labels:
        out.append((label, sum(1 for s in sizes if s >= lo and (hi is None or s < hi))))
    return out
