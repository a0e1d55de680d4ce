"""The one raw-value matcher: which delivered values count as identifiers, and how text is
searched for them. Used by the publication gate (expectations/known_values.py, on keyed
fingerprints) and by the leak scanner (transforms/operations/leak_scan.py, on the values
themselves).

Why one module: the gate and the scanner answer the same question ("is a delivered identifier
in this output?") and must agree on the answer; two copies of the rules drift apart.

The candidates of one delivery file (`candidates`):
- every direct identifier without a composite of its own, in its raw form and its normalised
  form (transforms/privacy/identifiers.py: E.164 phones, compact VINs and plates...), and a phone
  also in its national form (`0` + the number after the country code);
- the parts of a composite (surname, first name: string sources without an identifier rule of
  their own) as the *full name*, both orders. A single name part is not an identifier on its
  own, and vehicle makes published as dimensions (Ford, Bentley, Morgan) are common surnames:
  looked for inside text or in the marts it would block every publication for nothing. Only the
  scanner's whole-cell count of its own outputs keeps them (`Scope.WHOLE`).

A candidate counts when its fold (`fold`) has at least MIN_EXACT_CHARS characters, is not a
placeholder ("unknown", "n/a"...), and, for a kind with a rule (email, phone, VIN, plate, IBAN,
references), holds a digit or an `@`: what has neither ("see notes") is filler.

Matching: a text matches when it equals a candidate, or contains one of at least
MIN_SUBSTRING_CHARS characters. The gate compares folds (`fold`: NFKC, invisible characters
removed, look-alikes made Latin, lower case, letters, digits and `@` only), so disguises do not
help; the scanner reads files as written and unmasked (transforms/text_fold.py) with an
Aho-Corasick automaton (`automaton`, `count_in`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import ahocorasick
import polars as pl

from transforms.classification import Classification, Entity
from transforms.privacy.identifiers import normalise
from transforms.privacy.text_fold import match_fold

MIN_SUBSTRING_CHARS = 6
MIN_EXACT_CHARS = 4  # shorter folds ("na", "01") are placeholders, not identifiers
# what source systems put where a value is missing: never an identifier, often a mart value
PLACEHOLDERS = ("unknown", "none", "null", "notknown", "notgiven", "notapplicable", "nil", "tbc",
                "tba", "missing", "redacted")


class Scope(StrEnum):
    """Where a candidate is looked for."""

    ANYWHERE = "anywhere"  # as a whole value, and inside text (from MIN_SUBSTRING_CHARS on)
    WHOLE = "whole"  # a single name part: as a whole cell of the scanner's outputs only


def fold(expr: pl.Expr) -> pl.Expr:
    """The comparison form (transforms/text_fold.py): NFKC, invisible characters removed,
    look-alike letters of other scripts made Latin, lower case, letters, digits and `@` only."""
    return match_fold(expr)


def name_parts(entity: Entity) -> set[str]:
    """String sources of the entity's composites that have no identifier rule of their own."""
    return {
        s for comp in entity.composites for s in comp.sources
        if entity.column(s).type == "string" and not entity.column(s).identifier
    }


def identifier_columns(entity: Entity, present: Iterable[str]) -> list[str]:
    """The direct identifiers of the entity that a file has (the columns candidates read),
    with the country that normalises phones."""
    present = set(present)
    wanted = {c.name for c in entity.columns if c.cls == "direct_identifier"} | {"country"}
    return [c.name for c in entity.columns if c.name in wanted and c.name in present]


def identifier_frames(paths: Iterable[Path], classification: Classification
                      ) -> Iterator[tuple[Entity, pl.DataFrame]]:
    """Each delivered CSV's identifier columns, as text, with its entity: what both the gate's
    in-memory fingerprints and the leak scanner read. A file of an entity the classification
    does not know is passed over (the ingest refuses such deliveries anyway); so is one with no
    identifier column."""
    for path in paths:
        try:
            entity = classification.entity(path.parent.parent.name, path.stem)
        except KeyError:
            continue
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
        needed = identifier_columns(entity, header)
        if needed:
            yield entity, pl.read_csv(path, infer_schema=False, encoding="utf8-lossy",
                                      columns=needed)


