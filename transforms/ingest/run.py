"""Take deliveries from the landing zone into the warehouse: validate, quarantine, minimise, load.

A delivery is one `<system>/<YYYY-MM-DD>/` folder with a `_manifest.json` written last by the
source system. Why the manifest: a folder without one may still be being written, and a file
whose checksum or row count disagrees with it is corrupt; both are refused with a clear reason
rather than loaded partly.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import settings
from transforms.checksums import file_sha256
from transforms.classification import Classification, Entity
from transforms.classification import load as load_classification
from transforms.ingest import fingerprints
from transforms.ingest.leftovers import remove_leftovers
from transforms.ingest.load import DeliveryWriter, EntityAudit, loaded_checksums
from transforms.ingest.minimise import minimise
from transforms.ingest.orphans import is_parent, parent_links, parents_first, quarantine_orphans
from transforms.ingest.prepare import collected, ingest_pool, read_ahead
from transforms.ingest.suppression import drop_erased_subjects, load_suppression
from transforms.ingest.validation import (
    ROW_INDEX,
    DeliveryRefused,
    MalformedCsv,
    ValidationResult,
    duplicate_flags,
    iter_batches,
    malformed_row,
    read_header,
    scan_raw,
    validate,
)
from transforms.landing import MANIFEST, Delivery, discover
from transforms.privacy.keys import DomainKeys
from transforms.progress import Progress

log = logging.getLogger(__name__)
BATCH_ROWS = settings.INGEST_BATCH_ROWS  # the default of settings.ingest_batch_rows()


@dataclass
class DeliveryReport:
    delivery: str
    status: str  # loaded | already_loaded | refused | incomplete
    rows_read: int = 0
    rows_quarantined: int = 0
    rows_loaded: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    nullified: dict[str, int] = field(default_factory=dict)
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _listing(names: list[str], among: list[str]) -> str:
    """Positions (1-based, in sorted order) of `names` among `among`: file names from a
    delivery are data and never appear in a message."""
    return ", ".join(str(among.index(n) + 1) for n in names)


def read_manifest(delivery: Delivery, classification: Classification) -> dict[str, dict]:
    """The manifest's files, checked against the classification and the files on disk."""
    manifest_path = delivery.path / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{delivery.label}: no {MANIFEST} yet (delivery incomplete)")
    files = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
    known = {f"{e.name}.csv" for e in classification.entities_of(delivery.system)}
    on_disk = {p.name for p in delivery.path.glob("*.csv")}
    every = sorted(set(files) | on_disk)
    unknown = sorted(set(every) - known)
    if unknown:
        raise DeliveryRefused(
            f"{delivery.label}: {len(unknown)} file(s) not classified, at position(s) "
            f"{_listing(unknown, every)} of the {len(every)} files named by the folder and its "
            "manifest (sorted)")
    unlisted = sorted(on_disk - set(files))
    if unlisted:
        raise DeliveryRefused(
            f"{delivery.label}: {len(unlisted)} file(s) not in the manifest, at position(s) "
            f"{_listing(unlisted, every)} of the {len(every)} files (sorted)")
    for position, (name, meta) in enumerate(sorted(files.items()), start=1):
        if not (delivery.path / name).exists():
            raise DeliveryRefused(
                f"{delivery.label}: file {position} of {len(files)} in the manifest is missing")
        if file_sha256(delivery.path / name) != meta["sha256"]:
            raise DeliveryRefused(
                f"{delivery.label}: file {position} of {len(files)} ({name}) does not match its "
                "manifest checksum")
    return files


def _quarantine_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    return pq.ParquetWriter(path, schema)


