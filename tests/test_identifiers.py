"""Normalisation equivalence and validation of identifiers (property tests on generated values)."""

from __future__ import annotations

import unicodedata
from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.privacy import identifiers as ids

VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def _with_check_digit(body16: str) -> str:
    values = {**{str(d): d for d in range(10)}, **ids._VIN_VALUES}
    chars = body16[:8] + "0" + body16[8:]
    total = sum(values[c] * w for c, w in zip(chars, ids._VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return body16[:8] + check + body16[8:]


def _one(expr: pl.Expr, value: object, dtype: pl.DataType = pl.String) -> object:
    return pl.DataFrame({"v": [value]}, schema={"v": dtype}).select(expr).item()


vins = st.text(VIN_CHARS, min_size=16, max_size=16).map(_with_check_digit)


@settings(max_examples=200, deadline=None)
@given(vins, st.sampled_from(["", " ", "-"]), st.booleans())
def test_vin_formatting_does_not_change_the_normalised_value(vin: str, sep: str, lower: bool):
    messy = sep.join([vin[:3], vin[3:9], vin[9:]])
    messy = messy.lower() if lower else messy
    normalised = _one(ids.normalise_vin(pl.col("v")), f"  {messy} ")
    assert normalised == vin
    assert _one(ids.vin_valid(pl.col("v")), normalised) is True


@settings(max_examples=200, deadline=None)
@given(vins, st.integers(0, 9))
def test_a_wrong_check_digit_is_invalid(vin: str, digit: int):
    wrong = str(digit) if vin[8] != str(digit) else ("X" if digit != 10 else "0")
    assert _one(ids.vin_valid(pl.col("v")), vin[:8] + wrong + vin[9:]) is False


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z]{1,10}\.[a-z]{1,10}[0-9]{0,3}@[a-z]{2,8}\.(com|fr|co\.uk)",
                     fullmatch=True))
def test_email_case_and_whitespace(email: str):
    assert _one(ids.normalise_email(pl.col("v")), f"  {email.upper()} ") == email


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"7[0-9]{9}", fullmatch=True))
def test_uk_mobile_formats_agree(n: str):
    forms = [f"0{n}", f"0{n[:4]} {n[4:]}", f"+44 {n[:4]} {n[4:]}", f"0044{n}", f"+44 (0){n}"]
    out = {_one(ids.normalise_phone(pl.col("v")), f) for f in forms}
    assert out == {f"+44{n}"}


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[67][0-9]{8}", fullmatch=True))
def test_french_mobile_formats_agree(n: str):
    spaced = " ".join([n[0]] + [n[i:i + 2] for i in range(1, 9, 2)])
    forms = [f"0{spaced}", f"+33 {spaced}", f"0033{n}"]
    frame = pl.DataFrame({"v": forms, "c": ["FR"] * len(forms)})
    out = frame.select(ids.normalise_phone(pl.col("v"), pl.col("c"))).to_series().to_list()
    assert set(out) == {f"+33{n}"}


names = st.text(st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(names, names, st.dates(date(1930, 1, 1), date(2008, 1, 1)))
def test_person_is_unicode_case_and_space_insensitive(surname: str, first: str, dob: date):
    def person(s: str, f: str) -> str | None:
        frame = pl.DataFrame({"s": [s], "f": [f], "d": [dob]})
        return frame.select(ids.normalise_person(pl.col("s"), pl.col("f"), pl.col("d"))).item()

    a = person(surname, first)
    b = person(f"  {unicodedata.normalize('NFD', surname).upper()} ",
               unicodedata.normalize("NFD", first).swapcase() + "  ")
    if a is not None and b is not None:
        assert unicodedata.normalize("NFKC", a) == a
        assert a == person(unicodedata.normalize("NFC", surname), first)
        # NFKC + case folding make decomposed, upper-cased input agree where Unicode case
        # mapping round-trips (it does for all letters with a simple case mapping)
        if surname.upper().lower() == surname.lower() and first.swapcase().lower() == first.lower():
            assert a == b


def test_null_parts_give_a_null_person_never_a_hash_of_blanks():
    frame = pl.DataFrame({"s": ["", None], "f": ["a", "b"], "d": [date(1990, 1, 1)] * 2})
    out = frame.select(ids.normalise_person(pl.col("s"), pl.col("f"), pl.col("d")))
    assert out.to_series().to_list() == [None, None]


def test_blank_and_whitespace_become_null():
    for kind in ids.IDENTIFIERS:
        assert _one(ids.normalise(kind, pl.col("v")), "   ") is None
        assert _one(ids.normalise(kind, pl.col("v")), None) is None


def test_oversized_values_are_invalid_not_crashing():
    huge = "A" * 10_000
    for kind in ids.IDENTIFIERS:
        assert _one(ids.is_valid(kind, ids.normalise(kind, pl.col("v"))), huge) is not True


def test_iban_and_card_checksums():
    # built at run time: GB82 WEST 1234 5698 7654 32 is the ISO 13616 documentation example
    example = "GB82" + "WEST" + "12345698765432"
    assert _one(ids.iban_valid(pl.col("v")), example) is True
    assert _one(ids.iban_valid(pl.col("v")), example[:-1] + "3") is False
    assert _one(ids.card_valid(pl.col("v")), "4" + "1" * 15) is True
    assert _one(ids.card_valid(pl.col("v")), "4" + "1" * 14 + "2") is False
