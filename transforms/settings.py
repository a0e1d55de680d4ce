"""Where the pipeline keeps its files, from the environment with project-local defaults.

One place for paths so that the DAGs, the command line and the tests agree; tests point
PIPELINE_DATA_DIR at a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from transforms.classification import PROJECT_ROOT


@dataclass(frozen=True)
class Paths:
    data: Path

    @property
    def landing(self) -> Path:
        return self.data / "landing"

    @property
    def quarantine(self) -> Path:
        return self.data / "quarantine"

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        return self.data / "published"

    @property
    def gx(self) -> Path:
        return self.data / "gx"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def run_summary(self) -> Path:
        return self.data / "run-summary.json"

    @property
    def lineage(self) -> Path:
        """OpenLineage events (file transport): dbt/ from transforms/build/lineage.py,
        airflow/ from Airflow's OpenLineage provider (scripts/pipeline_env.sh)."""
        return self.data / "lineage"


def paths() -> Paths:
    return Paths(Path(os.environ.get("PIPELINE_DATA_DIR", PROJECT_ROOT / "data")).resolve())


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """The engine that holds the warehouse and builds the marts (PIPELINE_ENGINE, default
    `duckdb`): `duckdb`, one DuckDB file; `spark`, Parquet tables partitioned by delivery date
    under spark_warehouse(), built by dbt-spark (docs/scale-out.md). Read here only, so that
    every stage agrees; an unknown value is refused rather than read as the default."""
    value = os.environ.get("PIPELINE_ENGINE", "duckdb").strip().lower()
    if value not in ENGINES:
        raise ValueError(f"PIPELINE_ENGINE must be one of {', '.join(ENGINES)}")
    return value


def spark_warehouse() -> str:
    """Where the Spark engine keeps its tables (PIPELINE_SPARK_WAREHOUSE, default
    `<data>/spark-warehouse`). A local folder, or a URI Spark can write (s3a://, abfss://)
    on a cluster; a local path is returned absolute."""
    value = os.environ.get("PIPELINE_SPARK_WAREHOUSE")
    if value and "://" in value:
        return value
    return str(Path(value).resolve() if value else paths().data / "spark-warehouse")


def spark_warehouse_folder() -> Path | None:
    """The Spark warehouse as a file-system folder (a local or mounted volume, `file://`
    included), or None when it is in object storage (s3a://, abfss://...), where there is no
    atomic rename: the rights' partition swaps and the build's input fingerprint need one."""
    value = spark_warehouse()
    if "://" in value and not value.startswith("file://"):
        return None
    return Path(value.removeprefix("file://"))


def spark_master() -> str:
    """The Spark master (PIPELINE_SPARK_MASTER, default `local[2]`): `spark://host:7077` or
    `k8s://...` on a cluster."""
    return os.environ.get("PIPELINE_SPARK_MASTER", "local[2]")


def as_of_override() -> date | None:
    """PIPELINE_AS_OF (YYYY-MM-DD) overrides every DAG's as-of date
    (transforms/operations/run_date.py)."""
    value = os.environ.get("PIPELINE_AS_OF")
    return date.fromisoformat(value) if value else None


def min_cell_size() -> int:
    return int(os.environ.get("PIPELINE_MIN_CELL_SIZE", "10"))


def lineage_enabled() -> bool:
    """OpenLineage events for dbt builds, on unless PIPELINE_LINEAGE=0."""
    return os.environ.get("PIPELINE_LINEAGE", "1").strip() != "0"


def duckdb_memory_limit() -> str:
    """DuckDB memory limit for the pipeline's own connections (PIPELINE_DUCKDB_MEMORY_LIMIT)."""
    return os.environ.get("PIPELINE_DUCKDB_MEMORY_LIMIT", "1GB")


def duckdb_maintenance_memory_limit() -> str:
    """DuckDB memory limit of the rights, retention and compaction steps' connections
    (PIPELINE_DUCKDB_MAINTENANCE_MEMORY_LIMIT, default 512MB). They delete or copy rows by
    scanning tables once: the blocks they read need not stay cached, and they run beside polars
    work of their own (an erasure's matching and landing rewrite). With the general 1GB, DuckDB
    cached the 11M-row fingerprint table an erasure scans and the rights step peaked at 1.60 GiB
    at 1M contracts, the pipeline's highest; at 512MB, 1.34 GiB (and 60 s against 65-71 s)."""
    return os.environ.get("PIPELINE_DUCKDB_MAINTENANCE_MEMORY_LIMIT", "512MB")


