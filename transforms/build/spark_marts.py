"""The Spark build's marts as one DuckDB database: what the gate validates and publish copies.

Why a DuckDB database and not a second gate on Spark: the gate's rules (expectations/: the GX
suites, the detectors, the keyed-fingerprint join, the foreign-pseudonym join, the disclosure
rules) and the publication (transforms/publish/publication.py) read a DuckDB database by table
name. Giving them the Spark marts in that shape runs the very same code on both engines: there
is no second copy of a rule to drift, and the gate validates exactly the tables publish copies
(publish also refuses row counts that differ from the gate's). The marts are aggregated or
minimised, so this copy is small next to the warehouse; the warehouse's own tables are not
copied (views over its Parquet), only the gate's fingerprints, which the gate looks up as tables.

What the database holds (`<data>/spark-marts.duckdb`, replaced whole by each Spark build, by a
rename: the gate never sees half of one):

* every mart of the classification that the build made, each column cast to the type the
  classification declares (`data_type`, DuckDB's spelling: the published files then have the
  DuckDB path's types, e.g. money in `decimal(18,2)`), and each mart's disclosure ledger;
* `pseudo_<purpose>.<system>__<entity>`: views over the warehouse's Parquet tables, for the
  gate's join against other domains' pseudonyms (expectations/pseudonyms.py);
* `gate_fingerprints.<system>__<entity>`: the ingest's keyed fingerprints
  (transforms/ingest/spark_load.py), as tables (expectations/known_values.py);
* `audit.deliveries`, `audit.quarantine`, `audit.nullified`: the Spark ingest's per-delivery
  audit files (counts, checksums, reasons, no value), for the gate's check that every loaded
  delivery was fingerprinted, the privacy report's row flow and the run summary.

Runs in the process that ran dbt-spark (its session catalog knows the tables dbt made; their
files are read by DuckDB directly, not collected through the driver).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from transforms import settings
from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.ingest.fingerprints import SCHEMA as FINGERPRINT_SCHEMA
from transforms.ingest.fingerprints import upgrade_tables
from transforms.ingest.load import AUDIT_DDL
from transforms.ingest.minimise import DELIVERY_COLUMN

DATABASE = "spark-marts.duckdb"


class SparkMartsMissing(RuntimeError):
    """The gate or publish ran on the Spark engine before a Spark build exported its marts."""


def marts_database() -> Path:
    """Where the Spark build leaves its marts for the gate and publish."""
    return settings.paths().data / DATABASE


def gate_database() -> Path:
    """The DuckDB database the gate validates and publish copies: the warehouse file on the
    DuckDB engine, the Spark build's export on the Spark engine (refused when there is none)."""
    if settings.engine() != "spark":
        return settings.paths().warehouse
    path = marts_database()
    if not path.is_file():
        raise SparkMartsMissing(
            f"no Spark build to gate or publish ({path.name} is missing): run the dbt build "
            "with PIPELINE_ENGINE=spark first")
    return path


def sql_str(text: str) -> str:
    """A SQL string literal (quotes doubled): paths and partition values in DuckDB SQL."""
    return "'" + text.replace("'", "''") + "'"


def _files_list(files: list[str]) -> str:
    return "[" + ", ".join(sql_str(f.removeprefix("file://")) for f in files) + "]"


def _copy_table(con: duckdb.DuckDBPyConnection, spark, name: str,
                types: dict[str, str] | None) -> int | None:
    """Copy the Spark table `name` ("schema.table") into the same name here, casting columns
    to `types` where given; returns its rows, None when Spark has no such table (a failed or
    unselected model: the gate reports the missing mart, publish refuses it)."""
    from pyspark.errors import AnalysisException

    try:
        frame = spark.table(name)
        # a view's input files would be its sources': only a table's files are its rows
        stored = spark.catalog.getTable(name).tableType.upper() != "VIEW"
        files = sorted(frame.inputFiles()) if stored else []
    except AnalysisException:
        return None
    schema, table = name.split(".", 1)
    con.execute(f'create schema if not exists "{schema}"')
    if files:
        source = f"read_parquet({_files_list(files)})"
    else:  # a view (collected), or an empty table, which may have no file (Spark's schema)
        con.register("_empty", frame.toArrow() if not stored else frame.limit(0).toArrow())
        source = "_empty"
    columns = ", ".join(
        f'cast("{c}" as {types[c]}) as "{c}"' if types and c in types else f'"{c}"'
        for c in frame.columns)
    con.execute(f'create table "{schema}"."{table}" as select {columns} from {source}')
    if not files:
        con.unregister("_empty")
    return con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]


