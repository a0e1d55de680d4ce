"""`make run-distributed`: the DAGs through the CeleryExecutor, with everything it starts real.

One run per module (fixture): `make run-distributed` on a tiny book (300 contracts, one delivery
day) starts the project's PostgreSQL as Airflow's metadata database, redis-server as the broker,
the api-server, scheduler, dag-processor and one Celery worker, and runs the three DAGs. The
tests then read Airflow's metadata database (the cluster started again, read-only queries) and
the worker's log: every run succeeded and every task instance went through Celery (the worker's
log shows a Celery task that executed it received and succeeded); the gate passed and the
publication is that of the build_and_publish run; no process is left; no raw identifier and
no key is in anything the run wrote, the metadata database's files (XComs) and the broker's
directory included. A second, cheap run is interrupted with SIGINT while Airflow migrates:
everything started so far is stopped.

Engine: Spark (`local[2]`) in `make test`, so CI runs the Spark engine end to end through
the CeleryExecutor: every ingest task starts its Spark session on the worker, `build_and_publish`
runs `dbt build` (models, data tests, unit tests) on dbt-spark, exports the marts, gates and
publishes them. The tests below also check that it was Spark's warehouse that was built and
nothing of the DuckDB engine's. Measured on a quiet machine (load about 2): the module took
408 s, of which the run 395 s (start-up about 60 s, ingest_deliveries 95 s, retention_and_rights
19 s, build_and_publish 206 s, of it `dbt build` on Spark 131 s). `DISTRIBUTED_TEST_ENGINE=duckdb`
runs the same module on the DuckDB engine (about 3 minutes); the equality of both engines'
publications is tests/test_spark_engine.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transforms.operations import distributed
from transforms.operations.leak_scan import identifier_values, scan
from transforms.privacy.keys import DOMAINS, DomainKeys
from transforms.sources import postgres_server

ROOT = Path(__file__).resolve().parent.parent
ENGINE = os.environ.get("DISTRIBUTED_TEST_ENGINE", "spark")
AS_OF = "2026-11-26"

pytestmark = pytest.mark.distributed


def _env(base: Path, key: str) -> dict[str, str]:
    env = {**os.environ,
           "PIPELINE_DATA_DIR": str(base / "data"),
           "AIRFLOW_HOME": str(base / "airflow_home"),
           "PIPELINE_MASTER_KEY": key}
    env.pop("PIPELINE_MASTER_KEY_FILE", None)
    env.pop("AIRFLOW_CONN_PSEUDONYMISATION_MASTER_KEY", None)
    return env


def _processes_of(base: Path) -> list[str]:
    """Processes whose command line names `base`, or whose environment points the pipeline's
    data at it (redis-server rewrites its command line; Airflow's name no path)."""
    marker = f"PIPELINE_DATA_DIR={base / 'data'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if str(base).encode() in cmdline or marker in environ.split(b"\0"):
            shown = cmdline.replace(b"\0", b" ")[:120].decode(errors="replace")
            found.append(f"{proc.name}: {shown}")
    return found


def _query(layout: distributed.Layout, sql: str) -> list[tuple]:
    """Read Airflow's metadata database (the cluster is started for the query and stopped)."""
    import psycopg2

    with postgres_server.running(layout.postgres) as server:
        con = psycopg2.connect(host=str(server.socket_dir), port=postgres_server.PORT,
                               dbname=distributed.METADATA_DATABASE, user=postgres_server.USER)
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("distributed")
    key = os.urandom(32).hex()
    started = time.monotonic()
    # its own session: on a timeout or an interrupted test session, the whole command gets
    # SIGINT, as from Ctrl-C, and stops what it started
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run-distributed", "CONTRACTS=300", "DAYS=1",
         f"AS_OF={AS_OF}", f"ENGINE={ENGINE}"],
        cwd=ROOT, env=_env(base, key), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=1500 if ENGINE == "duckdb" else 2400)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGINT)
                proc.communicate(timeout=120)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - started
    (base / "stdout.log").write_text(stdout)
    left = _processes_of(base)
    layout = distributed.Layout(base / "data")
    live_groups = _live_groups(layout)
    assert proc.returncode == 0, stdout[-6000:]
    runs = _query(layout, "select dag_id, run_id, state from dag_run order by id")
    tis = _query(layout, "select dag_id, run_id, task_id, state, external_executor_id, queue, "
                         "id::text from task_instance")
    return {"base": base, "layout": layout, "stdout": stdout, "key": key, "left": left,
            "live_groups": live_groups,
            "runs": runs, "tis": tis, "seconds": seconds}


