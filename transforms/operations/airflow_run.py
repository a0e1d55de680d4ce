"""Run DAGs through Airflow itself (`airflow dags test`) and fail when any task failed.

`python -m transforms.operations.airflow_run DAG_ID [DAG_ID ...] YYYY-MM-DD` runs the DAGs one
after another for the same logical date and stops at the first that does not succeed.

Why in this process: each DAG runs through Airflow's own `dags test` command (its CLI parser and
handler, `airflow.cli.commands.dag_command.dag_test`), called here rather than in a new
`airflow` process per DAG. A new process pays Airflow's import and, at its first task, the
in-process Execution API's construction (Cadwyn's versioned routers): about 10 s and 7-11 s per
DAG on this machine, a third of a small run. Successive DAGs in one process pay them once.

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


def run_dag_test(dag_id: str, logical_date: str) -> int:
    """`airflow dags test DAG_ID DATE` through Airflow's own CLI parser and handler, in this
    process; 0, or 1 when the command itself raised (a DAG that failed to parse, a database
    error). Failed tasks do not raise: the run's state in the metadata database says."""
    from airflow.cli import cli_parser  # heavy import: only when a DAG is to run

    args = cli_parser.get_parser().parse_args(["dags", "test", dag_id, logical_date])
    try:
        args.func(args)
    except SystemExit as exc:  # as the CLI's exit status: None is success, a message is 1
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    except Exception:  # noqa: BLE001 - Airflow's traceback goes to the run log, as the CLI's would
        import traceback

        traceback.print_exc()
        return 1
    return 0


def run_dags(dag_ids: list[str], logical_date: str) -> int:
    """Each DAG in turn under its run lock; stop at the first that does not succeed."""
    for dag_id in dag_ids:
        print(f"== airflow dags test {dag_id} {logical_date}", flush=True)
        try:
            with exclusive_run(dag_id, logical_date):
                status = run_dag_test(dag_id, logical_date)
                state = dag_run_state(dag_id, logical_date)
        except RunInProgress as exc:
            print(f"== {dag_id}: refused: {exc}", file=sys.stderr, flush=True)
            return REFUSED
        state = state.rsplit(".", 1)[-1].lower()
        print(f"== {dag_id}: airflow exit status {status}, dag run state {state}", flush=True)
        if status != 0 or state != "success":
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) < 2:
        print("usage: python -m transforms.operations.airflow_run DAG_ID [DAG_ID ...] YYYY-MM-DD",
              file=sys.stderr)
        return 2
    *dag_ids, logical_date = args
    try:
        logical_datetime(logical_date)
    except ValueError:
        print("error: the logical date must be YYYY-MM-DD", file=sys.stderr)
        return 2
    return run_dags(dag_ids, logical_date)


if __name__ == "__main__":
    raise SystemExit(main())
