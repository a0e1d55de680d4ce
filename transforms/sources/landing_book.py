"""Which synthetic book a landing zone holds, and adding its next day.

Why: `make run` used to keep whatever deliveries were in `data/landing` (`--if-missing`), so
`make run CONTRACTS=1000000` on a zone generated with 50,000 silently ran the old book, and the
only way to get another day was to regenerate the whole book for a new as-of date. The
generator now records the book's parameters in `<landing>/_book.json` (seed, contracts, first
delivery date, horizon: the last day its history reaches; and, for a book built in more than
one shard, the shard size it was built with, transforms/sources/shards.py), and:

* `ensure_book` (make run's rerun) keeps the zone only when it is the book asked for, adds the
  days up to as_of that are missing (within the horizon), and otherwise refuses with what to do;
* `append_day` (`make next-day`) writes the next day's deliveries, byte-identical to what a
  generation of the same book up to that day writes for it (same history, same defect streams).

The record holds generator parameters only, never a delivered value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from transforms.sources.deliveries import SYSTEMS
from transforms.sources.shards import DEFAULT_SHARD_CONTRACTS, shard_count

RECORD = "_book.json"


class LandingBookError(RuntimeError):
    """The landing zone holds another book, an unknown one, or its history ends too early."""


@dataclass(frozen=True)
class BookRecord:
    seed: int
    contracts: int
    first: date  # the first delivery (the full extract)
    horizon: date  # the last day the book's history reaches
    # The shard size of a book built in several shards; None for a book of one shard, which
    # is every book recorded before shards existed (a record without it stays readable, and
    # reproduces its book whatever the default shard size).
    shard_contracts: int | None = None

    @property
    def shard_size(self) -> int:
        """The shard size that rebuilds this book (its contracts: one shard, when unrecorded)."""
        return self.shard_contracts or self.contracts

    @property
    def shards(self) -> int:
        return shard_count(self.contracts, self.shard_size)

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"seed": self.seed, "contracts": self.contracts,
                               "first": self.first.isoformat(),
                               "horizon": self.horizon.isoformat()}
        if self.shard_contracts is not None:
            doc["shard_contracts"] = self.shard_contracts
        return doc


def write_record(landing: Path, record: BookRecord) -> None:
    landing = Path(landing)
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing / (RECORD + ".part")
    tmp.write_text(json.dumps(record.as_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, landing / RECORD)


def read_record(landing: Path) -> BookRecord | None:
    path = Path(landing) / RECORD
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    shard = doc.get("shard_contracts")
    return BookRecord(seed=int(doc["seed"]), contracts=int(doc["contracts"]),
                      first=date.fromisoformat(doc["first"]),
                      horizon=date.fromisoformat(doc["horizon"]),
                      shard_contracts=int(shard) if shard is not None else None)


def delivery_dates_on_disk(landing: Path) -> list[date]:
    """Dates with a complete delivery (a manifest) of any system, sorted."""
    found: set[date] = set()
    for system in SYSTEMS:
        for manifest in Path(landing).glob(f"{system}/*/_manifest.json"):
            try:
                found.add(date.fromisoformat(manifest.parent.name))
            except ValueError:
                continue
    return sorted(found)


def has_deliveries(landing: Path) -> bool:
    return any((Path(landing) / system).is_dir() and any((Path(landing) / system).iterdir())
               for system in SYSTEMS)


def last_delivery(landing: Path) -> date | None:
    dates = delivery_dates_on_disk(landing)
    return dates[-1] if dates else None


def _record_or_refuse(landing: Path) -> BookRecord:
    record = read_record(landing)
    if record is None:
        raise LandingBookError(
            f"{landing} holds deliveries but no book record ({RECORD}): which book they are "
            f"cannot be told; remove {landing} (make clean) to generate the book anew")
    return record


def append_day(landing: Path, *, truth_dir: Path | None = None,
               policy_admin_db: Any | None = None) -> dict[str, Any]:
    """Write the next day's deliveries of the book in `landing`; returns generate_book's
    summary (its `as_of` is the new day). With `policy_admin_db`, the policy-admin rows go to
    that database (generate_book)."""
    from transforms.sources.generate import generate_book

    landing = Path(landing)
    record = _record_or_refuse(landing)
    last = last_delivery(landing)
    if last is None:
        raise LandingBookError(f"{landing} holds no delivery to follow")
    day = last + timedelta(days=1)
    if day > record.horizon:
        raise LandingBookError(
            f"the book's history ends at {record.horizon}: {day} cannot be added; generate it "
            "again with a later horizon (make run HORIZON_DAYS=...)")
    days = (day - record.first).days + 1
    return generate_book(landing, record.contracts, days, day, record.seed, truth_dir=truth_dir,
                         horizon=record.horizon, only=day, policy_admin_db=policy_admin_db,
                         shard_contracts=record.shard_size)


def _described(contracts: int, seed: int, shards: int) -> str:
    return f"CONTRACTS={contracts} SEED={seed}" + (f" in {shards} shards" if shards > 1 else "")


def ensure_book(landing: Path, *, contracts: int, days: int, as_of: date, seed: int,
                truth_dir: Path | None = None, policy_admin_db: Any | None = None,
                shard_contracts: int = DEFAULT_SHARD_CONTRACTS) -> str:
    """Keep the landing zone if it holds this book, adding missing days up to `as_of`;
    raise LandingBookError (with what to do) for any other book. Returns what was done.
    The same seed and contracts cut into another number of shards is another book."""
    landing = Path(landing)
    record = _record_or_refuse(landing)
    first = as_of - timedelta(days=days - 1)
    shards = shard_count(contracts, shard_contracts)
    asked = _described(contracts, seed, shards)
    held = _described(record.contracts, record.seed, record.shards)
    if (record.contracts, record.seed, record.shards) != (contracts, seed, shards):
        raise LandingBookError(
            f"{landing} holds another book ({held}, deliveries from {record.first}), not "
            f"{asked}: remove {landing} (make clean) to generate the new one, or run with {held}")
    last = last_delivery(landing)
    if last is not None and as_of <= last:
        if first != record.first:
            raise LandingBookError(
                f"{landing} holds this book's deliveries from {record.first}, not from {first} "
                f"(DAYS={days} up to {as_of}): remove {landing} (make clean) to generate it "
                "with these dates")
        return f"deliveries of the same book ({held}) up to {last} already in {landing}: kept"
    added = []
    while (last := last_delivery(landing)) is not None and last < as_of:
        added.append(append_day(landing, truth_dir=truth_dir,
                                policy_admin_db=policy_admin_db)["as_of"])
    return (f"same book ({held}): added the deliveries of {', '.join(added)} to {landing}"
            if added else f"deliveries already in {landing}: kept")
