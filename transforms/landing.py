"""Remove rows from the raw files the pipeline still holds: landing CSVs (with their manifest)
and quarantine Parquet files.

Why byte-preserving: a landing file is the source system's evidence; only the removed rows may
change. The CSV is cut into physical records (a quoted field may span lines) and the records of
the removed rows are left out, every other byte stays as delivered. The manifest gets the new
SHA-256 and row count, so the ingest still accepts the delivery, and the audit's checksum of an
already loaded file is moved along with it (`audit.deliveries`), so the ingest does not reload it.

Two phases, so that an erasure is all or nothing: `prepare` writes every new file beside the old
one (`*.rights-tmp`) and changes nothing; `commit` renames them into place (the CSVs first, the
manifest last), only after the warehouse transaction has committed. A crash between the two
leaves temporary files that the next run discards (`discard_pending`); the suppression list then
brings the files in line again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from transforms.classification import Classification, Entity
from transforms.rights.subject_resolution import MANIFEST, raw_files, read_quarantine, read_raw_csv

TMP_SUFFIX = ".rights-tmp"

# (raw frame, entity) -> True for the rows to remove
Matcher = Callable[[pl.DataFrame, Entity], pl.Series]


class RawRewriteError(RuntimeError):
    """A raw file could not be rewritten safely; nothing was changed. Never carries a value."""


def split_records(data: bytes) -> tuple[list[bytes], bool]:
    """Physical CSV records (header first), each without its line end, and whether the file
    ended with a line end. A line end inside a quoted field stays inside its record."""
    lines = data.split(b"\n")
    trailing = bool(lines) and lines[-1] == b""
    if trailing:
        lines.pop()
    records: list[bytes] = []
    pending: list[bytes] = []
    quotes = 0
    for line in lines:
        pending.append(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            records.append(b"\n".join(pending))
            pending, quotes = [], 0
    if pending:
        raise RawRewriteError("unbalanced quotes: the file is not well-formed CSV")
    return records, trailing


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


@dataclass
class RewritePlan:
    files: list[PlannedFile] = field(default_factory=list)
    manifests: list[tuple[Path, Path]] = field(default_factory=list)  # (tmp, manifest)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.place] = out.get(f.place, 0) + f.rows_removed
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
            system, day = f.path.parent.parent.name, f.path.parent.name
            con.execute(
                "update audit.deliveries set file_sha256 = ? where system = ? and entity = ? "
                "and delivery_date = ? and file_sha256 = ?",
                [f.new_sha, system, f.path.stem, day, f.old_sha],
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


def _plan_csv(path: Path, entity: Entity, matcher: Matcher) -> PlannedFile | None:
    frame = read_raw_csv(path)
    if frame is None:
        raise RawRewriteError(f"{entity.system}/{entity.name}: a landing file cannot be parsed")
    remove = matcher(frame, entity)
    n = int(remove.sum())
    if n == 0:
        return None
    data = path.read_bytes()
    records, trailing = split_records(data)
    if len(records) - 1 != frame.height:
        raise RawRewriteError(
            f"{entity.system}/{entity.name}: records and parsed rows disagree; not rewritten")
    drop = set(remove.arg_true().to_list())
    kept = [records[0]] + [r for i, r in enumerate(records[1:]) if i not in drop]
    new = b"\n".join(kept) + (b"\n" if trailing else b"")
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_bytes(new)
    return PlannedFile(path, tmp, "landing", f"landing:{entity.system}/{entity.name}", n,
                       _sha256(data), _sha256(new), frame.height - n)


def _plan_parquet(path: Path, entity: Entity, matcher: Matcher) -> PlannedFile | None:
    frame = read_quarantine(path)
    if frame is None:
        raise RawRewriteError(f"{entity.system}/{entity.name}: a quarantine file cannot be read")
    remove = matcher(frame, entity)
    n = int(remove.sum())
    if n == 0:
        return None
    place = f"quarantine:{entity.system}/{entity.name}"
    kept = frame.filter(~remove)
    if kept.height == 0:
        return PlannedFile(path, None, "quarantine", place, n)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    schema = pq.read_schema(path)
    pq.write_table(kept.to_arrow().cast(schema), tmp)
    return PlannedFile(path, tmp, "quarantine", place, n)


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
            matcher: Matcher) -> RewritePlan:
    """Write the new version of every raw file holding matched rows; change nothing yet.

    Raises RawRewriteError (after discarding what it wrote) when a file cannot be rewritten
    safely: the caller must then not go on with an erasure it cannot complete.
    """
    plan = RewritePlan()
    try:
        by_folder: dict[Path, list[PlannedFile]] = {}
        for where, entity, path in raw_files(landing, quarantine, classification):
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
