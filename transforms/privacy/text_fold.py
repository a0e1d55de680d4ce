"""Undo the disguises of an identifier before looking for it: one fold for every detector.

Why: a detector that reads text as written is beaten by writing the value differently: a plate
in lower case, an email with zero-width spaces around the `@`, a phone in full-width digits, a
VIN with Cyrillic letters that look Latin, an IBAN with its groups spread by extra spaces. The
gate's detectors, its known-value matching and the leak scan all look at the *skeleton* of a
value instead:

1. NFKC (full-width and mathematical letters and digits become ASCII ones; ligatures split);
2. format and invisible characters removed (Unicode category Cf: zero-width space and joiners,
   direction marks, soft hyphen, BOM; plus variation selectors and the combining grapheme
   joiner);
3. confusable letters of other scripts mapped to the Latin letter they look like
   (`CONFUSABLES`, below);
4. then, per use: upper-cased (detectors), or lower-cased with separators removed (matching).

Why a table of our own and not a library: the Unicode TR39 data (`confusables.txt`) is what a
library such as `confusable-homoglyphs` ships, but none of them works on polars columns, and the
gate folds millions of values. The table below is the subset of TR39's mappings whose target is
a single Latin letter, for the scripts that have such look-alikes (Cyrillic, Greek, Armenian,
Cherokee and a few Latin extensions); NFKC already covers the compatibility forms. Digits are
not mapped to letters (TR39 maps `0` to `O`): identifiers mix both, and a detector must still
tell them apart.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

# TR39 confusables whose prototype is one Latin letter (checked against confusables.txt,
# Unicode 15.1), upper and lower case; extend here, never inline elsewhere.
CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    "Ү": "Y", "Ӏ": "I", "Ꙅ": "S", "Ꙇ": "I",
    # Cyrillic small
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y", "ɡ": "g",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    # Greek small
    "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x", "ϲ": "c",
    "ϳ": "j", "ѵ": "v",
    # Armenian, Cherokee and Latin extensions that TR39 maps to a basic Latin letter
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g", "Ꭺ": "A", "Ᏼ": "B", "Ꮯ": "C", "Ꭼ": "E",
    "Ꮋ": "H", "Ꮶ": "K", "Ꮇ": "M", "Ꮲ": "P", "Ꭲ": "T", "Ꮃ": "W", "Ꮪ": "S", "Ꮓ": "Z",
    "ı": "i", "ȷ": "j", "ℓ": "l",
}

# Cf (format) characters, variation selectors and the combining grapheme joiner: invisible,
# and never part of an identifier.
INVISIBLE = r"[\p{Cf}\x{034F}\x{FE00}-\x{FE0F}\x{180B}-\x{180F}]"
SEPARATORS = r"[\s\-._/\\|,;:'\"`()\[\]{}+*#~]"
_NON_ASCII = r"[^\x00-\x7f]"
_FROM = list(CONFUSABLES)
_TO = [CONFUSABLES[c] for c in _FROM]


_TRANSLATION = str.maketrans(CONFUSABLES)
_INVISIBLE_RE = re.compile(r"[\u00ad\u034f\u061c\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                           r"\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff]")


def unmask_text(text: str) -> str:
    """`unmask` for one Python string (files the leak scan reads): NFKC, the common invisible
    characters removed, confusables mapped; the identity on ASCII."""
    if text.isascii():
        return text
    return _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", text)).translate(_TRANSLATION)


def unmask(expr: pl.Expr) -> pl.Expr:
    """Steps 1-3: NFKC, invisible characters removed, confusables mapped to Latin; case kept.

    ASCII values are returned as they are (every step is the identity on ASCII), so the cost is
    paid by non-ASCII values only.
    """
    folded = (
        expr.str.normalize("NFKC")
        .str.replace_all(INVISIBLE, "")
        .str.replace_many(_FROM, _TO)
    )
    return pl.when(expr.str.contains(_NON_ASCII)).then(folded).otherwise(expr)


def skeleton(expr: pl.Expr) -> pl.Expr:
    """What the detectors read: unmasked and upper-cased (separators kept, for word bounds)."""
    return unmask(expr).str.to_uppercase()


def compact(expr: pl.Expr) -> pl.Expr:
    """The skeleton without separators: `g b 8 2 - w e s t...` is read as `GB82WEST...`."""
    return skeleton(expr).str.replace_all(SEPARATORS, "")


def match_fold(expr: pl.Expr) -> pl.Expr:
    """What known-value matching compares: unmasked, lower case, letters, digits and `@`."""
    return unmask(expr).str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}@]", "")
