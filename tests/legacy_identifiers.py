"""The identifier rules as they were before they were rewritten for speed (issue 12): the reference.

Kept verbatim (polars expressions that re-evaluate their input, or regex chains) so that the
tests can show the fast rules accept, reject and normalise every value exactly as these did:
pseudonyms already in the warehouse and marts must not change.
"""

from __future__ import annotations

import polars as pl

from transforms.privacy.identifiers import (
    _VIN_VALUES,
    _VIN_WEIGHTS,
    CARD_SHAPE,
    IBAN_SHAPE,
    UNIT_SEPARATOR,
    _non_empty,
    blank_to_null,
)


def normalise_phone(expr: pl.Expr, country: pl.Expr | None = None) -> pl.Expr:
    """E.164 for UK and French numbers: `07700 900123` (GB) -> `+447700900123`.

    A national number (leading 0) takes the country code of the row's country (GB when the
    row has none); `00` international prefixes become `+`; `(0)` trunk prefixes are dropped.
    Written as a chain of replacements, each evaluated once (no branch re-evaluates its input).
    """
    kept = expr.str.replace_all("(0)", "", literal=True).str.replace_all(r"[^0-9+]", "")
    intl = kept.str.replace(r"^00", "+")
    if country is None:
        national = intl.str.replace(r"^0", "+44")
    else:
        code = pl.when(country.str.to_uppercase() == "FR").then(pl.lit("+33")).otherwise(
            pl.lit("+44"))
        national = intl.str.replace(r"^0", code)
    digits = _non_empty(national.str.replace_all("+", "", literal=True))
    return pl.lit("+") + digits


def _casefold(expr: pl.Expr) -> pl.Expr:
    # polars' lower-casing is Unicode-aware; casefold additionally maps the sharp s.
    return expr.str.to_lowercase().str.replace_all("ß", "ss").str.replace_all("ς", "σ")


def normalise_name(expr: pl.Expr) -> pl.Expr:
    """NFKC, case-folded, whitespace collapsed: `  JOSÉ   Martin ` -> `josé martin`."""
    # NFKC leaves ASCII unchanged and is the costly step: it runs on non-ASCII values only
    nfkc = pl.when(expr.str.contains(r"[^\x00-\x7f]")).then(expr.str.normalize("NFKC"))
    folded = _casefold(nfkc.otherwise(expr))
    return blank_to_null(folded.str.replace_all(r"\s+", " "))


def normalise_person(surname: pl.Expr, first_name: pl.Expr, date_of_birth: pl.Expr) -> pl.Expr:
    """The person: surname, first name and ISO date of birth joined by U+001F.

    Null when any part is missing: a partial person is not the same person.
    """
    dob = date_of_birth.cast(pl.Date).dt.strftime("%Y-%m-%d")
    return pl.concat_str(
        [normalise_name(surname), normalise_name(first_name), dob],
        separator=UNIT_SEPARATOR,
        ignore_nulls=False,
    )


def vin_check_digit_ok(vin: pl.Expr) -> pl.Expr:
    """ISO 3779 / FMVSS 115 check digit at position 9 (weights 8..2,10,0,9..2, mod 11, X = 10)."""
    total = pl.lit(0, dtype=pl.Int64)
    for i, w in enumerate(_VIN_WEIGHTS):
        if w:
            v = vin.str.slice(i, 1).replace_strict(_VIN_VALUES, default=None,
                                                   return_dtype=pl.Int64)
            total = total + v * w
    remainder = total % 11
    expected = pl.when(remainder == 10).then(pl.lit("X")).otherwise(remainder.cast(pl.String))
    return vin.str.slice(8, 1) == expected


def vin_valid(vin: pl.Expr) -> pl.Expr:
    shape = vin.str.contains(r"^[A-HJ-NPR-Z0-9]{17}$")
    return shape & vin_check_digit_ok(vin).fill_null(False)


def iban_mod97_ok(iban: pl.Expr) -> pl.Expr:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1."""
    rearranged = iban.str.slice(4) + iban.str.slice(0, 4)
    digits = rearranged
    for i, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        digits = digits.str.replace_all(letter, str(10 + i), literal=True)
    remainder = pl.lit(0, dtype=pl.Int64)
    chunk = 7  # 96 * 10^7 + 9_999_999 stays far inside Int64
    for start in range(0, 70, chunk):
        # an empty slice has width 0: remainder * 10^0 + 0 leaves the remainder unchanged
        part = digits.str.slice(start, chunk)
        scale = pl.lit(10, dtype=pl.Int64).pow(part.str.len_chars().cast(pl.Int64))
        remainder = (remainder * scale + part.cast(pl.Int64, strict=False).fill_null(0)) % 97
    return remainder == 1


def iban_valid(iban: pl.Expr) -> pl.Expr:
    return iban.str.contains(IBAN_SHAPE) & iban_mod97_ok(iban).fill_null(False)


def luhn_ok(number: pl.Expr) -> pl.Expr:
    """Luhn checksum of a digit string (payment card numbers)."""
    rev = number.str.reverse()
    total = pl.lit(0, dtype=pl.Int64)
    for i in range(19):
        d = rev.str.slice(i, 1).cast(pl.Int64, strict=False).fill_null(0)
        if i % 2 == 1:
            d = pl.when(d * 2 > 9).then(d * 2 - 9).otherwise(d * 2)
        total = total + d
    return total % 10 == 0


def card_valid(number: pl.Expr) -> pl.Expr:
    return number.str.contains(CARD_SHAPE) & luhn_ok(number)
