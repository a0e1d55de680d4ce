"""Take deliveries into the Spark warehouse: the same validation, quarantine, orphan rule and
minimisation as the DuckDB path, run per Arrow batch on Spark executors.

Why the same polars code inside `mapInArrow`: the pseudonyms must be byte-identical to the DuckDB
path's (docs/pseudonymisation.md), and one implementation of the rules cannot drift from
another. Each batch goes through transforms/ingest/validation.validate, the orphan rule of
transforms/ingest/orphans.py (on pseudonyms, see below) and transforms/ingest/minimise.minimise;
Spark spreads the batches over its executors.

What stays on the driver, per file: the header check, the row count, and the whole-file duplicate
flags (row numbers only, transforms/ingest/validation.duplicate_flags) which need every row of the
file at once. The CSV is parsed by the same polars reader (same strictness, same `utf8-lossy`
rule) into a Parquet spool with its row numbers, which Spark then splits into partitions; the
spool holds raw rows and lives under the quarantine root (the landing zone's perimeter), removed
when the file is done.

Keys reach the executors inside the pickled closure of the batch function, never as a column,
a literal in a plan or a configuration value; the session has no UI and no event log
(transforms/engines/spark_session.py). Parents are known by their pseudonyms (the parent table's
key column in the same domain), so no raw key travels to the executors either.

Warehouse layout (settings.spark_warehouse()): `pseudo_<purpose>/<system>__<entity>/` Parquet,
partitioned by `_delivery_date`; reloading a delivery replaces exactly its partitions (written
beside, then renamed over). `audit/deliveries/<system>/<date>.json` holds the counts and file
checksums (no value), written last: a delivery without it is not loaded and is loaded again.

The gate's keyed fingerprints of the raw values are written per delivery too
(`gate_fingerprints/<system>__<entity>/`, on the driver, by transforms/ingest/fingerprints.py).
Not yet on Spark (the DuckDB path has them): the erasure hook (suppression of erased subjects),
compaction; rights and retention run on the DuckDB engine only.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.classification import Classification, Entity
from transforms.classification import load as load_classification
from transforms.ingest import fingerprints
from transforms.ingest.load import KeyVersionMismatch
from transforms.ingest.minimise import DELIVERY_COLUMN, minimise
from transforms.ingest.orphans import ParentLink, parent_links, parents_first
from transforms.ingest.run import BATCH_ROWS, DeliveryReport, read_manifest
from transforms.ingest.validation import (
    ROW_INDEX,
    DeliveryRefused,
    duplicate_flags,
    malformed_row,
    read_header,
    scan_raw,
    validate,
)
from transforms.landing import Delivery, discover
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise

log = logging.getLogger(__name__)

REASONS = "_reasons"
KIND = "_kind"  # "row" for a row, "counts" for a batch's nullified counts (JSON in _reasons)
RAW_PREFIX = "raw::"
SEP = "::"


@dataclass(frozen=True)
class FilePlan:
    """What the executors need to process one delivery file (pickled into the closure)."""

    system: str
    entity: str
    delivery_date: date
    purposes: tuple[str, ...]
    columns: tuple[str, ...]
    flags: dict[str, tuple[int, ...]]  # reason -> row numbers (whole-file duplicate flags)
    parents: tuple[tuple[str, str, str, frozenset[str]], ...]  # (column, reason, purpose, known)


def _flags_frame(flags: dict[str, tuple[int, ...]]) -> pl.DataFrame:
    rows = [(r, reason) for reason, rs in flags.items() for r in rs]
    return pl.DataFrame(rows, schema={ROW_INDEX: pl.UInt32, "reason": pl.String}, orient="row")


def process_batch(raw: pl.DataFrame, plan: FilePlan, entity: Entity, keys: DomainKeys
                  ) -> tuple[pl.DataFrame, dict[str, int]]:
    """One batch of raw rows (with `_row`) -> the wide output frame and its nullified counts.

    Accepted rows carry each purpose's minimised columns (`<purpose>::<column>`); refused rows
    carry their raw strings (`raw::<column>`) and `_reasons`, exactly as validate() and the
    orphan rule give them. Pure polars: the same function runs on the driver in tests.
    """
    result = validate(raw, entity, plan.delivery_date, _flags_frame(plan.flags))
    clean = result.clean
    quarantine = result.quarantine.select(ROW_INDEX, *plan.columns, REASONS)
    if plan.parents and clean.height:
        reasons = pl.Series(REASONS, [None] * clean.height, dtype=pl.String)
        hit_any = pl.Series("hit", [False] * clean.height, dtype=pl.Boolean)
        for column, reason, purpose, known in plan.parents:
            pseudo = clean.select(pseudonymise(pl.col(column), keys, purpose)).to_series()
            hit = clean[column].is_not_null() & ~pseudo.is_in(sorted(known))
            reasons = pl.select(pl.when(hit & reasons.is_null()).then(pl.lit(reason))
                                .when(hit).then(reasons + ";" + reason)
                                .otherwise(reasons)).to_series()
            hit_any = hit_any | hit
        if hit_any.any():
            accepted_raw = raw.filter(~pl.col(ROW_INDEX).is_in(quarantine[ROW_INDEX].implode()))
            orphans = accepted_raw.filter(hit_any).select(ROW_INDEX, *plan.columns) \
                .with_columns(reasons.filter(hit_any).alias(REASONS))
            quarantine = pl.concat([quarantine, orphans], how="vertical_relaxed")
            clean = clean.filter(~hit_any)
    parts = [quarantine.select(
        pl.col(ROW_INDEX).cast(pl.Int64),
        *(pl.col(c).alias(RAW_PREFIX + c) for c in plan.columns),
        pl.col(REASONS))]
    for purpose in plan.purposes:
        frame = minimise(clean, entity, purpose, keys, plan.delivery_date)
        parts.append(frame.select(pl.all().name.prefix(purpose + SEP)))
    accepted = pl.concat(parts[1:], how="horizontal") if len(parts) > 1 else pl.DataFrame()
    out = pl.concat([parts[0], accepted], how="diagonal_relaxed") if accepted.width \
        else parts[0]
    return out.with_columns(pl.lit("row").alias(KIND)), result.nullified_counts


def output_schema(plan: FilePlan, entity: Entity, keys: DomainKeys) -> pa.Schema:
    """The Arrow schema of process_batch's output, found by running it on no rows."""
    empty = pl.DataFrame(schema={ROW_INDEX: pl.UInt32, **{c: pl.String for c in plan.columns}})
    out, _ = process_batch(empty, plan, entity, keys)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type)
              or pa.types.is_string_view(f.type) else f for f in out.to_arrow().schema]
    return pa.schema(fields)