def test_every_dag_ran_in_order_and_succeeded(distributed_run: dict) -> None:
    runs = distributed_run["runs"]
    assert [r[0] for r in runs] == list(distributed.DAGS), runs
    assert {r[2] for r in runs} == {"success"}, runs
    assert all(r[1].startswith(distributed.RUN_ID_PREFIX) for r in runs)
    for dag in distributed.DAGS:
        assert f"== {dag}: dag run state success" in distributed_run["stdout"]


def test_every_task_ran_on_the_celery_worker(distributed_run: dict) -> None:
    """Each task instance carries a Celery task id, and the one worker's log shows a Celery task
    that executed that task instance (its id is in the workload the worker logs) received and
    succeeded.

    Matched by the task instance's id, not by the Celery id the task instance ends with: the
    scheduler assigns a new Celery id when it queues a task instance again, so under load (CI)
    the id in the metadata database can be one the worker never received although the worker
    ran the task instance under the earlier one."""
    tis = distributed_run["tis"]
    assert len(tis) >= 10
    worker_log = (distributed_run["layout"].logs / "celery-worker.log").read_text()
    received = set(re.findall(r"execute_workload\[([0-9a-f-]{36})\] received", worker_log))
    succeeded = set(re.findall(r"execute_workload\[([0-9a-f-]{36})\] succeeded", worker_log))
    executed = re.findall(r"\[([0-9a-f-]{36})\] Executing workload in Celery: .*? "
                          r"ti=TaskInstanceDTO\(id=UUID\('([0-9a-f-]{36})'\)", worker_log)
    ran_through_celery = {ti_id for celery_id, ti_id in executed
                          if celery_id in received and celery_id in succeeded}
    done = [ti for ti in tis if ti[3] == "success"]
    no_celery_id = sorted(ti[2] for ti in done if ti[4] is None)
    assert not no_celery_id, f"task instances without a Celery task id: {no_celery_id}"
    not_on_worker = sorted(f"{ti[0]}.{ti[2]}" for ti in done if ti[6] not in ran_through_celery)
    assert not not_on_worker, f"not run through the worker: {not_on_worker}"
    assert {ti[5] for ti in tis} == {"default"}


def test_the_gate_passed_and_the_publication_is_the_build_run(distributed_run: dict) -> None:
    data = distributed_run["base"] / "data"
    gate = json.loads((data / "published" / "reports" / "gate-summary.json").read_text())
    assert gate["passed"] is True
    publication = json.loads((data / "published" / "publication.json").read_text())
    build_run = next(r[1] for r in distributed_run["runs"] if r[0] == "build_and_publish")
    assert publication["run_id"] == build_run
    assert (data / "published" / "marts.duckdb").is_file()
    assert publication["tables"]["actuarial.policy_exposure"] > 0


def test_the_engine_that_was_asked_for_built_the_warehouse(distributed_run: dict) -> None:
    """On Spark: the pseudonymised tables are Parquet partitions in the Spark warehouse, the
    build task ran dbt-spark and exported its marts for the gate, and no DuckDB warehouse file
    was made; on DuckDB the opposite."""
    data = distributed_run["base"] / "data"
    dbt_state = json.loads((data / "state" / "dbt.json").read_text())
    if ENGINE == "spark":
        tables = {f"{p.parent.parent.parent.name}/{p.parent.parent.name}"
                  for p in (data / "spark-warehouse").glob("pseudo_*/*/_delivery_date=*/*.parquet")}
        assert tables >= {"pseudo_actuarial/policy_admin__contracts",
                          "pseudo_actuarial/claims__claims",
                          "pseudo_actuarial/claims__claim_transactions",
                          "pseudo_marketing/policy_admin__contracts"}, sorted(tables)
        assert dbt_state["engine"] == "spark" and dbt_state["dbt"] == "build succeeded"
        assert dbt_state["marts_exported"]["actuarial.policy_exposure"] > 0
        assert (data / "spark-marts.duckdb").is_file()
        assert not (data / "warehouse.duckdb").exists()
    else:
        assert (data / "warehouse.duckdb").is_file()
        assert not (data / "spark-warehouse").exists()


def _live_groups(layout: distributed.Layout) -> dict[str, int]:
    """The process groups the command started that still hold a process."""
    groups = json.loads((layout.logs / distributed.PROCESS_GROUPS).read_text())
    live = {}
    for name, pgid in groups.items():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            continue
        live[name] = pgid
    return live