def duckdb_temp_directory() -> Path:
    """Where DuckDB spills what exceeds its memory limit (PIPELINE_DUCKDB_TEMP_DIRECTORY;
    default `<data>/tmp/duckdb`). On the data volume: spilled blocks hold warehouse data."""
    value = os.environ.get("PIPELINE_DUCKDB_TEMP_DIRECTORY")
    return Path(value).resolve() if value else paths().data / "tmp" / "duckdb"


def duckdb_threads() -> int:
    """DuckDB worker threads of the pipeline's own connections (PIPELINE_DUCKDB_THREADS; default
    the machine's cores, as dbt's profile). Set, not left to DuckDB's guess: each thread holds
    its own buffers, so memory grows with them under the same limit."""
    return int(os.environ.get("PIPELINE_DUCKDB_THREADS", str(os.cpu_count() or 1)))


def ingest_threads() -> int:
    """Threads preparing an ingest's work beside its DuckDB writes (PIPELINE_INGEST_THREADS;
    default 2, at most the cores): the next batch's CSV parse, the gate fingerprints and each
    purpose's minimised frame are independent polars queries that release the GIL, while the
    warehouse connection stays in one thread (DuckDB: one writer). 1 prepares serially. Each
    thread holds one batch's frames, so memory grows with them (transforms/ingest/prepare.py)."""
    default = min(2, os.cpu_count() or 1)
    return max(1, int(os.environ.get("PIPELINE_INGEST_THREADS", str(default))))


def ingest_batch_rows() -> int:
    """Raw rows an ingest parses, validates, fingerprints and minimises at a time
    (PIPELINE_INGEST_BATCH_ROWS). The ingest's memory grows with it (each preparation thread
    holds a batch's frames, and the next batch is read ahead): bench/ingest.py prints the peak."""
    return max(1_000, int(os.environ.get("PIPELINE_INGEST_BATCH_ROWS", str(INGEST_BATCH_ROWS))))


# 1M contracts: ingest peak 1.34 GiB and 108 s; 250,000: 2.0 GiB and 89-95 s (measured 2026-11-30)
INGEST_BATCH_ROWS = 125_000


def duckdb_config(memory_limit: str | None = None) -> dict[str, str]:
    """The configuration of a DuckDB connection whose memory must stay bounded: the memory limit
    and the spill directory above (created here, DuckDB does not create its parents), the
    threads, and jemalloc's background threads: DuckDB's allocator otherwise returns freed
    memory to the system only when it allocates again, so a step's memory outlived it."""
    temp = duckdb_temp_directory()
    temp.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": memory_limit or duckdb_memory_limit(), "temp_directory": str(temp),
            "threads": str(duckdb_threads()), "allocator_background_threads": "true"}


def bound_duckdb(con: object, memory_limit: str | None = None) -> None:
    """Apply duckdb_config() to an open connection, with SET: a database file that another
    connection of this process holds open (dbt-duckdb keeps its own) refuses to be opened again
    with a different configuration, but takes these settings."""
    for name, value in duckdb_config(memory_limit).items():
        try:
            con.execute(f"set {name} = '{value}'")
        except Exception:  # noqa: BLE001
            # a spill directory already in use cannot be switched: it stays, still bounded
            if name != "temp_directory":
                raise


def gate_batch_rows() -> int:
    """Rows of a mart the gate reads, scans and hands to Great Expectations at a time
    (PIPELINE_GATE_BATCH_ROWS): its memory is one batch's (and its pandas copy), whatever the
    mart's size. A larger mart is validated in parts, each its own result in Data Docs."""
    return max(1_000, int(os.environ.get("PIPELINE_GATE_BATCH_ROWS", str(GATE_BATCH_ROWS))))


GATE_BATCH_ROWS = 1_000_000


def gate_window_batch() -> int:
    """Substrings of mart text fingerprinted per batch by the gate's raw-value matcher
    (PIPELINE_GATE_WINDOW_BATCH): bounds its memory whatever the marts' text volume (about
    150 bytes per window while a batch is joined)."""
    return int(os.environ.get("PIPELINE_GATE_WINDOW_BATCH", "2000000"))


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them exactly."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
