"""The landing contract, in one place: where deliveries are, when one is complete, how its raw
files are read, and how rows are removed from them.

Layout (docs/source-contract.md): `<landing>/<system>/<YYYY-MM-DD>/<entity>.csv`, with
`_manifest.json` written last (each file's rows and SHA-256): a folder without it is still being
written. Quarantined raw rows sit in `<quarantine>/<system>/<date>/<entity>.parquet`. Every other
module walks deliveries through the functions here, so that the contract is read one way only.

Removing rows (erasure, suppression sweep) is byte-preserving: a landing file is the source
system's evidence; only the removed rows may change. The CSV is cut into physical records (a
quoted field may span lines) and the records of the removed rows are left out, every other byte
stays as delivered. The manifest gets the new SHA-256 and row count, so the ingest still accepts
the delivery, and the audit's checksum of an already loaded file is moved along with it
(`audit.deliveries`), so the ingest does not reload it.

Two phases, so that an erasure is all or nothing: `prepare` writes every new file beside the old
one (`*.rights-tmp`) and changes nothing; `commit` renames them into place (the CSVs first, the
manifest last), only after the warehouse transaction has committed. A crash between the two
leaves temporary files that the next run discards (`discard_pending`); the suppression list then
brings the files in line again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, Protocol

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq

from transforms.checksums import file_sha256
from transforms.classification import Classification, Entity
from transforms.frames import owned

MANIFEST = "_manifest.json"  # written last by the source system: the delivery is complete
TMP_SUFFIX = ".rights-tmp"

# -- the delivery folders ----------------------------------------------------------------------


def landing_file_parts(path: Path) -> tuple[str, str, date]:
    """(system, entity, delivery date) of a landing file, `<system>/<YYYY-MM-DD>/<entity>.csv`."""
    return path.parent.parent.name, path.stem, date.fromisoformat(path.parent.name)


@dataclass(frozen=True)
class Delivery:
    system: str
    delivery_date: date
    path: Path

    @property
    def label(self) -> str:
        return f"{self.system}/{self.delivery_date.isoformat()}"


def dated_folders(landing: Path, system: str) -> list[Delivery]:
    """The system's delivery folders (named by their date), oldest first; other entries are
    not deliveries and are ignored."""
    out = []
    for folder in sorted((landing / system).glob("*")):
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if folder.is_dir():
            out.append(Delivery(system, day, folder))
    return out


def discover(landing: Path, classification: Classification, *,
             systems: Iterable[str] | None = None, until: date | None = None) -> list[Delivery]:
    """Every delivery folder of a known system, oldest first; only of `systems` when given,
    and none dated after `until` (a later delivery belongs to a later run)."""
    wanted = set(systems) if systems else None
    found = [d for system in classification.systems
             if wanted is None or system in wanted
             for d in dated_folders(landing, system)
             if until is None or d.delivery_date <= until]
    return sorted(found, key=lambda dl: (dl.delivery_date, dl.system))


def complete_deliveries(landing: Path, system: str, until: date | None = None) -> list[Path]:
    """Delivery folders of a system that carry their manifest (others are still being written)."""
    return [d.path for d in dated_folders(landing, system)
            if (d.path / MANIFEST).is_file() and (until is None or d.delivery_date <= until)]


def every_delivery_folder(landing: Path) -> list[Path]:
    """Every folder one level below a system, whatever its name or state: what the gate reads
    raw values from (anything that may have reached the landing zone)."""
    return sorted(d for d in landing.glob("*/*") if d.is_dir())


def manifest_files(folder: Path) -> dict | None:
    """The manifest's `files` (name -> rows, sha256), or None when it is missing or unreadable."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError):
        return None


# -- the raw files -----------------------------------------------------------------------------


def read_raw_csv(path: Path) -> pl.DataFrame | None:
    """A landing file as strings, or None when it cannot be parsed (the ingest refuses it too)."""
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError):
        return None


def read_quarantine(path: Path) -> pl.DataFrame | None:
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError):
        return None


