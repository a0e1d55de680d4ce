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


# `(0)` trunk prefixes and every character other than a digit or `+`, removed in one pass:
# leftmost-first alternation finds the same non-overlapping `(0)` as a literal pass before it
_PHONE_NOISE = r"\(0\)|[^0-9+]"
# the separators source systems actually use, removed by one multi-literal pass (no regex);
# "(0)" first, and no other pattern starts with "(", so it is found exactly where the regex
# finds it. Only a value with something else left over needs the regex.
_PHONE_SEPARATORS = ["(0)", " ", "-", ".", "/"]


def _phone_digits_and_plus(expr: pl.Expr) -> pl.Expr:
    """`(0)` and every character but digits and `+` removed, by the cheapest pass that does it.

    Spaces are the separator most numbers have, and a literal pass removes them at half the
    cost of the multi-literal one: a value left with nothing but digits and `+` is done; the
    others take the multi-literal pass on their original text, and what still has something
    else left takes the regex. (Each later pass runs on a column where the rows already done
    are null.)
    """
    s = pl.struct(expr.alias("v")).struct.with_fields(
        q=pl.field("v").str.replace_all(" ", "", literal=True))
    v, q = pl.field("v"), pl.field("q")
    s = s.struct.with_fields(m=pl.when(q.str.contains("[^0-9+]")).then(v).str.replace_many(
        _PHONE_SEPARATORS, [""] * len(_PHONE_SEPARATORS)))
    m = pl.field("m")
    slow = pl.when(m.str.contains("[^0-9+]")).then(v).str.replace_all(_PHONE_NOISE, "")
    return s.struct.with_fields(c=pl.coalesce(slow, m, q)).struct.field("c")


def normalise_phone(expr: pl.Expr, country: pl.Expr | None = None) -> pl.Expr:
    """E.164 for UK and French numbers: `07700 900123` (GB) -> `+447700900123`.

    A national number (leading 0) takes the country code of the row's country (GB when the
    row has none); `00` international prefixes become `+`; `(0)` trunk prefixes are dropped.
    The value is cleaned once (a multi-literal pass, the regex only for odd characters); the
    prefix is read with two `starts_with` tests and cut off with one slice (no further regex,
    no per-row replacement string); every `+` left in the number is dropped.
    """
    fields = [_phone_digits_and_plus(expr).alias("v")]
    if country is not None:
        fields.append(country.alias("c"))
    v = pl.field("v")
    zero, double_zero = v.str.starts_with("0"), v.str.starts_with("00")
    national = zero & ~double_zero
    if country is None:
        code = pl.lit("44")
    else:
        code = pl.when(pl.field("c").str.to_uppercase() == "FR").then(pl.lit("33")).otherwise(
            pl.lit("44"))
    rest = v.str.slice(zero.cast(pl.Int64) + double_zero.cast(pl.Int64)).str.replace_all(
        "+", "", literal=True)
    e164 = pl.concat_str([pl.lit("+"), pl.when(national).then(code).otherwise(pl.lit("")), rest])
    # "+" alone: no digit at all, which is no number (null, never hash("+"))
    return _named_as(
        pl.struct(fields).struct.with_fields(n=e164.replace("+", None)).struct.field("n"),
        "literal")


def _casefold(expr: pl.Expr) -> pl.Expr:
    # polars' lower-casing is Unicode-aware; casefold additionally maps the sharp s.
    return expr.str.to_lowercase().str.replace_many(["ß", "ς"], ["ss", "σ"])


_ASCII_WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c"]


def normalise_name(expr: pl.Expr) -> pl.Expr:
    """NFKC, case-folded, whitespace collapsed: `  JOSÉ   Martin ` -> `josé martin`.

    NFKC, Unicode case folding and the whitespace regex are the costly steps, and each is the
    identity or a cheaper step on most values: NFKC and folding run only on non-ASCII values
    (ASCII ones are lower-cased as ASCII), the regex and the trim only on values with
    whitespace in them (or non-ASCII ones, whose NFKC may bring some).
    A step "runs only on" some values by running on a column where the others are null
    (polars skips nulls); `len_bytes != len_chars` tells non-ASCII apart without a regex.
    """
    s = pl.struct(expr.alias("v"))
    v = pl.field("v")
    non_ascii = v.str.len_bytes() != v.str.len_chars()
    s = s.struct.with_fields(
        f=pl.coalesce(_casefold(pl.when(non_ascii).then(v).str.normalize("NFKC")),
                      v.str.to_lowercase()),
        n=non_ascii,
    )
    f = pl.field("f")
    spaced = pl.field("n") | f.str.contains_any(_ASCII_WHITESPACE)
    # trimming, like the regex, is the identity on a value without whitespace
    trimmed = pl.coalesce(
        pl.when(spaced).then(f).str.replace_all(r"\s+", " ").str.strip_chars(), f)
    return _named_as(_non_empty(s.struct.with_fields(c=trimmed).struct.field("c")), expr)


