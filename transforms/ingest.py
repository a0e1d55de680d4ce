"""Take deliveries from the landing zone into the warehouse: validate, quarantine, minimise, load.

A delivery is one `<system>/<YYYY-MM-DD>/` folder with a `_manifest.json` written last by the
source system. Why the manifest: a folder without one may still be being written, and a file
whose checksum or row count disagrees with it is corrupt; both are refused with a clear reason
rather than loaded partly.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.keys import DomainKeys
from transforms.load import EntityLoad, load_delivery, loaded_checksums
from transforms.minimise import minimise
from transforms.validation import DeliveryRefused, read_raw, validate

log = logging.getLogger(__name__)
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Delivery:
    system: str
    delivery_date: date
    path: Path

    @property
    def label(self) -> str:
        return f"{self.system}/{self.delivery_date.isoformat()}"


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


def discover(landing: Path, classification: Classification) -> list[Delivery]:
    """Every delivery folder of a known system, oldest first."""
    found = []
    for system in classification.systems:
        for folder in sorted((landing / system).glob("*")):
            if not folder.is_dir():
                continue
            try:
                d = date.fromisoformat(folder.name)
            except ValueError:
                continue
            found.append(Delivery(system, d, folder))
    return sorted(found, key=lambda dl: (dl.delivery_date, dl.system))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(delivery: Delivery, classification: Classification) -> dict[str, dict]:
    """The manifest's files, checked against the classification and the files on disk."""
    manifest_path = delivery.path / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{delivery.label}: no {MANIFEST} yet (delivery incomplete)")
    files = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
    known = {f"{e.name}.csv" for e in classification.entities_of(delivery.system)}
    on_disk = {p.name for p in delivery.path.glob("*.csv")}
    unknown = sorted((set(files) | on_disk) - known)
    if unknown:
        raise DeliveryRefused(f"{delivery.label}: file(s) {unknown} are not classified")
    unlisted = sorted(on_disk - set(files))
    if unlisted:
        raise DeliveryRefused(f"{delivery.label}: file(s) {unlisted} are not in the manifest")
    for name, meta in files.items():
        if not (delivery.path / name).exists():
            raise DeliveryRefused(f"{delivery.label}: manifest lists {name}, which is missing")
        if _sha256(delivery.path / name) != meta["sha256"]:
            raise DeliveryRefused(f"{delivery.label}: {name} does not match its manifest checksum")
    return files


def prepare_delivery(
    delivery: Delivery,
    classification: Classification,
    keys: DomainKeys,
    quarantine_root: Path,
) -> list[EntityLoad]:
    """Validate and minimise every file of a delivery; write its quarantine; load nothing yet."""
    files = read_manifest(delivery, classification)
    loads = []
    for name, meta in sorted(files.items()):
        entity = classification.entity(delivery.system, name.removesuffix(".csv"))
        raw = read_raw(delivery.path / name, entity)
        if raw.height != int(meta["rows"]):
            raise DeliveryRefused(
                f"{delivery.label}: {name} has {raw.height} rows, its manifest says {meta['rows']}"
            )
        result = validate(raw, entity, delivery.delivery_date)
        qdir = quarantine_root / delivery.system / delivery.delivery_date.isoformat()
        qfile = qdir / f"{entity.name}.parquet"
        if result.quarantine.height:
            qdir.mkdir(parents=True, exist_ok=True)
            result.quarantine.write_parquet(qfile)
        elif qfile.exists():
            qfile.unlink()
        frames = {
            entity.table_name(p): minimise(result.clean, entity, p, keys, delivery.delivery_date)
            for p in entity.purposes()
        }
        loads.append(
            EntityLoad(
                system=delivery.system,
                entity=entity.name,
                delivery_date=delivery.delivery_date,
                file_sha256=meta["sha256"],
                rows_read=result.rows_read,
                rows_quarantined=result.quarantine.height,
                frames=frames,
                reason_counts=result.reason_counts,
                nullified_counts=result.nullified_counts,
                key_version=keys.key_version,
            )
        )
    return loads


def ingest(
    landing: Path,
    warehouse: Path,
    quarantine_root: Path,
    keys: DomainKeys,
    *,
    systems: list[str] | None = None,
    classification: Classification | None = None,
) -> list[DeliveryReport]:
    """Load every complete delivery not yet loaded (or changed since), oldest first.

    A refused delivery stops the run with its reason (DeliveryRefused): later deliveries of the
    same system must not overtake it, and what was loaded before stays as it was.
    """
    classification = classification or load_classification()
    reports: list[DeliveryReport] = []
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        done = loaded_checksums(con)
        for delivery in discover(landing, classification):
            if systems and delivery.system not in systems:
                continue
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
            loads = prepare_delivery(delivery, classification, keys, quarantine_root)
            load_delivery(con, loads)
            report = DeliveryReport(
                delivery.label,
                "loaded",
                rows_read=sum(x.rows_read for x in loads),
                rows_quarantined=sum(x.rows_quarantined for x in loads),
                rows_loaded=sum(x.rows_loaded for x in loads),
            )
            for x in loads:
                for r, c in x.reason_counts.items():
                    report.reasons[f"{x.entity}:{r}"] = c
                for col, c in x.nullified_counts.items():
                    report.nullified[f"{x.entity}:{col}"] = c
            log.info(
                "%s: read %d, quarantined %d, loaded %d (key version %s)",
                delivery.label, report.rows_read, report.rows_quarantined, report.rows_loaded,
                keys.key_version,
            )
            reports.append(report)
    finally:
        con.close()
    return reports