def raw_files(landing: Path, quarantine: Path, classification: Classification,
              until: date | None = None) -> Iterable[tuple[str, Entity, Path]]:
    """(where, entity, path) of every raw file the pipeline still holds."""
    for system in classification.systems:
        for folder in complete_deliveries(landing, system, until):
            for entity in classification.entities_of(system):
                path = folder / f"{entity.name}.csv"
                if path.is_file():
                    yield "landing", entity, path
        for path in sorted((quarantine / system).glob("*/*.parquet")):
            try:
                entity = classification.entity(system, path.stem)
            except KeyError:
                continue
            yield "quarantine", entity, path


# -- removing rows from raw files --------------------------------------------------------------


# (raw frame, entity) -> per row, either True to remove it (a Boolean series), or the owner the
# removal is counted for (an integer series, null keeps the row): a batch of erasures counts each
# removed row for one request (transforms/rights/erasure.py)
Matcher = Callable[[pl.DataFrame, Entity], pl.Series]


def _removals(marks: pl.Series) -> tuple[pl.Series, dict[int, int]]:
    """(rows to remove, removed rows per owner) from a matcher's result (see Matcher)."""
    if marks.dtype == pl.Boolean:
        return marks.fill_null(False), {}
    owned = marks.drop_nulls().value_counts()
    return marks.is_not_null(), {int(o): int(n) for o, n in owned.iter_rows()}


class RawRewriteError(RuntimeError):
    """A raw file could not be rewritten safely; nothing was changed. Never carries a value."""


@dataclass
class PlannedFile:
    """A file to replace (or delete), with counts for the audit."""

    path: Path
    tmp: Path | None  # None: delete the file (a quarantine file left empty)
    kind: str  # landing | quarantine
    place: str  # e.g. landing:policy_admin/contracts
    rows_removed: int
    old_sha: str = ""
    new_sha: str = ""
    new_rows: int = 0
    owners: dict[int, int] = field(default_factory=dict)  # rows removed per owner (see Matcher)
    # the removed rows themselves (a landing file's, as read_raw_csv_batches parses them): what
    # the gate's fingerprints of the delivery lose (transforms/ingest/fingerprints.py)
    removed: pl.DataFrame | None = field(default=None, repr=False)


@dataclass
class RewritePlan:
    files: list[PlannedFile] = field(default_factory=list)
    manifests: list[tuple[Path, Path]] = field(default_factory=list)  # (tmp, manifest)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.place] = out.get(f.place, 0) + f.rows_removed
        return out

    def counts_by_owner(self) -> dict[int, dict[str, int]]:
        """Rows removed per owner and place, for a matcher that names owners."""
        out: dict[int, dict[str, int]] = {}
        for f in self.files:
            for owner, n in f.owners.items():
                per = out.setdefault(owner, {})
                per[f.place] = per.get(f.place, 0) + n
        return out

    @property
    def rows(self) -> int:
        return sum(f.rows_removed for f in self.files)

    def discard(self) -> None:
        for f in self.files:
            if f.tmp is not None:
                f.tmp.unlink(missing_ok=True)
        for tmp, _ in self.manifests:
            tmp.unlink(missing_ok=True)

    def update_audit(self, con: duckdb.DuckDBPyConnection) -> None:
        """Move the loaded checksum of rewritten landing files along (caller's transaction)."""
        for f in self.files:
            if f.kind != "landing":
                continue
            system, entity, day = landing_file_parts(f.path)
            con.execute(
                "update audit.deliveries set file_sha256 = ? where system = ? and entity = ? "
                "and delivery_date = ? and file_sha256 = ?",
                [f.new_sha, system, entity, day, f.old_sha],
            )

    def commit(self) -> None:
        """Rename the new files into place: data files first, each manifest last."""
        for f in self.files:
            if f.tmp is None:
                f.path.unlink(missing_ok=True)
            else:
                os.replace(f.tmp, f.path)
        for tmp, manifest in self.manifests:
            os.replace(tmp, manifest)


REWRITE_BATCH_ROWS = 50_000  # raw rows read at a time (1M extract: 230 MB peak; 200,000: 475 MB)


RECORD_CHUNK_BYTES = 1 << 22  # bytes read at a time when cutting a file into its records


class _Reader(Protocol):
    def read(self, n: int, /) -> bytes: ...


