"""The vectorised checksum and normalisation rules against independent oracles.

Why: the rules were rewritten for speed (chunked integer arithmetic, one parse per value,
cheap paths for ASCII); a fast rule that accepts or rejects one value differently, or
normalises one value to another string, would quarantine a good row or change a pseudonym.
Each property compares the rule with python-stdnum (IBAN mod 97-10, Luhn), a scalar ISO 3779
VIN check written here, `phonenumbers` (E.164), and the previous implementation
(tests/legacy_identifiers.py) on generated values, including hostile ones (wrong lengths,
lower case, non-ASCII, nulls). Values are checked a list at a time: one polars call per example.
"""

from __future__ import annotations

import re
from datetime import date

import legacy_identifiers as legacy
import numpy as np
import phonenumbers
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from transforms.privacy import identifiers as ids

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
# ISO 3779 transliteration, written out here independently of transforms/privacy/identifiers.py
VIN_VALUE = {**{d: int(d) for d in DIGITS}, "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6,
             "G": 7, "H": 8, "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9, "S": 2,
             "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9}
VIN_WEIGHT = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def _column(expr: pl.Expr, values: list[str | None]) -> list[object]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr).to_series().to_list()


def _iban_oracle(v: str | None) -> bool:
    if v is None or not re.fullmatch(ids.IBAN_SHAPE, v):
        return False
    return mod_97_10.is_valid(v[4:] + v[:4])


def _card_oracle(v: str | None) -> bool | None:
    if v is None:
        return None
    return bool(re.fullmatch(ids.CARD_SHAPE, v)) and luhn.is_valid(v)


def _vin_oracle(v: str | None) -> bool:
    if v is None or not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", v):
        return False
    remainder = sum(VIN_VALUE[c] * w for c, w in zip(v, VIN_WEIGHT, strict=True)) % 11
    return v[8] == ("X" if remainder == 10 else str(remainder))


def _iban_with_check(country: str, bban: str) -> str:
    return country + mod_97_10.calc_check_digits(bban + country) + bban


ibans = st.builds(_iban_with_check, st.text(UPPER, min_size=2, max_size=2),
                  st.text(UPPER + DIGITS, min_size=11, max_size=30))


def _mutations(valid: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    """A valid value, or it with one character replaced, or two neighbours swapped."""
    def mutate(draw_value: tuple[str, int, str, bool]) -> str:
        v, i, c, swap = draw_value
        i %= len(v)
        if swap and i + 1 < len(v):
            return v[:i] + v[i + 1] + v[i] + v[i + 2:]
        return v[:i] + c + v[i + 1:]
    return st.one_of(valid, st.tuples(valid, st.integers(0, 40), st.sampled_from(alphabet),
                                       st.booleans()).map(mutate))


hostile = st.one_of(st.none(), st.text(max_size=40),
                    st.text(UPPER + DIGITS + " -x", max_size=40))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(_mutations(ibans, UPPER + DIGITS), hostile), min_size=1, max_size=40))
def test_iban_rule_agrees_with_stdnum_and_the_previous_rule(values: list[str | None]):
    fast = _column(ids.iban_valid(pl.col("v")), values)
    assert fast == [_iban_oracle(v) for v in values]
    assert fast == _column(legacy.iban_valid(pl.col("v")), values)


cards = st.text(DIGITS, min_size=12, max_size=18).map(lambda b: b + luhn.calc_check_digit(b))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_mutations(cards, DIGITS), hostile,
                          st.text(DIGITS, min_size=1, max_size=25)), min_size=1, max_size=40))
def test_luhn_rule_agrees_with_stdnum_and_the_previous_rule(values: list[str | None]):
    fast = _column(ids.card_valid(pl.col("v")), values)
    assert fast == [_card_oracle(v) for v in values]
    assert fast == _column(legacy.card_valid(pl.col("v")), values)


def _vin_with_check(body: str) -> str:
    chars = body[:8] + "0" + body[8:]
    remainder = sum(VIN_VALUE[c] * w for c, w in zip(chars, VIN_WEIGHT, strict=True)) % 11
    return body[:8] + ("X" if remainder == 10 else str(remainder)) + body[8:]


VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
vins = st.text(VIN_CHARS, min_size=16, max_size=16).map(_vin_with_check)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_mutations(vins, VIN_CHARS + "IOQX"), hostile), min_size=1,
                max_size=40))
def test_vin_rule_agrees_with_iso3779_and_the_previous_rule(values: list[str | None]):
    fast = _column(ids.vin_valid(pl.col("v")), values)
    assert fast == [_vin_oracle(v) for v in values]
    assert fast == _column(legacy.vin_valid(pl.col("v")), values)


def test_checksum_rules_on_a_large_generated_batch():
    """40,000 values per rule, a quarter of them made valid: every answer as the oracle's."""
    rng = np.random.default_rng(12)
    n = 40_000
    bodies = ["".join(row) for row in rng.choice(list(UPPER + DIGITS), size=(n, 18))]
    iban = [_iban_with_check("GB", b) if i % 4 == 0 else "GB" + b[:2] + b[2:]
            for i, b in enumerate(bodies)]
    assert _column(ids.iban_valid(pl.col("v")), iban) == [_iban_oracle(v) for v in iban]
    numbers = [str(x) for x in rng.integers(10**12, 10**18, n)]
    card = [v[:-1] + luhn.calc_check_digit(v[:-1]) if i % 4 == 0 else v
            for i, v in enumerate(numbers)]
    assert _column(ids.card_valid(pl.col("v")), card) == [_card_oracle(v) for v in card]
    vin_bodies = ["".join(row) for row in rng.choice(list(VIN_CHARS), size=(n, 17))]
    vin = [_vin_with_check(b[:16]) if i % 4 == 0 else b for i, b in enumerate(vin_bodies)]
    assert _column(ids.vin_valid(pl.col("v")), vin) == [_vin_oracle(v) for v in vin]


