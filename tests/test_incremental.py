"""Daily runs that cost what is new: the build DAG skips when the marts' inputs are unchanged.

Through Airflow itself (`airflow dags test build_and_publish`, transforms/airflow_run.py) on a
small generated book, in order, reusing one warehouse: a first build publishes; a rerun with
nothing new keeps the publication (same symlink target, no new publication folder) and says so;
the next day's deliveries (`--append-day`) are ingested and published; an erasure after that
publication forces a rebuild. The ingest runs the DAG's own task function in a subprocess
(tests/test_end_to_end.py runs the ingest DAG itself). Unit tests on the fingerprint's parts and
the generator's book record follow; they need no Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from every_kind import append_rows

from transforms.build.input_fingerprint import FORCE_ENV, compute
from transforms.publish.publication import MANIFEST, list_publications, publication_is_intact
from transforms.sources.generate import generate_book
from transforms.sources.landing_book import (
    LandingBookError,
    append_day,
    ensure_book,
    read_record,
)

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 700
AS_OF = date(2026, 11, 26)
NEXT = AS_OF + timedelta(days=1)
SEED = 5


def _run(env: dict, script: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"source scripts/pipeline_env.sh && {script}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _ingest(env: dict, day: date) -> None:
    code = ("from transforms.operations.tasks import ingest_system\n"
            "for s in ('policy_admin', 'claims', 'dpo'):\n"
            f"    ingest_system(s, '{day.isoformat()}')\n")
    proc = _run(env, f"uv run python -c \"{code}\"")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _build(env: dict, day: date) -> str:
    proc = _run(env, f"uv run python -m transforms.operations.airflow_run build_and_publish {day}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _state(data: Path) -> dict:
    return json.loads((data / "state" / "build.json").read_text())


def _target(data: Path) -> Path:
    return (data / "published").resolve()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("incremental")
    data = base / "data"
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data), "AIRFLOW_HOME": str(base / "airflow"),
           "PIPELINE_MASTER_KEY": os.urandom(32).hex()}
    for name in ("PIPELINE_MASTER_KEY_FILE", "PIPELINE_AS_OF", FORCE_ENV):
        env.pop(name, None)
    generate_book(data / "landing", CONTRACTS, 2, AS_OF, SEED, truth_dir=base / "truth",
                  horizon=AS_OF + timedelta(days=3))
    _ingest(env, AS_OF)
    migrate = _run(env, "uv run airflow db migrate")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    _build(env, AS_OF)
    first = _state(data)
    assert first["unchanged"] is False and first["build"] == "rebuild: no publication yet"
    return {"base": base, "data": data, "env": env, "first": _target(data)}


def test_a_run_with_nothing_new_keeps_the_publication(book: dict) -> None:
    data = book["data"]
    before = sorted(p.name for p in (data / "publications").iterdir())
    out = _build(book["env"], AS_OF)
    assert _target(data) == book["first"], "the published symlink still points at it"
    assert sorted(p.name for p in (data / "publications").iterdir()) == before
    state = _state(data)
    assert state["unchanged"] is True
    assert state["build"] == f"unchanged, publication {book['first'].name} kept"
    assert "dag run state success" in out
    summary = json.loads((data / "run-summary.json").read_text())
    assert summary["build"] == state["build"], "the run summary says so"
    manifest = json.loads((book["first"] / MANIFEST).read_text())
    assert manifest["inputs"]["digest"] and publication_is_intact(book["first"])


def test_the_next_day_and_an_erasure_are_published(book: dict) -> None:
    """One build for two changes (each Airflow build costs about 100 s of the suite): the next
    day's deliveries, and an erasure that reaches the DPO's feed after the ingest, which the
    build applies first and which must force a new publication without the subject."""
    data, env = book["data"], book["env"]
    append_day(data / "landing", truth_dir=book["base"] / "truth")
    assert (data / "landing" / "policy_admin" / NEXT.isoformat() / "_manifest.json").is_file()
    _ingest(env, NEXT)
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        loaded = con.execute("select count(distinct system) from audit.deliveries "
                             "where delivery_date = ?",
                             [NEXT]).fetchall()[0][0]
    finally:
        con.close()
    assert loaded == 3, "the new day's three deliveries are ingested"
    full_extract = sorted((data / "landing" / "policy_admin").glob("*/contracts.csv"))[0]
    contracts = pl.read_csv(full_extract, infer_schema=False)
    victim = contracts.filter(pl.col("cancellation_date").is_null())["contract_number"][0]
    append_rows(data / "landing" / "dpo" / NEXT.isoformat(), "subject_requests", [{
        "request_id": "DSR-970001", "request_type": "erasure",
        "received_date": NEXT.isoformat(), "contract_number": victim}])
    _build(env, NEXT)
    state = _state(data)
    # a small book's day may bring only a couple of rows, all of which may be quarantined: the
    # new deliveries (landing) and the new as-of date (dbt_vars) are what must be seen; the
    # erasure removed warehouse rows (table:pseudo_*)
    assert state["unchanged"] is False, state["build"]
    for part in ("landing", "dbt_vars", "table:pseudo_"):
        assert part in state["build"], state["build"]
    target = _target(data)
    assert target != book["first"] and publication_is_intact(target)
    # the first publication held the erased subject: retired once the new one is out
    assert [p.name for p in list_publications(data / "published")] == [target.name]
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        done = con.execute("select count(*) from audit.subject_requests where request_id = ? "
                           "and status = 'done'", ["DSR-970001"]).fetchall()[0][0]
    finally:
        con.close()
    assert done == 1
    assert victim not in json.dumps(state)


# -- the fingerprint's parts, without Airflow ----------------------------------------------


def _warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema pseudo_actuarial")
    con.execute("create table pseudo_actuarial.policy_admin__contracts as select 'c' || range "
                "as contract_pseudonym, range as premium from range(50)")
    con.execute("create schema audit")
    con.execute("create table audit.deliveries (loaded_at timestamp)")
    con.close()


def _fp(tmp_path: Path, **overrides: object) -> dict:
    args: dict = {"dbt_vars": {"as_of_date": "2026-11-26", "min_cell_size": 10},
                  "key_version": "kv-1", "classification_file": tmp_path / "classification.yml",
                  "dbt_project_dir": tmp_path / "dbt"}
    args.update(overrides)
    return compute(tmp_path / "wh.duckdb", tmp_path / "landing", **args).as_dict()


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    _warehouse(tmp_path / "wh.duckdb")
    (tmp_path / "classification.yml").write_text("version: 1\n")
    (tmp_path / "dbt" / "models").mkdir(parents=True)
    (tmp_path / "dbt" / "models" / "m.sql").write_text("select 1\n")
    (tmp_path / "landing" / "dpo" / "2026-11-26").mkdir(parents=True)
    (tmp_path / "landing" / "dpo" / "2026-11-26" / "_manifest.json").write_text("{}")
    return tmp_path


def _sql(tmp_path: Path, sql: str) -> None:
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute(sql)
    con.close()


def test_nothing_changed_gives_the_same_fingerprint(inputs: Path) -> None:
    first = _fp(inputs)
    _sql(inputs, "insert into audit.deliveries values (now())")  # audit logs are not inputs
    (inputs / "dbt" / "target").mkdir()
    (inputs / "dbt" / "target" / "manifest.json").write_text("{}")  # nor is dbt's output
    assert _fp(inputs) == first


@pytest.mark.parametrize("change, part", [
    ("delete from pseudo_actuarial.policy_admin__contracts where premium = 7",  # an erasure
     "table:pseudo_actuarial.policy_admin__contracts"),
    ("update pseudo_actuarial.policy_admin__contracts set premium = 8 where premium = 7",
     "table:pseudo_actuarial.policy_admin__contracts"),  # a replaced delivery's row
    ("insert into pseudo_actuarial.policy_admin__contracts values ('c7', 7)",  # a new delivery
     "table:pseudo_actuarial.policy_admin__contracts"),  # (a duplicate row counts)
    ("create table pseudo_actuarial.dpo__subject_requests_resolved (request_id varchar)",
     "table:pseudo_actuarial.dpo__subject_requests_resolved"),  # a restriction's resolution
])
def test_every_warehouse_change_changes_its_part(inputs: Path, change: str, part: str) -> None:
    first = _fp(inputs)
    _sql(inputs, change)
    second = _fp(inputs)
    assert second["digest"] != first["digest"]
    assert [n for n in second["parts"] if second["parts"][n] != first["parts"].get(n)] == [part]


def test_project_files_vars_and_deliveries_change_their_part(inputs: Path) -> None:
    first = _fp(inputs)
    (inputs / "classification.yml").write_text("version: 2\n")
    assert _fp(inputs)["parts"]["classification"] != first["parts"]["classification"]
    (inputs / "dbt" / "models" / "m.sql").write_text("select 2\n")
    assert _fp(inputs)["parts"]["dbt_project"] != first["parts"]["dbt_project"]
    later = _fp(inputs, dbt_vars={"as_of_date": "2026-11-27", "min_cell_size": 10})
    assert later["parts"]["dbt_vars"] != first["parts"]["dbt_vars"]
    assert _fp(inputs, key_version="kv-2")["parts"]["key_version"] != first["parts"]["key_version"]
    (inputs / "landing" / "dpo" / "2026-11-27").mkdir()
    (inputs / "landing" / "dpo" / "2026-11-27" / "_manifest.json").write_text("{}")
    assert _fp(inputs)["parts"]["landing"] != first["parts"]["landing"]


def _spark_table(warehouse: Path, day: str, rows: dict[str, list], name: str = "part-0"
                 ) -> None:
    """One partition of a Spark warehouse table as the Spark ingest writes it."""
    folder = warehouse / "pseudo_actuarial" / "policy_admin__contracts" / f"_delivery_date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    pl.DataFrame(rows).write_parquet(folder / f"{name}.parquet")


def test_the_spark_warehouse_is_fingerprinted_by_content(inputs: Path) -> None:
    """On Spark the tables are Parquet partitions: the same rows written again (new file names,
    another writer) give the same part; a changed row, a removed or a new partition change it."""
    wh = inputs / "spark-wh"
    rows = {"contract_id": ["c1", "c2"], "premium": [7, 9]}
    _spark_table(wh, "2026-11-25", rows)

    def fp() -> dict:
        return compute(wh, inputs / "landing", dbt_vars={"as_of_date": "2026-11-26"},
                       key_version="kv-1", classification_file=inputs / "classification.yml",
                       dbt_project_dir=inputs / "dbt", spark=True).as_dict()

    first = fp()
    part = "table:pseudo_actuarial.policy_admin__contracts"
    assert part in first["parts"]
    _spark_table(wh, "2026-11-25", {"contract_id": ["c2", "c1"], "premium": [9, 7]}, "other")
    assert fp() == first  # the same rows in another file and order
    _spark_table(wh, "2026-11-25", {"contract_id": ["c1", "c2"], "premium": [7, 8]})
    changed = fp()
    assert [n for n in changed["parts"] if changed["parts"][n] != first["parts"][n]] == [part]
    _spark_table(wh, "2026-11-25", rows)
    _spark_table(wh, "2026-11-26", {"contract_id": ["c3"], "premium": [1]})
    assert fp()["parts"][part] != first["parts"][part]  # a new delivery's partition
    for f in (wh / "pseudo_actuarial" / "policy_admin__contracts" / "_delivery_date=2026-11-26"
              ).glob("*.parquet"):
        f.unlink()
    (wh / "pseudo_actuarial" / "policy_admin__contracts" / "_delivery_date=2026-11-26").rmdir()
    assert fp() == first


# -- the generator's book record and next day ------------------------------------------------


def test_the_next_day_is_byte_identical_to_a_generation_up_to_it(tmp_path: Path) -> None:
    horizon = date(2026, 11, 28)
    appended, whole = tmp_path / "appended", tmp_path / "whole"
    generate_book(appended, 120, 2, AS_OF, 9, truth_dir=tmp_path / "t1", horizon=horizon)
    assert append_day(appended, truth_dir=tmp_path / "t1")["as_of"] == NEXT.isoformat()
    generate_book(whole, 120, 3, NEXT, 9, truth_dir=tmp_path / "t2", horizon=horizon)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(appended) == files(whole)
    append_day(appended, truth_dir=tmp_path / "t1")  # 2026-11-28, the horizon
    with pytest.raises(LandingBookError, match="history ends at 2026-11-28"):
        append_day(appended, truth_dir=tmp_path / "t1")


def test_make_runs_rerun_refuses_another_book(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate_book(landing, 120, 2, AS_OF, 9, truth_dir=tmp_path / "t", horizon=NEXT)
    assert read_record(landing).contracts == 120
    with pytest.raises(LandingBookError, match="another book .*CONTRACTS=120 SEED=9"):
        ensure_book(landing, contracts=5000, days=2, as_of=AS_OF, seed=9)
    with pytest.raises(LandingBookError, match="DAYS=5"):
        ensure_book(landing, contracts=120, days=5, as_of=AS_OF, seed=9)
    assert "kept" in ensure_book(landing, contracts=120, days=2, as_of=AS_OF, seed=9)
    said = ensure_book(landing, contracts=120, days=2, as_of=NEXT, seed=9,
                       truth_dir=tmp_path / "t")
    assert NEXT.isoformat() in said and (landing / "claims" / NEXT.isoformat()).is_dir()
    cli = subprocess.run(
        [sys.executable, "-m", "transforms.sources.generate", "--out", str(landing),
         "--contracts", "999", "--days", "2", "--as-of", "2026-11-26", "--seed", "9",
         "--if-missing"], cwd=ROOT, capture_output=True, text=True)
    assert cli.returncode == 2 and "another book" in cli.stderr
    (landing / "_book.json").unlink()
    with pytest.raises(LandingBookError, match="no book record"):
        ensure_book(landing, contracts=120, days=2, as_of=AS_OF, seed=9)


# -- publication reuses unchanged extract files ---------------------------------------------


def test_a_publication_reuses_the_extracts_of_unchanged_marts(tmp_path: Path) -> None:
    from synthetic_marts import synthetic_marts

    from transforms.classification import load as load_classification
    from transforms.publish.publication import publish

    data = tmp_path / "data"
    data.mkdir()
    warehouse = data / "warehouse.duckdb"
    synthetic_marts(warehouse, rows=60)
    marts = load_classification().marts
    extracted = [m for m in marts if m.extract]
    assert len(extracted) >= 2, "two extracts: one changes, one does not"

    def publish_now(run_id: str):
        con = duckdb.connect(str(warehouse))
        try:
            rows = {m.name: {"present": True, "rows": con.execute(
                f"select count(*) from {m.name}").fetchall()[0][0]} for m in marts}
        finally:
            con.close()
        summary = data / "gate-summary.json"
        summary.write_text(json.dumps({"passed": True, "min_cell_size": 10, "tables": rows,
                                       "checks": [], "rules": {}}))
        return publish(warehouse, data / "published", run_id=run_id,
                       reports={"gate-summary.json": summary}, inputs={"digest": run_id})

    first = publish_now("one")
    changed = extracted[0]
    con = duckdb.connect(str(warehouse))
    con.execute(f"delete from {changed.name} where rowid in (select min(rowid) "
                f"from {changed.name})")
    con.close()
    second = publish_now("two")

    def extract(pub, mart) -> Path:
        return pub.publication / "extracts" / f"{mart.schema}__{mart.table}.parquet"

    for mart in extracted:
        same = extract(first, mart).stat().st_ino == extract(second, mart).stat().st_ino
        assert same == (mart is not changed), mart.name
    assert publication_is_intact(second.publication)
    manifest = json.loads((second.publication / MANIFEST).read_text())
    assert manifest["inputs"] == {"digest": "two"} and set(manifest["marts"]) == {
        m.name for m in marts}
    # a damaged file in the current publication is not carried over: written afresh
    kept = extract(second, extracted[1])
    os.unlink(kept)
    kept.write_bytes(b"damaged")
    third = publish_now("three")
    assert extract(third, extracted[1]).read_bytes() != b"damaged"
    assert publication_is_intact(third.publication)