def _parquet_folders(warehouse: Path, prefix: str) -> list[tuple[str, str, Path]]:
    """(schema, table, folder) of every table folder under `<warehouse>/<prefix>*/`."""
    return [(schema_dir.name, table_dir.name, table_dir)
            for schema_dir in sorted(warehouse.glob(f"{prefix}*")) if schema_dir.is_dir()
            for table_dir in sorted(schema_dir.iterdir())
            if table_dir.is_dir() and any(table_dir.rglob("*.parquet"))]


def create_pseudo_views(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """Every `pseudo_*` Parquet table of the warehouse as a DuckDB view of the same name
    (`pseudo_<purpose>.<system>__<entity>`, with its `_delivery_date` partition column).
    Also read by the Spark build's input fingerprint (transforms/build/input_fingerprint.py)."""
    for schema, table, folder in _parquet_folders(warehouse, "pseudo_"):
        con.execute(f'create schema if not exists "{schema}"')
        # the rights' resolution tables are not partitioned (spark_rights.py writes them whole)
        hive = (f"hive_partitioning = true, hive_types = {{'{DELIVERY_COLUMN}': date}}"
                if any(p.name.startswith(f"{DELIVERY_COLUMN}=") for p in folder.iterdir())
                else "hive_partitioning = false")
        con.execute(f'create view "{schema}"."{table}" as select * from read_parquet('
                    f"{sql_str(str(folder / '**' / '*.parquet'))}, {hive})")


def _warehouse_relations(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """The pseudo_* tables as views, the gate's fingerprints as tables, the delivery audit."""
    create_pseudo_views(con, warehouse)
    con.execute(f'create schema if not exists "{FINGERPRINT_SCHEMA}"')
    for schema, table, folder in _parquet_folders(warehouse, FINGERPRINT_SCHEMA):
        # union_by_name: partitions written by earlier versions (hex fingerprints, no counts)
        # read beside today's, then converted by upgrade_tables
        con.execute(f'create table "{schema}"."{table}" as select * from read_parquet('
                    f"{sql_str(str(folder / '**' / '*.parquet'))}, hive_partitioning = true, "
                    f"hive_types = {{'{DELIVERY_COLUMN}': date}}, union_by_name = true)")
    upgrade_tables(con)
    load_delivery_audit(con, warehouse)


def load_delivery_audit(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """The Spark ingest's per-delivery audit files as the DuckDB ingest's audit tables
    (`audit.deliveries`, `audit.quarantine`, `audit.nullified`): counts and checksums only.
    Also read by the rights' working copy (transforms/operations/spark_rights.py)."""
    for ddl in AUDIT_DDL:
        con.execute(ddl)
    rows: dict[str, list[dict]] = {"deliveries": [], "quarantine": [], "nullified": []}
    for path in sorted((warehouse / "audit" / "deliveries").glob("*/*.json")):
        audit = json.loads(path.read_text(encoding="utf-8"))
        day = date.fromisoformat(audit["delivery_date"])
        for e in audit["entities"]:
            where = {"system": audit["system"], "entity": e["entity"], "delivery_date": day}
            rows["deliveries"].append({
                **where, "file_sha256": e["file_sha256"], "rows_read": e["rows_read"],
                "rows_quarantined": e["rows_quarantined"], "rows_loaded": e["rows_loaded"],
                "key_version": audit["key_version"]})
            rows["quarantine"] += [{**where, "reason": r, "rows": n}
                                   for r, n in e["reasons"].items()]
            rows["nullified"] += [{**where, "column_name": c, "rows": n}
                                  for c, n in e["nullified"].items()]
    for table, items in rows.items():
        if items:
            con.register("_audit", pa.Table.from_pylist(items))
            con.execute(f"insert into audit.{table} by name select * from _audit")
            con.unregister("_audit")


def export_marts(spark, warehouse: str | None = None, target: Path | None = None,
                 classification: Classification | None = None) -> dict[str, int]:
    """Write the gate's database from the Spark session's marts (after dbt-spark built them)
    and the warehouse at `warehouse`; returns rows per mart exported."""
    classification = classification or load_classification()
    warehouse_dir = Path(warehouse or settings.spark_warehouse())
    target = Path(target or marts_database())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    rows: dict[str, int] = {}
    con = duckdb.connect(str(partial))
    try:
        settings.bound_duckdb(con)
        for mart in classification.marts:
            n = _copy_table(con, spark, mart.name,
                            {c.name: c.data_type for c in mart.columns})
            if n is not None:
                rows[mart.name] = n
            if mart.disclosure and mart.disclosure.ledger:
                _copy_table(con, spark, mart.disclosure.ledger, None)
        _warehouse_relations(con, warehouse_dir)
        con.execute("checkpoint")
    except BaseException:
        con.close()
        partial.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(partial, target)
    return rows
