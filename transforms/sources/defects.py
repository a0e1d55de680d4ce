"""Plant the defects real deliveries carry, deterministically, and record where they are.

The pipeline's validation and quarantine must catch these; the truth file lets tests check that
it caught exactly them. A record names the delivery, entity, kind and the row's 0-based position
in the written file (header excluded), never a value.

Kinds (1-3 of each per delivery, where the delivery has rows to host them):

* `bad_vin_check_digit`  a contract whose VIN has a wrong check digit (position 9);
* `missing_claim_number` a claim row whose claim number is empty;
* `duplicate_row`        an exact copy of a row of the same file (any entity);
* `negative_amount`      a negative premium (contracts) or a negative payment (transactions);
* `future_date`          a start date (contracts) or loss date (claims) after the delivery date;
* `redelivered_row`      a row of the previous delivery sent again unchanged (deliveries 2..N),
                         for a key the current delivery does not otherwise carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from transforms.sources.vehicles import vin_check_digits

KINDS = ["bad_vin_check_digit", "missing_claim_number", "duplicate_row", "negative_amount",
         "future_date", "redelivered_row"]
Entity = tuple[str, str]
CONTRACTS: Entity = ("policy_admin", "contracts")
CLAIMS: Entity = ("claims", "claims")
TRANSACTIONS: Entity = ("claims", "claim_transactions")


@dataclass
class Defect:
    """One planted defect; `row` is the final 0-based position in the file."""

    kind: str
    entity: Entity
    column: str | None = None
    row: int = -1
    source_row: int | None = None  # duplicate_row: the original; redelivered_row: previous file
    tag: int = -1

    def to_json(self, previous_date: str | None) -> dict[str, object]:
        doc: dict[str, object] = {"kind": self.kind, "system": self.entity[0],
                                  "entity": self.entity[1], "row": self.row}
        if self.column:
            doc["column"] = self.column
        if self.kind == "duplicate_row":
            doc["duplicate_of_row"] = self.source_row
        if self.kind == "redelivered_row":
            doc["from_delivery"] = previous_date
            doc["from_row"] = self.source_row
        return doc


@dataclass
class _Work:
    """A delivery frame being edited: mutated in place, extra rows queued for insertion."""

    frame: pl.DataFrame
    used: set[int] = field(default_factory=set)
    extras: list[tuple[pl.DataFrame, int, int]] = field(default_factory=list)  # row, anchor, tag

    def free_rows(self, mask: np.ndarray | None = None) -> np.ndarray:
        ok = np.ones(self.frame.height, dtype=bool) if mask is None else mask.copy()
        if self.used:
            ok[list(self.used)] = False
        return np.flatnonzero(ok)


def _bad_vin(vin: str, rng: np.random.Generator) -> str:
    """The same VIN with a different (wrong) check character."""
    chars = np.frombuffer(vin.encode("ascii"), dtype=np.uint8).reshape(1, 17).copy()
    right = chr(int(vin_check_digits(chars)[0]))
    choices = [c for c in "0123456789X" if c != right]
    return vin[:8] + choices[int(rng.integers(0, len(choices)))] + vin[9:]


def _set(frame: pl.DataFrame, column: str, rows: list[int], values: list[object]) -> pl.DataFrame:
    """The frame with `column` replaced at `rows` (dates given as day numbers)."""
    s = frame.get_column(column).clone()
    if s.dtype == pl.Date:
        new = pl.Series(values, dtype=pl.Int32).cast(pl.Date)
    else:
        new = pl.Series(values, dtype=s.dtype)
    s.scatter(rows, new)
    return frame.with_columns(s)


def plant(rng: np.random.Generator, frames: dict[Entity, pl.DataFrame], keys: dict[Entity, str],
          day: int, previous: dict[Entity, pl.DataFrame] | None,
          previous_defect_rows: dict[Entity, set[int]] | None,
          ) -> tuple[dict[Entity, pl.DataFrame], list[Defect]]:
    """Return the delivery's frames with defects planted, and the defects' records."""
    work = {e: _Work(f) for e, f in frames.items()}
    defects: list[Defect] = []
    excluded = {e: set(rows) for e, rows in (previous_defect_rows or {}).items()}

    def take(entity: Entity, mask: np.ndarray | None = None) -> int | None:
        free = work[entity].free_rows(mask)
        if not len(free):
            return None
        row = int(free[rng.integers(0, len(free))])
        work[entity].used.add(row)
        return row

    def count() -> int:
        return int(rng.integers(1, 4))

    # In-place mutations.
    for _ in range(count()):
        row = take(CONTRACTS)
        if row is not None:
            w = work[CONTRACTS]
            w.frame = _set(w.frame, "vin", [row], [_bad_vin(w.frame["vin"][row], rng)])
            defects.append(Defect("bad_vin_check_digit", CONTRACTS, "vin", tag=row))
    for _ in range(count()):
        row = take(CLAIMS)
        if row is not None:
            work[CLAIMS].frame = _set(work[CLAIMS].frame, "claim_number", [row], [None])
            defects.append(Defect("missing_claim_number", CLAIMS, "claim_number", tag=row))
    for _ in range(count()):
        payments = (work[TRANSACTIONS].frame["transaction_type"] == "payment").to_numpy()
        hosts = [(CONTRACTS, "premium_excl_ipt", None), (TRANSACTIONS, "amount", payments)]
        entity, column, mask = hosts[int(rng.integers(0, 2))]
        row = take(entity, mask)
        if row is None:
            entity, column, mask = [h for h in hosts if h[0] != entity][0]
            row = take(entity, mask)
        if row is not None:
            w = work[entity]
            w.frame = _set(w.frame, column, [row], [-abs(int(w.frame[column][row]))])
            defects.append(Defect("negative_amount", entity, column, tag=row))
    for _ in range(count()):
        hosts = [(CONTRACTS, "start_date"), (CLAIMS, "loss_date")]
        order = rng.permutation(2)
        for entity, column in (hosts[i] for i in order):
            row = take(entity)
            if row is not None:
                future = day + int(rng.integers(1, 61))
                w = work[entity]
                w.frame = _set(w.frame, column, [row], [future])
                defects.append(Defect("future_date", entity, column, tag=row))
                break

    # Extra rows: exact duplicates, and rows of the previous delivery sent again.
    with_rows = [e for e in work if work[e].frame.height > 0]
    for _ in range(count()):
        if not with_rows:
            break
        entity = with_rows[int(rng.integers(0, len(with_rows)))]
        row = take(entity)
        if row is None:
            continue
        w = work[entity]
        tag = -1 - len(defects)  # extra rows get negative tags, original rows their index
        w.extras.append((w.frame.slice(row, 1), int(rng.integers(0, w.frame.height + 1)), tag))
        defects.append(Defect("duplicate_row", entity, source_row=row, tag=tag))
    if previous is not None:
        for _ in range(count()):
            candidates = []
            for entity, prev in previous.items():
                key = prev.get_column(keys[entity])
                ok = (~key.is_in(work[entity].frame.get_column(keys[entity]).implode())
                      & key.is_not_null()).to_numpy()
                ok[list(excluded.get(entity, ()))] = False
                if ok.any():
                    candidates.append((entity, np.flatnonzero(ok)))
            if not candidates:
                break
            entity, rows = candidates[int(rng.integers(0, len(candidates)))]
            src = int(rows[rng.integers(0, len(rows))])
            excluded.setdefault(entity, set()).add(src)  # never the same row twice
            w = work[entity]
            tag = -1 - len(defects)
            w.extras.append((previous[entity].slice(src, 1),
                             int(rng.integers(0, w.frame.height + 1)), tag))
            defects.append(Defect("redelivered_row", entity, source_row=src, tag=tag))

    return _assemble(work, defects)


def _assemble(work: dict[Entity, _Work], defects: list[Defect],
              ) -> tuple[dict[Entity, pl.DataFrame], list[Defect]]:
    """Insert the extra rows at their anchors and resolve every defect's final position.

    Why not a concatenation and a sort: that copied every delivery frame (a full extract of 1M
    contracts is about 0.4 GiB) to insert a handful of rows. The frame is cut at the anchors
    (slices share the buffers) and the positions are counted, in the order the sort gave: an
    extra row goes before the original row at its anchor, extras of one anchor in queue order.
    """
    out: dict[Entity, pl.DataFrame] = {}
    for entity, w in work.items():
        n = w.frame.height
        queued = sorted(range(len(w.extras)), key=lambda i: (w.extras[i][1], i))
        anchors = np.array([w.extras[i][1] for i in queued], dtype=np.int64)
        position: dict[int, int] = {}
        for rank, i in enumerate(queued):
            position[w.extras[i][2]] = w.extras[i][1] + rank
        for d in defects:
            if d.entity != entity:
                continue
            for tag in (d.tag, d.source_row if d.kind == "duplicate_row" else None):
                if tag is not None and tag >= 0:  # an original row: shifted by extras before it
                    position[tag] = tag + int(np.searchsorted(anchors, tag, side="right"))
            d.row = position[d.tag]
            if d.kind == "duplicate_row" and d.source_row is not None:
                d.source_row = position[d.source_row]
        if not queued:
            out[entity] = w.frame
            continue
        columns = w.frame.columns
        parts, start = [], 0
        for i in queued:
            row, anchor, _ = w.extras[i]
            parts.append(w.frame.slice(start, anchor - start))
            parts.append(row.select(columns))
            start = anchor
        parts.append(w.frame.slice(start, n - start))
        out[entity] = pl.concat(parts, how="vertical", rechunk=False)
    return out, defects
