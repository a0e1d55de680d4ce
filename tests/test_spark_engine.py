"""The Spark engine against the DuckDB path: the same landing zone, the same warehouse.

One tiny book (claims system: the orphan rule and the duplicate flags are exercised) goes
through the DuckDB ingest and the Spark ingest (pyspark local[2], the real mapInArrow); every
pseudo_* table must hold the same rows with byte-identical pseudonyms, the quarantines the same
rows with the same reasons, the reports the same counts; and nothing Spark wrote holds a key.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms import settings
from transforms.classification import load as load_classification
from transforms.ingest.minimise import minimise
from transforms.ingest.run import ingest
from transforms.ingest.validation import read_raw, validate
from transforms.privacy.keys import load_domain_keys
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory):
    """One landing zone through both ingests; the Spark session is stopped afterwards."""
    tmp = tmp_path_factory.mktemp("engines")
    key = os.urandom(32).hex()
    landing = tmp / "landing"
    generate_book(landing, 300, 1, AS_OF, 42, truth_dir=tmp / "truth")
    with settings.environment(PIPELINE_MASTER_KEY=key, PIPELINE_DATA_DIR=str(tmp / "data"),
                              PIPELINE_SPARK_WAREHOUSE=str(tmp / "spark-warehouse")):
        from transforms.engines.spark_session import stop_spark_session
        from transforms.ingest.spark_load import ingest_spark

        keys = load_domain_keys()
        duck = ingest(landing, tmp / "warehouse.duckdb", tmp / "q-duckdb", keys,
                      systems=["claims"], until=AS_OF)
        try:
            spark = ingest_spark(landing, tmp / "q-spark", keys, systems=["claims"],
                                 until=AS_OF, warehouse=str(tmp / "spark-warehouse"))
        finally:
            stop_spark_session()
    yield {"tmp": tmp, "key": key, "keys": keys, "duck": duck, "spark": spark,
           "landing": landing}


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
    duck = _duckdb_tables(tmp / "warehouse.duckdb")
    assert set(duck) == {"pseudo_actuarial.claims__claims",
                         "pseudo_actuarial.claims__claim_transactions"}
    for name, frame in duck.items():
        schema, table = name.split(".")
        spark = pl.read_parquet(str(tmp / "spark-warehouse" / schema / table / "**/*.parquet"),
                                hive_partitioning=True)
        assert sorted(spark.columns) == sorted(frame.columns), name
        spark = spark.select(frame.columns).cast(frame.schema)
        assert frame.height > 50
        assert spark.sort(frame.columns).equals(frame.sort(frame.columns)), name


def test_reports_and_quarantines_are_equal(both_engines) -> None:
    duck, spark = both_engines["duck"], both_engines["spark"]
    assert [r.as_dict() for r in spark] == [r.as_dict() for r in duck]
    reasons = {r for report in duck for r in report.reasons}
    assert any("orphan:" in r for r in reasons) and any("duplicate_" in r for r in reasons)
    tmp = both_engines["tmp"]
    files = sorted(p.relative_to(tmp / "q-duckdb") for p in (tmp / "q-duckdb").rglob("*.parquet"))
    assert files == sorted(p.relative_to(tmp / "q-spark")
                           for p in (tmp / "q-spark").rglob("*.parquet"))
    for f in files:
        a, b = pl.read_parquet(tmp / "q-duckdb" / f), pl.read_parquet(tmp / "q-spark" / f)
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
    for root in (tmp / "spark-warehouse", tmp / "data", tmp / "q-spark"):
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

