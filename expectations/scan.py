"""Count-only privacy scans of one mart, in polars: identifiers, known values, foreign pseudonyms.

Why here and not as row-level GX expectations: these checks need the validators of
transforms/identifiers.py (check digits, mod 97, Luhn) and sets of values (the run's raw
identifiers, the other domains' pseudonyms) that must never be written into an expectation
suite, where GX would store and render them. So the counting happens here, on the distinct
values of each column weighted by their row counts, and only the counts go to Great
Expectations (expectations/suites.py), which records and renders them as validation results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from expectations.detectors import DETECTORS, LABELS, detect
from expectations.findings import Rule
from expectations.known_values import KnownValues
from expectations.pseudonyms import PSEUDONYM_REGEX
from transforms.classification import Mart

_STRING_TYPES = (pl.String, pl.Categorical, pl.Enum)


@dataclass(frozen=True)
class ScanCount:
    """Rows of `column` that broke `rule`; `label` says what was looked for. For
    identifier_pattern, `kinds` splits the count by identifier kind (kinds found only)."""

    rule: Rule
    column: str
    count: int
    label: str
    kinds: dict[str, int] = field(default_factory=dict)


def string_columns(frame: pl.DataFrame) -> list[str]:
    return [n for n, t in frame.schema.items() if isinstance(t, _STRING_TYPES)]


def _distinct_values(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """(col, v, n): each column's distinct non-null values with their row counts, stacked so
    that one detection pass covers the whole table."""
    parts = [
        frame.get_column(c).cast(pl.String).rename("v").drop_nulls().value_counts(name="n")
        .select(pl.lit(c).alias("col"), "v", pl.col("n").cast(pl.Int64))
        for c in columns
    ]
    schema = {"col": pl.String, "v": pl.String, "n": pl.Int64}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _in_foreign(values: pl.Series, foreign: pl.Series) -> pl.Series:
    """values.is_in(foreign), by 64-bit hashes first (cheap to set up over millions of
    pseudonyms), confirmed on the strings for the few hash hits."""
    seed = 20261127
    maybe = values.hash(seed).is_in(foreign.hash(seed).implode())
    if not maybe.any():
        return maybe
    exact = values.filter(maybe).is_in(foreign.implode())
    return maybe.scatter(maybe.arg_true(), exact)


def scan_table(
    frame: pl.DataFrame,
    mart: Mart,
    *,
    known: KnownValues | None,
    foreign: pl.Series | None,
) -> list[ScanCount]:
    """Every count-only check of every string column of the table as found (classified or not).

    A pseudonym column is exempt from the pattern and known-value scans for its well-formed
    values only: 64 hex characters can hold no identifier, and scanning millions of them for
    substrings would cost time and produce chance matches. Anything else in it is scanned.
    """
    columns = string_columns(frame)
    pseudonyms = [c.name for c in mart.columns if c.cls == "pseudonym"]
    values = _distinct_values(frame, columns)
    exempt = pl.col("col").is_in(pseudonyms) & pl.col("v").str.contains(PSEUDONYM_REGEX)
    scanned = values.filter(~exempt)
    flags = detect(scanned["v"])
    kinds = [d.kind for d in DETECTORS]
    scanned = scanned.with_columns(
        [flags[k].alias(f"kind:{k}") for k in kinds],
        any=pl.any_horizontal([flags[k] for k in kinds]) if kinds else pl.lit(False),
    )
    if known is not None:
        scanned = scanned.with_columns(known=known.matches(scanned["v"]))
    if foreign is not None:
        values = values.with_columns(foreign=_in_foreign(values["v"], foreign))
    out: list[ScanCount] = []
    for c in columns:
        mine = scanned.filter(pl.col("col") == c)
        weighted = {k: int(mine.filter(pl.col(f"kind:{k}"))["n"].sum()) for k in kinds}
        out.append(ScanCount(
            Rule.IDENTIFIER, c, int(mine.filter("any")["n"].sum()),
            "valid direct identifiers (" + ", ".join(LABELS[k] for k in kinds) + ")",
            {k: n for k, n in weighted.items() if n},
        ))
        if known is not None:
            out.append(ScanCount(Rule.KNOWN_VALUE, c, int(mine.filter("known")["n"].sum()),
                                 "raw identifier values of this run's deliveries"))
        if foreign is not None:
            hits = values.filter((pl.col("col") == c) & pl.col("foreign"))["n"].sum()
            out.append(ScanCount(Rule.FOREIGN_PSEUDONYM, c, int(hits),
                                 "pseudonyms of another purpose's domain"))
    return out


def identifier_like_names(names: list[str], known: KnownValues | None) -> set[str]:
    """Column names that are themselves identifiers (a pivot on a raw value, say).

    The gate then refers to such a column by position only, so that its name, which is a
    value, reaches no result, log line or Data Docs page.
    """
    if not names:
        return set()
    series = pl.Series("v", names, dtype=pl.String)
    hit_series = detect(series).select(pl.any_horizontal(pl.all()).alias("h"))["h"]
    if known is not None:
        hit_series = hit_series | known.matches(series)
    return {n for n, h in zip(names, hit_series.to_list(), strict=True) if h}