# -- normalisation: byte-identical to the previous rules, and E.164 as phonenumbers says ------

PHONE_CHARS = DIGITS + "+0000()  -./xé\t０"
phones = st.text(PHONE_CHARS, max_size=24)
countries = st.sampled_from(["GB", "FR", "fr", "gb", "DE", None])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(phones, hostile), countries), min_size=1, max_size=40))
def test_phone_normalisation_is_the_previous_one(rows: list[tuple[str | None, str | None]]):
    frame = pl.DataFrame({"v": [r[0] for r in rows], "c": [r[1] for r in rows]},
                         schema={"v": pl.String, "c": pl.String})
    for country in (pl.col("c"), None):
        fast = frame.select(ids.normalise_phone(pl.col("v"), country)).to_series()
        old = frame.select(legacy.normalise_phone(pl.col("v"), country)).to_series()
        assert fast.to_list() == old.to_list()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["GB", "FR"]), st.integers(0, 10**9 - 1), st.sampled_from(range(5)))
def test_phone_normalisation_is_e164_as_phonenumbers_says(region: str, n: int, style: int):
    # a UK mobile is 7 and nine digits, a French one 6 and eight (n beyond 10^8 would make an
    # over-long French number, which phonenumbers writes without its trunk 0)
    national = ("7" + f"{n:09d}") if region == "GB" else ("6" + f"{n % 10**8:08d}")
    number = phonenumbers.parse("0" + national, region)
    formats = [phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.E164,
               phonenumbers.PhoneNumberFormat.INTERNATIONAL]
    written = phonenumbers.format_number(number, formats[style % 3])
    if style == 3:
        written = "00" + phonenumbers.format_number(number, formats[1]).removeprefix("+")
    if style == 4:
        written = written.replace(" ", "-")
    frame = pl.DataFrame({"v": [written], "c": [region]})
    got = frame.select(ids.normalise_phone(pl.col("v"), pl.col("c"))).item()
    assert got == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


names = st.text(st.characters(codec="utf-8"), max_size=16)
spaced_names = st.lists(st.sampled_from(["Ann", "ÉLISE", "straße", "ΟΔΥΣΣΕΥΣ", "ｆｕｌｌ",
                                          "de la", " ", "\t", "\u00a0", "\u2003", "ﬁ", "Ǆ"]),
                        max_size=5).map("".join)
# printable ASCII, the separator and a space now and then: the rows the fast path takes
plain_names = st.text(st.sampled_from([chr(c) for c in range(0x21, 0x7f)] + [" ", "\x1f"]),
                      max_size=12)
# dates beyond the formatting table's span from the column's first date take the other path
birth_dates = st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2030, 1, 1)),
                        st.dates(date(1, 1, 1), date(9999, 12, 31)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(names, spaced_names, plain_names, st.none()),
                          st.one_of(names, spaced_names, plain_names),
                          birth_dates),
                min_size=1, max_size=40))
def test_person_normalisation_is_the_previous_one(rows: list[tuple]):
    frame = pl.DataFrame({"s": [r[0] for r in rows], "f": [r[1] for r in rows],
                          "d": [r[2] for r in rows]},
                         schema={"s": pl.String, "f": pl.String, "d": pl.Date})
    args = (pl.col("s"), pl.col("f"), pl.col("d"))
    expected = frame.select(legacy.normalise_person(*args)).to_series().to_list()
    assert frame.select(ids.normalise_person(*args)).to_series().to_list() == expected
    streamed = frame.lazy().select(ids.normalise_person(*args)).collect(engine="streaming")
    assert streamed.to_series().to_list() == expected
    assert (frame.select(ids.iso_date(pl.col("d"))).to_series().to_list()
            == frame.select(pl.col("d").dt.strftime("%Y-%m-%d")).to_series().to_list())
    assert (frame.select(ids.normalise_name(pl.col("s"))).to_series().to_list()
            == frame.select(legacy.normalise_name(pl.col("s"))).to_series().to_list())


def test_rewritten_rules_keep_the_output_names_of_the_previous_ones():
    """Selected without an alias, a rule is named as before (its input's name, or `literal`):
    two names side by side in one select must not collide, a validator must not rename."""
    frame = pl.DataFrame({"a": ["x"], "b": ["y"], "d": [date(1990, 1, 1)]})
    inputs = [pl.col("a"), pl.col("a").str.strip_chars(), pl.col("a").alias("z"),
              pl.lit("GB82WEST12345698765432"), pl.lit("q") + pl.col("a")]
    rules = ["normalise_name", "normalise_phone", "vin_valid", "vin_check_digit_ok",
             "iban_valid", "iban_mod97_ok", "card_valid", "luhn_ok"]
    for rule in rules:
        for e in inputs:
            assert (frame.select(getattr(ids, rule)(e)).columns
                    == frame.select(getattr(legacy, rule)(e)).columns), rule
    for e in inputs:
        for mod in (ids, legacy):
            assert frame.select(mod.normalise_person(e, pl.col("b"), pl.col("d"))).columns == \
                frame.select(legacy.normalise_person(e, pl.col("b"), pl.col("d"))).columns
            assert frame.select(mod.normalise_phone(e, pl.col("b"))).columns == ["literal"]
    assert frame.select(ids.normalise_name(pl.col("a")), ids.normalise_name(pl.col("b"))).columns \
        == ["a", "b"]
