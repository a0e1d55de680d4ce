"""The whole pipeline through Airflow itself, on a small synthetic book, then the leak test.

One run per session (module fixture): the book is generated, requests of every identifier kind
are planted in its DPO feed (tests/every_kind.py), an ingest is killed with SIGKILL in the
middle of a delivery, then scripts/run_pipeline.sh with SOURCE=postgres starts the project's
own PostgreSQL server, loads the policy-administration book into it, migrates Airflow's SQLite
metadata and runs the four DAGs with `airflow dags test`: extract_policy_admin (the database
pulled by watermark through the Airflow connection, rewriting the policy-admin deliveries with
the same bytes) and the three of the file drop; the tests then look at what was published and
search everything the run wrote for raw identifiers. So the database path runs end to end here
(tests/test_policy_admin_postgres.py has its watermark and redelivery cases); the file drop's
bytes are the same, and its own DAGs are the three that follow the extract.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from every_kind import kill_ingest_mid_delivery, plant_requests

from transforms.build import dbt_run
from transforms.classification import load
from transforms.operations.leak_scan import identifier_values, scan
from transforms.privacy.keys import DOMAINS, DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.rights.requests import FINAL
from transforms.settings import environment
from transforms.sources import postgres_server
from transforms.sources.generate import generate_book

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 1500
AS_OF = date(2026, 11, 26)


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
        "SOURCE": "postgres",
    }
    env.pop("PIPELINE_MASTER_KEY_FILE", None)
    env.pop("PIPELINE_MASTER_KEY", None)
    data = base / "data"
    generate_book(data / "landing", CONTRACTS, 3, AS_OF, 7, truth_dir=base / "truth")
    planted = plant_requests(data / "landing", AS_OF)
    killed = kill_ingest_mid_delivery(
        {**env, "PIPELINE_MASTER_KEY": key, "PYTHONPATH": str(ROOT)}, ROOT, "claims")
    leftovers = {"spool": len(list(data.glob(".load-spool-*"))),
                 "quarantine_tmp": len(list((data / "quarantine").rglob("*.parquet.tmp")))}
    proc = subprocess.run(["bash", "scripts/run_pipeline.sh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    (base / "stdout.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"base": base, "data": data, "env": env, "stdout": proc.stdout, "key": key,
            "planted": planted, "killed": killed, "leftovers": leftovers}


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


def test_policy_admin_came_from_the_database_through_airflow(pipeline_run: dict) -> None:
    """SOURCE=postgres: the extract DAG ran first and left its watermark; the server is down."""
    out = pipeline_run["stdout"]
    assert "airflow dags test extract_policy_admin" in out
    assert out.index("extract_policy_admin") < out.index("airflow dags test ingest_deliveries")
    state = json.loads((pipeline_run["data"] / "state" / "policy_admin_watermark.json")
                       .read_text())
    assert state["watermark"], "the extract recorded how far it read"
    with environment(PIPELINE_DATA_DIR=str(pipeline_run["data"])):
        server = postgres_server.locate()
        assert not postgres_server.is_running(server), "the run stopped the server it started"


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
        "from transforms import settings; from transforms.ingest.run import ingest;"
        "from transforms.privacy.keys import load_domain_keys;"
        "from transforms.ingest.load import loaded_checksums; import duckdb;"
        "p = settings.paths();"
        "con = duckdb.connect(str(p.warehouse)); con.execute('delete from audit.deliveries');"
        "con.close();"
        "r = ingest(p.landing, p.warehouse, p.quarantine, load_domain_keys());"
        "assert all(x.status == 'loaded' for x in r), [x.status for x in r];"
        # the run applied retention as of its date (landing still holds the expired rows for
        # its grace period): the same date's retention again, then nothing may differ
        "from transforms.retention.run import apply_retention; from datetime import date;"
        "apply_retention(p.warehouse, p.landing, p.quarantine, date(2026, 11, 26))"
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
        data / "lineage",
        data / "state",
        *(p for p in (data / "gx",) if p.exists()),
        pipeline_run["base"] / "airflow_home",
        pipeline_run["base"] / "stdout.log",
        dbt_run.TARGET_PATH,
    ]
    result = scan(targets, values)
    assert result.total == 0, json.dumps(result.as_dict(), indent=1)


def test_the_key_appears_in_nothing_the_run_wrote(pipeline_run: dict) -> None:
    """The planted master key and every key derived from it, searched for in every file."""
    master = pipeline_run["key"]
    derived = DomainKeys.derive(bytes.fromhex(master))
    secrets = {master, master.upper(), *(derived.hmac_key(d) for d in DOMAINS)}
    base = pipeline_run["base"]
    result = scan([base, dbt_run.TARGET_PATH], secrets)
    assert result.total == 0, json.dumps(result.as_dict(), indent=1)
    assert derived.key_version in pipeline_run["stdout"]


def test_lineage_events_carry_purpose_and_key_version_and_nothing_raw(
        pipeline_run: dict) -> None:
    """OpenLineage events of the run (file transport, data/lineage/): Airflow's for the three
    DAGs, dbt's naming the warehouse and mart datasets with the pseudonymisation facet; no SQL,
    no key, no raw identifier in any of them (the leak scanner)."""
    lineage = pipeline_run["data"] / "lineage"
    dbt_events = [json.loads(p.read_text()) for p in sorted((lineage / "dbt").glob("*.json"))]
    airflow_events = [json.loads(p.read_text())
                      for p in sorted((lineage / "airflow").glob("*.json"))]
    assert {e["job"]["name"].split(".")[0] for e in airflow_events} >= {
        "ingest_deliveries", "retention_and_rights", "build_and_publish"}
    key_version = DomainKeys.derive(bytes.fromhex(pipeline_run["key"])).key_version
    facets = {d["name"]: {k: v for k, v in d["facets"]["pseudonymisation"].items()
                          if not k.startswith("_")}
              for e in dbt_events for d in e.get("inputs", []) + e.get("outputs", [])}
    classification = load()
    for mart in classification.marts:
        assert facets[mart.name] == {"purpose": mart.purpose, "keyVersion": key_version,
                                     "layer": "marts"}
    assert facets["pseudo_marketing.policy_admin__contracts"]["purpose"] == "marketing"
    assert facets["staging.stg_dpo__dpo_subject_requests"]["purpose"] == "dpo"
    assert {f["keyVersion"] for f in facets.values()} == {key_version}
    assert {e["eventType"] for e in dbt_events} == {"START", "COMPLETE"}
    # the ingest's events lead from each delivered entity to its purposes' tables, with the
    # same facets dbt's events give those tables
    ingest_events = [json.loads(p.read_text())
                     for p in sorted((lineage / "ingest").glob("*.json"))]
    ingested = {d["name"]: {k: v for k, v in d["facets"]["pseudonymisation"].items()
                            if not k.startswith("_")}
                for e in ingest_events for d in e["outputs"]}
    for entity in classification.entities:
        for purpose in entity.purposes():
            table = entity.table_name(purpose)
            assert ingested[table] == {"purpose": purpose, "keyVersion": key_version,
                                       "layer": "source"}, table
            assert table not in facets or facets[table] == ingested[table], table
    text = "\n".join(p.read_text() for p in lineage.rglob("*.json")).lower()
    assert "select " not in text and "compiled" not in text  # no SQL in any event
    landing = sorted((pipeline_run["data"] / "landing").rglob("*.csv"))
    master = pipeline_run["key"]
    derived = DomainKeys.derive(bytes.fromhex(master))
    secrets = {master, master.upper(), *(derived.hmac_key(d) for d in DOMAINS)}
    for needles in (identifier_values(landing), secrets):
        result = scan([lineage], needles)
        assert result.total == 0, json.dumps(result.as_dict(), indent=1)


def _actuarial_keys(key_hex: str, values: list[str]) -> list[str]:
    keys = DomainKeys.derive(bytes.fromhex(key_hex))
    return pl.DataFrame({"v": values}).select(
        pseudonymise(pl.col("v"), keys, "actuarial")).to_series().to_list()


@pytest.mark.parametrize("request_type", ["erasure", "restriction"])
@pytest.mark.parametrize("kind", ["contract_number", "customer_number", "name_and_birth_date",
                                  "name_and_email"])
def test_every_request_kind_is_applied_before_publication(
        pipeline_run: dict, request_type: str, kind: str) -> None:
    """Whatever identifier the request used, `make run` applies it before the build: the
    subject's contracts are in no published mart (and, erased, in no warehouse table)."""
    planted = next(p for p in pipeline_run["planted"]
                   if p.request_type == request_type and p.kind == kind)
    contract_keys = _actuarial_keys(pipeline_run["key"], list(planted.contract_numbers))
    data = pipeline_run["data"]
    wh = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        status = wh.execute("select status from audit.subject_requests where request_id = ?",
                            [planted.request_id]).fetchall()
        held = wh.execute("select count(*) from pseudo_actuarial.policy_admin__contracts "
                          "where list_contains(?, contract_key)", [contract_keys]
                          ).fetchall()[0][0]
    finally:
        wh.close()
    assert status == [("done",)]
    # an erased subject is gone from the warehouse; a restricted one is kept, unused
    assert held == (0 if request_type == "erasure" else len(contract_keys))
    marts = duckdb.connect(str(data / "published" / "marts.duckdb"), read_only=True)
    try:
        published = marts.execute("select count(*) from actuarial.policy_exposure "
                                  "where list_contains(?, contract_key)", [contract_keys]
                                  ).fetchall()[0][0]
        others = marts.execute("select count(distinct contract_key) from "
                               "actuarial.policy_exposure").fetchall()[0][0]
    finally:
        marts.close()
    assert others > CONTRACTS / 2
    assert published == 0


