"""Parse a delivery file against the classification and quarantine defective rows.

Why here, before pseudonymisation: a defect is only explainable against the raw row, and a row
that is wrong must never reach the warehouse half-right. Each quarantined row gets its reasons;
counts per reason go to the audit tables; the rows themselves stay in the landing zone's
security perimeter (data/quarantine/), never in DuckDB. No error message carries a data value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from transforms.classification import Column, Entity
from transforms.identifiers import blank_to_null, is_valid, normalise, normalise_person

REPLACEMENT_CHAR = "\ufffd"
MAX_FIELD_CHARS = 4096
ROW_INDEX = "_row"
_TRUE = ["true", "t", "1", "y", "yes"]
_FALSE = ["false", "f", "0", "n", "no"]


class DeliveryRefused(ValueError):
    """A delivery that cannot be taken at all (unknown or missing columns, bad manifest)."""


@dataclass
class ValidationResult:
    clean: pl.DataFrame  # typed, identifiers normalised, one row per accepted source row
    quarantine: pl.DataFrame  # raw string rows plus `_reasons`
    rows_read: int
    reason_counts: dict[str, int] = field(default_factory=dict)
    nullified_counts: dict[str, int] = field(default_factory=dict)


def check_header(path: Path, entity: Entity) -> None:
    """Refuse a file whose header the classification does not know, before reading a row."""
    header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    unknown = [c for c in header if c not in entity.column_names]
    missing = [c for c in entity.column_names if c not in header]
    if unknown:
        raise DeliveryRefused(
            f"{entity.system}/{entity.name}: column(s) {unknown} are not in the classification "
            "(config/classification.yml); classify them before this delivery can be loaded"
        )
    if missing:
        raise DeliveryRefused(f"{entity.system}/{entity.name}: missing column(s) {missing}")


def scan_raw(path: Path, entity: Entity) -> pl.LazyFrame:
    """Lazy scan of a delivery CSV as strings, with a `_row` index (0-based data row)."""
    check_header(path, entity)
    return pl.scan_csv(
        path, infer_schema=False, encoding="utf8-lossy",
        row_index_name=ROW_INDEX,
    ).select(ROW_INDEX, *entity.column_names)


def read_raw(path: Path, entity: Entity) -> pl.DataFrame:
    """The whole file at once (small files and tests); large files go through scan_raw."""
    return collect_safely(scan_raw(path, entity), entity)


def collect_safely(lf: pl.LazyFrame, entity: Entity) -> pl.DataFrame:
    """Collect, turning a parser error into a refusal whose message carries no data value."""
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as exc:
        raise DeliveryRefused(
            f"{entity.system}/{entity.name}: the file is not well-formed CSV "
            f"({type(exc).__name__}; e.g. a row with more fields than the header)"
        ) from None


def _key_exprs(entity: Entity) -> list[pl.Expr]:
    out = []
    for k in entity.key:
        col = entity.column(k)
        raw = blank_to_null(pl.col(k))
        out.append((normalise(col.identifier, raw) if col.identifier else raw).alias(k))
    return out


def duplicate_flags(lf: pl.LazyFrame, entity: Entity) -> pl.DataFrame:
    """Rows to quarantine for duplication, over the WHOLE file (`_row`, `reason`).

    Exact repeats of an earlier row are `duplicate_row` (the first stays); distinct rows that
    share a business key are all `duplicate_key`: which one is right cannot be told. Only the
    key columns and a 64-bit row hash are held, so this pass stays small for large files.
    """
    slim = lf.select(
        ROW_INDEX,
        pl.struct(entity.column_names).hash(seed=0).alias("_h"),
        *_key_exprs(entity),
    )
    first = pl.col("_h").is_first_distinct()
    keyed = pl.all_horizontal([pl.col(k).is_not_null() for k in entity.key])
    conflict = first & keyed & (
        (first & keyed).cast(pl.Int32).sum().over([pl.col(k) for k in entity.key]) > 1
    )
    flagged = slim.with_columns(
        pl.when(~first).then(pl.lit("duplicate_row"))
        .when(conflict).then(pl.lit("duplicate_key"))
        .alias("reason")
    ).filter(pl.col("reason").is_not_null()).select(ROW_INDEX, "reason")
    return collect_safely(flagged, entity)


def _typed(col: Column) -> pl.Expr:
    raw = blank_to_null(pl.col(col.name))
    match col.type:
        case "string":
            return raw
        case "date":
            return raw.str.to_date("%Y-%m-%d", strict=False)
        case "decimal":
            return raw.cast(pl.Decimal(18, 2), strict=False)
        case "integer":
            return raw.cast(pl.Int64, strict=False)
        case "boolean":
            low = raw.str.to_lowercase()
            return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    raise ValueError(f"unknown type {col.type}")


def _check(col: Column, check: object, delivery_date: date) -> tuple[str, pl.Expr]:
    """(reason, expression true where the row fails the check)."""
    v = pl.col(col.name)
    if check == "non_negative":
        return f"negative:{col.name}", v < 0
    if check == "not_future":
        return f"future_date:{col.name}", v > pl.lit(delivery_date)
    if check == "non_negative_payment":
        return f"negative_payment:{col.name}", (pl.col("transaction_type") == "payment") & (v < 0)
    if isinstance(check, dict) and "one_of" in check:
        return f"unexpected_value:{col.name}", ~v.is_in(list(check["one_of"]))
    raise ValueError(f"unknown check {check!r} on {col.name}")


def validate(
    raw: pl.DataFrame, entity: Entity, delivery_date: date, flags: pl.DataFrame | None = None
) -> ValidationResult:
    """Type, normalise and check every row; split accepted rows from quarantined ones.

    `flags` are the whole-file duplicate flags (duplicate_flags); when absent, duplicates are
    looked for within `raw` itself.
    """
    if ROW_INDEX not in raw.columns:
        raw = raw.with_row_index(ROW_INDEX)
    if flags is None:
        flags = duplicate_flags(raw.lazy(), entity)
    raw = raw.join(flags.rename({"reason": "_dup"}), on=ROW_INDEX, how="left",
                   maintain_order="left")
    n = raw.height
    country = pl.col("country") if "country" in entity.column_names else None
    typed_exprs: list[pl.Expr] = []
    reason_exprs: list[pl.Expr] = []
    nullify: dict[str, pl.Expr] = {}

    def reason(name: str, failed: pl.Expr) -> None:
        reason_exprs.append(pl.when(failed.fill_null(False)).then(pl.lit(name)))

    # whole-row defects
    any_replacement = pl.any_horizontal(
        [pl.col(c).str.contains(REPLACEMENT_CHAR, literal=True) for c in entity.column_names]
    )
    reason("invalid_utf8", any_replacement)
    reason("duplicate_row", pl.col("_dup") == "duplicate_row")
    reason("duplicate_key", pl.col("_dup") == "duplicate_key")

    for col in entity.columns:
        raw_val = blank_to_null(pl.col(col.name))
        typed = _typed(col)
        if col.identifier:
            normalised = normalise(col.identifier, typed, country)
            valid = is_valid(col.identifier, normalised)
            too_long = raw_val.str.len_chars() > MAX_FIELD_CHARS
            invalid = normalised.is_not_null() & (~valid.fill_null(False) | too_long)
            if col.on_invalid == "quarantine":
                reason(f"invalid:{col.name}", invalid)
            else:
                nullify[col.name] = invalid
                normalised = pl.when(invalid).then(None).otherwise(normalised)
            typed = normalised
        if col.required:
            reason(f"missing:{col.name}", raw_val.is_null())
        if col.type != "string":
            reason(f"bad_type:{col.name}", raw_val.is_not_null() & typed.is_null())
        typed_exprs.append(typed.alias(col.name))

    checked = raw.with_columns(
        pl.concat_list(reason_exprs).list.drop_nulls().alias("_reasons"),
        *(e.alias(f"_nullified:{c}") for c, e in nullify.items()),
    )
    typed_frame = checked.select(*typed_exprs, "_reasons", pl.col(r"^_nullified:.*$"))
    # value checks run on typed values
    check_exprs = []
    for col in entity.columns:
        for chk in col.checks:
            name, failed = _check(col, chk, delivery_date)
            check_exprs.append(pl.when(failed.fill_null(False)).then(pl.lit(name)))
    if check_exprs:
        typed_frame = typed_frame.with_columns(
            pl.concat_list([pl.col("_reasons"), pl.concat_list(check_exprs).list.drop_nulls()])
            .alias("_reasons")
        )
    bad = typed_frame["_reasons"].list.len() > 0
    reasons = typed_frame.filter(bad)["_reasons"].explode().value_counts()
    reason_counts = {r: int(c) for r, c in reasons.iter_rows()} if reasons.height else {}
    nullified_counts = {
        c.split(":", 1)[1]: int(typed_frame.filter(~bad)[c].sum())
        for c in typed_frame.columns
        if c.startswith("_nullified:")
    }
    quarantine = raw.filter(bad).drop("_dup").with_columns(
        typed_frame.filter(bad)["_reasons"].list.join(";").alias("_reasons")
    )
    clean = typed_frame.filter(~bad).select(entity.column_names)
    return ValidationResult(
        clean=clean,
        quarantine=quarantine,
        rows_read=n,
        reason_counts=reason_counts,
        nullified_counts={k: v for k, v in nullified_counts.items() if v},
    )


def person_expr(sources: tuple[str, ...]) -> pl.Expr:
    """Normalised composite person identifier from (surname, first_name, date_of_birth)."""
    surname, first_name, dob = (pl.col(s) for s in sources)
    return normalise_person(surname, first_name, dob)