def batch_function(plan: FilePlan, keys: DomainKeys, schema: pa.Schema
                   ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function Spark runs per partition: Arrow batches in, Arrow batches out.

    The keys are in its closure (pickled with the task, sent to executors, held in memory);
    nothing of them is in the returned data or in Spark's plan, which shows only the function.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        entity = load_classification().entity(plan.system, plan.entity)
        for batch in batches:
            raw = pl.from_arrow(batch).with_columns(pl.col(ROW_INDEX).cast(pl.UInt32))
            out, nullified = process_batch(raw, plan, entity, keys)
            table = out.to_arrow()
            yield pa.Table.from_arrays(
                [table.column(f.name).cast(f.type) if f.name in table.column_names
                 else pa.nulls(table.num_rows, f.type) for f in schema],
                schema=schema).combine_chunks().to_batches()[0] if table.num_rows else \
                pa.RecordBatch.from_pylist([], schema=schema)
            if nullified:
                counts = {f.name: None for f in schema}
                counts[KIND] = "counts"
                counts[REASONS] = json.dumps(nullified)
                yield pa.RecordBatch.from_pylist([counts], schema=schema)

    return run


def table_path(warehouse: str, table: str) -> str:
    """`pseudo_<purpose>.<system>__<entity>` -> its folder under the Spark warehouse."""
    schema, name = table.split(".", 1)
    return f"{warehouse.rstrip('/')}/{schema}/{name}"


def audit_path(warehouse: str, system: str, delivery_date: date) -> Path:
    return Path(warehouse) / "audit" / "deliveries" / system / f"{delivery_date}.json"


def loaded_checksums(warehouse: str, system: str, delivery_date: date) -> dict[str, str]:
    """entity -> sha256 of the file loaded for that delivery (empty when not loaded)."""
    path = audit_path(warehouse, system, delivery_date)
    if not path.exists():
        return {}
    return {e["entity"]: e["file_sha256"] for e in json.loads(path.read_text())["entities"]}


def check_key_version(warehouse: str, system: str, delivery_date: date, version: str) -> None:
    """Refuse to load with another master-key version than the warehouse's other deliveries
    (their audit files say which), as the DuckDB ingest does: pseudonyms of two key versions
    in one table would split every subject in two. The delivery being replaced may differ."""
    root = Path(warehouse) / "audit" / "deliveries"
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name == system and path.stem == delivery_date.isoformat():
            continue
        found = json.loads(path.read_text(encoding="utf-8")).get("key_version")
        if found != version:
            raise KeyVersionMismatch.of("the Spark warehouse", str(found), version)


def _known_parents(spark, warehouse: str, link: ParentLink, staged: dict[str, str]
                   ) -> tuple[str, str, str, frozenset[str]] | None:
    """The link's parent pseudonyms: this delivery's (staged) and every earlier delivery's."""
    lookup = link.warehouse_lookup()
    if lookup is None:
        return None
    purpose, table, output = lookup
    known: set[str] = set()
    for folder in (staged.get(table), table_path(warehouse, table)):
        if folder and Path(folder).exists() and any(Path(folder).rglob("*.parquet")):
            rows = spark.read.parquet(folder).select(output).distinct().collect()
            known.update(r[0] for r in rows if r[0] is not None)
    return link.column, link.reason, purpose, frozenset(known)


def _spool_csv(path: Path, entity: Entity, spool: Path, where: str) -> int:
    """Parse the CSV with the DuckDB path's reader into a Parquet spool; returns its rows."""
    try:
        scan_raw(path, entity, where).sink_parquet(spool)
    except pl.exceptions.PolarsError:
        found = malformed_row(path, len(read_header(path, where)))
        at = (f"data row {found[0] + 1} (1-based, header excluded) has {found[1]} field(s) "
              f"where the header has {len(entity.column_names)}" if found
              else "a quoted field is not closed")
        raise DeliveryRefused(f"{where}: the file is not well-formed CSV: {at}") from None
    return pq.ParquetFile(spool).metadata.num_rows


def ingest_delivery_spark(spark, warehouse: str, delivery: Delivery,
                          classification: Classification, keys: DomainKeys,
                          quarantine_root: Path) -> DeliveryReport:
    """Load one delivery into the Spark warehouse: every table's partition or none (the
    caller has checked the key version: check_key_version)."""
    files = read_manifest(delivery, classification)
    positions = {n: i for i, n in enumerate(sorted(files), start=1)}
    entities = parents_first([classification.entity(delivery.system, n.removesuffix(".csv"))
                              for n in sorted(files)], classification)
    run = uuid.uuid4().hex[:12]
    staging = Path(warehouse) / "_staging" / run
    spool_dir = quarantine_root / f".spark-spool-{run}"
    spool_dir.mkdir(parents=True, exist_ok=True)
    qdir = quarantine_root / delivery.system / delivery.delivery_date.isoformat()
    staged: dict[str, str] = {}
    quarantines: dict[str, pa.Table] = {}
    entity_audits: list[dict] = []
    report = DeliveryReport(delivery.label, "loaded")
    try:
        for entity in entities:
            name = f"{entity.name}.csv"
            where = f"{delivery.label}, file {positions[name]} of {len(files)} ({entity.name})"
            path = delivery.path / name
            spool = spool_dir / f"{entity.name}.parquet"
            rows = _spool_csv(path, entity, spool, where)
            if rows != int(files[name]["rows"]):
                raise DeliveryRefused(
                    f"{where}: the file has {rows} rows, its manifest says {files[name]['rows']}")
            _stage_fingerprints(spool, entity, delivery.delivery_date, keys, staging, staged)
            flags = duplicate_flags(pl.scan_parquet(spool), entity)
            parents = tuple(p for p in (_known_parents(spark, warehouse, link, staged)
                                        for link in parent_links(entity, classification))
                            if p is not None)
            plan = FilePlan(
                delivery.system, entity.name, delivery.delivery_date,
                tuple(entity.purposes()), tuple(entity.column_names),
                {r: tuple(flags.filter(pl.col("reason") == r)[ROW_INDEX].to_list())
                 for r in ("duplicate_row", "duplicate_key")},
                parents)
            schema = output_schema(plan, entity, keys)
            from pyspark.sql.pandas.types import from_arrow_schema

            wide = spool_dir / f"{entity.name}.out"
            spark.read.parquet(str(spool)).select(ROW_INDEX, *plan.columns) \
                .mapInArrow(batch_function(plan, keys, schema), from_arrow_schema(schema)) \
                .write.mode("overwrite").parquet(str(wide))
            audit = _write_entity(spark, wide, plan, entity, staging, staged, quarantines, rows)
            audit["file_sha256"] = files[name]["sha256"]
            entity_audits.append(audit)
            report.rows_read += audit["rows_read"]
            report.rows_quarantined += audit["rows_quarantined"]
            report.rows_loaded += audit["rows_loaded"]
            report.reasons.update({f"{entity.name}:{r}": c for r, c in audit["reasons"].items()})
            report.nullified.update({f"{entity.name}:{c}": n
                                     for c, n in audit["nullified"].items()})
        _commit(warehouse, delivery, staged, quarantines, qdir, keys, entity_audits)
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _stage_fingerprints(spool: Path, entity: Entity, delivery_date: date, keys: DomainKeys,
                        staging: Path, staged: dict[str, str]) -> None:
    """The gate's keyed fingerprints of the file's raw values (transforms/ingest/fingerprints.py,
    the DuckDB path's own function), staged as the delivery's partition of
    `gate_fingerprints/<system>__<entity>/`, committed with its tables.

    On the driver, from the spool, in bounded batches: the fingerprint key (the gate's own HKDF
    domain) stays on the driver, and the rows are the ones the DuckDB ingest writes (all rows,
    quarantined ones too, one marker row per batch), so the gate reads the same fingerprints
    whichever engine ingested."""
    table = fingerprints.table_name(entity)
    frames = [fingerprints.delivery_rows(pl.from_arrow(batch), entity, keys, delivery_date)
              for batch in pq.ParquetFile(spool).iter_batches(batch_size=BATCH_ROWS)
              if batch.num_rows]  # a batch of no row: nothing, as on DuckDB
    if not frames:  # an empty file delivered no value (the gate does not ask for its marker)
        return
    partition = Path(staging) / table / f"{DELIVERY_COLUMN}={delivery_date.isoformat()}"
    partition.mkdir(parents=True, exist_ok=True)
    pl.concat(frames).drop(DELIVERY_COLUMN).write_parquet(partition / "part-00000.parquet")
    staged[table] = str(Path(staging) / table)


def _write_entity(spark, wide: Path, plan: FilePlan, entity: Entity, staging: Path,
                  staged: dict[str, str], quarantines: dict[str, pa.Table], rows: int) -> dict:
    """Split one file's processed rows (`wide`, in the spool: it holds the refused rows' raw
    values) into each purpose's staged table and the quarantine; returns its audit (counts
    only). The batch function ran once, in the job that wrote `wide`; these are plain reads."""
    from pyspark.sql import functions as F

    out = spark.read.parquet(str(wide))
    accepted = out.filter((F.col(KIND) == "row") & F.col(REASONS).isNull())
    for purpose in plan.purposes:
        table = entity.table_name(purpose)
        cols = [c for c in out.columns if c.startswith(purpose + SEP)]
        folder = str(staging / table)
        accepted.select(*(F.col(f"`{c}`").alias(c.split(SEP, 1)[1]) for c in cols)) \
            .write.mode("overwrite").partitionBy(DELIVERY_COLUMN).parquet(folder)
        staged[table] = folder
    # one job for the refused rows and the batches' nullified counts (both carry _reasons)
    noted = pl.scan_parquet(str(wide / "*.parquet")).filter(pl.col(REASONS).is_not_null()) \
        .select(KIND, ROW_INDEX, *(pl.col(RAW_PREFIX + c).alias(c) for c in plan.columns),
                REASONS).collect()
    quarantine = noted.filter(pl.col(KIND) == "row").drop(KIND).sort(ROW_INDEX) \
        .with_columns(pl.col(ROW_INDEX).cast(pl.UInt32))
    if quarantine.height:
        quarantines[entity.name] = quarantine.to_arrow()
    reasons: dict[str, int] = {}
    for text in quarantine[REASONS].to_list():
        for part in text.split(";"):
            reasons[part] = reasons.get(part, 0) + 1
    nullified: dict[str, int] = {}
    for text in noted.filter(pl.col(KIND) == "counts")[REASONS].to_list():
        for column, n in json.loads(text).items():
            nullified[column] = nullified.get(column, 0) + int(n)
    return {"entity": entity.name, "rows_read": rows, "rows_quarantined": quarantine.height,
            "rows_loaded": rows - quarantine.height, "reasons": dict(sorted(reasons.items())),
            "nullified": dict(sorted(nullified.items()))}


def _commit(warehouse: str, delivery: Delivery, staged: dict[str, str],
            quarantines: dict[str, pa.Table], qdir: Path, keys: DomainKeys,
            entity_audits: list[dict]) -> None:
    """Move the staged partitions over the warehouse's, keep the quarantine, write the audit.

    The audit file is written last: a run killed before it leaves a delivery that is loaded
    again (its partitions replaced), never one that counts as loaded with missing tables.
    """
    audit = audit_path(warehouse, delivery.system, delivery.delivery_date)
    audit.unlink(missing_ok=True)
    partition = f"{DELIVERY_COLUMN}={delivery.delivery_date.isoformat()}"
    for table, folder in staged.items():
        target = Path(table_path(warehouse, table))
        target.mkdir(parents=True, exist_ok=True)
        old = target / partition
        if old.exists():
            shutil.rmtree(old)
        new = Path(folder) / partition
        if new.exists():
            new.replace(old)
    qdir.mkdir(parents=True, exist_ok=True)
    for old_q in qdir.glob("*.parquet"):
        old_q.unlink()
    for entity, table in quarantines.items():
        pq.write_table(table, qdir / f"{entity}.parquet")
    audit.parent.mkdir(parents=True, exist_ok=True)
    audit.write_text(json.dumps({"system": delivery.system,
                                 "delivery_date": delivery.delivery_date.isoformat(),
                                 "key_version": keys.key_version,
                                 "entities": entity_audits}, indent=1), encoding="utf-8")


def ingest_spark(landing: Path, quarantine_root: Path, keys: DomainKeys, *,
                 systems: list[str] | None = None,
                 classification: Classification | None = None,
                 until: date | None = None, warehouse: str | None = None
                 ) -> list[DeliveryReport]:
    """The Spark engine's ingest: every complete delivery not yet loaded (or changed), oldest
    first, up to `until`; a refused delivery stops the run with its reason, as on DuckDB."""
    from transforms import settings
    from transforms.engines.spark_session import spark_session

    classification = classification or load_classification()
    warehouse = warehouse or settings.spark_warehouse()
    spark = None  # started for the first delivery to load: a run with none starts no JVM
    reports: list[DeliveryReport] = []
    for delivery in discover(landing, classification, systems=systems, until=until):
        try:
            files = read_manifest(delivery, classification)
        except FileNotFoundError as exc:
            reports.append(DeliveryReport(delivery.label, "incomplete", message=str(exc)))
            continue
        done = loaded_checksums(warehouse, delivery.system, delivery.delivery_date)
        if done and all(done.get(n.removesuffix(".csv")) == m["sha256"]
                        for n, m in files.items()):
            reports.append(DeliveryReport(delivery.label, "already_loaded"))
            continue
        check_key_version(warehouse, delivery.system, delivery.delivery_date, keys.key_version)
        spark = spark or spark_session()
        report = ingest_delivery_spark(spark, warehouse, delivery, classification, keys,
                                       quarantine_root)
        log.info("%s: read %d, quarantined %d, loaded %d on Spark (key version %s)",
                 delivery.label, report.rows_read, report.rows_quarantined,
                 report.rows_loaded, keys.key_version)
        reports.append(report)
    return reports
