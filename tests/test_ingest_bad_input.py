"""Bad input at the door: refused with a clear reason or quarantined with a count, never a
silent drop, never a partial load, and never a data value in an error message."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms.ingest.run import ingest
from transforms.ingest.validation import DeliveryRefused
from transforms.privacy.keys import DomainKeys, KeyConfigurationError
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    generate_book(tmp_path / "landing", contracts=200, days=1, as_of=AS_OF, seed=11,
                  truth_dir=tmp_path / "truth")
    return tmp_path


def _contracts(book: Path) -> Path:
    return book / "landing" / "policy_admin" / AS_OF.isoformat() / "contracts.csv"


def _rewrite(path: Path, frame: pl.DataFrame | None = None, raw: bytes | None = None) -> None:
    """Replace a delivery file and keep its manifest consistent (a well-formed bad delivery)."""
    data = raw if raw is not None else frame.write_csv().encode()
    path.write_bytes(data)
    manifest = path.parent / "_manifest.json"
    doc = json.loads(manifest.read_text())
    rows = data.count(b"\n") - 1  # header excluded; the generator ends every line
    doc["files"][path.name] = {"rows": rows, "sha256": hashlib.sha256(data).hexdigest()}
    manifest.write_text(json.dumps(doc))


def _ingest(book: Path, keys: DomainKeys | None = None):
    return ingest(book / "landing", book / "warehouse.duckdb", book / "quarantine",
                  keys or DomainKeys.derive(os.urandom(32)), systems=["policy_admin"])


def _audit(book: Path) -> dict[str, int]:
    con = duckdb.connect(str(book / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.execute(
            "select reason, sum(rows) from audit.quarantine where entity = 'contracts' group by 1"
        ).fetchall())
    finally:
        con.close()


def test_unknown_column_refuses_the_delivery_and_writes_nothing(book: Path) -> None:
    frame = pl.read_csv(_contracts(book), infer_schema=False)
    _rewrite(_contracts(book), frame.with_columns(pl.lit("x").alias("loyalty_tier")))
    with pytest.raises(DeliveryRefused, match="1 column.*not in the classification") as info:
        _ingest(book)
    assert "loyalty_tier" not in str(info.value)  # a header from a delivery is data
    assert f"position(s) {frame.width + 1} " in str(info.value)
    con = duckdb.connect(str(book / "warehouse.duckdb"), read_only=True)
    tables = con.execute("select count(*) from information_schema.tables "
                         "where table_schema like 'pseudo_%'").fetchall()[0][0]
    con.close()
    assert tables == 0


def test_bad_values_are_quarantined_with_reasons_and_never_echoed(book: Path) -> None:
    frame = pl.read_csv(_contracts(book), infer_schema=False)
    huge = "Z" * 10_240
    planted = {
        0: {"vin": frame["vin"][0][:-2]},  # wrong length
        1: {"vin": huge},  # 10 KB string
        2: {"contract_number": "   "},  # whitespace only: missing
        3: {"start_date": "31/02/2024"},  # wrong type
        4: {"premium_excl_ipt": "-12.50"},  # negative
        5: {"phone": "not a phone"},  # unparseable, classification: null with a count
    }
    for row, changes in planted.items():
        for col, value in changes.items():
            frame = frame.with_columns(
                pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value))
                .otherwise(pl.col(col)).alias(col))
    _rewrite(_contracts(book), frame)
    reports = _ingest(book)
    loaded = next(r for r in reports if r.status == "loaded")
    reasons = _audit(book)
    assert reasons["invalid:vin"] >= 2
    assert reasons["missing:contract_number"] >= 1
    assert reasons["bad_type:start_date"] >= 1
    assert reasons["negative:premium_excl_ipt"] >= 1
    assert loaded.nullified.get("contracts:phone", 0) >= 1
    assert loaded.rows_read == loaded.rows_loaded + loaded.rows_quarantined
    quarantine = pl.read_parquet(next((book / "quarantine").rglob("contracts.parquet")))
    assert quarantine["_reasons"].str.contains("invalid:vin").sum() >= 2
    assert not any(huge in r or "31/02/2024" in r for r in map(str, reports))


def test_non_utf8_bytes_are_quarantined_not_crashing(book: Path) -> None:
    data = _contracts(book).read_bytes().splitlines(keepends=True)
    data[1] = data[1].replace(b",GB,", b",G\xff\xfe,", 1) if b",GB," in data[1] else (
        data[1][:-1] + b"\xff\n")
    _rewrite(_contracts(book), raw=b"".join(data))
    _ingest(book)
    assert _audit(book).get("invalid_utf8", 0) == 1


def test_ragged_csv_is_refused_without_data_in_the_message(book: Path) -> None:
    data = _contracts(book).read_bytes().splitlines(keepends=True)
    data[1] = data[1].rstrip(b"\n") + b",SECRET-EXTRA-FIELD\n"
    _rewrite(_contracts(book), raw=b"".join(data))
    with pytest.raises(DeliveryRefused) as info:
        _ingest(book)
    assert "SECRET-EXTRA-FIELD" not in str(info.value)
    assert "not well-formed CSV" in str(info.value)
    assert "policy_admin/2026-11-26" in str(info.value)
    assert "data row 1 " in str(info.value) and "header has" in str(info.value)


def test_checksum_mismatch_refuses(book: Path) -> None:
    with open(_contracts(book), "ab") as fh:
        fh.write(b"\n")
    with pytest.raises(DeliveryRefused, match="checksum"):
        _ingest(book)


def test_a_delivery_without_manifest_is_reported_incomplete(book: Path) -> None:
    (_contracts(book).parent / "_manifest.json").unlink()
    reports = _ingest(book)
    assert [r.status for r in reports] == ["incomplete"]


def test_duplicate_delivery_is_harmless(book: Path) -> None:
    keys = DomainKeys.derive(os.urandom(32))
    first = _ingest(book, keys)
    second = _ingest(book, keys)
    assert [r.status for r in first] == ["loaded"]
    assert [r.status for r in second] == ["already_loaded"]


def test_missing_key_writes_nothing(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transforms.operations.tasks import ingest_system

    for name in ("PIPELINE_MASTER_KEY", "PIPELINE_MASTER_KEY_FILE", "AIRFLOW_HOME",
                 "AIRFLOW_CONN_PSEUDONYMISATION_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(book))
    with pytest.raises(KeyConfigurationError, match="PIPELINE_MASTER_KEY"):
        ingest_system("policy_admin")
    assert not (book / "warehouse.duckdb").exists()
    assert not (book / "quarantine").exists()


# -- issue 11 point 10: each bad input names the delivery, the file's position and the row ------


def test_empty_file_is_refused_naming_the_delivery_and_file(book: Path) -> None:
    _rewrite(_contracts(book), raw=b"")
    with pytest.raises(DeliveryRefused) as info:
        _ingest(book)
    message = str(info.value)
    assert "policy_admin/2026-11-26, file 1 of 2" in message and "empty" in message


def test_repeated_header_is_refused_by_position_not_as_an_unknown_column(book: Path) -> None:
    data = _contracts(book).read_bytes().splitlines(keepends=True)
    header = data[0].decode().rstrip("\n").split(",")
    at = header.index("sales_channel")
    header[at] = "tier"  # tier twice, sales_channel missing
    data[0] = (",".join(header) + "\n").encode()
    _rewrite(_contracts(book), raw=b"".join(data))
    with pytest.raises(DeliveryRefused) as info:
        _ingest(book)
    message = str(info.value)
    assert "repeated column name" in message and f"position(s) {at + 1}" in message
    assert "duplicated" not in message and "file 1 of 2" in message


@pytest.mark.parametrize("amount", ["1e15", "12.5", "1,000.00",
                                    "4111111111111111.00"])
def test_amounts_accept_only_the_documented_decimal_format(book: Path, amount: str) -> None:
    frame = pl.read_csv(_contracts(book), infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(pl.lit(amount))
        .otherwise(pl.col("premium_excl_ipt")).alias("premium_excl_ipt"))
    _rewrite(_contracts(book), frame)
    reports = _ingest(book)
    reasons = _audit(book)
    assert (reasons.get("bad_type:premium_excl_ipt", 0)
            + reasons.get("out_of_range:premium_excl_ipt", 0)) == 1, reasons
    quarantine = pl.read_parquet(next((book / "quarantine").rglob("contracts.parquet")))
    assert 4 in quarantine["_row"].to_list()
    assert amount not in str([r.as_dict() for r in reports])
