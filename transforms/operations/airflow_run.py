"""Run one DAG through Airflow itself (`airflow dags test`) and fail when any task failed.

Why a wrapper: `airflow dags test` reports a failed task in its output but its exit status alone
is not a reliable verdict across versions; `make run` and the integration tests need a run that
fails loudly. The verdict is read from Airflow's own metadata database, for the run of the
logical date asked for (not the newest run of the DAG: two dates may run at once).

Why a lock: `airflow dags test` deletes any existing run of the same DAG and logical date before
it starts its own, so a second run of a date already running pulls the first one's rows out from
under it and both die inside Airflow ("FOREIGN KEY constraint failed"). The wrapper takes an
exclusive lock per DAG and date (`$AIRFLOW_HOME/run-locks/`) and refuses a second run with a
clear message. The lock is an OS file lock: a killed run releases it, so a crash never blocks
the next run.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

REFUSED = 3  # exit status when a run of the same DAG and date is already in progress


class RunInProgress(RuntimeError):
    """A run of the same DAG and logical date is already in progress."""


def logical_datetime(logical_date: str) -> datetime:
    """`YYYY-MM-DD` as Airflow's logical date for it (midnight UTC)."""
    day = date.fromisoformat(logical_date)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def dag_run_state(dag_id: str, logical_date: str) -> str:
    """State of the run of `dag_id` for `logical_date` (YYYY-MM-DD), from Airflow's metadata
    database; "missing" when there is none."""
    from airflow.models.dagrun import DagRun  # heavy import: only after the run
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id,
                    DagRun.logical_date == logical_datetime(logical_date))
            .order_by(DagRun.id.desc())
            .first()
        )
        return str(run.state) if run is not None else "missing"


def lock_path(dag_id: str, logical_date: str) -> Path:
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return home / "run-locks" / f"{dag_id}__{logical_date}.lock"


@contextmanager
def exclusive_run(dag_id: str, logical_date: str) -> Iterator[None]:
    """Hold the run lock of one DAG and date, or raise RunInProgress at once."""
    path = lock_path(dag_id, logical_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="ascii") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise RunInProgress(
                f"a run of {dag_id} for {logical_date} is already in progress (process "
                f"{holder}); wait for it to finish, or run another date") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m transforms.operations.airflow_run DAG_ID YYYY-MM-DD",
              file=sys.stderr)
        return 2
    dag_id, logical_date = args
    try:
        logical_datetime(logical_date)
    except ValueError:
        print("error: the logical date must be YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        with exclusive_run(dag_id, logical_date):
            proc = subprocess.run(["airflow", "dags", "test", dag_id, logical_date],
                                  check=False)
            state = dag_run_state(dag_id, logical_date)
    except RunInProgress as exc:
        print(f"== {dag_id}: refused: {exc}", file=sys.stderr)
        return REFUSED
    state = state.rsplit(".", 1)[-1].lower()
    print(f"== {dag_id}: airflow exit status {proc.returncode}, dag run state {state}")
    return 0 if proc.returncode == 0 and state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
