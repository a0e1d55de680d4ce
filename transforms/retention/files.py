"""The retention rules that act on files: landing deliveries, the quarantine, and the check that
GPS positions and call data are never kept.

Landing deliveries are the raw identifiers in clear: they are kept only as long as needed to
reload a delivery after a problem. A delivery folder is deleted once (1) every file of its
manifest was loaded with the same checksum (`audit.deliveries`), (2) the grace period has run
from the delivery date, and (3) for the DPO's feed, every request in it was processed (a request
must never be lost with its file). The quarantine of a delivery (raw rows too) goes with it.

GPS positions (assistance breakdowns) and call data serve the assistance service, not statistics
or marketing: no purpose receives them (the classification drops them) and no warehouse column
may hold them; the check fails the run if one does. The only raw copies the pipeline holds are
the landing files (deleted above) and quarantined rows, from which those columns are blanked.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from transforms.classification import Classification
from transforms.files import atomic_write
from transforms.ingest.load import loaded_checksums
from transforms.landing import dated_folders, manifest_files, read_raw_csv
from transforms.rights.requests import REQUEST_ID, final_request_ids

NEVER_KEPT_CATEGORIES = ("location", "telephone_recording")
NEVER_KEPT_COLUMN = re.compile(r"latitude|longitude|gps|geoloc|recording|call_", re.IGNORECASE)


class NeverKeptViolation(RuntimeError):
    """Location or call data would be, or is, kept. Names the columns, never a value."""


@dataclass
class ExpiredDelivery:
    system: str
    delivery_date: date
    folder: Path
    files: dict = field(default_factory=dict)


def _requests_done(folder: Path, finished: set[str]) -> bool:
    path = folder / "subject_requests.csv"
    if not path.is_file():
        return True
    frame = read_raw_csv(path)
    if frame is None or "request_id" not in frame.columns:
        return False
    ids = {i.strip() for i in frame["request_id"].drop_nulls().to_list()}
    return all(i in finished for i in ids if REQUEST_ID.match(i))


def expired_deliveries(con: duckdb.DuckDBPyConnection, landing: Path,
                       classification: Classification, grace_days: int, as_of: date
                       ) -> tuple[list[ExpiredDelivery], int]:
    """Deliveries to delete, and how many past their grace period are kept (not loaded yet,
    changed since loading, or holding unprocessed requests)."""
    loaded = loaded_checksums(con)
    finished = final_request_ids(con)
    out, kept = [], 0
    for system in classification.systems:
        for delivery in dated_folders(landing, system):
            folder, day = delivery.path, delivery.delivery_date
            if day + timedelta(days=grace_days) > as_of:
                continue
            files = manifest_files(folder)
            ok = files is not None and all(
                loaded.get((system, name.removesuffix(".csv"), day)) == meta.get("sha256")
                for name, meta in files.items()
            ) and (system != "dpo" or _requests_done(folder, finished))
            if ok:
                out.append(ExpiredDelivery(system, day, folder, files or {}))
            else:
                kept += 1
    return out, kept


def delete_deliveries(expired: list[ExpiredDelivery], quarantine: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in expired:
        rows = sum(int(m.get("rows", 0)) for m in d.files.values())
        counts[f"landing:{d.system}"] = counts.get(f"landing:{d.system}", 0) + rows
        shutil.rmtree(d.folder)
        qdir = quarantine / d.system / d.delivery_date.isoformat()
        if qdir.is_dir():
            qrows = sum(pq.read_metadata(p).num_rows for p in qdir.glob("*.parquet"))
            counts[f"quarantine:{d.system}"] = counts.get(f"quarantine:{d.system}", 0) + qrows
            shutil.rmtree(qdir)
    return counts


def never_kept_columns(classification: Classification) -> dict[tuple[str, str], list[str]]:
    """(system, entity) -> source columns that must never be kept (by category)."""
    out: dict[tuple[str, str], list[str]] = {}
    for entity in classification.entities:
        cols = [c.name for c in entity.columns if c.category in NEVER_KEPT_CATEGORIES]
        if cols:
            out[(entity.system, entity.name)] = cols
    return out


def assert_never_kept(con: duckdb.DuckDBPyConnection, classification: Classification) -> int:
    """Raise NeverKeptViolation when a purpose receives location or call data, or a warehouse
    column looks like it holds some. Returns the number of columns checked."""
    problems = []
    for entity in classification.entities:
        for col in entity.columns:
            if col.category in NEVER_KEPT_CATEGORIES and col.treatments:
                problems.append(f"{entity.system}/{entity.name}.{col.name} reaches "
                                f"{sorted(t.purpose for t in col.treatments)}")
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema not in ('information_schema', 'pg_catalog')").fetchall()
    problems += [f"warehouse column {s}.{t}.{c}" for s, t, c in rows
                 if NEVER_KEPT_COLUMN.search(c)]
    if problems:
        raise NeverKeptViolation("location or call data must never be kept: "
                                 + "; ".join(problems))
    return len(rows)


def strip_quarantine(quarantine: Path, classification: Classification,
                     rewritten: set[str] | None = None) -> dict[str, int]:
    """Blank the never-kept columns in quarantine files; returns values blanked per entity.
    `rewritten` collects the files rewritten, by place (`quarantine/<system>/<day>/<file>`)."""
    counts: dict[str, int] = {}
    for (system, name), cols in never_kept_columns(classification).items():
        for path in sorted((quarantine / system).glob(f"*/{name}.parquet")):
            frame = pl.read_parquet(path)
            present = [c for c in cols if c in frame.columns]
            n = int(sum(frame[c].is_not_null().sum() for c in present))
            if not n:
                continue
            schema = pq.read_schema(path)
            blanked = frame.with_columns(pl.lit(None, dtype=frame.schema[c]).alias(c)
                                         for c in present)
            with atomic_write(path, suffix=".tmp") as tmp:
                pq.write_table(blanked.to_arrow().cast(schema), tmp)
            if rewritten is not None:
                rewritten.add(f"quarantine/{path.relative_to(quarantine)}")
            counts[f"quarantine:{system}/{name}"] = counts.get(f"quarantine:{system}/{name}",
                                                               0) + n
    return counts
