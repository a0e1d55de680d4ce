"""The Spark engine against the DuckDB path: the same landing zone, the same warehouse.

One tiny book (claims system: the orphan rule and the duplicate flags are exercised) goes
through the DuckDB ingest and the Spark ingest (pyspark local[2], the real mapInArrow); every
pseudo_* table must hold the same rows with byte-identical pseudonyms, the quarantines the same
rows with the same reasons, the reports the same counts; and nothing Spark wrote holds a key.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms import settings
from transforms.checksums import file_sha256
from transforms.classification import load as load_classification
from transforms.ingest.minimise import minimise
from transforms.ingest.run import ingest
from transforms.ingest.validation import read_raw, validate
from transforms.privacy.keys import load_domain_keys
from transforms.rights.processing import RESOLVED, RESOLVED_KEYS
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory):
    """One landing zone (every system, with subject requests of every kind and contracts past
    their retention limit) through both ingests, then each engine's subject requests,
    retention and compaction, dbt build, gate and publication (the pipeline's own task
    functions, transforms/operations/, with PIPELINE_ENGINE set), each in its data directory
    with its own copy of the landing zone (the erasure rewrites it); the Spark session is
    stopped afterwards, also on failure."""
    tmp = tmp_path_factory.mktemp("engines")
    key = os.urandom(32).hex()
    landing = tmp / "landing"
    generate_book(landing, 300, 1, AS_OF, 42, truth_dir=tmp / "truth")
    common = {"PIPELINE_MASTER_KEY": key, "PIPELINE_SPARK_WAREHOUSE": str(tmp / "spark-warehouse")}
    from transforms.engines.spark_session import stop_spark_session
    from transforms.ingest.spark_load import ingest_spark
    from transforms.operations.rights_tasks import (
        apply_retention_rules,
        compact_if_anything_removed,
        process_subject_requests,
    )
    from transforms.operations.tasks import build_marts, gate_marts, publish_marts

    def rights_and_retention() -> dict:
        return {"rights": process_subject_requests(AS_OF.isoformat()),
                "retention": apply_retention_rules(AS_OF.isoformat()),
                "compaction": compact_if_anything_removed()}

    published: dict[str, dict] = {}
    applied: dict[str, dict] = {}
    for folder in ("duck", "data"):
        shutil.copytree(landing, tmp / folder / "landing")
    try:
        with settings.environment(**common, PIPELINE_ENGINE="duckdb",
                                  PIPELINE_DATA_DIR=str(tmp / "duck")):
            keys = load_domain_keys()
            duck = ingest(tmp / "duck" / "landing", tmp / "duck" / "warehouse.duckdb",
                          tmp / "duck" / "quarantine", keys, until=AS_OF)
            applied["duckdb"] = rights_and_retention()
            build_marts(AS_OF.isoformat())
            gate_marts()
            published["duckdb"] = publish_marts("run-duckdb")
        with settings.environment(**common, PIPELINE_ENGINE="spark",
                                  PIPELINE_DATA_DIR=str(tmp / "data")):
            spark = ingest_spark(tmp / "data" / "landing", tmp / "data" / "quarantine", keys,
                                 until=AS_OF, warehouse=str(tmp / "spark-warehouse"))
            applied["spark"] = rights_and_retention()
            # the models only: dbt's data tests on Spark (~160 Spark jobs) cost minutes here
            build_marts(AS_OF.isoformat(), data_tests=False)
            gate_marts()
            published["spark"] = publish_marts("run-spark")
    finally:
        stop_spark_session()
    yield {"tmp": tmp, "key": key, "keys": keys, "duck": duck, "spark": spark,
           "landing": landing, "published": published, "applied": applied}


def _duckdb_tables(path: Path) -> dict[str, pl.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute("select table_schema, table_name from information_schema.tables "
                            "where table_schema like 'pseudo_%'").fetchall()
        return {f"{s}.{t}": pl.from_arrow(con.sql(f"select * from {s}.{t}").to_arrow_table())
                for s, t in names}
    finally:
        con.close()


def test_every_pseudo_table_is_equal(both_engines) -> None:
    tmp = both_engines["tmp"]
    duck = _duckdb_tables(tmp / "duck" / "warehouse.duckdb")
    assert {"pseudo_actuarial.claims__claims", "pseudo_actuarial.claims__claim_transactions",
            "pseudo_marketing.policy_admin__contracts"} <= set(duck)
    resolutions = {RESOLVED.format(d=d) for d in RESOLVED_KEYS}  # written by the rights stage
    assert resolutions <= set(duck) and sum(duck[r].height for r in resolutions) > 0
    assert sum(frame.height for frame in duck.values()) > 500
    for name, frame in duck.items():
        schema, table = name.split(".")
        spark = pl.read_parquet(str(tmp / "spark-warehouse" / schema / table / "**/*.parquet"),
                                hive_partitioning=True)
        assert sorted(spark.columns) == sorted(frame.columns), name
        spark = spark.select(frame.columns).cast(frame.schema)
        assert spark.sort(frame.columns).equals(frame.sort(frame.columns)), name


def test_reports_and_quarantines_are_equal(both_engines) -> None:
    duck, spark = both_engines["duck"], both_engines["spark"]
    assert [r.as_dict() for r in spark] == [r.as_dict() for r in duck]
    reasons = {r for report in duck for r in report.reasons}
    assert any("orphan:" in r for r in reasons) and any("duplicate_" in r for r in reasons)
    tmp = both_engines["tmp"]
    q_duck, q_spark = tmp / "duck" / "quarantine", tmp / "data" / "quarantine"
    files = sorted(p.relative_to(q_duck) for p in q_duck.rglob("*.parquet"))
    assert files == sorted(p.relative_to(q_spark) for p in q_spark.rglob("*.parquet"))
    for f in files:  # after the erasures' rewrites of the quarantine, too
        a, b = pl.read_parquet(q_duck / f), pl.read_parquet(q_spark / f)
        assert a.schema == b.schema
        assert a.sort("_row").equals(b.sort("_row")), f


def test_no_key_in_anything_spark_wrote(both_engines) -> None:
    """The master key, each domain's HMAC key and the domain keys' bytes are nowhere in the
    Spark warehouse, its scratch space, the quarantine or the logs."""
    tmp, keys = both_engines["tmp"], both_engines["keys"]
    secrets = [both_engines["key"].encode(), bytes.fromhex(both_engines["key"])]
    for domain in ("actuarial", "marketing", "dpo"):
        secrets.append(keys.hmac_key(domain).encode())
        secrets.append(bytes.fromhex(keys.hmac_key(domain)))
    scanned = 0
    for root in (tmp / "spark-warehouse", tmp / "data"):
        for path in (p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            scanned += 1
            assert not any(s in data for s in secrets), path.relative_to(tmp)
    assert scanned >= 5


def test_batch_function_is_the_duckdb_paths_code(both_engines) -> None:
    """process_batch (what each executor runs) gives validate() + minimise()'s frame exactly,
    run here without Spark on a real delivery file: the shared code, not a copy."""
    from transforms.ingest.spark_load import SEP, FilePlan, process_batch

    entity = load_classification().entity("claims", "claims")
    keys = both_engines["keys"]
    raw = read_raw(both_engines["landing"] / "claims" / AS_OF.isoformat() / "claims.csv", entity)
    empty = {"duplicate_row": (), "duplicate_key": ()}
    plan = FilePlan("claims", "claims", AS_OF, ("actuarial",),
                    tuple(entity.column_names), empty, ())
    out, _ = process_batch(raw, plan, entity, keys)
    flags = pl.DataFrame(schema={"_row": pl.UInt32, "reason": pl.String})
    expected = minimise(validate(raw, entity, AS_OF, flags).clean, entity,
                        "actuarial", keys, AS_OF)
    got = out.filter(pl.col("_reasons").is_null()).select(
        pl.col(f"actuarial{SEP}{c}").alias(c) for c in expected.columns)
    assert expected.height > 50 and got.equals(expected)


def test_engine_setting_refuses_an_unknown_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_ENGINE", "Spark ")
    assert settings.engine() == "spark"
    monkeypatch.delenv("PIPELINE_ENGINE")
    assert settings.engine() == "duckdb"
    monkeypatch.setenv("PIPELINE_ENGINE", "hadoop")
    with pytest.raises(ValueError, match="PIPELINE_ENGINE"):
        settings.engine()



# -- the marts: dbt on both engines, the same gate, the same publication ----------------------


def _published_marts(publication: Path) -> dict[str, tuple[list, pl.DataFrame]]:
    """mart -> ((column, type) list, rows) from a publication's marts.duckdb."""
    con = duckdb.connect(str(publication / "marts.duckdb"), read_only=True)
    try:
        out = {}
        for mart in load_classification().marts:
            rel = con.sql(f'select * from "{mart.schema}"."{mart.table}"')
            out[mart.name] = (list(zip(rel.columns, map(str, rel.types), strict=True)),
                              pl.from_arrow(rel.to_arrow_table()))
        return out
    finally:
        con.close()


