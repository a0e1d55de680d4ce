"""What the Spark engine does not do yet, refused in words rather than skipped in silence.

Why: with PIPELINE_ENGINE=spark the ingest, dbt, the gate and publish run on Spark
(docs/scale-out.md), but the rights of data subjects (erasure, restriction, resolution of
requests by any identifier), retention and compaction are written against the DuckDB warehouse.
A task that quietly did nothing there would publish marts that still hold a subject who asked
for erasure. So on Spark these tasks refuse with `NotOnSpark`, except where there is truly
nothing to do (no subject request delivered), which their state file then says.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from airflow.sdk.exceptions import AirflowFailException

from transforms import settings

SUBJECT_REQUESTS = "dpo__subject_requests"  # the DPO feed's table, in every purpose that gets it


class NotOnSpark(AirflowFailException):
    """The task's work is not supported on the spark engine yet (docs/scale-out.md). An
    AirflowFailException: a retry cannot change the answer, so the task fails at once instead
    of waiting out the DAG's retries."""


def on_spark() -> bool:
    return settings.engine() == "spark"


def refuse(what: str) -> NotOnSpark:
    """The error for `what` (a task's work, in words) on the Spark engine."""
    return NotOnSpark(f"{what} is not supported on the spark engine yet (PIPELINE_ENGINE=spark;"
                      " see docs/scale-out.md): run it with PIPELINE_ENGINE=duckdb")


def delivered_subject_requests(warehouse: str | None = None) -> int:
    """Rows of the DPO's subject requests loaded into the Spark warehouse (the most of any
    purpose's table: each purpose holds the same requests, minimised its way)."""
    root = Path(warehouse or settings.spark_warehouse())
    counts = [pl.scan_parquet(folder / "**" / "*.parquet", hive_partitioning=True)
              .select(pl.len()).collect().item()
              for folder in root.glob(f"pseudo_*/{SUBJECT_REQUESTS}")
              if any(folder.rglob("*.parquet"))]
    return max(counts, default=0)
