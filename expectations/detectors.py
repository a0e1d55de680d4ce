r"""Find direct identifiers in string values: extract candidates by pattern, then validate them.

Why two steps: a shape alone raises false alarms (any 17-character code looks like a VIN, any
22-character code like an IBAN), and a gate that blocks publications for nothing teaches people
to bypass it. Each candidate that a pattern extracts, also from inside free text, is normalised
and validated with the transforms' own rules (transforms/privacy/identifiers.py: VIN check
digit, IBAN mod 97, Luhn, the UK and French numbering plans, postcode, plate, licence and NINO
formats), so that a look-alike passes and a real identifier does not.

The patterns run in polars (Rust regex): no look-around, so word boundaries are `\b` and the
trimming of over-long candidates happens after extraction. Everything here works on the distinct
values of a column, weighted by their counts, so a million-row mart with a few hundred distinct
dimension values costs a few hundred scans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from transforms.privacy import identifiers as ids
from transforms.privacy import text_fold

Validator = Callable[[pl.Expr], pl.Expr]


@dataclass(frozen=True)
class Detector:
    """One identifier kind: how to find candidates in text and how to tell a real one."""

    kind: str
    label: str
    patterns: tuple[str, ...]
    valid: Validator
    keep_underscores: bool = False  # `_` is a word character: split on it unless it can belong
    trim_tokens: int = 0  # also try the candidate without up to n trailing space-separated tokens


def _valid(kind: str) -> Validator:
    return lambda c: ids.is_valid(kind, ids.normalise(kind, c))


def _phone_valid(c: pl.Expr) -> pl.Expr:
    # A national number (leading 0) carries no country: it is a phone number if it is valid
    # under either plan.
    return ids.is_valid("phone", ids.normalise("phone", c, pl.lit("GB"))) | ids.is_valid(
        "phone", ids.normalise("phone", c, pl.lit("FR"))
    )


def _fr_postcode_valid(c: pl.Expr) -> pl.Expr:
    digits = c.str.replace_all(r"[^0-9]", "").str.slice(0, 5)
    return digits.str.contains(ids.FR_POSTCODE)


def _uk_postcode_valid(c: pl.Expr) -> pl.Expr:
    return ids.normalise("postcode", c).str.contains(ids.UK_POSTCODE)


def _licence_valid(c: pl.Expr) -> pl.Expr:
    return ids.is_valid("driving_licence", ids.normalise("driving_licence", c).str.slice(0, 16))


DETECTORS: tuple[Detector, ...] = (
    Detector(
        "email", "email addresses",
        (r"(?i)[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}",),
        _valid("email"), keep_underscores=True,
    ),
    Detector(
        "phone", "UK and French phone numbers",
        (
            r"(?:\+|\b00)(?:44|33)[\s.-]?(?:\(0\)[\s.-]?)?\d(?:[\s.-]?\d){7,9}\b",
            r"\b0[1-9](?:[\s.-]?\d){8,9}\b",
        ),
        _phone_valid,
    ),
    Detector("vin", "VINs (check digit)", (r"(?i)\b[A-HJ-NPR-Z0-9]{17}\b",), _valid("vin")),
    Detector(
        "iban", "IBANs (mod 97)",
        (
            r"(?i)\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b",
            r"(?i)\b[A-Z]{2}[0-9]{2}(?: [A-Z0-9]{4}){2,8}(?: [A-Z0-9]{1,3})?\b",
        ),
        _valid("iban"), trim_tokens=3,
    ),
    Detector(
        "card", "payment card numbers (Luhn)", (r"\b[0-9](?:[ -]?[0-9]){12,18}\b",), _valid("card"),
    ),
    Detector(
        "uk_postcode", "full UK postcodes",
        (
            r"(?i)\b(?:GIR ?0AA|"
            r"[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2})\b",
        ),
        _uk_postcode_valid,
    ),
    Detector(
        # Any five digits are shaped like a French postcode ("10000-20000" miles are not): a
        # candidate is a whole value, or five digits followed by a capitalised place name, or
        # written with the F-/FR- prefix.
        "fr_postcode", "full French postcodes",
        (r"^\s*[0-9]{5}\s*$", r"\b[0-9]{5}\s+\p{Lu}\p{L}+", r"\bFR?-[0-9]{5}\b"),
        _fr_postcode_valid,
    ),
    Detector(
        # Upper case only: in lower-case prose "at 123 km" is shaped like a French plate.
        "plate", "UK and French registration plates",
        (
            r"\b[A-Z]{2}[0-9]{2} ?[A-Z]{3}\b",
            r"\b[A-Z][0-9]{1,3} ?[A-Z]{3}\b",
            r"\b[A-Z]{2}[- ]?[0-9]{3}[- ]?[A-Z]{2}\b",
        ),
        _valid("plate"),
    ),
    Detector(
        "nino", "National Insurance numbers",
        (r"(?i)\b[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",), _valid("nino"),
    ),
    Detector(
        "driving_licence", "UK and French driving licence numbers",
        (r"(?i)\b[A-Z9]{5}[0-9][0156][0-9]{4}[A-Z9]{2}[0-9][A-Z]{2}\b", r"\b[0-9]{12}\b"),
        _licence_valid,
    ),
    Detector("contract_number", "contract numbers", (r"(?i)\bOPW-[0-9]{7}\b",),
             _valid("contract_number")),
    Detector("claim_number", "claim numbers", (r"(?i)\bCLM-[0-9]{8}\b",), _valid("claim_number")),
    Detector("customer_number", "customer numbers", (r"(?i)\bC[0-9]{8}\b",),
             _valid("customer_number")),
    Detector("quote_number", "quote numbers", (r"(?i)\bQ[0-9]{9}\b",), _valid("quote_number")),
    Detector("transaction_id", "claim transaction ids", (r"(?i)\bTX[0-9]{10}\b",),
             _valid("transaction_id")),
)

KINDS: tuple[str, ...] = tuple(d.kind for d in DETECTORS)
LABELS: dict[str, str] = {d.kind: d.label for d in DETECTORS}


def _candidates(texts: pl.DataFrame, detector: Detector) -> pl.DataFrame:
    """(i, candidate) for every pattern match, plus the trimmed variants of each match."""
    text = pl.col("text")
    if not detector.keep_underscores:
        text = text.str.replace_all("_", " ", literal=True)
    found = pl.concat(
        [texts.select("i", c=text.str.extract_all(p)).explode("c") for p in detector.patterns]
    ).drop_nulls("c")
    variants = [found]
    for n in range(1, detector.trim_tokens + 1):
        trimmed = found.with_columns(c=pl.col("c").str.replace(rf"(?:\s+\S+){{{n}}}$", ""))
        variants.append(trimmed)
    return pl.concat(variants).unique()


def _forms(values: pl.Series, compacted: bool = True) -> pl.DataFrame:
    """(i, text): each value as written, unmasked, and compacted (transforms/privacy/text_fold.py).

    Why three forms: the value as written keeps the word bounds and case that tell prose from an
    identifier; the unmasked form (NFKC, invisible characters removed, Cyrillic and Greek
    look-alikes made Latin, case kept) undoes disguises without changing what counts as a word;
    the compact form (upper case, no separators) reads a whole value that was spread out or
    lower-cased (`ab12 cde`, `g b 8 2 w e s t ...`). A form equal to the value is not repeated.
    """
    texts = pl.DataFrame({"text": values.cast(pl.String)}).with_row_index("i")
    forms = [texts, texts.select("i", text=text_fold.unmask(pl.col("text")))]
    if compacted:
        forms.append(texts.select("i", text=text_fold.compact(pl.col("text"))))
    return pl.concat(forms).drop_nulls("text").unique(maintain_order=True)


def detect(values: pl.Series, *, compacted: bool = True) -> pl.DataFrame:
    """One boolean column per kind: does values[i] hold at least one valid identifier of it?

    Each value is searched as written and in its unmasked and compact forms (see `_forms`);
    `compacted=False` leaves out the compact form, for texts joined from two values (a region
    and a currency, `FR-75` `EUR`, compact to the shape of a UK plate).
    Only texts with a digit or an `@` are searched: every kind has one or the other.
    """
    texts = pl.DataFrame({"text": values.cast(pl.String)}).with_row_index("i")
    searched = _forms(values, compacted).filter(pl.col("text").str.contains(r"[0-9@]"))
    out = texts.select("i")
    for detector in DETECTORS:
        if searched.is_empty():
            hits = pl.Series("i", [], dtype=pl.UInt32)
        else:
            cands = _candidates(searched, detector)
            hits = cands.filter(detector.valid(pl.col("c")).fill_null(False))["i"].unique()
        out = out.with_columns(pl.col("i").is_in(hits.implode()).alias(detector.kind))
    return out.drop("i")
