"""The dbt sources on the Spark engine: the warehouse's Parquet tables, in the session catalog.

Why register rather than a second source definition in the dbt yml: the generated sources
(`pseudo_<purpose>.<system>__<entity>`, transforms/build/dbt_schema.py) then name the same
relations on both engines, so the dbt project has one source definition, and the models, contracts
and tests do not know which engine runs them. On DuckDB these are tables of the warehouse file; on
Spark, external Parquet tables (partitioned by `_delivery_date`) that this module declares in the
session's catalog before dbt runs. On a cluster with a metastore (Hive, Unity Catalog) the same
statements run once at deployment instead (docs/scale-out.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from transforms import settings
from transforms.rights.processing import RESOLVED, RESOLVED_KEYS


def _quoted(path: str) -> str:
    return path.replace("\\", "\\\\").replace("'", "\\'")


def register_sources(spark, warehouse: str) -> list[str]:
    """Declare every `pseudo_<purpose>/<table>` folder of the warehouse as a catalog table, and
    the DPO's resolution tables (written whole by the rights stage,
    transforms/operations/spark_rights.py; declared empty until it has run) so that a fresh
    warehouse builds. Returns the tables declared."""
    declared: list[str] = []
    root = Path(warehouse)
    for schema_dir in sorted(p for p in root.glob("pseudo_*") if p.is_dir() and "." not in p.name):
        spark.sql(f"create database if not exists {schema_dir.name}")
        for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
            name = f"{schema_dir.name}.{table_dir.name}"
            spark.sql(f"drop table if exists {name}")
            spark.sql(f"create table {name} using parquet "
                      f"location '{_quoted(str(table_dir.resolve()))}'")
            if any(p.name.startswith("_delivery_date=") for p in table_dir.iterdir()):
                spark.sql(f"alter table {name} recover partitions")  # not the resolution tables
            declared.append(name)
    for domain, keys in RESOLVED_KEYS.items():
        spark.sql(f"create database if not exists pseudo_{domain}")
        name = RESOLVED.format(d=domain)
        if name in declared:
            continue
        columns = ", ".join(["request_id string", "request_type string", "received_date date",
                             *(f"{k} string" for k in keys), "_key_version string"])
        spark.sql(f"create table if not exists {name} ({columns}) using parquet")
        declared.append(name)
    return declared


def prepare_spark_build() -> list[str]:
    """Before dbt-spark runs in this process: the session (started here with the pipeline's
    configuration, which dbt then reuses), dbt's previous tables removed (the marts are rebuilt
    whole, as on DuckDB), and the sources registered."""
    from transforms.engines.spark_session import DBT_DIR, spark_session

    warehouse = settings.spark_warehouse()
    spark = spark_session()
    for database in spark.catalog.listDatabases():
        if database.name != "default":
            spark.sql(f"drop database if exists {database.name} cascade")
    shutil.rmtree(Path(warehouse) / DBT_DIR, ignore_errors=True)
    return register_sources(spark, warehouse)