def read_raw_csv_batches(path: Path, rows: int = REWRITE_BATCH_ROWS) -> Iterable[pl.DataFrame]:
    """A landing file as strings, `rows` records at a time, in file order (read_raw_csv's frame,
    cut): a full extract of 1M contracts is about 0.5 GiB as one frame. Read through a file
    object, a chunk at a time, and each batch parsed on its own: polars' own readers map the
    whole file (its pages count in the process's RSS) and its batch iterator reads ahead without
    bound. Raises PolarsError (or OSError) when the file cannot be parsed, as read_raw_csv."""
    with open(path, "rb") as src:
        header: bytes | None = None
        pieces: list[bytes] = []  # runs of whole records, each run's records joined by \n
        count = 0
        emitted = False
        for buf, starts, ends in _record_runs(src):
            i = 0
            if header is None:
                header, i = buf[starts[0]:ends[0]], 1
            while i < len(starts):
                take = min(rows - count, len(starts) - i)
                pieces.append(buf[starts[i]:ends[i + take - 1]])
                count += take
                i += take
                if count == rows:
                    yield _parse_batch(header, pieces, count)
                    pieces, count, emitted = [], 0, True
        if header is None:
            raise pl.exceptions.NoDataError("empty CSV file")
        if count or not emitted:  # a file of a header only is one empty batch
            yield _parse_batch(header, pieces, count)


def _parse_batch(header: bytes, pieces: list[bytes], records: int) -> pl.DataFrame:
    data = b"\n".join([header, *pieces]) + b"\n"
    frame = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
    if frame.height != records:
        raise pl.exceptions.ComputeError("records and parsed rows disagree")
    return frame


def _record_runs(src: _Reader, chunk: int | None = None
                 ) -> Iterable[tuple[bytes, np.ndarray, np.ndarray]]:
    """The file's physical CSV records (header first), a chunk at a time: (buffer, starts,
    ends), record i being `buffer[starts[i]:ends[i]]`, without its line end; a line end inside
    a quoted field stays inside its record. Consecutive records of a buffer are separated by
    one `\n` in it, so a run of them is one slice.

    Why not line by line: a Python loop over lines was most of an erasure's time at 1M
    contracts (16 million records a rewrite plan and the subject index read). A record ends at a
    `\n` with an even number of `"` since the record began, found with numpy over the chunk.
    """
    chunk = chunk or RECORD_CHUNK_BYTES
    pending = b""
    while True:
        data = src.read(chunk)
        buf = pending + data if pending else data
        if not buf:
            return
        arr = np.frombuffer(buf, dtype=np.uint8)
        newlines = np.flatnonzero(arr == 10)
        quoted = b'"' in buf
        if quoted and len(newlines):
            # the quotes before each line end, from the buffer's start (a record boundary)
            quotes = np.flatnonzero(arr == 34)
            newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
        ends = newlines
        if not data:  # end of file: what follows the last line end is the last record
            tail = buf[ends[-1] + 1:] if len(ends) else buf
            if tail.count(b'"') % 2:
                raise RawRewriteError("unbalanced quotes: the file is not well-formed CSV")
            if tail:
                ends = np.append(ends, len(buf))
        if len(ends):
            starts = np.concatenate(([0], ends[:-1] + 1))
            yield buf, starts, ends
        if not data:
            return
        pending = buf[ends[-1] + 1:] if len(ends) else buf


