"""The Postgres source path with a real PostgreSQL server and Airflow itself.

One server per module (transforms/sources/postgres_server.py, a cluster under a temporary
directory, stopped and removed in teardown, also on failure). A tiny book is generated twice: as
the file drop (the reference) and with its policy-admin rows loaded into the database. Then:

1. the extract for 2026-11-25 (first run: every day up to it) writes deliveries byte-identical
   to the file drop's, and running it again writes nothing (idempotent);
2. a contract changed after the watermark (a new version stamped 2026-11-25 12:00);
3. `airflow dags test extract_policy_admin 2026-11-26` (the Airflow connection from
   AIRFLOW_CONN_POLICY_ADMIN_DB, PostgresHook) pulls it as a redelivery of 2026-11-25 (and the
   new day), and the ingest loads what was extracted, the redelivered day in place of the
   first one (in process: one Airflow run per module keeps the test's cost down);
4. re-running either interval afterwards writes nothing and keeps the watermark.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psycopg2
import pytest

from transforms.classification import load
from transforms.ingest.run import ingest
from transforms.landing import manifest_files
from transforms.operations.leak_scan import identifier_values, scan
from transforms.privacy.keys import DomainKeys
from transforms.sources import postgres_server
from transforms.sources.generate import generate_book
from transforms.sources.policy_admin_db import record_change
from transforms.sources.policy_admin_extract import extract, read_state

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 600
SEED = 7
AS_OF = date(2026, 11, 26)
FIRST_RUN = date(2026, 11, 25)
CHANGED_AT = datetime(2026, 11, 25, 12, tzinfo=UTC)
DAYS = ("2026-11-24", "2026-11-25", "2026-11-26")


def _changed_contract(reference: Path) -> str:
    """A contract of the full extract without a cancellation, started before 2026-11-25."""
    import polars as pl

    frame = pl.read_csv(reference / "policy_admin" / DAYS[0] / "contracts.csv",
                        infer_schema=False)
    row = frame.filter(pl.col("cancellation_date").is_null()
                       & (pl.col("start_date") < "2026-11-20")).row(0, named=True)
    return row["contract_number"]


@pytest.fixture(scope="module")
def postgres_run() -> dict:
    # under the system's temporary directory, open to traverse: as root, the server runs as
    # `postgres`, which must reach the cluster (pytest's own temporary directories are private
    # to root; postgres_server would then fall back to a directory this teardown cannot see)
    base = Path(tempfile.mkdtemp(prefix="pipeline-pg-test-"))
    base.chmod(0o755)
    try:
        started = time.perf_counter()
        server = postgres_server.start(base / "postgres")
        assert server.cluster.is_relative_to(base), "the cluster is removed with the test"
        try:
            yield _scenario(base, server, time.perf_counter() - started)
        finally:
            postgres_server.stop(base / "postgres")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _scenario(base: Path, server: postgres_server.Server, server_start: float) -> dict:
    timings = {"start": time.perf_counter()}
    classification = load()
    key = os.urandom(32).hex()
    data = base / "data"
    landing, state = data / "landing", data / "state" / "policy_admin_watermark.json"
    reference = base / "reference"
    generate_book(reference, CONTRACTS, 3, AS_OF, SEED, truth_dir=base / "truth-ref")
    con = psycopg2.connect(server.dsn)
    try:
        generate_book(landing, CONTRACTS, 3, AS_OF, SEED, truth_dir=base / "truth",
                      policy_admin_db=con)
        out: dict = {"base": base, "data": data, "reference": reference, "state": state}
        out["files_before_extract"] = sorted(
            p.relative_to(landing).as_posix() for p in (landing / "policy_admin").rglob("*")
        ) if (landing / "policy_admin").exists() else []
        out["first"] = extract(con, classification, landing, state, FIRST_RUN)
        out["identical"] = {
            f"{day}/{name}": filecmp.cmp(reference / "policy_admin" / day / name,
                                         landing / "policy_admin" / day / name, shallow=False)
            for day in DAYS[:2] for name in ("contracts.csv", "quotes.csv", "_manifest.json")}
        out["first_again"] = extract(con, classification, landing, state, FIRST_RUN)
        out["day_25_before"] = manifest_files(landing / "policy_admin" / DAYS[1])
        # the first extract is loaded (in process) before the change, so that the change's
        # redelivery replaces a loaded delivery
        out["first_loaded"] = ingest(landing, data / "warehouse.duckdb", data / "quarantine",
                                     DomainKeys.derive(bytes.fromhex(key)),
                                     systems=["policy_admin"], until=FIRST_RUN)
        timings["generate_extract_ingest"] = time.perf_counter()
        out["changed"] = record_change(con, classification, "contracts",
                                       _changed_contract(reference),
                                       {"cancellation_date": "2026-11-25"}, CHANGED_AT)
    finally:
        con.close()
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data), "AIRFLOW_HOME": str(base / "airflow"),
           "PIPELINE_MASTER_KEY": key,
           "AIRFLOW_CONN_POLICY_ADMIN_DB": server.airflow_connection()}
    env.pop("PIPELINE_MASTER_KEY_FILE", None)
    # the venv's airflow straight away (pipeline_env.sh puts it on PATH): no `uv run` and no
    # airflow_run wrapper, whose verdict the task's state file and the exit status stand in for
    script = ("source scripts/pipeline_env.sh && airflow db migrate >/dev/null && "
              f"airflow dags test extract_policy_admin {AS_OF}")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    out["airflow"] = proc
    timings["airflow"] = time.perf_counter()
    # the ingest of the extract (in process: ingest_deliveries through Airflow is what make run
    # and tests/test_end_to_end.py run; it reads the same landing zone)
    out["second_loaded"] = ingest(landing, data / "warehouse.duckdb", data / "quarantine",
                                  DomainKeys.derive(bytes.fromhex(key)),
                                  systems=["policy_admin"], until=AS_OF)
    timings["ingest"] = time.perf_counter()
    con = psycopg2.connect(server.dsn)
    try:
        out["airflow_state"] = read_state(state)
        out["second_again"] = extract(con, classification, landing, state, AS_OF)
        out["first_after"] = extract(con, classification, landing, state, FIRST_RUN)
        out["state_after"] = read_state(state)
    finally:
        con.close()
    timings["reruns"] = time.perf_counter()
    marks = list(timings.items())
    out["timings"] = {"server_start": round(server_start, 1)} | {
        name: round(t - marks[i - 1][1], 1) for i, (name, t) in enumerate(marks) if i}
    print(f"phase seconds: {out['timings']}")  # shown with -s
    return out


def test_generator_writes_no_policy_admin_delivery_in_database_mode(postgres_run: dict) -> None:
    assert postgres_run["files_before_extract"] == []


def test_extract_is_byte_identical_to_the_file_drop(postgres_run: dict) -> None:
    first = postgres_run["first"]
    assert [d["delivery_date"] for d in first["deliveries"]] == list(DAYS[:2])
    assert first["rows_changed"] > 0
    assert postgres_run["identical"] and all(postgres_run["identical"].values()), \
        postgres_run["identical"]


def test_rerunning_an_interval_extracts_the_same_rows(postgres_run: dict) -> None:
    first, again = postgres_run["first"], postgres_run["first_again"]
    assert again["deliveries_written"] == 0
    assert again["rows_changed"] == first["rows_changed"]
    assert [d["rows"] for d in again["deliveries"]] == [d["rows"] for d in first["deliveries"]]
    # after the later run: same lower bound, the day's rows (now with the change) unchanged
    assert postgres_run["second_again"]["deliveries_written"] == 0
    assert postgres_run["first_after"]["deliveries_written"] == 0
    assert postgres_run["state_after"]["watermark"] == postgres_run["airflow_state"]["watermark"]


def test_airflow_pulls_a_change_after_the_watermark_as_a_redelivery(postgres_run: dict) -> None:
    proc = postgres_run["airflow"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert postgres_run["changed"] == 1
    report = json.loads((postgres_run["data"] / "state" / "extract-policy_admin.json")
                        .read_text())
    assert report["as_of"] == AS_OF.isoformat()
    written = {d["delivery_date"] for d in report["deliveries"] if d["written"]}
    assert written == {DAYS[1], DAYS[2]}, report  # 25 again (the change), 26 new
    assert postgres_run["airflow_state"]["watermark"] == CHANGED_AT.isoformat()
    before = postgres_run["day_25_before"]["contracts.csv"]
    after = manifest_files(postgres_run["data"] / "landing" / "policy_admin" / DAYS[1])
    assert after["contracts.csv"]["rows"] == before["rows"] + 1
    assert after["contracts.csv"]["sha256"] != before["sha256"]
    assert after["quotes.csv"] == postgres_run["day_25_before"]["quotes.csv"]
    # the day 26 folder equals the file drop's: nothing changed that day
    for name in ("contracts.csv", "quotes.csv", "_manifest.json"):
        assert filecmp.cmp(postgres_run["reference"] / "policy_admin" / DAYS[2] / name,
                           postgres_run["data"] / "landing" / "policy_admin" / DAYS[2] / name,
                           shallow=False)


def test_ingest_loads_the_extracted_deliveries(postgres_run: dict) -> None:
    proc = postgres_run["airflow"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    landing = postgres_run["data"] / "landing" / "policy_admin"
    con = duckdb.connect(str(postgres_run["data"] / "warehouse.duckdb"), read_only=True)
    try:
        loaded = {(str(d), e): (sha, rows) for d, e, sha, rows in con.execute(
            "select delivery_date, entity, file_sha256, rows_read from audit.deliveries "
            "where system = 'policy_admin'").fetchall()}
    finally:
        con.close()
    first = {r.delivery: r.status for r in postgres_run["first_loaded"]}
    assert first == {f"policy_admin/{d}": "loaded" for d in DAYS[:2]}, first
    second = {r.delivery: r.status for r in postgres_run["second_loaded"]}
    assert second == {f"policy_admin/{DAYS[0]}": "already_loaded",
                      f"policy_admin/{DAYS[1]}": "loaded",  # the redelivery, in place
                      f"policy_admin/{DAYS[2]}": "loaded"}, second
    for day in DAYS:
        for name, meta in manifest_files(landing / day).items():
            entity = name.removesuffix(".csv")
            assert loaded[(day, entity)] == (meta["sha256"], meta["rows"]), (day, entity)


def test_no_value_in_logs_state_or_xcom(postgres_run: dict) -> None:
    data = postgres_run["data"]
    values = identifier_values(sorted((data / "landing" / "policy_admin").rglob("*.csv")))
    assert len(values) > 100
    targets = [data / "logs", data / "state", postgres_run["base"] / "airflow"]
    result = scan([t for t in targets if t.exists()], values)
    assert result.total == 0, result.hits
    proc = postgres_run["airflow"]
    assert scan_text(proc.stdout + proc.stderr, values) == 0


def scan_text(text: str, values: set[str]) -> int:
    return sum(1 for v in getattr(values, "substrings", values) if v in text)


def test_server_directories_stay_with_the_project(tmp_path: Path) -> None:
    """locate() (no server): the cluster under the base when its user can reach it, the socket
    beside it unless the path is too long for a Unix socket; nothing is created."""
    open_dir = Path(tempfile.mkdtemp(prefix="pipeline-pg-locate-"))
    try:
        open_dir.chmod(0o755)
        server = postgres_server.locate(open_dir / "postgres")
        assert server.cluster == open_dir / "postgres" / "cluster"
        assert server.socket_dir == open_dir / "postgres" / "run"
        assert "password" not in server.dsn and "password" not in server.airflow_connection()
        deep = postgres_server.locate(open_dir / ("x" * 100) / "postgres")
        assert deep.cluster == open_dir / ("x" * 100) / "postgres" / "cluster"
        assert len(str(deep.socket_dir / ".s.PGSQL.5432")) < 107
        assert not (open_dir / "postgres").exists()
    finally:
        shutil.rmtree(open_dir)
    if os.geteuid() == 0:  # the server's own user cannot enter pytest's private directories
        private = postgres_server.locate(tmp_path / "postgres")
        assert not private.cluster.is_relative_to(tmp_path)
