"""The whole pipeline through Airflow itself, on a small synthetic book, then the leak test.

One run per session (module fixture): scripts/run_pipeline.sh generates the source systems,
migrates Airflow's SQLite metadata and runs both DAGs with `airflow dags test`; the tests then
look at what was published and search everything the run wrote for raw identifiers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from transforms.classification import load
from transforms.keys import DOMAINS, DomainKeys
from transforms.leak_scan import identifier_values, scan

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 1500


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("e2e")
    key = os.urandom(32).hex()
    env = {
        **os.environ,
        "PIPELINE_DATA_DIR": str(base / "data"),
        "AIRFLOW_HOME": str(base / "airflow_home"),
        # the key comes through an Airflow connection here (env and file are unit-tested)
        "AIRFLOW_CONN_PSEUDONYMISATION_MASTER_KEY": json.dumps(
            {"conn_type": "generic", "password": key}),
        "CONTRACTS": str(CONTRACTS),
        "DAYS": "3",
        "AS_OF": "2026-11-26",
        "SEED": "7",
    }
    env.pop("PIPELINE_MASTER_KEY_FILE", None)
    env.pop("PIPELINE_MASTER_KEY", None)
    proc = subprocess.run(["bash", "scripts/run_pipeline.sh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    (base / "stdout.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"base": base, "data": base / "data", "env": env, "stdout": proc.stdout, "key": key}


def test_published_marts_have_exactly_the_classified_columns(pipeline_run: dict) -> None:
    marts = pipeline_run["data"] / "published" / "marts.duckdb"
    con = duckdb.connect(str(marts), read_only=True)
    try:
        for mart in load().marts:
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ? order by ordinal_position", [mart.schema, mart.table]
            ).fetchall()]
            assert cols == mart.column_names, mart.name
            rows = con.execute(f"select count(*) from {mart.name}").fetchall()[0][0]
            assert rows > 0, mart.name
    finally:
        con.close()


def test_summary_reports_counts_and_where_to_look(pipeline_run: dict) -> None:
    out = pipeline_run["stdout"]
    for word in ("delivered", "quarantined", "loaded", "published", "marts.duckdb"):
        assert word in out


def test_quarantine_counts_match_the_planted_defects(pipeline_run: dict) -> None:
    data = pipeline_run["data"]
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        quarantined = con.execute("select sum(rows_quarantined) from audit.deliveries"
                                  ).fetchall()[0][0]
        reasons = dict(con.execute("select reason, sum(rows) from audit.quarantine group by 1"
                                   ).fetchall())
    finally:
        con.close()
    assert quarantined > 0
    assert any(r.startswith("invalid:vin") for r in reasons)
    assert any(r.startswith("missing:claim_number") for r in reasons)
    assert "duplicate_row" in reasons
    assert any(r.startswith("future_date:") for r in reasons)
    assert any(r.startswith("negative") for r in reasons)
    qfiles = list((data / "quarantine").rglob("*.parquet"))
    assert qfiles, "quarantined rows are kept apart, with their reasons"


def test_reloading_a_delivery_changes_nothing(pipeline_run: dict) -> None:
    data = pipeline_run["data"]
    wh = data / "warehouse.duckdb"

    def fingerprint() -> dict[str, tuple]:
        con = duckdb.connect(str(wh), read_only=True)
        try:
            tables = con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema like 'pseudo_%' order by 1").fetchall()
            return {t: con.execute(f"select count(*), sum(hash(columns(*))) from {t}"
                                   ).fetchall()[0] for (t,) in tables}
        finally:
            con.close()

    before = fingerprint()
    env = {**pipeline_run["env"], "PYTHONPATH": str(ROOT)}
    code = (
        "from transforms import settings; from transforms.ingest import ingest;"
        "from transforms.keys import load_domain_keys;"
        "from transforms.load import loaded_checksums; import duckdb;"
        "p = settings.paths();"
        "con = duckdb.connect(str(p.warehouse)); con.execute('delete from audit.deliveries');"
        "con.close();"
        "r = ingest(p.landing, p.warehouse, p.quarantine, load_domain_keys());"
        "assert all(x.status == 'loaded' for x in r), [x.status for x in r]"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    assert fingerprint() == before


def test_no_raw_identifier_anywhere_the_run_wrote(pipeline_run: dict) -> None:
    data = pipeline_run["data"]
    landing = sorted((data / "landing").rglob("*.csv"))
    values = identifier_values(landing)
    assert len(values) > CONTRACTS * 5
    targets = [
        data / "warehouse.duckdb",
        data / "published",
        *(p for p in (data / "publications",) if p.exists()),
        data / "logs",
        data / "state",
        *(p for p in (data / "gx",) if p.exists()),
        pipeline_run["base"] / "airflow_home",
        pipeline_run["base"] / "stdout.log",
        ROOT / "dbt_project" / "target",
    ]
    result = scan(targets, values)
    assert result.total == 0, json.dumps(result.as_dict(), indent=1)


def test_the_key_appears_in_nothing_the_run_wrote(pipeline_run: dict) -> None:
    """The planted master key and every key derived from it, searched for in every file."""
    master = pipeline_run["key"]
    derived = DomainKeys.derive(bytes.fromhex(master))
    secrets = {master, master.upper(), *(derived.hmac_key(d) for d in DOMAINS)}
    base = pipeline_run["base"]
    result = scan([base, ROOT / "dbt_project" / "target"], secrets)
    assert result.total == 0, json.dumps(result.as_dict(), indent=1)
    assert derived.key_version in pipeline_run["stdout"]


def test_a_planted_leak_fails_the_dag_and_keeps_the_publication(pipeline_run: dict) -> None:
    """Runs last: a raw VIN smuggled into a kept field must stop publication, visibly."""
    import polars as pl

    from transforms.publish import snapshot

    data = pipeline_run["data"]
    contracts = sorted((data / "landing" / "policy_admin").rglob("contracts.csv"))[0]
    vin = pl.read_csv(contracts, infer_schema=False)["vin"][5]
    before = snapshot(data / "published")
    wh = data / "warehouse.duckdb"
    saved = wh.with_name("warehouse.before-plant.duckdb")
    shutil.copyfile(wh, saved)
    con = duckdb.connect(str(wh))
    # a field that reaches a mart as it is, in cells large enough not to be pooled away: every
    # marketing region (failed_component no longer reaches a mart: the marts publish component
    # groups; and at this book's size any single small cell is pooled or withheld)
    table = "pseudo_marketing.policy_admin__contracts"
    con.execute(f"update {table} set region = ? where region is not null", [vin])
    con.close()
    try:
        env = {**pipeline_run["env"], "PIPELINE_AS_OF": "2026-11-26"}
        proc = subprocess.run(
            ["bash", "-c", "source scripts/pipeline_env.sh && uv run python -m "
             "transforms.airflow_run build_and_publish 2026-11-26"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, "the DAG must fail visibly"
        assert "dag run state failed" in out
        assert "region" in out and "GateFailed" in out
        assert snapshot(data / "published") == before, "the previous publication is untouched"
        written = [data / "gx", data / "logs", data / "state", data / "published",
                   pipeline_run["base"] / "airflow_home"]
        assert vin not in out
        assert scan(written, {vin}).total == 0, "the gate never repeats the leaked value"
    finally:
        shutil.move(saved, wh)
