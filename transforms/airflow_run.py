"""Run one DAG through Airflow itself (`airflow dags test`) and fail when any task failed.

Why a wrapper: `airflow dags test` reports a failed task in its output but its exit status alone
is not a reliable verdict across versions; `make run` and the integration tests need a run that
fails loudly. The verdict is read from Airflow's own metadata database.
"""

from __future__ import annotations

import subprocess
import sys


def dag_run_state(dag_id: str, logical_date: str) -> str:
    """State of the latest run of `dag_id`, read from Airflow's metadata database."""
    from airflow.models.dagrun import DagRun  # heavy import: only after the run
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id)
            .order_by(DagRun.id.desc())
            .first()
        )
        return str(run.state) if run is not None else "missing"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m transforms.airflow_run DAG_ID YYYY-MM-DD", file=sys.stderr)
        return 2
    dag_id, logical_date = args
    proc = subprocess.run(["airflow", "dags", "test", dag_id, logical_date], check=False)
    state = dag_run_state(dag_id, logical_date)
    state = state.rsplit(".", 1)[-1].lower()
    print(f"== {dag_id}: airflow exit status {proc.returncode}, dag run state {state}")
    return 0 if proc.returncode == 0 and state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
