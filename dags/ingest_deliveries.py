"""Ingest the source systems' daily deliveries into the pseudonymised warehouse.

Thin by design: parsing this file imports nothing heavy; each task calls
transforms.operations.tasks, which can be tested without Airflow. Tasks run one after the other
because DuckDB allows one writer.
XComs carry counts only, never an identifier or a key.

The run's logical date is its as-of date (transforms/operations/run_date.py): deliveries dated
later wait for a later run, and the asset event tells build_and_publish which date to build.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from transforms.operations.assets import WAREHOUSE


@dag(
    dag_id="ingest_deliveries",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ingest", "privacy"],
    doc_md=__doc__,
)
def ingest_deliveries() -> None:
    @task
    def ingest_policy_admin(ds: str | None = None) -> dict:
        from transforms.operations.tasks import ingest_system

        return ingest_system("policy_admin", ds)

    @task
    def ingest_claims(ds: str | None = None) -> dict:
        from transforms.operations.tasks import ingest_system

        return ingest_system("claims", ds)

    @task(outlets=[WAREHOUSE])
    def ingest_dpo(ds: str | None = None, outlet_events=None) -> dict:
        from transforms.operations.tasks import ingest_system

        return ingest_system("dpo", ds, outlet_events)

    ingest_policy_admin() >> ingest_claims() >> ingest_dpo()


ingest_deliveries()
