"""Pull the policy-administration database into the landing zone (the Postgres source path).

Thin by design: the task calls transforms.operations.extract_tasks. It writes the same
`policy_admin/<day>/` deliveries with manifests as the file drop, so ingest_deliveries and
everything after it are unchanged; run it before ingest_deliveries for the same date
(`make run SOURCE=postgres` does). The connection `policy_admin_db` comes from the environment
(AIRFLOW_CONN_POLICY_ADMIN_DB). XComs carry dates and counts only, never a value or the DSN.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="extract_policy_admin",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["extract", "postgres"],
    doc_md=__doc__,
)
def extract_policy_admin() -> None:
    @task
    def extract_policy_admin_db(ds: str | None = None) -> dict:
        from transforms.operations.extract_tasks import extract_policy_admin

        return extract_policy_admin(ds)

    extract_policy_admin_db()


extract_policy_admin()