def test_published_marts_are_equal(both_engines) -> None:
    """The same landing zone, ingested, built, gated and published on each engine: every mart
    has the same columns of the same types and the same rows, exactly (pseudonyms, amounts to
    the cent, the double `frequency` bit for bit: frequency_severity.sql computes it in double
    from its first operation on both engines); the Parquet extracts hold the same rows."""
    duck_pub = both_engines["published"]["duckdb"]["publication"]
    spark_pub = both_engines["published"]["spark"]["publication"]
    duck, spark = _published_marts(Path(duck_pub)), _published_marts(Path(spark_pub))
    assert set(duck) == set(spark)
    assert both_engines["published"]["duckdb"]["tables"] == \
        both_engines["published"]["spark"]["tables"]
    for name, (columns, frame) in duck.items():
        assert spark[name][0] == columns, name
        other = spark[name][1]
        assert other.sort(frame.columns).equals(frame.sort(frame.columns)), name
    assert duck["actuarial.policy_exposure"][1].height > 50
    assert duck["actuarial.frequency_severity"][1]["frequency"].drop_nulls().len() > 0
    extracts = sorted(p.name for p in (Path(duck_pub) / "extracts").glob("*.parquet"))
    assert extracts == sorted(p.name for p in (Path(spark_pub) / "extracts").glob("*.parquet"))
    for name in extracts:  # the same bytes: publish writes each extract in a total order
        assert file_sha256(Path(spark_pub) / "extracts" / name) == \
            file_sha256(Path(duck_pub) / "extracts" / name), name