def test_no_request_is_left_pending_after_the_run(pipeline_run: dict) -> None:
    con = duckdb.connect(str(pipeline_run["data"] / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select request_type, status, count(*) from audit.subject_requests "
                           "group by 1, 2").fetchall()
    finally:
        con.close()
    erasures = sum(n for t, _, n in rows if t == "erasure")
    assert erasures >= 4
    assert [(t, s, n) for t, s, n in rows if s not in FINAL] == []


def test_a_killed_ingest_leaves_nothing_behind(pipeline_run: dict) -> None:
    """kill -9 mid-delivery left a load spool and a quarantine in progress; the next run
    removed both and loaded every delivery exactly once."""
    data = pipeline_run["data"]
    assert pipeline_run["killed"] == -9
    assert pipeline_run["leftovers"]["spool"] >= 1
    assert pipeline_run["leftovers"]["quarantine_tmp"] >= 1
    assert list(data.glob(".load-spool-*")) == []
    assert list((data / "quarantine").rglob("*.tmp")) == []
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        loads = con.execute("select system, entity, delivery_date, count(*) from "
                            "audit.deliveries group by all having count(*) > 1").fetchall()
        deliveries = con.execute("select count(distinct system || delivery_date) "
                                 "from audit.deliveries").fetchall()[0][0]
    finally:
        con.close()
    assert loads == []
    assert deliveries == 9


def test_run_results_are_read_for_their_own_logical_date(pipeline_run: dict) -> None:
    code = ("import json; from transforms.operations.airflow_run import dag_run_state as s;"
            "print(json.dumps([s(d, x) for d in ('ingest_deliveries', 'retention_and_rights', "
            "'build_and_publish') for x in ('2026-11-26', '2026-11-25')]))")
    env = {**pipeline_run["env"], "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    states = [s.rsplit(".", 1)[-1].lower() for s in json.loads(out)]
    assert states == ["success", "missing"] * 3


# ------------------------------------------------------------------ reports and the UI, offline


def test_actuarial_report_renders_offline(pipeline_run: dict, tmp_path: Path) -> None:
    """The publication's actuarial report, opened from the file with the network cut: every
    chart an inline image that decodes, nothing fetched, and its latest incurred per currency
    equal to the published mart's last valuation (charts never go finer than the marts)."""
    from browser import Browser

    report = pipeline_run["data"] / "published" / "reports" / "actuarial-report.html"
    assert "<script" not in report.read_text(encoding="utf-8").lower()
    with Browser(tmp_path / "profile") as browser:
        browser.goto(report.as_uri())
        images = browser.images()
        text = browser.text()
        ladders = browser.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('section[id^=development-]'))"
            ".map(s => [s.id.split('-')[1], Array.from(s.querySelector('.ladder table').rows)"
            ".slice(1).map(r => r.cells[1].innerText)]))")
        per_section = browser.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('section'))"
            ".map(s => [s.id, s.querySelectorAll('img').length]))")
        assert browser.external_requests() == []
    con = duckdb.connect(str(pipeline_run["data"] / "published" / "marts.duckdb"),
                         read_only=True)
    try:
        currencies = [r[0] for r in con.execute(
            "select distinct currency from actuarial.claims_development order by 1").fetchall()]
        latest = dict(con.execute(
            "select currency, sum(cumulative_incurred) from actuarial.claims_development "
            "where valuation_year = (select max(valuation_year) from "
            "actuarial.claims_development) group by 1").fetchall())
    finally:
        con.close()
    assert sorted(ladders) == currencies and "GBP" in currencies
    for currency, cells in ladders.items():
        if currency not in latest:
            continue  # no cell of this currency at the last valuation (suppressed)
        assert sum(float(c.replace(",", "")) for c in cells) == pytest.approx(
            float(latest[currency]), abs=len(cells)), currency
    for words in ("Claims development, GBP", "Age-to-age factors", "IBNR",
                  "Frequency and severity by vehicle_age_band", "mileage_band", "Severity (GBP)"):
        assert words in text, words
    # per currency: paid and incurred heatmaps, the ladder and (with two development years or
    # more) the factors; per band: frequency with exposure, severity
    assert all(per_section[f"development-{c}"] >= 3 for c in currencies), per_section
    assert per_section["development-GBP"] == 4, per_section
    assert per_section["band-vehicle_age_band"] == per_section["band-mileage_band"] == 2
    assert len(images) == sum(per_section.values())
    assert all(i["scheme"] == "data" and i["complete"] and i["width"] > 150
               and i["height"] > 100 for i in images), images


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_airflow_serves_the_runs_on_loopback_and_stops(
        pipeline_run: dict, tmp_path: Path) -> None:
    """`make airflow`'s script on this run's Airflow home: it prints the URL, the user and the
    password's file; a browser logs in and sees the three DAGs and build_and_publish's green
    run; every component listens on 127.0.0.1 only; Ctrl-C (SIGINT) stops every process."""
    import signal
    import time

    import psutil
    from browser import Browser

    port = _free_port()
    home = pipeline_run["base"] / "airflow_home"
    out = tmp_path / "airflow_ui.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(["bash", "scripts/airflow_ui.sh", "--port", str(port)],
                                cwd=ROOT, env={**pipeline_run["env"],
                                               "AIRFLOW__CORE__PARALLELISM": "1"},
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300
        while "Airflow UI:" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.5)
        printed = out.read_text()
        assert f"http://127.0.0.1:{port}/" in printed and "user:     admin" in printed
        passwords = home / "simple_auth_manager_passwords.json.generated"
        assert str(passwords) in printed
        password = json.loads(passwords.read_text())["admin"]
        assert password not in printed
        children = psutil.Process(proc.pid).children(recursive=True)
        # Airflow retitles its processes ("airflow api_server -- host:...")
        commands = " | ".join(" ".join(c.cmdline()) for c in children).replace("_", "-")
        for component in ("api-server", "scheduler", "dag-processor"):
            assert component in commands, commands
        listening = {conn.laddr.ip for c in children for conn in c.net_connections("inet")
                     if conn.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}, listening

        base = f"http://127.0.0.1:{port}"
        with Browser(tmp_path / "profile") as browser:
            browser.goto(f"{base}/")
            browser.wait_for("!!document.querySelector('input[name=password]')")
            for name, value in (("username", "admin"), ("password", password)):
                browser.evaluate(f"document.querySelector('input[name={name}]').focus()")
                browser.send("Input.insertText", {"text": value})
            browser.wait_for("!document.querySelector('button[type=submit]').disabled")
            browser.evaluate("document.querySelector('button[type=submit]').click()")
            browser.wait_for("!location.pathname.startsWith('/auth')")
            browser.goto(f"{base}/dags")
            browser.wait_for("document.body.innerText.includes('retention_and_rights')")
            listing = browser.text()
            browser.goto(f"{base}/dags/build_and_publish")
            # the run's state badge: green, labelled with its state
            state = browser.wait_for("Array.from(document.querySelectorAll("
                                     "'[data-testid=state-badge]')).map(e => "
                                     "e.getAttribute('aria-label') || '').join(' ').trim()")
            assert browser.external_requests() == []
        dags = sorted(p.stem for p in (ROOT / "dags").glob("*.py"))
        assert f"{len(dags)} Dags" in listing
        for dag in dags:
            assert dag in listing, dag
        assert "success" in state.lower()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            code = proc.wait(timeout=60)
        finally:
            alive = [c for c in children if c.is_running()
                     and c.status() != psutil.STATUS_ZOMBIE]
            for c in alive:
                c.kill()
    assert code == 0, out.read_text()
    assert "stopped: api-server, dag-processor, scheduler" in out.read_text()
    assert alive == [], [c.cmdline() for c in alive]
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_planted_leak_fails_the_dag_and_keeps_the_publication(pipeline_run: dict) -> None:
    """Runs last: a raw VIN smuggled into a kept field must stop publication, visibly."""
    import polars as pl

    from transforms.publish.publication import snapshot

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
             "transforms.operations.airflow_run build_and_publish 2026-11-26"],
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


