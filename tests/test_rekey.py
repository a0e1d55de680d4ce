"""Key rotation: a new master key rebuilds the warehouse from landing, or refuses clearly."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from transforms.ingest.load import KeyVersionMismatch
from transforms.ingest.run import ingest
from transforms.operations.rekey import RotationRefused, rekey
from transforms.privacy.keys import DomainKeys
from transforms.sources.generate import generate_book


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    generate_book(tmp_path / "landing", contracts=300, days=2, as_of=date(2026, 11, 26), seed=3,
                  truth_dir=tmp_path / "truth")
    return tmp_path


def _versions_and_counts(warehouse: Path) -> tuple[set[str], dict[str, int], set[str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema like 'pseudo_%'").fetchall()]
        versions = {v for t in tables
                    for (v,) in con.execute(f"select distinct _key_version from {t}").fetchall()}
        counts = {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in tables}
        keys = {k for (k,) in con.execute(
            "select contract_key from pseudo_actuarial.policy_admin__contracts").fetchall()}
    finally:
        con.close()
    return versions, counts, keys


def test_rotation_rebuilds_everything_under_the_new_key(book: Path) -> None:
    old, new = DomainKeys.derive(os.urandom(32)), DomainKeys.derive(os.urandom(32))
    ingest(book / "landing", book / "warehouse.duckdb", book / "quarantine", old)
    v1, counts1, keys1 = _versions_and_counts(book / "warehouse.duckdb")
    assert v1 == {old.key_version}

    result = rekey(new)
    assert result["status"] == "rekeyed"
    v2, counts2, keys2 = _versions_and_counts(book / "warehouse.duckdb")
    assert v2 == {new.key_version}
    assert counts2 == counts1
    assert not keys1 & keys2, "new key, unrelated pseudonyms"


def test_loading_with_another_key_is_refused(book: Path) -> None:
    old, new = DomainKeys.derive(os.urandom(32)), DomainKeys.derive(os.urandom(32))
    first = sorted((book / "landing" / "policy_admin").iterdir())[0]
    later = book / "later"
    later.mkdir()
    kept = shutil.move(str(sorted((book / "landing" / "policy_admin").iterdir())[-1]), later)
    ingest(book / "landing", book / "warehouse.duckdb", book / "quarantine", old,
           systems=["policy_admin"])
    shutil.move(kept, first.parent)
    with pytest.raises(KeyVersionMismatch, match="re-pseudonymise"):
        ingest(book / "landing", book / "warehouse.duckdb", book / "quarantine", new,
               systems=["policy_admin"])
    versions, _, _ = _versions_and_counts(book / "warehouse.duckdb")
    assert versions == {old.key_version}, "nothing of the refused delivery was written"


def test_rotation_refuses_when_landing_data_is_gone(book: Path) -> None:
    old, new = DomainKeys.derive(os.urandom(32)), DomainKeys.derive(os.urandom(32))
    ingest(book / "landing", book / "warehouse.duckdb", book / "quarantine", old)
    before = (book / "warehouse.duckdb").read_bytes()
    shutil.rmtree(sorted((book / "landing" / "claims").iterdir())[0])
    with pytest.raises(RotationRefused, match="no longer in the landing zone"):
        rekey(new)
    assert (book / "warehouse.duckdb").read_bytes() == before


def test_rotation_refuses_on_the_spark_engine(book: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """Rekey rebuilds the DuckDB file: on the Spark engine it must refuse, not rebuild a file
    that engine does not use and report the rotation done."""
    old, new = DomainKeys.derive(os.urandom(32)), DomainKeys.derive(os.urandom(32))
    ingest(book / "landing", book / "warehouse.duckdb", book / "quarantine", old)
    before = (book / "warehouse.duckdb").read_bytes()
    monkeypatch.setenv("PIPELINE_ENGINE", "spark")
    with pytest.raises(RotationRefused, match="Spark warehouse is not supported"):
        rekey(new)
    assert (book / "warehouse.duckdb").read_bytes() == before
