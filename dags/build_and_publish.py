"""Build the minimised marts with dbt, gate them with Great Expectations, publish atomically.

Runs when the pseudonymised warehouse changes. The gate must pass before anything is published;
a failed gate fails this DAG visibly and leaves the previous publication untouched.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

WAREHOUSE = Asset("warehouse_pseudonymised")
PUBLISHED = Asset("published_marts")


@dag(
    dag_id="build_and_publish",
    schedule=[WAREHOUSE],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "gate", "publish", "privacy"],
    doc_md=__doc__,
)
def build_and_publish() -> None:
    @task
    def check_classification() -> dict:
        from transforms.tasks import check_classification_sync

        return check_classification_sync()

    @task
    def dbt_build() -> dict:
        from transforms.tasks import build_marts

        return build_marts()

    @task
    def publication_gate() -> dict:
        from transforms.tasks import gate_marts

        return gate_marts()

    @task(outlets=[PUBLISHED])
    def publish(run_id: str | None = None) -> dict:
        from transforms.tasks import publish_marts

        return publish_marts(run_id)

    @task
    def summary() -> dict:
        from transforms.tasks import write_summary

        return write_summary()

    check_classification() >> dbt_build() >> publication_gate() >> publish() >> summary()


build_and_publish()
