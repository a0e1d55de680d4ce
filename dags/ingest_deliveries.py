"""Ingest the source systems' daily deliveries into the pseudonymised warehouse.

Thin by design: parsing this file imports nothing heavy; each task calls transforms.tasks, which
can be tested without Airflow. Tasks run one after the other because DuckDB allows one writer.
XComs carry counts only, never an identifier or a key.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

WAREHOUSE = Asset("warehouse_pseudonymised")


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
    def ingest_policy_admin() -> dict:
        from transforms.tasks import ingest_system

        return ingest_system("policy_admin")

    @task
    def ingest_claims() -> dict:
        from transforms.tasks import ingest_system

        return ingest_system("claims")

    @task(outlets=[WAREHOUSE])
    def ingest_dpo() -> dict:
        from transforms.tasks import ingest_system

        return ingest_system("dpo")

    ingest_policy_admin() >> ingest_claims() >> ingest_dpo()


ingest_deliveries()