def test_the_gate_ran_the_same_rules_on_the_spark_marts(both_engines) -> None:
    """The Spark run's gate summary: passed, the same checks (rule, table, column) as on
    DuckDB, with its keyed-fingerprint and foreign-pseudonym rules run (not skipped), over the
    row counts that were published; and no pseudonym of a mart in anything the gate wrote."""
    tmp = both_engines["tmp"]
    summaries = {}
    for engine, folder in (("duckdb", "duck"), ("spark", "data")):
        summaries[engine] = json.loads((tmp / folder / "gx" / "gate-summary.json").read_text())
    spark = summaries["spark"]
    assert spark["passed"] and not spark["skipped_rules"]

    def checks(summary: dict) -> list[tuple]:
        return sorted((c["rule"], c["table"], c.get("column") or "") for c in summary["checks"])

    assert checks(spark) == checks(summaries["duckdb"]) and len(spark["checks"]) > 50
    assert {t: v["rows"] for t, v in spark["tables"].items()} == \
        both_engines["published"]["spark"]["tables"]
    marts = _published_marts(Path(both_engines["published"]["spark"]["publication"]))
    pseudonyms = set(marts["actuarial.policy_exposure"][1]["contract_key"].to_list())
    assert sum(1 for _ in pseudonyms) > 20  # a count in the message, never the values
    written = [p for p in (tmp / "data" / "gx").rglob("*") if p.is_file()]
    assert written
    for path in written:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not any(p in text for p in pseudonyms), path.relative_to(tmp)


def test_spark_ingest_fingerprints_equal_the_duckdb_ingests(both_engines) -> None:
    """The gate's keyed fingerprints written by the Spark ingest (as the gate reads them from
    the Spark build's database) are the DuckDB ingest's, table by table."""
    tmp = both_engines["tmp"]

    def prints(path: Path) -> dict[str, set]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            names = [t for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = "
                "'gate_fingerprints'").fetchall()]
            return {t: set(con.execute(
                f'select fingerprint_1, fingerprint_2, fingerprint_3, fingerprint_4, chars, '
                f'_delivery_date, _key_version '
                f'from gate_fingerprints."{t}"').fetchall()) for t in names}
        finally:
            con.close()

    duck = prints(tmp / "duck" / "warehouse.duckdb")
    spark = prints(tmp / "data" / "spark-marts.duckdb")
    assert set(duck) == set(spark) and len(duck) >= 4
    for name, rows in duck.items():
        assert spark[name] == rows, name


