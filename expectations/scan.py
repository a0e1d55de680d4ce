"""Count-only privacy scans of one mart, in polars: identifiers, known values, foreign pseudonyms.

Why here and not as row-level GX expectations: these checks need the validators of
transforms/privacy/identifiers.py (check digits, mod 97, Luhn) and sets of values (the run's raw
identifiers, the other domains' pseudonyms) that must never be written into an expectation
suite, where GX would store and render them. So the counting happens here, on the distinct
values of each column weighted by their row counts, and only the counts go to Great
Expectations (expectations/suites.py), which records and renders them as validation results.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import polars as pl

from expectations.detectors import DETECTORS, LABELS, detect
from expectations.findings import Rule
from expectations.known_values import KnownValues
from expectations.pseudonyms import PSEUDONYM_REGEX, PseudonymMatcher
from transforms.classification import Classification, Mart
from transforms.classification import load as load_classification
from transforms.privacy import identifiers as ids
from transforms.privacy.keys import KEY_VERSION_REGEX

_STRING_TYPES = (pl.String, pl.Categorical, pl.Enum)
# A mart number with more integer digits than this is of no plausible order of magnitude: a
# whole book's incurred total in pence stays below 10^11; a card number has 13-19 digits.
MAX_DIGITS = 11
NUMBER_KINDS: dict[str, str] = {
    "card": "payment card numbers (Luhn, 13-19 digits)",
    "phone": "UK or French phone numbers (with or without the country code)",
    "known_value": "raw identifier values of this run's deliveries",
    "magnitude": f"numbers of more than {MAX_DIGITS} integer digits",
}


# the metadata column naming the key version of a mart's pseudonyms (classification: metadata)
KEY_VERSION_COLUMN = "key_version"


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


def allowed_values(mart: Mart, classification: Classification) -> dict[str, set[str]]:
    """Mart column -> the values the classification allows for it.

    A mart column named like a source field that the mart's purpose keeps as it is, and whose
    values the classification closes (`one_of`), may only hold those values (plus `other` where
    unknown values are mapped to it). Why at the gate too: a value that is not allowed can only
    have come from outside the allow-list (a mart bug, a value split over rows), and the gate
    is the last place to see it.
    """
    allowed: dict[str, set[str]] = {}
    for entity in classification.entities:
        for col in entity.columns:
            t = col.treatment_for(mart.purpose)
            if t is None or t.verb != "keep" or t.output not in mart.column_names:
                continue
            values = col.allowed_values()
            if values is not None:
                allowed.setdefault(t.output, set()).update(values)
    return allowed


def _split_texts(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """(col, v, n): the text of each pair of adjacent text columns of a row, joined without and
    with a space, with the pair's row count; `col` names the pair as `a+b`."""
    parts = []
    for a, b in zip(columns, columns[1:], strict=False):
        pairs = frame.select(pl.col(a).cast(pl.String), pl.col(b).cast(pl.String)).drop_nulls()
        counted = pairs.group_by(a, b).len(name="n")
        for sep in ("", " "):
            parts.append(counted.select(
                pl.lit(f"{a}+{b}").alias("col"),
                pl.concat_str([pl.col(a), pl.col(b)], separator=sep).alias("v"),
                pl.col("n").cast(pl.Int64)))
    schema = {"col": pl.String, "v": pl.String, "n": pl.Int64}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _number_digits(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """(col, d, n): the integer digits (no sign) of each distinct number of the numeric columns.

    Why the integer part only: a card or phone number booked as an amount keeps its digits
    before the decimal point (`4111111111111111.00`); the cents add nothing to find.
    """
    parts = []
    for c in columns:
        s = frame.get_column(c).drop_nulls()
        if s.dtype.is_float():
            s = s.filter(s.is_finite()).cast(pl.Int64, strict=False).drop_nulls()
        text = s.cast(pl.String).str.replace(r"^-", "").str.replace(r"\..*$", "")
        parts.append(text.rename("d").value_counts(name="n").select(
            pl.lit(c).alias("col"), "d", pl.col("n").cast(pl.Int64)))
    schema = {"col": pl.String, "d": pl.String, "n": pl.Int64}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _number_flags(numbers: pl.DataFrame, known_hits: pl.Series | None) -> pl.DataFrame:
    """One boolean column per way a number can be an identifier (see NUMBER_KINDS);
    `known_hits` says which of them are delivered values (KnownValues.matches)."""
    d = pl.col("d")
    national = pl.lit("0") + d
    phone = (
        ids.is_valid("phone", pl.lit("+") + d)
        | ids.is_valid("phone", ids.normalise("phone", national, pl.lit("GB")))
        | ids.is_valid("phone", ids.normalise("phone", national, pl.lit("FR")))
    )
    flags = numbers.with_columns(
        card=ids.is_valid("card", d).fill_null(False),
        phone=phone.fill_null(False),
        magnitude=d.str.len_chars() >= MAX_DIGITS + 1,
    )
    if known_hits is None:
        known_hits = pl.Series([False] * numbers.height, dtype=pl.Boolean)
    return flags.with_columns(known_value=known_hits)


def _known_hits(known: KnownValues, *series: pl.Series) -> list[pl.Series]:
    """known.matches over several series in one pass (each pass joins against every delivered
    fingerprint), split back into one result per series."""
    together = pl.concat([s.cast(pl.String).rename("v") for s in series])
    hits = known.matches(together)
    out, at = [], 0
    for s in series:
        out.append(hits.slice(at, s.len()))
        at += s.len()
    return out


@dataclass
class Observed:
    """What the scans need from a mart's rows, without the rows: per column its distinct values
    with their row counts, the adjacent text pairs, the integer digits of numbers, and the rows
    holding another domain's pseudonym. Observed batch by batch (`observe`) and summed
    (`combine`), so the gate reads a mart of any size in bounded memory; the detection and the
    known-value join then run once on the distinct values (`scan_counts`).

    Well-formed pseudonyms and key versions are dropped as they are observed (they are exempt
    from the pattern and known-value scans, see `scan_table`): they are most of a row-level
    mart's distinct values, and the foreign-pseudonym matching has already counted them.
    """

    columns: list[str]
    numeric: list[str]
    values: pl.DataFrame  # (col, v, n) the values the pattern and known-value scans read
    split: pl.DataFrame  # (col, v, n) adjacent text pairs, joined without and with a space
    digits: pl.DataFrame  # (col, d, n) integer digits of the numeric columns
    foreign: dict[str, int] | None  # column -> rows holding a foreign pseudonym; None: not run


def observe(frame: pl.DataFrame, mart: Mart, *, foreign: PseudonymMatcher | None) -> Observed:
    """One batch of a mart's rows, observed for the scans (see Observed)."""
    columns = string_columns(frame)
    pseudonyms = [c.name for c in mart.columns if c.cls == "pseudonym"]
    values = _distinct_values(frame, columns)
    counted: dict[str, int] | None = None
    if foreign is not None:
        hits = values.filter(foreign.matches(values["v"])).group_by("col").agg(pl.col("n").sum())
        counted = {c: 0 for c in columns} | {str(c): int(n) for c, n in hits.iter_rows()}
    exempt = pl.col("col").is_in(pseudonyms) & pl.col("v").str.contains(PSEUDONYM_REGEX)
    formatted = list(pseudonyms)  # held to a format by the suite: exempt when well-formed
    if KEY_VERSION_COLUMN in mart.column_names:
        formatted.append(KEY_VERSION_COLUMN)
        exempt = exempt | ((pl.col("col") == KEY_VERSION_COLUMN)
                           & pl.col("v").str.contains(KEY_VERSION_REGEX))
    numeric = [n for n, t in frame.schema.items() if t.is_numeric()]
    return Observed(columns=columns, numeric=numeric, values=values.filter(~exempt),
                    split=_split_texts(frame, [c for c in columns if c not in formatted]),
                    digits=_number_digits(frame, numeric), foreign=counted)


def _summed(frames: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    if len(frames) == 1:
        return frames[0]
    return pl.concat(frames).group_by(keys, maintain_order=True).agg(pl.col("n").sum())


def combine(parts: list[Observed]) -> Observed:
    """Several batches' observations of the same mart as one (counts summed per value)."""
    if len(parts) == 1:
        return parts[0]
    foreign: dict[str, int] | None = None
    if parts[0].foreign is not None:
        foreign = {}
        for p in parts:
            for c, n in (p.foreign or {}).items():
                foreign[c] = foreign.get(c, 0) + n
    return Observed(
        columns=parts[0].columns, numeric=parts[0].numeric,
        values=_summed([p.values for p in parts], ["col", "v"]),
        split=_summed([p.split for p in parts], ["col", "v"]),
        digits=_summed([p.digits for p in parts], ["col", "d"]),
        foreign=foreign,
    )


def scan_table(
    frame: pl.DataFrame,
    mart: Mart,
    *,
    known: KnownValues | None,
    foreign: PseudonymMatcher | None,
    classification: Classification | None = None,
) -> list[ScanCount]:
    """Every count-only check of every column of the table as found (classified or not).

    A pseudonym column is exempt from the pattern and known-value scans for its well-formed
    values only: 64 hex characters can hold no identifier, and scanning millions of them for
    substrings would cost time and produce chance matches. So is the key_version column for
    values of the key-version format (KEY_VERSION_REGEX: twelve hex characters that may all be
    digits, which a French licence number matches). Anything else in them is scanned; the suite
    holds both columns to their format (suites.py). The other text columns are scanned one by
    one and by adjacent pairs (a value split over two columns);
    numeric columns for identifiers written as numbers; dimension columns that the
    classification closes against their allowed values.
    """
    return scan_counts(observe(frame, mart, foreign=foreign), mart, known=known,
                       classification=classification)


def scan_counts(observed: Observed, mart: Mart, *, known: KnownValues | None,
                classification: Classification | None = None) -> list[ScanCount]:
    """The scans' counts from a mart's observations (scan_table, or the gate's batches)."""
    classification = classification or load_classification()
    columns = observed.columns
    scanned, split = observed.values, observed.split
    flags = detect(scanned["v"])
    split_flags = detect(split["v"], compacted=False)
    kinds = [d.kind for d in DETECTORS]
    scanned = scanned.with_columns(
        [flags[k].alias(f"kind:{k}") for k in kinds],
        any=pl.any_horizontal([flags[k] for k in kinds]) if kinds else pl.lit(False),
    )
    split = split.with_columns(any=pl.any_horizontal([split_flags[k] for k in kinds]))
    numeric = observed.numeric
    digits = observed.digits
    number_known = None
    if known is not None:
        in_scanned, in_split, number_known = _known_hits(
            known, scanned["v"], split["v"], digits["d"])
        scanned = scanned.with_columns(known=in_scanned)
        split = split.with_columns(any=pl.col("any") | in_split)
    allowed = allowed_values(mart, classification)
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
        if observed.foreign is not None:
            out.append(ScanCount(Rule.FOREIGN_PSEUDONYM, c, observed.foreign.get(c, 0),
                                 "pseudonyms of another purpose's domain"))
        if c in allowed:
            unexpected = mine.filter(~pl.col("v").is_in(sorted(allowed[c])))["n"].sum()
            out.append(ScanCount(Rule.NOT_ALLOWED, c, int(unexpected),
                                 f"values outside the {len(allowed[c])} allowed ones"))
    pair_hits = split.filter("any").group_by("col").agg(pl.col("n").sum())
    out.append(ScanCount(
        Rule.SPLIT_IDENTIFIER, "(adjacent pairs)", int(pair_hits["n"].sum()),
        "identifiers or delivered values made by joining two adjacent text columns",
        {str(c): int(n) for c, n in pair_hits.iter_rows()},
    ))
    numbers = _number_flags(digits, number_known)
    for c in numeric:
        mine = numbers.filter(pl.col("col") == c)
        weighted = {k: int(mine.filter(pl.col(k))["n"].sum()) for k in NUMBER_KINDS}
        any_hit = mine.filter(pl.any_horizontal([pl.col(k) for k in NUMBER_KINDS]))
        out.append(ScanCount(
            Rule.NUMBER, c, int(any_hit["n"].sum()),
            "numbers that are " + ", ".join(NUMBER_KINDS.values()),
            {k: n for k, n in weighted.items() if n},
        ))
    return out


def identifier_like_names(names: list[str], known: KnownValues | None,
                          declared: Collection[str] = ()) -> set[str]:
    """Column names that are themselves identifiers (a pivot on a raw value, say).

    The gate then refers to such a column by position only, so that its name, which is a
    value, reaches no result, log line or Data Docs page. Every name goes through the
    detectors; only the names the classification does not declare (`declared`: the mart's
    allowed columns, words of the published classification, not of a delivery) are looked up
    among the delivered values, which joins against every fingerprint (0.6 s a mart at 1M
    contracts, for names that are the schema's own).
    """
    if not names:
        return set()
    series = pl.Series("v", names, dtype=pl.String)
    hit_series = detect(series).select(pl.any_horizontal(pl.all()).alias("h"))["h"]
    declared = set(declared)
    undeclared = [n for n in names if n not in declared]
    if known is not None and undeclared:
        found = known.matches(pl.Series("v", undeclared, dtype=pl.String))
        delivered = {n for n, h in zip(undeclared, found.to_list(), strict=True) if h}
        hit_series = hit_series | series.is_in(sorted(delivered))
    return {n for n, h in zip(names, hit_series.to_list(), strict=True) if h}
