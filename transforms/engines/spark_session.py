"""The one Spark session of a process, configured so that nothing secret is kept where it is seen.

Why one place: the Spark ingest (transforms/ingest/spark_load.py) and dbt-spark in `session`
mode (which calls `SparkSession.builder.getOrCreate()`) must share a session, and its
configuration carries the privacy rules:

* the Spark UI and event logs are off: the keys reach executors inside the pickled closure of a
  `mapInArrow` function, and a plan, a UI page or an event log must never show more than the
  function's name (tests/test_spark_engine.py looks for the key in everything the session wrote);
* scratch space (`spark.local.dir`) and Derby's files stay under `<data>/tmp/spark`, not the
  working directory (Spark would leave `metastore_db/`, `derby.log` there);
* the catalog is in memory: tables are Parquet folders under the warehouse path, and dbt
  creates the schemas it needs in each build; nothing depends on a metastore.

On a cluster the same settings come from `spark-defaults.conf`; only the master and the
warehouse URI change (docs/scale-out.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from transforms import settings
from transforms.classification import PROJECT_ROOT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DBT_DIR = "_dbt"  # under the Spark warehouse: the tables dbt builds
ARROW_BATCH_ROWS = 100_000  # field notes: 1.2-2.0 M pseudonyms/s through mapInArrow at this size


def scratch_dir() -> Path:
    """Spark's local scratch and Derby's home: on the data volume, like DuckDB's spill."""
    path = settings.paths().data / "tmp" / "spark"
    path.mkdir(parents=True, exist_ok=True)
    return path


def session_config() -> dict[str, str]:
    """The settings every session of the pipeline starts with (strings, as Spark takes them)."""
    scratch = scratch_dir()
    return {
        "spark.master": settings.spark_master(),
        "spark.app.name": "claims-pseudo-pipeline",
        "spark.ui.enabled": "false",
        "spark.eventLog.enabled": "false",
        "spark.sql.catalogImplementation": "in-memory",
        # dbt's schemas (staging, intermediate, marts) as managed tables, rebuilt whole by each
        # build (transforms/build/spark_sources.py empties it); the pseudo_* tables are beside
        "spark.sql.warehouse.dir": f"{settings.spark_warehouse().rstrip('/')}/{DBT_DIR}",
        "spark.local.dir": str(scratch),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={scratch}",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.driver.memory": os.environ.get("PIPELINE_SPARK_DRIVER_MEMORY", "1g"),
    }


def spark_session() -> SparkSession:
    """The process's session, started on first use with session_config().

    Python workers run the venv's interpreter with the project on their path, so that the
    functions shipped to them import the same `transforms` code as the driver.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    path = os.environ.get("PYTHONPATH", "")
    if str(PROJECT_ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), path) if p)
    builder = SparkSession.builder
    for name, value in session_config().items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def stop_spark_session() -> None:
    """Stop the process's session if one runs (tests, the end of a task)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
