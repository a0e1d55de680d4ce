"""What the Spark engine does not do, refused in words rather than skipped in silence.

Why: with PIPELINE_ENGINE=spark the ingest, the rights of data subjects, retention, dbt, the
gate and publish run on Spark or on its warehouse (docs/scale-out.md). What remains refused has
its own clear error: `pipeline rekey` (it rebuilds the DuckDB file: transforms/operations/
rekey.py) and the rights and retention on a warehouse in object storage, where the partition
swaps of transforms/operations/spark_rights.py have no atomic rename. A task that quietly did
nothing there would publish marts that still hold a subject who asked for erasure.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from transforms import settings


class NotOnSpark(AirflowFailException):
    """The task's work is not supported on the spark engine (docs/scale-out.md). An
    AirflowFailException: a retry cannot change the answer, so the task fails at once instead
    of waiting out the DAG's retries."""


def on_spark() -> bool:
    return settings.engine() == "spark"


def refuse(what: str) -> NotOnSpark:
    """The error for `what` (a task's work, in words) on the Spark engine."""
    return NotOnSpark(f"{what} is not supported on the spark engine yet (PIPELINE_ENGINE=spark;"
                      " see docs/scale-out.md): run it with PIPELINE_ENGINE=duckdb")