def test_nothing_it_started_is_left_running(distributed_run: dict) -> None:
    assert distributed_run["left"] == []
    layout = distributed_run["layout"]
    assert distributed_run["live_groups"] == {}
    assert set(json.loads((layout.logs / distributed.PROCESS_GROUPS).read_text())) == {
        "redis", "api-server", "scheduler", "dag-processor", "celery-worker"}
    assert not (postgres_server.locate(layout.postgres).cluster / "postmaster.pid").exists()
    assert not layout.redis_socket.exists()
    assert "== stopped: redis, api-server, scheduler, dag-processor, celery-worker, postgresql" \
        in distributed_run["stdout"]


def test_no_raw_identifier_and_no_key_in_anything_it_wrote(distributed_run: dict) -> None:
    """Logs of every component and task, the metadata database's files (XComs, run
    configuration), the broker's directory, the warehouse and the publication."""
    base = distributed_run["base"]
    data = base / "data"
    values = identifier_values(sorted((data / "landing").rglob("*.csv")))
    assert len(values) > 300
    written = [p for p in data.iterdir() if p.name not in ("landing", "quarantine",
                                                           "synthetic_truth")]
    written += [base / "airflow_home", base / "stdout.log"]
    found = scan(written, values)
    assert found.total == 0, json.dumps(found.as_dict(), indent=1)
    master = distributed_run["key"]
    derived = DomainKeys.derive(bytes.fromhex(master))
    keys = {master, master.upper(), *(derived.hmac_key(d) for d in DOMAINS)}
    found = scan(written, keys)
    assert found.total == 0, json.dumps(found.as_dict(), indent=1)


def test_ctrl_c_stops_what_was_started(tmp_path: Path) -> None:
    """SIGINT while Airflow's database is being migrated: the broker and the metadata database
    are up, the migration runs; all of it stops and the command says it was interrupted."""
    env = {**_env(tmp_path, os.urandom(32).hex()), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "transforms.operations.distributed",
                             "--as-of", AS_OF], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("== airflow:"):
                time.sleep(1)
                proc.send_signal(signal.SIGINT)
                break
        out = "".join(lines) + proc.stdout.read()
        assert proc.wait(timeout=120) == 130, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "== stopped: redis" in out
    assert _processes_of(tmp_path) == []
    assert _live_groups(distributed.Layout(tmp_path / "data")) == {}


def test_broker_listens_on_no_port_and_keeps_nothing(tmp_path: Path) -> None:
    layout = distributed.Layout(tmp_path)
    conf = distributed.redis_config(layout).splitlines()
    assert "port 0" in conf and "protected-mode yes" in conf and 'save ""' in conf
    assert "appendonly no" in conf and f"unixsocket {layout.redis_socket}" in conf
    assert "unixsocketperm 700" in conf


def test_metadata_database_urls_carry_no_password(tmp_path: Path) -> None:
    server = postgres_server.Server(cluster=tmp_path / "cluster", socket_dir=tmp_path / "run")
    for url in distributed.metadata_urls(server):
        assert f"{postgres_server.USER}@/" in url and f"host={tmp_path / 'run'}" in url
        assert ":" not in url.split("://", 1)[1].split("@", 1)[0]


def test_long_data_paths_get_a_short_broker_socket(tmp_path: Path) -> None:
    layout = distributed.Layout(tmp_path / ("x" * 120))
    assert len(str(layout.redis_socket)) <= 107
    assert distributed.Layout(tmp_path).redis_socket.parent == tmp_path / "redis"


def test_the_leftover_check_finds_a_process_of_the_run(tmp_path: Path) -> None:
    """The checks above on a planted process: one whose environment points at the data dir,
    in a process group recorded as the command's."""
    layout = distributed.Layout(tmp_path / "data")
    layout.logs.mkdir(parents=True)
    planted = subprocess.Popen(["sleep", "60"], start_new_session=True,
                               env={**os.environ, "PIPELINE_DATA_DIR": str(layout.data)})
    (layout.logs / distributed.PROCESS_GROUPS).write_text(json.dumps({"planted": planted.pid}))

    def seen() -> bool:
        return any(line.startswith(f"{planted.pid}:") for line in _processes_of(tmp_path))

    try:
        # the child shows its own environment only once it has exec'd `sleep` (before that,
        # /proc holds the forked parent's): wait for it, as a loaded machine may take a while
        deadline = time.monotonic() + 30
        while not seen() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen()
        assert _live_groups(layout) == {"planted": planted.pid}
    finally:
        planted.kill()
        planted.wait()
    assert _processes_of(tmp_path) == []
    assert _live_groups(layout) == {}