def test_red_team_deliveries_through_the_dags(pipeline_run: dict) -> None:
    """Runs last. A new day's deliveries with correct manifests, as an operator gets them: the
    claims delivery carries disguised identifiers in kept fields and a card number as an amount
    (each row must be quarantined), the DPO delivery an email as a column header (refused).
    The publication stays as it was, and no planted value is in any file outside landing and
    quarantine: warehouse, publications, logs, Airflow's metadata and logs, GX, dbt's target.
    (The gate's side, blocking a leak that got into a mart, runs through build_and_publish in
    the test above and per disguise in tests/test_red_team.py.)"""
    import csv
    import hashlib

    from transforms.publish.publication import snapshot

    day = "2026-11-27"
    data = pipeline_run["data"]
    secret_header = "ann.header.q7@example.org"
    plants = {  # failed_component of claim rows 0-5; the IBAN is split over two claims
        0: "ab12cde", 1: "zed.planted.x9\u200b@\u200bexample.net",
        2: "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13",
        3: "1\u041c8GDM9\u0410XKP042788", 4: "GB82 WEST 1234", 5: "5698 7654 32",
    }
    card = "4111111111111111"

    def deliver(system: str, edit) -> None:
        source = sorted((data / "landing" / system).glob("2026-*"))[0]  # the full extract
        target = data / "landing" / system / day
        target.mkdir()
        files = {}
        for path in sorted(source.glob("*.csv")):
            with open(path, encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            edit(path.stem, rows)
            with open(target / path.name, "w", encoding="utf-8", newline="") as fh:
                csv.writer(fh, lineterminator="\n").writerows(rows)
            raw = (target / path.name).read_bytes()
            files[path.name] = {"rows": len(rows) - 1, "sha256": hashlib.sha256(raw).hexdigest()}
        (target / "_manifest.json").write_text(json.dumps(
            {"system": system, "delivery_date": day, "files": files}))

    def claims(entity: str, rows: list[list[str]]) -> None:
        if entity == "claims":
            at = rows[0].index("failed_component")
            for row, value in plants.items():
                rows[1 + row][at] = value
        else:
            rows[1][rows[0].index("amount")] = card + ".00"

    def dpo(entity: str, rows: list[list[str]]) -> None:
        if entity == "consent_changes":
            rows[0][rows[0].index("channel")] = secret_header

    before = snapshot(data / "published")
    deliver("claims", claims)
    deliver("dpo", dpo)
    env = {**pipeline_run["env"], "PIPELINE_AS_OF": day}

    def run(dag: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", f"source scripts/pipeline_env.sh && uv run python -m "
             f"transforms.operations.airflow_run {dag} {day}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    ingest_run = run("ingest_deliveries")
    out = ingest_run.stdout + ingest_run.stderr
    assert ingest_run.returncode != 0, "the refused DPO delivery fails the ingest visibly"
    assert "dag run state failed" in out
    assert snapshot(data / "published") == before, "the publication is untouched"

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        reasons = dict(con.execute(
            "select reason, sum(rows) from audit.quarantine where delivery_date = ? group by 1",
            [day]).fetchall())
        refused = con.execute("select count(*) from audit.deliveries where system = 'dpo' "
                              "and delivery_date = ?", [day]).fetchall()[0][0]
    finally:
        con.close()
    assert reasons.get("unexpected_value:failed_component") == len(plants), reasons
    assert reasons.get("out_of_range:amount") == 1, reasons
    assert refused == 0, "nothing of the refused delivery is loaded"

    values = {*plants.values(), "GB82WEST12345698765432", card, secret_header}
    written = [data / "warehouse.duckdb", data / "published", data / "publications",
               data / "logs", data / "state", data / "gx", pipeline_run["base"] / "airflow_home",
               dbt_run.TARGET_PATH]
    result = scan([p for p in written if p.exists()], values)
    assert result.total == 0, json.dumps(result.as_dict(), indent=1)
    assert not any(v in out for v in values)