def test_the_gate_finds_a_raw_value_in_a_spark_mart(both_engines, tmp_path: Path) -> None:
    """A delivered identifier copied into a Spark mart (in a copy of the Spark build's
    database): the shared gate, with the fingerprints the Spark ingest wrote, refuses it,
    naming rule, mart, column and count, never the value."""
    import shutil

    from expectations import KnownValues, foreign_pseudonyms, run_gate

    tmp = both_engines["tmp"]
    marts = tmp_path / "spark-marts.duckdb"
    shutil.copy(tmp / "data" / "spark-marts.duckdb", marts)
    raw = pl.read_csv(both_engines["landing"] / "policy_admin" / AS_OF.isoformat()
                      / "contracts.csv", infer_schema=False)
    value = raw["contract_number"].drop_nulls()[0]
    con = duckdb.connect(str(marts))
    try:
        con.execute("update actuarial.policy_exposure set product = ? where rowid = 0", [value])
    finally:
        con.close()
    with settings.environment(PIPELINE_MASTER_KEY=both_engines["key"]):
        result = run_gate(marts, known_values=KnownValues.from_warehouse(
            marts, both_engines["keys"]), foreign_pseudonyms=foreign_pseudonyms(marts),
            gx_root=tmp_path / "gx")
    assert not result.passed
    leaks = [f for f in result.findings if f.table == "actuarial.policy_exposure"
             and f.column == "product" and str(f.rule) == "known_value"]
    assert leaks and all(f.count >= 1 for f in leaks)
    assert value not in result.summary()
    assert value not in (tmp_path / "gx" / "gate-summary.json").read_text()


# -- rights, retention and compaction on Spark: the same code on a working copy ---------------


