"""Apply the data subjects' requests and the retention periods, then have the marts rebuilt.

Daily at 03:00 UTC, hours after ingest_deliveries (midnight): DuckDB allows one writer, and a
task that finds the warehouse busy is retried. Process the DPO's pending requests (erasure,
objection, consent withdrawal, restriction, access), apply the retention rules as of the run's
date, compact the warehouse file once if rows were removed or replaced, retire publications made
before the latest removal, and, when anything changed, update the `warehouse_pseudonymised`
asset (with the run's as-of date) so that build_and_publish rebuilds and republishes the marts.
`make run` runs it between ingest_deliveries and build_and_publish, for the same date.

Thin by design: each task calls transforms.operations.rights_tasks, testable without Airflow.
Tasks run one after the other because DuckDB allows one writer. XComs carry counts only.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from transforms.operations.assets import WAREHOUSE


@dag(
    dag_id="retention_and_rights",
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["retention", "rights", "privacy"],
    doc_md=__doc__,
)
def retention_and_rights() -> None:
    @task
    def process_subject_requests(ds: str | None = None) -> dict:
        from transforms.operations.rights_tasks import process_subject_requests

        return process_subject_requests(ds)

    @task
    def apply_retention(ds: str | None = None) -> dict:
        from transforms.operations.rights_tasks import apply_retention_rules

        return apply_retention_rules(ds)

    @task
    def compact_warehouse() -> dict:
        from transforms.operations.rights_tasks import compact_if_anything_removed

        return compact_if_anything_removed()

    @task
    def retire_publications() -> dict:
        from transforms.operations.rights_tasks import retire_publications

        return retire_publications()

    @task(outlets=[WAREHOUSE])
    def signal_rebuild(requests: dict, retention: dict, retired: dict,
                       outlet_events=None) -> dict:
        from transforms.operations.rights_tasks import signal_rebuild

        return signal_rebuild(requests, retention, retired, outlet_events)

    requests = process_subject_requests()
    retention = apply_retention()
    compacted = compact_warehouse()
    retired = retire_publications()
    requests >> retention >> compacted >> retired
    signal_rebuild(requests, retention, retired)


retention_and_rights()