def ingest_entity_file(
    writer: DeliveryWriter,
    delivery: Delivery,
    name: str,
    meta: dict,
    classification: Classification,
    keys: DomainKeys,
    quarantine_root: Path,
    batch_rows: int = BATCH_ROWS,
    delivered: dict[str, set[str]] | None = None,
    where: str | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[EntityAudit, Path | None]:
    """Stream one delivery file through validation, quarantine and minimisation into `writer`.

    Two passes over the file: the first holds only keys and row hashes to find duplicates across
    the whole file; the second works in bounded batches, so memory does not grow with the file.
    The quarantine goes to a temporary Parquet file, returned for the caller to keep on commit.
    `delivered` (entity name -> keys accepted in this delivery) lets child rows find their
    parents (transforms/ingest/orphans.py) and receives this entity's accepted keys.
    """
    entity = classification.entity(delivery.system, name.removesuffix(".csv"))
    path = delivery.path / name
    where = where or f"{delivery.label} ({entity.name})"
    try:
        if pool is None:
            with ingest_pool() as own:
                return _ingest_file(writer, delivery, entity, path, meta, classification, keys,
                                    quarantine_root, batch_rows, where, delivered, own)
        return _ingest_file(writer, delivery, entity, path, meta, classification, keys,
                            quarantine_root, batch_rows, where, delivered, pool)
    except MalformedCsv:
        found = malformed_row(path, len(read_header(path, where)))
        at = (f"data row {found[0] + 1} (1-based, header excluded) has {found[1]} field(s) "
              f"where the header has {len(entity.column_names)}" if found
              else "a quoted field is not closed")
        raise DeliveryRefused(f"{where}: the file is not well-formed CSV: {at}") from None


def _ingest_file(
    writer: DeliveryWriter,
    delivery: Delivery,
    entity: Entity,
    path: Path,
    meta: dict,
    classification: Classification,
    keys: DomainKeys,
    quarantine_root: Path,
    batch_rows: int,
    where: str,
    delivered: dict[str, set[str]] | None,
    pool: ThreadPoolExecutor,
) -> tuple[EntityAudit, Path | None]:
    lf = scan_raw(path, entity, where)
    # the whole-file duplicate pre-pass reads the file beside the first batch's parse
    flags_ready = pool.submit(duplicate_flags, lf, entity)
    audit = EntityAudit(delivery.system, entity.name, delivery.delivery_date, meta["sha256"],
                        keys.key_version)
    qpath = (quarantine_root / delivery.system / delivery.delivery_date.isoformat()
             / f"{entity.name}.parquet.tmp")
    qwriter: pq.ParquetWriter | None = None
    purposes = entity.purposes()
    suppressed = load_suppression(writer.con, keys)  # erased subjects (ingest/suppression.py)
    delivered = {} if delivered is None else delivered
    links = parent_links(entity, classification)
    accepted_keys = delivered.setdefault(entity.name, set()) \
        if is_parent(entity, classification) else None
    progress = Progress(f"ingest {delivery.label} {entity.name}", total=int(meta["rows"]),
                        logger=log)
    try:
        # pure polars work (parse and validation of the next batch, fingerprints, minimised
        # frames) in the pool; every use of the warehouse connection here, in this thread, in
        # serial order (transforms/ingest/prepare.py)
        validated = _validated(iter_batches(lf, entity, batch_rows), flags_ready, entity,
                               delivery.delivery_date)
        for batch, result in read_ahead(validated, pool):
            progress.update(batch.height)
            # for the gate: keyed hashes only
            prints = collected(pool, delivery.delivery_date,
                               lambda c, b=batch: fingerprints.record(c, entity, b, keys))
            quarantine_orphans(result, batch, links, delivered, writer.con, keys, suppressed)
            erased = drop_erased_subjects(result, entity, suppressed, keys)  # not loaded, not kept
            minimised = [pool.submit(minimise, result.clean, entity, purpose, keys,
                                     delivery.delivery_date) for purpose in purposes]
            if accepted_keys is not None:
                accepted_keys.update(result.clean[entity.key[0]].drop_nulls().to_list())
            audit.rows_read += result.rows_read
            audit.rows_quarantined += result.quarantine.height + erased
            # summed over batches: a reason found in two batches keeps both counts
            for reason, n in result.reason_counts.items():
                audit.reason_counts[reason] = audit.reason_counts.get(reason, 0) + n
            for column, n in result.nullified_counts.items():
                audit.nullified_counts[column] = audit.nullified_counts.get(column, 0) + n
            if result.quarantine.height:
                table = result.quarantine.to_arrow()
                if qwriter is None:
                    qwriter = _quarantine_writer(qpath, table.schema)
                qwriter.write_table(table.cast(qwriter.schema))
            prints.result().replay(writer)
            for purpose, frame in zip(purposes, minimised, strict=True):
                writer.append(entity.table_name(purpose), frame.result())
        flags_ready.result()  # an empty file: the pre-pass's errors still surface
    finally:
        progress.close(failed=sys.exc_info()[0] is not None)
        if qwriter is not None:
            qwriter.close()
    if audit.rows_read != int(meta["rows"]):
        raise DeliveryRefused(
            f"{where}: the file has {audit.rows_read} rows, its manifest says {meta['rows']}"
        )
    return audit, (qpath if qwriter is not None else None)


def _validated(batches: Iterator[pl.DataFrame], flags_ready: Future, entity: Entity,
               delivery_date: date) -> Iterator[tuple[pl.DataFrame, ValidationResult]]:
    """Each parsed batch with its validation (typed, checked, split), against the whole file's
    duplicate flags. A generator that `read_ahead` advances in the pool: the next batch is
    parsed and validated there while this batch is written (at 1M contracts validation was
    10-12 s of the ingest's own thread). The flags come from the pre-pass, submitted to the
    pool before any batch, so waiting for them here never waits for a task queued behind."""
    flags: pl.DataFrame | None = None
    for batch in batches:
        if flags is None:
            flags = flags_ready.result()
        lo, hi = batch[ROW_INDEX].min(), batch[ROW_INDEX].max()
        batch_flags = flags.filter(pl.col(ROW_INDEX).is_between(lo, hi))
        yield batch, validate(batch, entity, delivery_date, batch_flags)


def ingest_delivery(
    con: duckdb.DuckDBPyConnection,
    delivery: Delivery,
    classification: Classification,
    keys: DomainKeys,
    quarantine_root: Path,
    batch_rows: int = BATCH_ROWS,
    pool: ThreadPoolExecutor | None = None,
) -> DeliveryReport:
    """Load one delivery, all files or none; keep its quarantine only when the load commits.
    `pool`: the preparation threads (transforms/ingest/prepare.py), else one of its own."""
    files = read_manifest(delivery, classification)
    audits: list[EntityAudit] = []
    quarantined: list[Path] = []
    qdir = quarantine_root / delivery.system / delivery.delivery_date.isoformat()
    # parents before children, so that an orphan is known as one (transforms/ingest/orphans.py)
    entities = parents_first([classification.entity(delivery.system, n.removesuffix(".csv"))
                              for n in sorted(files)], classification)
    delivered: dict[str, set[str]] = {}
    try:
        with DeliveryWriter(con, delivery.delivery_date, keys.key_version,
                            delivery.system) as writer:
            # a file's position is its place in the manifest's sorted order, whatever the
            # (parents-first) order of loading
            positions = {n: i for i, n in enumerate(sorted(files), start=1)}
            for e in entities:
                name = f"{e.name}.csv"
                where = f"{delivery.label}, file {positions[name]} of {len(files)} ({e.name})"
                audit, qtmp = ingest_entity_file(writer, delivery, name, files[name],
                                                 classification, keys, quarantine_root,
                                                 batch_rows, delivered, where, pool)
                writer.audit(audit)
                audits.append(audit)
                if qtmp is not None:
                    quarantined.append(qtmp)
    except BaseException:
        for tmp in quarantined:
            tmp.unlink(missing_ok=True)
        raise
    for old in qdir.glob("*.parquet"):
        old.unlink()
    for tmp in quarantined:
        tmp.replace(tmp.with_suffix(""))
    report = DeliveryReport(
        delivery.label, "loaded",
        rows_read=sum(a.rows_read for a in audits),
        rows_quarantined=sum(a.rows_quarantined for a in audits),
        rows_loaded=sum(a.rows_loaded for a in audits),
    )
    for a in audits:
        report.reasons.update({f"{a.entity}:{r}": c for r, c in a.reason_counts.items()})
        report.nullified.update({f"{a.entity}:{c}": n for c, n in a.nullified_counts.items()})
    return report


def ingest(
    landing: Path,
    warehouse: Path,
    quarantine_root: Path,
    keys: DomainKeys,
    *,
    systems: list[str] | None = None,
    classification: Classification | None = None,
    batch_rows: int | None = None,
    until: date | None = None,
) -> list[DeliveryReport]:
    """Load every complete delivery not yet loaded (or changed since), oldest first; with
    `until` (the run's as-of date), only deliveries dated on or before it.

    A refused delivery stops the run with its reason (DeliveryRefused): later deliveries of the
    same system must not overtake it, and what was loaded before stays as it was.
    """
    classification = classification or load_classification()
    batch_rows = batch_rows or settings.ingest_batch_rows()
    reports: list[DeliveryReport] = []
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    # DuckDB's buffer pool otherwise grows towards 80% of RAM; a bounded one spills to disk, so
    # a large delivery's single transaction does not hold all its rows in memory
    con = duckdb.connect(str(warehouse), config=settings.duckdb_config())
    con.execute("set enable_progress_bar = false")  # logs, not a terminal
    pool = ingest_pool()
    try:
        # this process holds the warehouse now: what a killed run left behind can go
        remove_leftovers(warehouse, landing, quarantine_root)
        fingerprints.upgrade_tables(con)  # a warehouse from before their counts
        done = loaded_checksums(con)
        for delivery in discover(landing, classification, systems=systems, until=until):
            try:
                files = read_manifest(delivery, classification)
            except FileNotFoundError as exc:
                reports.append(DeliveryReport(delivery.label, "incomplete", message=str(exc)))
                log.warning("%s", exc)
                continue
            if all(
                done.get((delivery.system, n.removesuffix(".csv"), delivery.delivery_date))
                == meta["sha256"]
                for n, meta in files.items()
            ):
                reports.append(DeliveryReport(delivery.label, "already_loaded"))
                continue
            report = ingest_delivery(con, delivery, classification, keys, quarantine_root,
                                     batch_rows, pool)
            log.info(
                "%s: read %d, quarantined %d, loaded %d (key version %s)",
                delivery.label, report.rows_read, report.rows_quarantined, report.rows_loaded,
                keys.key_version,
            )
            reports.append(report)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        con.close()
    return reports
