"""Generalisation rules for quasi-identifiers, each named in the classification file.

Why: pseudonymised data is still personal data (EDPB 01/2025); a date of birth, a full postcode
or an exact mileage can single a person out when combined. Each rule coarsens a value to what
the purpose needs (an age band, a postcode area, a month) and nothing finer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import polars as pl

from transforms.classification import load as load_classification


def declared_bands(name: str) -> tuple[tuple[float, str], ...]:
    """(lower edge, label) pairs of a band declared in the classification's `bands:` section:
    the edges are documented there once, and their labels sort as text in edge order."""
    spec = load_classification().bands[name]
    return tuple(zip(spec["edges"], spec["labels"], strict=True))


DRIVER_AGE_BANDS = declared_bands("driver_age_band")
VEHICLE_AGE_BANDS = declared_bands("vehicle_age_band")
MILEAGE_BANDS = declared_bands("mileage_band")

# Makes common enough in a UK/French book to be published as themselves; others pool to "other".
COMMON_MAKES = frozenset({
    "audi", "bmw", "citroen", "dacia", "fiat", "ford", "honda", "hyundai", "jaguar", "kia",
    "land rover", "mazda", "mercedes-benz", "mini", "mitsubishi", "nissan", "peugeot", "renault",
    "seat", "skoda", "suzuki", "tesla", "toyota", "vauxhall", "volkswagen", "volvo", "opel",
})


def band(value: pl.Expr, bands: Sequence[tuple[float, str]]) -> pl.Expr:
    """Label of the last band whose lower edge is <= value; null below the first edge."""
    expr = pl.lit(None, dtype=pl.String)
    for lower, label in bands:
        expr = pl.when(value >= lower).then(pl.lit(label)).otherwise(expr)
    return pl.when(value.is_null()).then(None).otherwise(expr)


def whole_years_between(earlier: pl.Expr, later: pl.Expr) -> pl.Expr:
    """Completed years from `earlier` to `later` (an age on a date)."""
    before_birthday = (later.dt.month().cast(pl.Int32) * 100 + later.dt.day().cast(pl.Int32)) < (
        earlier.dt.month().cast(pl.Int32) * 100 + earlier.dt.day().cast(pl.Int32)
    )
    return (
        later.dt.year().cast(pl.Int32)
        - earlier.dt.year().cast(pl.Int32)
        - before_birthday.cast(pl.Int32)
    )


def _reference(params: dict[str, Any], delivery_date: date) -> pl.Expr:
    ref = params.get("reference")
    return pl.col(ref) if ref else pl.lit(delivery_date)


def age_band(value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    return band(whole_years_between(value, _reference(params, delivery_date)), DRIVER_AGE_BANDS)


def vehicle_age_band(value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    age = whole_years_between(value, _reference(params, delivery_date))
    return band(pl.max_horizontal(age, pl.lit(0)), VEHICLE_AGE_BANDS)


def mileage_band(value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    return band(value, MILEAGE_BANDS)


def month(value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    return value.dt.truncate("1mo")


def make_group(value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    folded = value.str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")
    folded = folded.str.replace_all("ë", "e").str.replace_all("é", "e").str.replace("mercedes$",
                                                                                   "mercedes-benz")
    return (
        pl.when(folded.is_null()).then(None)
        .when(folded.is_in(sorted(COMMON_MAKES))).then(folded)
        .otherwise(pl.lit("other"))
    )


def postcode_region(value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    """UK: the postcode area (`SW1A 1AA` -> `GB-SW`); France: the departement (`69003` -> `FR-69`,
    overseas `97411` -> `FR-974`). Anything else is null, never the raw value."""
    country = pl.col(params.get("country", "country")).str.to_uppercase()
    pc = value.str.to_uppercase().str.replace_all(r"\s", "")
    uk_area = pc.str.extract(r"^([A-Z]{1,2})[0-9]", 1)
    fr_dept = (
        pl.when(pc.str.starts_with("97")).then(pc.str.slice(0, 3)).otherwise(pc.str.slice(0, 2))
    )
    fr_ok = pc.str.contains(r"^[0-9]{5}$")
    return (
        pl.when((country == "GB") & uk_area.is_not_null()).then(pl.lit("GB-") + uk_area)
        .when((country == "FR") & fr_ok).then(pl.lit("FR-") + fr_dept)
        .otherwise(None)
    )


Rule = Callable[[pl.Expr, dict[str, Any], date], pl.Expr]
RULES: dict[str, Rule] = {
    "age_band": age_band,
    "vehicle_age_band": vehicle_age_band,
    "mileage_band": mileage_band,
    "month": month,
    "make_group": make_group,
    "postcode_region": postcode_region,
}


def generalise(rule: str, value: pl.Expr, params: dict[str, Any], delivery_date: date) -> pl.Expr:
    try:
        fn = RULES[rule]
    except KeyError:
        raise ValueError(f"unknown generalisation rule {rule!r}") from None
    return fn(value, params, delivery_date)
