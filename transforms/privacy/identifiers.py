"""Normalise and validate identifiers, vectorised as polars expressions.

Why normalise: the same real-world value must always give the same pseudonym, whatever the
source system's formatting (`ab12 cde` and `AB12CDE` are one plate). Why validate: a value that
cannot be a real identifier (a VIN with a wrong check digit) is a source defect that the
classification routes to quarantine or to null; and the publication gate uses the same validators
to recognise real identifiers that leaked into a mart, so that shape-only look-alikes do not
raise false alarms.

Every function takes and returns a `pl.Expr`; nothing here calls Python per value.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

# Source-system identifier formats (docs/source-contract.md), after normalisation.
FORMATS: dict[str, str] = {
    "contract_number": r"^OPW-[0-9]{7}$",
    "claim_number": r"^CLM-[0-9]{8}$",
    "customer_number": r"^C[0-9]{8}$",
    "quote_number": r"^Q[0-9]{9}$",
    "transaction_id": r"^TX[0-9]{10}$",
    "change_id": r"^CC[0-9]{8}$",
    "request_id": r"^DSR-[0-9]{6}$",
}

UNIT_SEPARATOR = "\x1f"  # joins the parts of a composite identifier before hashing

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

UK_POSTCODE = r"^(GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2})$"
FR_POSTCODE = r"^(0[1-9]|[1-8][0-9]|9[0-5]|97)[0-9]{3}$"
UK_PLATE = r"^([A-HJ-PR-Y][A-HJ-PR-Y][0-9]{2}[A-HJ-PR-Z]{3}|[A-HJ-PR-Y][0-9]{1,3}[A-HJ-PR-Y]{3})$"
FR_PLATE = r"^[A-HJ-NP-TV-Z]{2}-?[0-9]{3}-?[A-HJ-NP-TV-Z]{2}$"
UK_LICENCE = r"^[A-Z9]{5}[0-9][0156][0-9]{4}[A-Z9]{2}[0-9][A-Z]{2}$"
FR_LICENCE = r"^[0-9]{12}$"
NINO = r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"
# polars' regex engine has no look-ahead: the same rule as NINO, split in shape + prefixes.
NINO_SHAPE = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"
NINO_UNISSUED_PREFIXES = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")
EMAIL = r"^[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
E164_UK = r"^\+44[1-9][0-9]{9}$"
E164_FR = r"^\+33[1-9][0-9]{8}$"
IBAN_SHAPE = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"
CARD_SHAPE = r"^[0-9]{13,19}$"


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Trim and turn empty strings into nulls: null must stay null, never hash(\"\")."""
    return _non_empty(expr.str.strip_chars())


def _non_empty(expr: pl.Expr) -> pl.Expr:
    # replace() evaluates `expr` once; a when/then on it would evaluate it twice in eager mode
    return expr.replace("", None)


def _compact_upper(expr: pl.Expr) -> pl.Expr:
    return _non_empty(expr.str.replace_all(r"[\s\-.]", "").str.to_uppercase())


def normalise_vin(expr: pl.Expr) -> pl.Expr:
    return _compact_upper(expr)


def normalise_plate(expr: pl.Expr) -> pl.Expr:
    return _compact_upper(expr)


def normalise_reference(expr: pl.Expr) -> pl.Expr:
    """Contract, claim, customer and quote numbers: upper case, no whitespace."""
    return _non_empty(expr.str.replace_all(r"\s", "").str.to_uppercase())


def normalise_email(expr: pl.Expr) -> pl.Expr:
    return blank_to_null(expr.str.to_lowercase())


def normalise_iban(expr: pl.Expr) -> pl.Expr:
    return _compact_upper(expr)


def normalise_card(expr: pl.Expr) -> pl.Expr:
    """Card numbers: digits only (`4111 1111-1111 1111` -> `4111111111111111`)."""
    return blank_to_null(expr.str.replace_all(r"[\s\-]", ""))


def normalise_postcode(expr: pl.Expr) -> pl.Expr:
    return blank_to_null(expr.str.to_uppercase().str.replace_all(r"\s+", " "))


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


# -- validators: take a normalised expression, give a boolean (null for null input) -----------


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


def phone_valid(e164: pl.Expr) -> pl.Expr:
    return e164.str.contains(E164_UK) | e164.str.contains(E164_FR)


def postcode_valid(postcode: pl.Expr) -> pl.Expr:
    return postcode.str.contains(UK_POSTCODE) | postcode.str.contains(FR_POSTCODE)


def plate_valid(plate: pl.Expr) -> pl.Expr:
    return plate.str.contains(UK_PLATE) | plate.str.contains(FR_PLATE)


def licence_valid(licence: pl.Expr) -> pl.Expr:
    return licence.str.contains(UK_LICENCE) | licence.str.contains(FR_LICENCE)


def nino_valid(nino: pl.Expr) -> pl.Expr:
    """UK National Insurance number: shape of NINO, minus the prefixes never issued."""
    return nino.str.contains(NINO_SHAPE) & ~nino.str.slice(0, 2).is_in(NINO_UNISSUED_PREFIXES)


def email_valid(email: pl.Expr) -> pl.Expr:
    return email.str.contains(EMAIL)


def _format_validator(kind: str) -> Callable[[pl.Expr], pl.Expr]:
    pattern = FORMATS[kind]
    return lambda e: e.str.contains(pattern)


# kind -> (normaliser taking (expr, country expr | None), validator on the normalised value)
Normaliser = Callable[[pl.Expr, pl.Expr | None], pl.Expr]
IDENTIFIERS: dict[str, tuple[Normaliser, Callable[[pl.Expr], pl.Expr]]] = {
    "vin": (lambda e, c: normalise_vin(e), vin_valid),
    "plate": (lambda e, c: normalise_plate(e), plate_valid),
    "email": (lambda e, c: normalise_email(e), email_valid),
    "phone": (normalise_phone, phone_valid),
    "iban": (lambda e, c: normalise_iban(e), iban_valid),
    "postcode": (lambda e, c: normalise_postcode(e), postcode_valid),
    "driving_licence": (lambda e, c: _compact_upper(e), licence_valid),
    "nino": (lambda e, c: _compact_upper(e), nino_valid),
    "card": (lambda e, c: normalise_card(e), card_valid),
    **{
        kind: (lambda e, c: normalise_reference(e), _format_validator(kind))
        for kind in FORMATS
    },
}


def normalise(kind: str, expr: pl.Expr, country: pl.Expr | None = None) -> pl.Expr:
    """Normalise an identifier of the given kind (see IDENTIFIERS)."""
    try:
        normaliser, _ = IDENTIFIERS[kind]
    except KeyError:
        raise ValueError(f"unknown identifier kind {kind!r}") from None
    return normaliser(expr, country)


def is_valid(kind: str, normalised: pl.Expr) -> pl.Expr:
    """True when a normalised value is a well-formed identifier of this kind (null for null)."""
    return IDENTIFIERS[kind][1](normalised)
