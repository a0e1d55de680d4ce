"""The Spark engine's working copy (transforms/operations/spark_rights.py), without Spark: a
Parquet warehouse laid out as the Spark ingest writes it, changed through the DuckDB copy,
written back by partition swaps; a crash after the journal is finished by the next run.

The rights and retention themselves on a real Spark warehouse: tests/test_spark_engine.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms import settings
from transforms.operations import spark_rights

TABLE = ("pseudo_actuarial", "claims__claims")


def _warehouse(root: Path) -> Path:
    """Two delivery partitions of one table and one of another, as Spark writes them."""
    for day, keys in (("2026-11-25", ["a", "b"]), ("2026-11-26", ["c", "d", "e"])):
        part = root / TABLE[0] / TABLE[1] / f"_delivery_date={day}"
        part.mkdir(parents=True)
        pl.DataFrame({"claim_key": keys, "amount": [1.5] * len(keys),
                      "_key_version": ["v1"] * len(keys)}).write_parquet(part / "part-0.parquet")
    other = root / "pseudo_marketing" / "policy_admin__quotes" / "_delivery_date=2026-11-26"
    other.mkdir(parents=True)
    pl.DataFrame({"quote_key": ["q"], "_key_version": ["v1"]}).write_parquet(other / "p.parquet")
    return root


def _read(root: Path) -> pl.DataFrame:
    return pl.read_parquet(str(root / TABLE[0] / TABLE[1] / "**" / "*.parquet"),
                           hive_partitioning=True).sort("claim_key")


@pytest.fixture
def spark_env(tmp_path: Path):
    warehouse = _warehouse(tmp_path / "spark-warehouse")
    with settings.environment(PIPELINE_ENGINE="spark", PIPELINE_DATA_DIR=str(tmp_path / "data"),
                              PIPELINE_SPARK_WAREHOUSE=str(warehouse)):
        yield warehouse


def _erase_c_and_blank_d(copy: Path) -> None:
    con = duckdb.connect(str(copy))
    try:
        con.execute("delete from pseudo_actuarial.claims__claims where claim_key = 'c'")
        con.execute("update pseudo_actuarial.claims__claims set amount = null "
                    "where claim_key = 'd'")
        con.execute("create schema if not exists audit")
        con.execute("create table audit.data_removals as select 1 as rows")
        con.execute("create table audit.compaction_due as select 'erasure' as source, 1 as rows")
    finally:
        con.close()


def test_only_changed_partitions_are_rewritten(spark_env: Path) -> None:
    untouched = next((spark_env / TABLE[0] / TABLE[1] / "_delivery_date=2026-11-25").iterdir())
    quotes = next((spark_env / "pseudo_marketing" / "policy_admin__quotes").rglob("*.parquet"))
    inodes = (untouched.stat().st_ino, quotes.stat().st_ino)
    with spark_rights.working_copy() as copy:
        _erase_c_and_blank_d(copy)
    frame = _read(spark_env)
    assert frame["claim_key"].to_list() == ["a", "b", "d", "e"]
    assert frame.filter(pl.col("claim_key") == "d")["amount"].to_list() == [None]
    assert (untouched.stat().st_ino, quotes.stat().st_ino) == inodes
    # the state kept for the next run; no scratch, staging, trash or journal left
    con = duckdb.connect(str(spark_rights.state_database()), read_only=True)
    try:
        assert con.execute("select rows from audit.data_removals").fetchall() == [(1,)]
    finally:
        con.close()
    assert sorted(p.name for p in (spark_env / "_rights").iterdir()) == ["state.duckdb"]
    assert not list((spark_env.parent / "data").rglob("*.duckdb"))
    # the compaction step: the rewrite compacted already; the marks go, the rest stays
    assert spark_rights.clear_compaction_marks() == {"compacted": 1, "rows_due": 1}
    assert spark_rights.clear_compaction_marks() == {"compacted": 0, "rows_due": 0}
    con = duckdb.connect(str(spark_rights.state_database()), read_only=True)
    try:
        assert con.execute("select rows from audit.data_removals").fetchall() == [(1,)]
    finally:
        con.close()


def test_a_failure_inside_leaves_the_warehouse_unchanged(spark_env: Path) -> None:
    before = _read(spark_env)
    with pytest.raises(RuntimeError, match="boom"), spark_rights.working_copy() as copy:
        _erase_c_and_blank_d(copy)
        raise RuntimeError("boom")
    assert _read(spark_env).equals(before)
    assert not (spark_env / "_rights" / "state.duckdb").exists()


def test_a_crash_after_the_journal_is_finished_by_the_next_run(
        spark_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies during the swaps (here: the second rename fails); the journal is the
    commit point, so the next working copy first finishes every swap, then reads."""
    real, calls = os.replace, []

    class Killed(BaseException):
        """The process dies (not an error the code could handle)."""

    def dying(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the first is the journal's own rename
            raise Killed
        return real(src, dst)

    monkeypatch.setattr(spark_rights.os, "replace", dying)
    with pytest.raises(Killed), spark_rights.working_copy() as copy:
        _erase_c_and_blank_d(copy)
    monkeypatch.setattr(spark_rights.os, "replace", real)
    assert (spark_env / "_rights" / "commit.json").is_file()
    with spark_rights.working_copy():
        pass
    assert _read(spark_env)["claim_key"].to_list() == ["a", "b", "d", "e"]
    assert not (spark_env / "_rights" / "commit.json").exists()
    assert not list((spark_env / "_rights").glob("staged-*"))


def test_an_object_store_warehouse_is_refused(tmp_path: Path) -> None:
    from transforms.operations.spark_limits import NotOnSpark

    with settings.environment(PIPELINE_ENGINE="spark", PIPELINE_DATA_DIR=str(tmp_path),
                              PIPELINE_SPARK_WAREHOUSE="s3a://bucket/warehouse"), \
            pytest.raises(NotOnSpark, match="object storage"):
        spark_rights.state_database()