def _audit(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def test_rights_and_retention_give_equal_audits(both_engines) -> None:
    """Every request (erasure, objection, consent withdrawal, restriction and its lifting,
    access, and requests that match nobody) has the same status and the same counts per table
    on both engines; retention removed the same rows per rule and table (contracts past their
    limit, with their claims and transactions); the task payloads are the same."""
    tmp, applied = both_engines["tmp"], both_engines["applied"]
    duck, spark = applied["duckdb"], applied["spark"]
    for step in ("rights", "retention"):
        a = {k: v for k, v in duck[step].items() if k != "run_id"}
        b = {k: v for k, v in spark[step].items() if k != "run_id"}
        assert a == b, step
    requests = ("select request_id, request_type, received_date, processed_date, status, "
                "records, counts, source, key_version from audit.subject_requests")
    state = tmp / "spark-warehouse" / "_rights" / "state.duckdb"
    audit = _audit(tmp / "duck" / "warehouse.duckdb", requests)
    assert _audit(state, requests) == audit
    kinds = {(r[1], r[4]) for r in audit}
    for kind in ("erasure", "objection", "consent_withdrawal", "restriction",
                 "restriction_lifted", "access"):
        assert (kind, "done") in kinds, kind
    assert any(status == "no_match" for _, status in kinds)
    assert duck["rights"]["rows_erased"] > 0
    retention = "select rule, target, rows from audit.retention_runs"
    assert _audit(state, retention) == _audit(tmp / "duck" / "warehouse.duckdb", retention)
    removed = duck["retention"]["counts"]["contracts_and_claims"]
    assert removed["pseudo_actuarial.policy_admin__contracts"] > 0
    assert spark["retention"]["rows_removed_from_warehouse"] > 0
    removals = "select source, rows from audit.data_removals"
    assert _audit(state, removals) == _audit(tmp / "duck" / "warehouse.duckdb", removals)
    # nothing left behind by the swaps; removed rows in no file of the warehouse
    assert sorted(p.name for p in (tmp / "spark-warehouse" / "_rights").iterdir()) == \
        ["state.duckdb"]
    assert spark["compaction"] == duck["compaction"] and duck["compaction"]["compacted"]


def test_a_redelivery_of_an_erased_subject_is_swept_before_the_spark_ingest(both_engines
                                                                          ) -> None:
    """The erasure rewrote landing files and moved the Spark audit files' checksums along.
    The source then delivers the same day again with the erased subject's rows (the pristine
    files): the Spark ingest task's sweep (the rights' own, on a working copy of the state)
    removes them first, giving back the erased files byte for byte, so the Spark ingest finds
    every delivery already loaded and starts no Spark job."""
    tmp = both_engines["tmp"]
    from transforms.engines.spark_session import stop_spark_session
    from transforms.ingest.spark_load import ingest_spark
    from transforms.operations.spark_rights import sweep_before_ingest

    folder = tmp / "data" / "landing" / "policy_admin" / AS_OF.isoformat()
    erased = {p.name: p.read_bytes() for p in folder.iterdir()}
    pristine = both_engines["landing"] / "policy_admin" / AS_OF.isoformat()
    assert any(erased[p.name] != p.read_bytes() for p in pristine.iterdir()), "an erasure there"
    shutil.rmtree(folder)
    shutil.copytree(pristine, folder)
    with settings.environment(PIPELINE_ENGINE="spark", PIPELINE_MASTER_KEY=both_engines["key"],
                              PIPELINE_DATA_DIR=str(tmp / "data"),
                              PIPELINE_SPARK_WAREHOUSE=str(tmp / "spark-warehouse")):
        assert sweep_before_ingest(both_engines["keys"]) > 0
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == erased
        try:  # no Spark session starts when every delivery is loaded already
            reports = ingest_spark(tmp / "data" / "landing", tmp / "data" / "quarantine",
                                   both_engines["keys"], until=AS_OF,
                                   warehouse=str(tmp / "spark-warehouse"))
        finally:
            stop_spark_session()
    assert reports and {r.status for r in reports} == {"already_loaded"}


def test_loading_with_another_key_version_is_refused_on_spark(both_engines) -> None:
    """The Spark warehouse the fixture wrote (every system, one day, one key): another key's
    delivery of one system is refused before anything is staged, with the DuckDB path's words;
    the same key, or a redelivery of the only delivery there is, passes."""
    from transforms.ingest.load import KeyVersionMismatch
    from transforms.ingest.spark_load import check_key_version
    from transforms.privacy.keys import DomainKeys

    warehouse = str(both_engines["tmp"] / "spark-warehouse")
    ours = both_engines["keys"].key_version
    other = DomainKeys.derive(os.urandom(32)).key_version
    assert other != ours
    audits = sorted((Path(warehouse) / "audit" / "deliveries").glob("*/*.json"))
    assert {p.parent.name for p in audits} >= {"claims", "policy_admin"}, "the fixture's audits"
    check_key_version(warehouse, "claims", AS_OF, ours)
    with pytest.raises(KeyVersionMismatch, match="re-pseudonymise") as refused:
        check_key_version(warehouse, "claims", AS_OF, other)
    assert ours in str(refused.value) and other in str(refused.value)
    # through the ingest: a warehouse whose claims delivery is not loaded yet, the other
    # systems' audits kept; another key is refused before anything is staged or quarantined
    fresh = both_engines["tmp"] / "spark-warehouse-key-check"
    for path in audits:
        if path.parent.name != "claims":
            (fresh / path.relative_to(warehouse)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, fresh / path.relative_to(warehouse))
    from transforms.ingest.spark_load import ingest_spark
    with settings.environment(PIPELINE_ENGINE="spark"), \
            pytest.raises(KeyVersionMismatch, match="Spark warehouse"):
        ingest_spark(both_engines["landing"], fresh / "quarantine",
                     DomainKeys.derive(os.urandom(32)), systems=["claims"], until=AS_OF,
                     warehouse=str(fresh))
    assert sorted(p.relative_to(fresh).parts[0] for p in fresh.iterdir()) == ["audit"]
    assert not (fresh / "quarantine").exists()


def test_a_spark_rerun_with_nothing_new_keeps_the_publication(both_engines) -> None:
    """build_and_publish's skip decision on Spark: the fixture's publication records no input
    fingerprint, so a rebuild is asked for; once a publication records the fingerprint of the
    Spark warehouse as it is, the same check says unchanged; another as-of date (a dbt var)
    asks for a rebuild again. Last in the module: it publishes once more (no table changes)."""
    from transforms.operations.build_skip import check_inputs
    from transforms.operations.tasks import publish_marts

    tmp = both_engines["tmp"]
    with settings.environment(PIPELINE_MASTER_KEY=both_engines["key"], PIPELINE_ENGINE="spark",
                              PIPELINE_DATA_DIR=str(tmp / "data"),
                              PIPELINE_SPARK_WAREHOUSE=str(tmp / "spark-warehouse")):
        first = check_inputs(AS_OF.isoformat())
        assert first["unchanged"] is False
        assert first["build"] == "rebuild: the current publication records no input fingerprint"
        tables = [n for n in first["inputs"]["parts"] if n.startswith("table:pseudo_")]
        assert "table:pseudo_actuarial.policy_admin__contracts" in tables
        published = publish_marts("run-spark-fingerprinted", first["inputs"])
        assert published["tables"] == both_engines["published"]["spark"]["tables"]
        again = check_inputs(AS_OF.isoformat())
        assert again["unchanged"] is True, again["build"]
        assert again["inputs"]["digest"] == first["inputs"]["digest"]
        later = check_inputs((AS_OF + timedelta(days=1)).isoformat())
        assert later["unchanged"] is False and "dbt_vars" in later["build"]
