"""`make run-distributed`: the pipeline's DAGs through Airflow's CeleryExecutor on one machine.

Why: a cluster runs the same DAGs with a metadata database server, a broker and a fleet of
workers (docs/scale-out.md); this command starts that deployment in miniature, so that what a
cluster does (tasks sent through a broker, run by a worker process that reports back through
the API server's execution API) is what runs and is tested here, not only the one-process
`airflow dags test` of `make run`.

What it starts, each in its own process group, everything on loopback or a Unix socket:

* PostgreSQL as Airflow's metadata database: a cluster of its own under
  `$PIPELINE_DATA_DIR/airflow-postgres` (transforms/sources/postgres_server.py: Unix socket
  only, trust on that socket, no TCP port, no password anywhere), database `airflow`;
* redis-server as the Celery broker, with its own configuration: no TCP port (a Unix socket,
  mode 0700), protected mode, no persistence (`save ""`, no AOF): a queued task is lost with the
  broker, as it is when the scheduler dies with a LocalExecutor;
* `airflow db migrate`, then the api-server (UI and execution API, a free loopback port), the
  scheduler with the CeleryExecutor, the dag-processor and ONE Celery worker (concurrency 2,
  its log server skipped: nothing listens on 8793).

The DAGs are then run in the order of `make run` (scripts/run_pipeline.sh) for the one logical
date: each is unpaused and triggered for that date, and the next starts only when its run
succeeded. The scheduler creates no run by itself (`use_job_schedule = False`): no timetable
run and no asset-triggered `build_and_publish` racing the ordered ones. A failed run stops the
sequence with its failed tasks named. Everything started is stopped on the way out: success,
failure, Ctrl-C or SIGTERM (SIGTERM to each group, SIGKILL after a grace; pg_ctl stop).

    python -m transforms.operations.distributed --as-of 2026-11-26 [DAG ...]

Environment: that of scripts/pipeline_env.sh (AIRFLOW_HOME, data paths, key), PIPELINE_ENGINE
(the workers inherit it). The master key reaches tasks as with `make run` (environment, key file
or the Airflow connection): nothing here reads or passes it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from transforms import settings
from transforms.operations import airflow_ui
from transforms.operations.airflow_run import logical_datetime
from transforms.sources import postgres_server

DAGS = ("ingest_deliveries", "retention_and_rights", "build_and_publish")
METADATA_DATABASE = "airflow"
WORKER_CONCURRENCY = 2
WORKER_NAME = "pipeline-worker@%h"
RUN_ID_PREFIX = "distributed"
PROCESS_GROUPS = "process-groups.json"
# Unix socket paths are limited to 107 bytes
_MAX_SOCKET_PATH = 100


class DistributedRunError(RuntimeError):
    """A component did not come up, or a DAG run did not succeed (names, states: no data)."""


@dataclass(frozen=True)
class Layout:
    """Where the local deployment keeps its state, all under the data directory."""

    data: Path

    @property
    def postgres(self) -> Path:
        return self.data / "airflow-postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data / "redis"

    @property
    def redis_socket(self) -> Path:
        path = self.redis_dir / "redis.sock"
        if len(str(path)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
            path = Path(tempfile.gettempdir()) / f"pipeline-redis-{digest}.sock"
        return path

    @property
    def logs(self) -> Path:
        """The components' own output (the worker's log lists each task it received)."""
        return self.data / "logs" / "distributed"


def redis_config(layout: Layout) -> str:
    """redis.conf for the broker: Unix socket only, no persistence, protected mode."""
    return "\n".join([
        "port 0",  # no TCP listener at all
        "bind 127.0.0.1",
        "protected-mode yes",
        f"unixsocket {layout.redis_socket}",
        "unixsocketperm 700",
        'save ""',
        "appendonly no",
        "daemonize no",
        "databases 1",
        f"dir {layout.redis_dir}",
        f"logfile {layout.logs / 'redis.log'}",
        "",
    ])


def free_port() -> int:
    """A loopback port free now, for the api-server (parallel runs must not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((airflow_ui.HOST, 0))
        return int(s.getsockname()[1])


def metadata_urls(server: postgres_server.Server) -> tuple[str, str, str]:
    """SQLAlchemy URLs (sync, async) and Celery's result backend for the metadata database:
    user and socket directory only (trust on the socket: no password to carry)."""
    where = f"{postgres_server.USER}@/{METADATA_DATABASE}?host={server.socket_dir}"
    return (f"postgresql+psycopg2://{where}", f"postgresql+asyncpg://{where}",
            f"db+postgresql+psycopg2://{where}")


def environment(port: int, home: Path, server: postgres_server.Server,
                layout: Layout) -> dict[str, str]:
    """Airflow's settings for the CeleryExecutor deployment (on top of `make airflow`'s)."""
    sync_url, async_url, backend = metadata_urls(server)
    return {
        **airflow_ui.environment(port, home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis+socket://{layout.redis_socket}",
        "AIRFLOW__CELERY__RESULT_BACKEND": backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # runs only when triggered here, in order (module docstring)
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # the DAG files do not change during the one run this deployment exists for: parsed at
        # start, not every 30 s (each pass costs about 4 s of CPU beside the tasks on 2 cores)
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
    }


def commands() -> dict[str, list[str]]:
    airflow = [sys.executable, "-m", "airflow"]
    return {
        "api-server": [*airflow, "api-server"],
        "scheduler": [*airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [*airflow, "dag-processor"],
        "celery-worker": [*airflow, "celery", "worker", "--concurrency",
                          str(WORKER_CONCURRENCY), "--celery-hostname", WORKER_NAME,
                          "--skip-serve-logs"],
    }


def _spawn(components: airflow_ui.Components, name: str, cmd: list[str], env: dict[str, str],
           log_dir: Path) -> None:
    """Start a component in its own session (its process group id is its pid), and record the
    groups started so far in log_dir/process-groups.json: a check for leftovers needs them, as
    Celery and Airflow overwrite their processes' titles (and with them /proc/<pid>/environ)."""
    with open(log_dir / f"{name}.log", "ab") as log:
        components.procs[name] = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    (log_dir / PROCESS_GROUPS).write_text(
        json.dumps({n: p.pid for n, p in components.procs.items()}), encoding="ascii")


def start_redis(components: airflow_ui.Components, layout: Layout, timeout: float = 30) -> None:
    """Start the broker (own config) and wait until it answers PING on its socket."""
    import redis

    layout.redis_dir.mkdir(parents=True, exist_ok=True)
    layout.redis_dir.chmod(0o700)
    conf = layout.redis_dir / "redis.conf"
    conf.write_text(redis_config(layout), encoding="ascii")
    _spawn(components, "redis", ["redis-server", str(conf)], dict(os.environ), layout.logs)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.exceptions.ConnectionError, FileNotFoundError):
            if redis.Redis(unix_socket_path=str(layout.redis_socket)).ping():
                return
        if (dead := components.dead()) is not None:
            raise DistributedRunError(f"the broker did not start: {dead} "
                                      f"(see {layout.logs / 'redis.log'})")
        if time.monotonic() > deadline:
            raise DistributedRunError(f"the broker did not answer within {timeout:.0f} s")
        time.sleep(0.2)


def start_airflow(components: airflow_ui.Components, env: dict[str, str], layout: Layout) -> None:
    """Migrate the metadata database, then start Airflow's four components."""
    proc = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    (layout.logs / "db-migrate.log").write_bytes(proc.stdout)
    if proc.returncode != 0:
        raise DistributedRunError(f"airflow db migrate failed (exit {proc.returncode}); "
                                  f"see {layout.logs / 'db-migrate.log'}")
    for name, cmd in commands().items():
        _spawn(components, name, cmd, env, layout.logs)


# --- the DAG runs: Airflow's own models, in this process (environment set before import) ---

def wait_parsed(dag_ids: Sequence[str], components: airflow_ui.Components,
                timeout: float) -> None:
    """Wait until the dag-processor has serialised every DAG to run."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    deadline = time.monotonic() + timeout
    while True:
        with create_session() as session:
            missing = [d for d in dag_ids if not SerializedDagModel.has_dag(d, session=session)]
        if not missing:
            return
        if (dead := components.dead()) is not None:
            raise DistributedRunError(f"stopped waiting for the DAGs: {dead}")
        if time.monotonic() > deadline:
            raise DistributedRunError(f"DAGs not parsed within {timeout:.0f} s: {missing}")
        time.sleep(1)


def trigger(dag_id: str, as_of: str) -> str:
    """Unpause the DAG and trigger its run for the logical date `as_of`; a previous run of the
    same DAG and date is deleted first (as `airflow dags test` does). Returns the run id."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    logical = logical_datetime(as_of)
    run_id = f"{RUN_ID_PREFIX}__{as_of}__{int(time.time())}"
    with create_session() as session:
        for old in session.query(DagRun).filter(DagRun.dag_id == dag_id,
                                                DagRun.logical_date == logical):
            session.delete(old)
        session.flush()
        model = session.get(DagModel, dag_id)
        if model is None:
            raise DistributedRunError(f"{dag_id} is not known to Airflow")
        model.is_paused = False
        session.flush()
        trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.CLI, run_id=run_id,
                    logical_date=logical, session=session)
    return run_id


def wait_run(dag_id: str, run_id: str, components: airflow_ui.Components,
             timeout: float) -> str:
    """Poll the run's state until it is final; returns it (e.g. 'success', 'failed')."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    deadline = time.monotonic() + timeout
    while True:
        with create_session() as session:
            run = session.query(DagRun).filter(DagRun.dag_id == dag_id,
                                               DagRun.run_id == run_id).one()
            state = str(run.state).rsplit(".", 1)[-1].lower()
            failed = sorted(ti.task_id for ti in session.query(TaskInstance).filter(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
                TaskInstance.state.in_(["failed", "upstream_failed"])))
        if state in ("success", "failed"):
            if failed:
                print(f"   failed tasks: {', '.join(failed)}", flush=True)
            return state
        if (dead := components.dead()) is not None:
            raise DistributedRunError(f"{dag_id} interrupted: {dead}")
        if time.monotonic() > deadline:
            raise DistributedRunError(f"{dag_id} did not finish within {timeout:.0f} s "
                                      f"(state {state})")
        time.sleep(1)


def run_dags(dag_ids: Sequence[str], as_of: str, components: airflow_ui.Components,
             timeout: float) -> None:
    wait_parsed(dag_ids, components, timeout)
    for dag_id in dag_ids:
        started = time.monotonic()
        print(f"== trigger {dag_id} {as_of} (CeleryExecutor)", flush=True)
        run_id = trigger(dag_id, as_of)
        state = wait_run(dag_id, run_id, components, timeout)
        print(f"== {dag_id}: dag run state {state} ({time.monotonic() - started:.0f} s, "
              f"run {run_id})", flush=True)
        if state != "success":
            raise DistributedRunError(f"{dag_id} ended {state}: its task logs are under "
                                      f"{settings.paths().data / 'logs' / 'airflow'}")


class _Stop(Exception):
    """SIGTERM received: stop like Ctrl-C."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dags", nargs="*", default=list(DAGS))
    parser.add_argument("--as-of", required=True, help="the logical date, YYYY-MM-DD")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds for start-up, and for each DAG run")
    args = parser.parse_args(argv)
    date.fromisoformat(args.as_of)
    layout = Layout(settings.paths().data)
    home = Path(os.environ.get("AIRFLOW_HOME", "airflow_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)

    def on_term(signum: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    components = airflow_ui.Components()
    postgres_started = False
    try:
        print(f"== metadata database: PostgreSQL under {layout.postgres} (Unix socket only)",
              flush=True)
        postgres_started = True
        server = postgres_server.start(layout.postgres)
        postgres_server.create_database(server, METADATA_DATABASE)
        print(f"== broker: redis-server on {layout.redis_socket} (no TCP, no persistence)",
              flush=True)
        start_redis(components, layout)
        port = free_port()
        env = environment(port, home, server, layout)
        os.environ.update(env)  # this process reads the same metadata database
        print(f"== airflow: db migrate, then {', '.join(commands())} on "
              f"http://{airflow_ui.HOST}:{port} (logs in {layout.logs})", flush=True)
        start_airflow(components, env, layout)
        # this process only (Airflow is first imported below): its trigger's info lines
        # ("creating dag run ...") would interleave with the `== ` progress on the terminal
        os.environ["AIRFLOW__LOGGING__NAMESPACE_LEVELS"] = "airflow=WARNING"
        airflow_ui.wait_healthy(components, port, args.timeout)
        run_dags(args.dags, args.as_of, components, args.timeout)
        return 0
    except (KeyboardInterrupt, _Stop):
        print("!! interrupted: stopping", file=sys.stderr, flush=True)
        return 130
    except (DistributedRunError, postgres_server.PostgresServerError, TimeoutError,
            RuntimeError) as exc:
        print(f"!! {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        components.stop()
        if postgres_started:
            with contextlib.suppress(postgres_server.PostgresServerError):
                postgres_server.stop(layout.postgres)
        print(f"== stopped: {', '.join([*components.procs, 'postgresql'])}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