class _HashingReader:
    """A binary file read through `read`, hashing every byte read and keeping the last one."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()
        self.last_byte = b""

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        if data:
            self.digest.update(data)
            self.last_byte = data[-1:]
        return data


def _plan_csv(path: Path, entity: Entity, matcher: Matcher) -> PlannedFile | None:
    """Match in batches, then copy the kept records from file to file: memory is a batch, not
    the file (the whole file, its records and the new file were held at once before)."""
    gone: list[pl.Series] = []  # per batch: the rows to remove
    removed: list[pl.DataFrame] = []
    owners: dict[int, int] = {}
    try:
        for batch in read_raw_csv_batches(path, REWRITE_BATCH_ROWS):
            mask, per_owner = _removals(matcher(batch, entity))
            gone.append(mask)
            for owner, count in per_owner.items():
                owners[owner] = owners.get(owner, 0) + count
            if mask.any():  # owned: the removed rows alone, not the batch behind them
                removed.append(owned(batch.filter(mask)))
    except (pl.exceptions.PolarsError, OSError):
        raise RawRewriteError(
            f"{entity.system}/{entity.name}: a landing file cannot be parsed") from None
    remove = pl.concat(gone) if gone else pl.Series([], dtype=pl.Boolean)
    n = int(remove.sum())
    if n == 0:
        return None
    drop = remove.arg_true().to_numpy()  # data rows, 0-based, ascending
    tmp = path.with_name(path.name + TMP_SUFFIX)
    new = hashlib.sha256()
    rows = -1  # the header is record -1
    with open(path, "rb") as raw, open(tmp, "wb") as dst:
        src = _HashingReader(raw)
        first = True
        for buf, starts, ends in _record_runs(src):
            kept = np.flatnonzero(~np.isin(np.arange(rows, rows + len(starts)), drop))
            # runs of consecutive kept records: one slice each (their \n separators included)
            breaks = np.flatnonzero(np.diff(kept) != 1) + 1
            for run in np.split(kept, breaks) if len(kept) else []:
                piece = buf[starts[run[0]]:ends[run[-1]]]
                chunk = piece if first else b"\n" + piece
                dst.write(chunk)
                new.update(chunk)
                first = False
            rows += len(starts)
        if src.last_byte == b"\n" and not first:
            dst.write(b"\n")
            new.update(b"\n")
        old = src.digest
    if rows != remove.len():
        tmp.unlink()
        raise RawRewriteError(
            f"{entity.system}/{entity.name}: records and parsed rows disagree; not rewritten")
    return PlannedFile(path, tmp, "landing", f"landing:{entity.system}/{entity.name}", n,
                       old.hexdigest(), new.hexdigest(), rows - n, owners,
                       pl.concat(removed, how="diagonal"))


def _plan_parquet(path: Path, entity: Entity, matcher: Matcher) -> PlannedFile | None:
    old_sha = file_sha256(path)  # as for a landing file: what the plan read, and what it wrote
    frame = read_quarantine(path)
    if frame is None:
        raise RawRewriteError(f"{entity.system}/{entity.name}: a quarantine file cannot be read")
    remove, owners = _removals(matcher(frame, entity))
    n = int(remove.sum())
    if n == 0:
        return None
    place = f"quarantine:{entity.system}/{entity.name}"
    kept = frame.filter(~remove)
    if kept.height == 0:
        return PlannedFile(path, None, "quarantine", place, n, old_sha, owners=owners)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    schema = pq.read_schema(path)
    pq.write_table(kept.to_arrow().cast(schema), tmp)
    return PlannedFile(path, tmp, "quarantine", place, n, old_sha, file_sha256(tmp),
                       kept.height, owners=owners)


def _manifest_update(folder: Path, changed: list[PlannedFile]) -> tuple[Path, Path]:
    manifest = folder / MANIFEST
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    for f in changed:
        doc["files"][f.path.name] = {**doc["files"].get(f.path.name, {}),
                                     "rows": f.new_rows, "sha256": f.new_sha}
    tmp = folder / (MANIFEST + TMP_SUFFIX)
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return tmp, manifest


def prepare(landing: Path, quarantine: Path, classification: Classification,
            matcher: Matcher, paths: Collection[Path] | None = None) -> RewritePlan:
    """Write the new version of every raw file holding matched rows; change nothing yet.
    `paths`: read only these raw files (None: all).

    Raises RawRewriteError (after discarding what it wrote) when a file cannot be rewritten
    safely: the caller must then not go on with an erasure it cannot complete.
    """
    plan = RewritePlan()
    try:
        by_folder: dict[Path, list[PlannedFile]] = {}
        for where, entity, path in raw_files(landing, quarantine, classification):
            if paths is not None and path not in paths:
                continue
            planned = (_plan_csv if where == "landing" else _plan_parquet)(path, entity, matcher)
            if planned is None:
                continue
            plan.files.append(planned)
            if where == "landing":
                by_folder.setdefault(path.parent, []).append(planned)
        for folder, changed in sorted(by_folder.items()):
            plan.manifests.append(_manifest_update(folder, changed))
    except BaseException:
        plan.discard()
        raise
    return plan


def discard_pending(landing: Path, quarantine: Path) -> int:
    """Temporary files left by an interrupted run: removed (the committed state stays)."""
    n = 0
    for root in (landing, quarantine):
        if root.exists():
            for tmp in root.rglob(f"*{TMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)
                n += 1
    return n