# The dates a lookup table formats at most (about 180 years): each distinct date is formatted
# once, and rows gather their text from the table.
_ISO_DATE_SPAN = 1 << 16


def iso_date(date: pl.Expr) -> pl.Expr:
    """`YYYY-MM-DD` of a date, as `dt.strftime("%Y-%m-%d")` gives it, at a fraction of its cost.

    Why: formatting was a third of the person's normalisation (about 90 ms per million
    values), and a book's dates of birth span a few tens of thousands of days. The days from
    the column's first date are formatted once into a table and every row gathers its text
    from it; a date beyond the table (more than about 180 years after the first) is formatted
    as before.
    """
    days = date.cast(pl.Date).cast(pl.Int32)
    s = pl.struct(days.alias("days"))
    d = pl.field("days")
    first = d.min().fill_null(0)  # no date at all: a one-entry table that no row reads
    last = pl.min_horizontal(d.max().fill_null(0), first + (_ISO_DATE_SPAN - 1))
    table = pl.int_range(first, last + 1, dtype=pl.Int32).cast(pl.Date).dt.strftime("%Y-%m-%d")
    offset = d - first
    inside = offset < _ISO_DATE_SPAN
    text = pl.coalesce(table.gather(pl.when(inside).then(offset)),
                       pl.when(~inside).then(d).cast(pl.Date).dt.strftime("%Y-%m-%d"))
    return _named_as(s.struct.with_fields(t=text).struct.field("t"), date)


def normalise_person(surname: pl.Expr, first_name: pl.Expr, date_of_birth: pl.Expr) -> pl.Expr:
    """The person: surname, first name and ISO date of birth joined by U+001F.

    Null when any part is missing: a partial person is not the same person.
    """
    return pl.concat_str(
        [normalise_name(surname), normalise_name(first_name), iso_date(date_of_birth)],
        separator=UNIT_SEPARATOR,
        ignore_nulls=False,
    )


# -- validators: take a normalised expression, give a boolean (null for null input) -----------


def _once(expr: pl.Expr) -> pl.Expr:
    """A one-field struct around `expr`, so that later steps read its value as a field.

    Why: polars does not share a repeated sub-expression in an eager select, so a rule that
    reads its input ten times would compute the input (in the gate, a chain of folds) ten
    times. Fields of a struct built once are plain column reads.
    """
    return pl.struct(expr.alias("v"))


def _named_as(result: pl.Expr, source: pl.Expr | str) -> pl.Expr:
    """`result` under the output name polars gives `source` (or under `source` itself).

    Why: a field read from a struct is named after the field; callers that select a rule
    without an alias (two names side by side, a validator in a with_columns) rely on the name
    the rule had before it was rewritten: its input's name, or `literal` for a sum started
    from a literal.
    """
    name = source if isinstance(source, str) else source.meta.output_name(
        raise_if_undetermined=False)
    return result if name is None else result.alias(name)


