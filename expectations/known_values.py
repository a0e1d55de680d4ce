"""The run's raw identifier values, held in memory only, and how to find them in a mart.

Why: pattern detection finds what looks like an identifier; this finds the identifiers we know
were delivered, whatever they look like (a name-based address line, a malformed VIN kept by
mistake). The values come from the run's landing CSVs, are compared in memory and are never
written: `KnownValues` refuses to be pickled (so it cannot reach XCom or a cache) and its repr
shows a count only.

Matching is on a *fold*: NFKC, invisible characters removed, Cyrillic and Greek look-alikes
made Latin (transforms/text_fold.py), lower case, letters, digits and `@` only. The fold of a
raw value and of its normalised form (transforms/identifiers.py: E.164 phones, compact VINs and
plates...) are both kept, so `AB12 CDE`, `ab12cde` and `AB-12-CDE` are one value, and a phone
is known in its international and national forms. A mart value matches when its fold equals a
known value (all lengths) or contains one of at least MIN_SUBSTRING_CHARS characters.

Name parts (surname, first name: the string parts of a composite identifier without a rule of
their own) are known as the full name, both orders, not one by one: a single name part is not an
identifier on its own, and vehicle makes published as dimensions (Ford, Bentley, Morgan, Smart)
are also common surnames, which would block every publication for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from transforms.classification import Classification, Entity
from transforms.classification import load as load_classification
from transforms.privacy.identifiers import normalise
from transforms.privacy.text_fold import match_fold

MIN_SUBSTRING_CHARS = 6
MIN_EXACT_CHARS = 4  # shorter folds ("na", "01") are placeholders, not identifiers
# what source systems put where a value is missing: never an identifier, often a mart value
PLACEHOLDERS = ("unknown", "none", "null", "notknown", "notgiven", "notapplicable", "nil", "tbc",
                "tba", "missing", "redacted")
_WINDOW_BUDGET = 20_000_000  # substring windows per batch: bounds memory on huge text columns
_SEED = 20261127  # any fixed seed: hashes are compared within one process only


def fold(expr: pl.Expr) -> pl.Expr:
    """The comparison form (transforms/text_fold.py): NFKC, invisible characters removed,
    look-alike letters of other scripts made Latin, lower case, letters, digits and `@` only."""
    return match_fold(expr)


class KnownValues:
    """Folded raw identifier values of one run. In memory only: never pickled, never shown.

    Held sorted by a 64-bit hash, so that each lookup is a binary search (confirmed on the
    string) instead of a hash table rebuilt over millions of values for every column checked.
    """

    __slots__ = ("_keys", "_hashes", "_collisions", "_lengths", "columns_read")

    def __init__(self, values: pl.Series, columns_read: int = 0) -> None:
        folded = values.cast(pl.String).drop_nulls()
        folded = folded.filter(
            (folded.str.len_chars() >= MIN_EXACT_CHARS) & ~folded.is_in(PLACEHOLDERS)
        )
        # de-duplicated by sorting on the hash and dropping repeats of the previous row: cheaper
        # than a hash-table unique() over tens of millions of strings. Equal values have equal
        # hashes, so they are adjacent unless a colliding value sits between them; such a left-
        # over repeat is harmless (colliding values are looked up directly, see _contains).
        table = pl.DataFrame({"k": folded}).with_columns(h=pl.col("k").hash(_SEED)).sort("h")
        table = table.filter(
            (pl.col("h") != pl.col("h").shift(1)) | (pl.col("k") != pl.col("k").shift(1))
            | pl.col("h").shift(1).is_null()
        )
        self._keys = table["k"]
        self._hashes = table["h"]
        # values sharing a hash (about one pair in a run of 10^7) are looked up directly
        self._collisions = table.filter(pl.col("h").is_duplicated())["k"]
        lengths = self._keys.str.len_chars().unique().to_list()
        self._lengths = tuple(sorted(n for n in lengths if n >= MIN_SUBSTRING_CHARS))
        self.columns_read = columns_read

    def __len__(self) -> int:
        return self._keys.len()

    def __repr__(self) -> str:
        return f"KnownValues({len(self)} folded values from {self.columns_read} columns)"

    def __reduce__(self) -> object:
        raise TypeError("KnownValues hold raw identifiers: never pickle them (XCom, caches)")

    def _contains(self, folded: pl.Series) -> pl.Series:
        """Element-wise: is this folded string a known value?"""
        if self._keys.is_empty() or folded.is_empty():
            return pl.Series([False] * folded.len(), dtype=pl.Boolean)
        hashes = folded.hash(_SEED)
        at = self._hashes.search_sorted(hashes, side="left").clip(upper_bound=len(self) - 1)
        found = (self._hashes.gather(at) == hashes) & (self._keys.gather(at) == folded)
        if not self._collisions.is_empty():
            found = found | folded.is_in(self._collisions.implode())
        return found.fill_null(False)

    def matches(self, values: pl.Series) -> pl.Series:
        """For each value: does it equal or contain a known value? (booleans, nulls False)."""
        texts = (
            pl.DataFrame({"t": values.cast(pl.String)})
            .with_row_index("i")
            .with_columns(fold(pl.col("t")).fill_null(""))
        )
        hit = [texts.filter(self._contains(texts["t"]))["i"]]
        if self._lengths:
            hit.append(self._substring_hits(texts.filter(
                pl.col("t").str.len_chars() > MIN_SUBSTRING_CHARS)))
        found = pl.concat(hit).unique()
        return texts["i"].is_in(found.implode()).rename(values.name)

    def _substring_hits(self, texts: pl.DataFrame) -> pl.Series:
        """Row ids whose folded text has a window equal to a known value (>= 6 characters)."""
        hits = [pl.Series("i", [], dtype=pl.UInt32)]
        for batch in _batches(texts, self._lengths):
            windows = (
                batch.with_columns(n=pl.lit(list(self._lengths), dtype=pl.List(pl.Int64)))
                .explode("n")
                .with_columns(L=pl.col("t").str.len_chars().cast(pl.Int64))
                .filter(pl.col("n") <= pl.col("L"))
                .with_columns(pos=pl.int_ranges(0, pl.col("L") - pl.col("n") + 1))
                .explode("pos")
                .select("i", w=pl.col("t").str.slice(pl.col("pos"), pl.col("n")))
            )
            hits.append(windows.filter(self._contains(windows["w"]))["i"])
        return pl.concat(hits).unique()


def _batches(texts: pl.DataFrame, lengths: tuple[int, ...]) -> Iterator[pl.DataFrame]:
    """Split the texts so that each batch makes at most about _WINDOW_BUDGET windows."""
    if texts.is_empty():
        return
    size = texts["t"].str.len_chars().cast(pl.Int64)
    per_text = sum(((size - n + 1).clip(lower_bound=0)) for n in lengths)
    budget_rows, start, running = [], 0, 0
    for idx, w in enumerate(per_text.to_list()):
        running += w
        if running > _WINDOW_BUDGET:
            budget_rows.append((start, idx + 1))
            start, running = idx + 1, 0
    budget_rows.append((start, texts.height))
    for lo, hi in budget_rows:
        if hi > lo:
            yield texts.slice(lo, hi - lo)


def _csv_files(deliveries: Iterable[Path]) -> Iterator[Path]:
    for d in deliveries:
        d = Path(d)
        if d.is_dir():
            yield from sorted(d.glob("*.csv"))
        elif d.suffix == ".csv":
            yield d


def _entity_values(frame: pl.LazyFrame, entity: Entity) -> tuple[pl.LazyFrame | None, int]:
    """Folded raw and normalised values of the entity's direct identifiers in one file.

    Two stages: each form (raw, normalised, national phone, full name) is computed once into a
    column, then folded and filtered by expressions over those columns; a when/then over an
    unmaterialised expression would evaluate it twice.
    """
    present = frame.collect_schema().names()
    country = pl.col("country") if "country" in present else None
    parts_of_composites = {
        s for comp in entity.composites for s in comp.sources
        if entity.column(s).type == "string" and not entity.column(s).identifier
    }
    forms: list[pl.Expr] = []
    needs_digit: list[bool] = []
    read = 0
    for col in entity.columns:
        if col.cls != "direct_identifier" or col.name not in present:
            continue
        if col.name in parts_of_composites:
            continue
        read += 1
        raw = pl.col(col.name)
        if not col.identifier:
            forms.append(raw)
            needs_digit.append(False)
            continue
        # every value of a ruled kind (email, phone, VIN, plate, IBAN, licence, references) has
        # a digit or an @: what has neither ("see notes") is filler, not an identifier
        norm = normalise(col.identifier, raw, country)
        forms += [raw, norm]
        if col.identifier == "phone":  # national form: 0 + the number after the country code
            forms.append(pl.lit("0") + norm.str.slice(3))
        needs_digit += [True] * (len(forms) - len(needs_digit))
    for comp in entity.composites:
        parts = [p for p in comp.sources if p in parts_of_composites and p in present]
        if len(parts) >= 2:
            read += len(parts)
            forms.append(pl.concat_str([pl.col(p) for p in parts], ignore_nulls=False))
            forms.append(pl.concat_str([pl.col(p) for p in reversed(parts)],
                                       ignore_nulls=False))
            needs_digit += [False, False]
    if not forms:
        return None, 0
    staged = frame.select([f.alias(f"f{i}") for i, f in enumerate(forms)])
    folded = staged.select([
        (pl.when(_fold_col(f"f{i}").str.contains("[0-9@]")).then(_fold_col(f"f{i}"))
         if digit else _fold_col(f"f{i}")).alias(f"v{i}")
        for i, digit in enumerate(needs_digit)
    ])
    return folded.select(pl.concat([pl.col(f"v{i}") for i in range(len(forms))])
                         .drop_nulls().alias("v")), read


def _needed_columns(path: Path, entity: Entity) -> list[str]:
    """Only the direct identifiers (and the country that normalises phones) are parsed."""
    header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    wanted = {c.name for c in entity.columns if c.cls == "direct_identifier"} | {"country"}
    return [c for c in header if c in wanted]


def _fold_col(name: str) -> pl.Expr:
    """fold() of a materialised column (match_fold skips the costly steps for ASCII values)."""
    return match_fold(pl.col(name))


def collect_known_values(
    deliveries: list[Path], classification: Classification | None = None
) -> KnownValues:
    """Read the run's landing CSVs (delivery folders or files) into a KnownValues.

    A file whose system/entity the classification does not know is skipped here: the ingest
    refuses such deliveries anyway.
    """
    classification = classification or load_classification()
    queries: list[pl.LazyFrame] = []
    columns = 0
    for path in _csv_files(deliveries):
        try:
            entity = classification.entity(path.parent.parent.name, path.stem)
        except KeyError:
            continue
        frame = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy").select(
            _needed_columns(path, entity))
        query, read = _entity_values(frame, entity)
        if query is not None:
            queries.append(query)
        columns += read
    # one plan per file, run together: polars spreads them over the cores
    frames = pl.collect_all(queries) if queries else []
    values = (pl.concat([f["v"] for f in frames]) if frames
              else pl.Series("v", [], dtype=pl.String))
    return KnownValues(values, columns_read=columns)
