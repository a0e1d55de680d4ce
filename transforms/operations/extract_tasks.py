"""The Airflow task that pulls the policy-administration database into the landing zone.

Why through an Airflow connection: where the database is and how to log in is the deployment's
business, not the code's: the connection `policy_admin_db` (PostgresHook, the Postgres provider)
comes from the environment, AIRFLOW_CONN_POLICY_ADMIN_DB (`make run SOURCE=postgres` sets it
to the project's own server, transforms/sources/postgres_server.py) or Airflow's secrets
backend; no DSN or password is in git, a log or an XCom. What is pulled and how:
transforms/sources/policy_admin_extract.py. The XCom and `data/state/extract-policy_admin.json`
hold dates and counts only.
"""

from __future__ import annotations

from transforms import settings
from transforms.classification import load
from transforms.operations.run_date import resolve_as_of
from transforms.operations.task_state import record
from transforms.sources.policy_admin_extract import extract

CONNECTION_ID = "policy_admin_db"
WATERMARK_FILE = "policy_admin_watermark.json"


def extract_policy_admin(ds: str | None = None) -> dict:
    """Extract what changed in the policy-administration database up to the run's as-of date
    into `data/landing/policy_admin/<day>/` deliveries with their manifests."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    p = settings.paths()
    as_of = resolve_as_of(ds)
    conn = PostgresHook(postgres_conn_id=CONNECTION_ID).get_conn()
    try:
        report = extract(conn, load(), p.landing, p.data / "state" / WATERMARK_FILE, as_of)
    finally:
        conn.close()
    return record("extract-policy_admin", report)