def _digit(number: pl.Expr, position: int) -> pl.Expr:
    """The decimal digit of an integer at `position` (0 = units), by integer arithmetic."""
    return (number // 10**position) % 10


# letters to the one-digit VIN values (digits stay themselves): one pass over the string
_VIN_LETTERS = [c for c in _VIN_VALUES if c.isalpha()]
_VIN_LETTER_DIGITS = [str(_VIN_VALUES[c]) for c in _VIN_LETTERS]


def vin_check_digit_ok(vin: pl.Expr) -> pl.Expr:
    """ISO 3779 / FMVSS 115 check digit at position 9 (weights 8..2,10,0,9..2, mod 11, X = 10).

    Parsed once: the letters are transliterated to their one-digit values in one pass, the
    eight characters before and after the check digit are read as two integers, and the
    weighted sum is taken digit by digit with integer arithmetic (no per-character strings).
    Null where the value is not 17 transliterable characters (vin_valid checks the shape).
    """
    s = _once(vin).struct.with_fields(
        d=pl.field("v").str.replace_many(_VIN_LETTERS, _VIN_LETTER_DIGITS))
    s = s.struct.with_fields(
        hi=pl.field("d").str.slice(0, 8).cast(pl.Int64, strict=False),
        lo=pl.field("d").str.slice(9, 8).cast(pl.Int64, strict=False),
        check=pl.field("v").str.slice(8, 1).replace("X", "10").cast(pl.Int64, strict=False),
    )
    hi, lo = pl.field("hi"), pl.field("lo")
    total = pl.lit(0, dtype=pl.Int64)
    for i in range(8):
        total = total + _digit(hi, 7 - i) * _VIN_WEIGHTS[i]
        total = total + _digit(lo, 7 - i) * _VIN_WEIGHTS[9 + i]
    ok = (pl.field("d").str.len_bytes() == 17) & (total % 11 == pl.field("check"))
    return _named_as(s.struct.with_fields(ok=ok).struct.field("ok"), vin)


def vin_valid(vin: pl.Expr) -> pl.Expr:
    s = _once(vin)
    shape = pl.field("v").str.contains(r"^[A-HJ-NPR-Z0-9]{17}$")
    ok = shape & vin_check_digit_ok(pl.field("v")).fill_null(False)
    return _named_as(s.struct.with_fields(ok=ok).struct.field("ok"), vin)


_LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
_LETTER_NUMBERS = [str(10 + i) for i in range(26)]
_IBAN_DIGITS = 68  # 34 characters, 32 of them letters (two digits each) and 2 digits: 66 <= 68
_CHUNK = 17  # 96 * 10^17 + (10^17 - 1) < 2^64: the carried remainder never overflows a UInt64


def iban_mod97_ok(iban: pl.Expr) -> pl.Expr:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1.

    Parsed once: one pass turns letters into their two digits, the digit string is left-padded
    with zeros to 68 digits (leading zeros leave the remainder unchanged), and the remainder is
    carried over four 17-digit integers (Horner's rule mod 97). Null where the value does not
    turn into digits only (iban_valid checks the shape first).
    """
    s = _once(iban).struct.with_fields(
        d=(pl.field("v").str.slice(4) + pl.field("v").str.slice(0, 4))
        .str.replace_many(_LETTERS, _LETTER_NUMBERS).str.pad_start(_IBAN_DIGITS, "0"))
    remainder = pl.lit(0, dtype=pl.UInt64)
    scale = pl.lit(10**_CHUNK, dtype=pl.UInt64)
    for start in range(0, _IBAN_DIGITS, _CHUNK):
        part = pl.field("d").str.slice(start, _CHUNK).cast(pl.UInt64, strict=False)
        remainder = (remainder * scale + part) % 97
    ok = (pl.field("d").str.len_bytes() == _IBAN_DIGITS) & (remainder == 1)
    return _named_as(s.struct.with_fields(ok=ok).struct.field("ok"), "literal")


def iban_valid(iban: pl.Expr) -> pl.Expr:
    s = _once(iban)
    ok = pl.field("v").str.contains(IBAN_SHAPE) & iban_mod97_ok(pl.field("v")).fill_null(False)
    return _named_as(s.struct.with_fields(ok=ok).struct.field("ok"), iban)


def luhn_ok(number: pl.Expr) -> pl.Expr:
    """Luhn checksum of a digit string (payment card numbers) of at most 19 digits.

    Parsed once: left-padded with zeros to 20 digits (a leading zero adds nothing and keeps
    every digit's position from the right), read as two 10-digit integers, and summed digit by
    digit with integer arithmetic; every second digit from the right is doubled (minus 9 when
    the double exceeds 9, i.e. `2d - 9 * (d // 5)`). True for null (card_valid's shape check
    makes a null value null), null for anything that is not 1-19 digits.
    """
    s = _once(number).struct.with_fields(d=pl.field("v").fill_null("0").str.pad_start(20, "0"))
    s = s.struct.with_fields(
        hi=pl.field("d").str.slice(0, 10).cast(pl.Int64, strict=False),
        lo=pl.field("d").str.slice(10, 10).cast(pl.Int64, strict=False),
        width=pl.field("d").str.len_bytes(),
    )
    total = pl.lit(0, dtype=pl.Int64)
    for p in range(20):
        d = _digit(pl.field("lo"), p) if p < 10 else _digit(pl.field("hi"), p - 10)
        total = total + (d * 2 - (d // 5) * 9 if p % 2 else d)
    ok = (pl.field("width") == 20) & (total % 10 == 0)
    return _named_as(s.struct.with_fields(ok=ok).struct.field("ok"), "literal")


def card_valid(number: pl.Expr) -> pl.Expr:
    s = _once(number)
    ok = pl.field("v").str.contains(CARD_SHAPE) & luhn_ok(pl.field("v"))
    return _named_as(s.struct.with_fields(ok=ok).struct.field("ok"), number)


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