def candidates(frame: pl.LazyFrame, entity: Entity) -> tuple[pl.LazyFrame | None, int]:
    """(form, folded, scope) of every candidate of the file's rows, and how many columns it read.

    `form` is the value as delivered (trimmed) or normalised, for the scanner; `folded` is what
    the gate fingerprints. Two stages: each form is computed once into a column, then folded and
    filtered by expressions over those columns (a when/then over an unmaterialised expression
    would evaluate it twice).
    """
    present = frame.collect_schema().names()
    country = pl.col("country") if "country" in present else None
    parts = name_parts(entity)
    forms: list[tuple[pl.Expr, bool, Scope]] = []  # (form, needs a digit or @, scope)
    read = 0
    for col in entity.columns:
        if col.cls != "direct_identifier" or col.name not in present:
            continue
        raw = pl.col(col.name).str.strip_chars()
        if col.name in parts:
            forms.append((raw, False, Scope.WHOLE))
            continue
        read += 1
        if not col.identifier:
            forms.append((raw, False, Scope.ANYWHERE))
            continue
        norm = normalise(col.identifier, pl.col(col.name), country)
        forms += [(raw, True, Scope.ANYWHERE), (norm, True, Scope.ANYWHERE)]
        if col.identifier == "phone":  # national form: 0 + the number after the country code
            forms.append((pl.lit("0") + norm.str.slice(3), True, Scope.ANYWHERE))
    for comp in entity.composites:
        names = [p for p in comp.sources if p in parts and p in present]
        if len(names) >= 2:
            read += len(names)
            for order in (names, list(reversed(names))):
                full = pl.concat_str([pl.col(p).str.strip_chars() for p in order],
                                     separator=" ", ignore_nulls=False)
                forms.append((full, False, Scope.ANYWHERE))
    if not forms:
        return None, 0
    staged = frame.select([f.alias(f"f{i}") for i, (f, _, _) in enumerate(forms)])
    folded = staged.with_columns([fold(pl.col(f"f{i}")).alias(f"v{i}")
                                  for i in range(len(forms))])
    stacked = pl.concat([
        folded.select(form=pl.col(f"f{i}"), folded=pl.col(f"v{i}"),
                      scope=pl.lit(str(scope)), digit=pl.lit(digit))
        for i, (_, digit, scope) in enumerate(forms)
    ])
    v = pl.col("folded")
    keep = (
        v.is_not_null() & (v.str.len_chars() >= MIN_EXACT_CHARS) & ~v.is_in(PLACEHOLDERS)
        & (~pl.col("digit") | v.str.contains("[0-9@]"))
    )
    return stacked.filter(keep).select("form", "folded", "scope"), read


def windows(texts: pl.DataFrame, lengths: Iterable[int], budget: int) -> Iterator[pl.DataFrame]:
    """(i, w): every substring of each folded text `t` whose length is one of `lengths`, in
    batches of about `budget` windows, so that memory does not grow with the text volume.

    `texts` has a row id `i` and a folded text `t`. Only texts longer than MIN_SUBSTRING_CHARS
    have windows (a text of exactly that length is compared whole).
    """
    lengths = sorted(n for n in set(lengths) if n >= MIN_SUBSTRING_CHARS)
    texts = texts.filter(pl.col("t").str.len_chars() > MIN_SUBSTRING_CHARS)
    if not lengths or texts.is_empty():
        return
    size = texts["t"].str.len_chars().cast(pl.Int64)
    per_text = sum((size - n + 1).clip(lower_bound=0) for n in lengths)
    cut = (per_text.cum_sum() // max(budget, 1)).rename("batch")
    for _, batch in texts.with_columns(cut).group_by("batch", maintain_order=True):
        yield (
            batch.select("i", "t")
            .with_columns(n=pl.lit(lengths, dtype=pl.List(pl.Int64)))
            .explode("n")
            .with_columns(L=pl.col("t").str.len_chars().cast(pl.Int64))
            .filter(pl.col("n") <= pl.col("L"))
            .with_columns(pos=pl.int_ranges(0, pl.col("L") - pl.col("n") + 1))
            .explode("pos")
            .select("i", w=pl.col("t").str.slice(pl.col("pos"), pl.col("n")))
        )


# a keyed hash as the pipeline writes them (64-hex pseudonyms, 32-hex fingerprints): it holds no
# identifier, and millions of them would match short digit-only candidates (a 10-digit national
# phone number) by chance; the gate exempts well-formed pseudonyms for the same reason
HASH_SHAPE = r"^(?:[0-9a-f]{32}){1,2}$"


def searchable_text(cells: pl.Series) -> str:
    """The cells of a column as one text to search inside, keyed hashes left out."""
    cells = cells.cast(pl.String).drop_nulls()
    return "\n".join(cells.filter(~cells.str.contains(HASH_SHAPE)).to_list())


def automaton(values: Iterable[str]) -> ahocorasick.Automaton:
    """Aho-Corasick automaton of the values long enough to be looked for inside text."""
    auto = ahocorasick.Automaton()
    for v in values:
        if len(v) >= MIN_SUBSTRING_CHARS:
            auto.add_word(v, 1)
    auto.make_automaton()
    return auto


def count_in(auto: ahocorasick.Automaton, text: str) -> int:
    """Occurrences of the automaton's values in the text."""
    if not text or len(auto) == 0:
        return 0
    return sum(1 for _ in auto.iter(text))
