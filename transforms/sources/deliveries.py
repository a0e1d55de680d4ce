"""Cut daily deliveries out of the source systems' history, and write them to the landing zone.

A delivery is what one system sends for one date: the first one of a run is the full extract
of everything known on that date, the later ones are increments (rows new or changed that
day). Every row is as known on the delivery date: a cancellation appears once it has happened,
a claim's status is the one it had that day, a transaction is listed on its own date.

Files are written with the classification's columns in its order (typed frames, formatted
here: ISO dates, `true`/`false`, empty for null, amounts with two decimals) and the manifest
is written last, atomically, so that a folder without `_manifest.json` is still incomplete.
A book generated in shards (transforms/sources/shards.py) appends each shard's rows to the same
files (`DeliveryFiles`): each is complete, renamed into place, before its manifest is written.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import polars as pl

from transforms.checksums import file_sha256
from transforms.classification import Classification
from transforms.files import atomic_write, write_text_atomic
from transforms.landing import MANIFEST
from transforms.sources.claims import ClaimsHistory
from transforms.sources.common import format_cents
from transforms.sources.contracts import Book

Entity = tuple[str, str]  # (system, entity)
ENTITIES: list[Entity] = [
    ("policy_admin", "contracts"), ("policy_admin", "quotes"),
    ("claims", "claims"), ("claims", "claim_transactions"),
    ("dpo", "consent_changes"), ("dpo", "subject_requests"),
]
SYSTEMS = ["policy_admin", "claims", "dpo"]
# Internal columns a delivery keeps until written (the truth file counts them).
KEEP_INTERNAL = {("claims", "claims"): ["_mentions"], ("dpo", "subject_requests"): ["_match"]}


@dataclass(frozen=True)
class History:
    """Everything the three source systems will ever hold for one book."""

    book: Book
    claims: ClaimsHistory
    quotes: pl.DataFrame
    consent_changes: pl.DataFrame
    subject_requests: pl.DataFrame


def _categorical(frame: pl.DataFrame, keep: set[str]) -> pl.DataFrame:
    """The frame with its repetitive text columns held as categoricals (names outside `keep`).

    Why: a text value costs 16 bytes per row in polars (its view) before its characters, a
    category code 4. Products, tiers, makes, cities and first names repeat across a million
    contracts, and they were about a third of the history's memory; CSV writing and the
    database loader write a categorical as its text, so the deliveries are byte-identical.
    A column qualifies when it has at most one distinct value per 8 rows (estimated).
    """
    text = [c for c, t in frame.schema.items() if t == pl.String and c not in keep]
    if not text or frame.height == 0:
        return frame
    distinct = frame.select(pl.col(text).approx_n_unique()).row(0)
    repetitive = [c for c, n in zip(text, distinct, strict=True) if n * 8 <= frame.height]
    return frame.with_columns(pl.col(repetitive).cast(pl.Categorical)) if repetitive else frame


def categorical_history(h: History, classification: Classification) -> History:
    """The history with `_categorical` applied to every frame; the entities' keys stay text
    (deliveries are sorted by them, and a categorical sorts by its codes' order)."""
    keys = {c for s, e in ENTITIES for c in classification.entity(s, e).key}

    def cat(frame: pl.DataFrame) -> pl.DataFrame:
        return _categorical(frame, keys)

    return History(
        book=Book(customers=cat(h.book.customers), contracts=cat(h.book.contracts),
                  as_of=h.book.as_of, shard=h.book.shard),
        claims=ClaimsHistory(claims=cat(h.claims.claims),
                             status_events=cat(h.claims.status_events),
                             transactions=cat(h.claims.transactions)),
        quotes=cat(h.quotes), consent_changes=cat(h.consent_changes),
        subject_requests=cat(h.subject_requests),
    )


def _dated(frame: pl.DataFrame, day: int, full: bool) -> pl.DataFrame:
    return frame.filter(pl.col("_day") <= day if full else pl.col("_day") == day)


def _contracts(h: History, day: int, full: bool) -> pl.DataFrame:
    c = h.book.contracts
    start, cancel = pl.col("_start"), pl.col("_cancel")
    rows = c.filter(start <= day) if full else c.filter((start == day) | (cancel == day))
    return rows.with_columns(
        cancellation_date=pl.when((cancel >= 0) & (cancel <= day))
        .then(pl.col("cancellation_date")).otherwise(None)
    )


def _claims(h: History, day: int, full: bool) -> pl.DataFrame:
    events = h.claims.status_events.filter(pl.col("_day") <= day)
    status = events.group_by("_claim", maintain_order=True).agg(
        pl.col("status").last(), pl.col("_day").last().alias("_status_day"))
    known = h.claims.claims.filter(pl.col("_notif") <= day)
    rows = known.join(status, on="_claim", how="left", maintain_order="left")
    if not full:
        rows = rows.filter((pl.col("_notif") == day) | (pl.col("_status_day") == day))
    return rows


def _transactions(h: History, day: int, full: bool) -> pl.DataFrame:
    return _dated(h.claims.transactions, day, full)


VIEWS: dict[Entity, Callable[[History, int, bool], pl.DataFrame]] = {
    ("policy_admin", "contracts"): _contracts,
    ("policy_admin", "quotes"): lambda h, d, f: _dated(h.quotes, d, f),
    ("claims", "claims"): _claims,
    ("claims", "claim_transactions"): _transactions,
    ("dpo", "consent_changes"): lambda h, d, f: _dated(h.consent_changes, d, f),
    ("dpo", "subject_requests"): lambda h, d, f: _dated(h.subject_requests, d, f),
}


def delivery_frames(history: History, classification: Classification, day: int,
                    full: bool) -> dict[Entity, pl.DataFrame]:
    """Every entity's rows for one delivery date, typed, in the classification's column order
    (plus the few internal columns of KEEP_INTERNAL), sorted by the entity's key."""
    out: dict[Entity, pl.DataFrame] = {}
    for system, name in ENTITIES:
        entity = classification.entity(system, name)
        frame = VIEWS[(system, name)](history, day, full)
        cols = entity.column_names + KEEP_INTERNAL.get((system, name), [])
        out[(system, name)] = frame.select(cols).sort(list(entity.key), maintain_order=True)
        del frame
    return out


def decimal_columns(classification: Classification, system: str, name: str) -> list[str]:
    return [c.name for c in classification.entity(system, name).columns if c.type == "decimal"]


def append_csv(frame: pl.DataFrame, handle: BinaryIO, decimals: list[str], *,
               header: bool) -> int:
    """Write a delivery frame's rows (internal columns dropped) to an open binary file, after
    the header when `header`; return the rows written. Every value is formatted on its own
    (quoting, dates, amounts), so rows appended in parts give the bytes of one write."""
    public = frame.select([c for c in frame.columns if not c.startswith("_")])
    public = public.with_columns([format_cents(c) for c in decimals])
    public.write_csv(handle, include_header=header, date_format="%Y-%m-%d", line_terminator="\n")
    return public.height


def write_csv(frame: pl.DataFrame, path: Path, decimals: list[str]) -> tuple[int, str]:
    """Write one delivery file (internal columns dropped); return (rows, sha256)."""
    with atomic_write(path) as tmp:
        with open(tmp, "wb") as handle:
            rows = append_csv(frame, handle, decimals, header=True)
        digest = file_sha256(tmp)
    return rows, digest


def write_manifest(folder: Path, system: str, delivery_date: str,
                   files: dict[str, dict[str, object]]) -> None:
    """The manifest, written last and atomically: its presence means the delivery is whole."""
    doc = {"system": system, "delivery_date": delivery_date, "files": files}
    write_text_atomic(folder / MANIFEST, json.dumps(doc, indent=2) + "\n")


@dataclass(frozen=True)
class WrittenDelivery:
    """One delivery folder once complete: its files' rows and SHA-256 (as in its manifest) and
    sizes."""

    delivery_date: date
    system: str
    folder: Path
    files: dict[str, dict[str, object]]
    sizes: dict[str, int]


class DeliveryFiles:
    """The delivery files of one generation, filled shard by shard.

    Why: a book generated in shards appends every shard's rows to each delivery file. A file is
    written beside its final name (`<name>.csv.part`): the header and the first shard's rows,
    then each later shard's appended. Only when every shard is in does `finish` rename the
    files into place and then write each folder's manifest, with the rows and SHA-256 of the
    complete files. A failed generation leaves no file under a final name and no manifest
    (`discard` removes the temporary files, and the folders it leaves empty).
    """

    SUFFIX = ".part"

    def __init__(self, out_dir: Path, dates: list[date], systems: list[str],
                 classification: Classification) -> None:
        self.out_dir = Path(out_dir)
        self.dates = list(dates)
        self.systems = list(systems)
        self._entities = [(s, e) for s, e in ENTITIES if s in self.systems]
        self._decimals = {(s, e): decimal_columns(classification, s, e)
                          for s, e in self._entities}
        self._rows: dict[tuple[date, Entity], int] = {}  # rows appended so far, per file

    def _path(self, day: date, entity: Entity) -> Path:
        return self.out_dir / entity[0] / day.isoformat() / f"{entity[1]}.csv"

    def _part(self, day: date, entity: Entity) -> Path:
        path = self._path(day, entity)
        return path.with_name(path.name + self.SUFFIX)

    def append(self, day: date, frames: dict[Entity, pl.DataFrame]) -> None:
        """Append one shard's frames of `day` to its files (nothing if `day` is not written)."""
        if day not in self.dates:
            return
        for entity in self._entities:
            part = self._part(day, entity)
            first = (day, entity) not in self._rows
            if first:
                part.parent.mkdir(parents=True, exist_ok=True)
                self._rows[(day, entity)] = 0
            with open(part, "wb" if first else "ab") as handle:
                self._rows[(day, entity)] += append_csv(frames[entity], handle,
                                                        self._decimals[entity], header=first)

    def finish(self) -> list[WrittenDelivery]:
        """Rename every complete file into place, then write each folder's manifest (last)."""
        written = []
        for day in self.dates:
            for system in self.systems:
                files: dict[str, dict[str, object]] = {}
                sizes: dict[str, int] = {}
                for entity in (e for e in self._entities if e[0] == system):
                    part, path = self._part(day, entity), self._path(day, entity)
                    digest = file_sha256(part)
                    os.replace(part, path)
                    files[path.name] = {"rows": self._rows[(day, entity)], "sha256": digest}
                    sizes[path.name] = path.stat().st_size
                folder = self.out_dir / system / day.isoformat()
                write_manifest(folder, system, day.isoformat(), files)
                written.append(WrittenDelivery(day, system, folder, files, sizes))
        return written

    def discard(self) -> None:
        """Remove the temporary files of a generation that failed, and folders left empty."""
        for day, entity in self._rows:
            part = self._part(day, entity)
            part.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty (another file, a manifest): kept
                part.parent.rmdir()
