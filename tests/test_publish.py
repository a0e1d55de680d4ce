"""Atomic publication: a complete new folder, then one symlink switch; any failure before the
switch leaves the previous publication exactly as it was; the last three are kept.

These tests need no Great Expectations: the gate summary that publish requires is written
here with the fields publish reads (passed, rows per mart).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest
from synthetic_marts import synthetic_marts

from transforms.classification import load as load_classification
from transforms.publish import publication as publish_module
from transforms.publish.publication import (
    PublishError,
    current_publication,
    list_publications,
    privacy_report,
    publication_is_intact,
    publish,
    snapshot,
)

MARTS = load_classification().marts


def _columns(db: Path) -> set[tuple[str, str, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            tuple(r) for r in con.execute(
                "select table_schema, table_name, column_name, data_type "
                "from information_schema.columns where table_schema in ('actuarial', 'marketing')"
            ).fetchall()
        }
    finally:
        con.close()


def _rows(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db))
    try:
        return {m.name: con.execute(f"select count(*) from {m.name}").fetchall()[0][0]
                for m in MARTS}
    finally:
        con.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    synthetic_marts(data / "warehouse.duckdb", rows=120)
    return data


def _reports(data: Path, *, passed: bool = True, rows: dict[str, int] | None = None) -> dict:
    summary = data / "gate-summary.json"
    tables = {name: {"present": True, "rows": n}
              for name, n in (rows or _rows(data / "warehouse.duckdb")).items()}
    summary.write_text(json.dumps({"passed": passed, "min_cell_size": 10, "tables": tables,
                                   "checks": [], "rules": {}}))
    return {"gate-summary.json": summary}


def _publish(data: Path, run_id: str, **kw: object):
    reports = kw.pop("reports", None) or _reports(data)
    return publish(data / "warehouse.duckdb", data / "published", run_id=run_id,
                   reports=reports, **kw)


def test_first_publication(data: Path) -> None:
    result = _publish(data, "scheduled__2026-11-27T00:00:00+00:00")
    published = data / "published"
    assert published.is_symlink()
    assert os.readlink(published) == "publications/scheduled__2026-11-27T00-00-00-00-00"
    assert current_publication(published) == result.publication.resolve()
    assert _columns(published / "marts.duckdb") == _columns(data / "warehouse.duckdb")
    assert result.tables == _rows(data / "warehouse.duckdb")
    for mart in MARTS:
        extract = published / "extracts" / f"{mart.schema}__{mart.table}.parquet"
        assert extract.is_file() == mart.extract
        if mart.extract:
            assert pl.read_parquet(extract).height == result.tables[mart.name]
    reports = published / "reports"
    assert (reports / "gate-summary.json").is_file()
    assert (reports / "privacy-report.html").is_file()
    assert publication_is_intact(result.publication)


@pytest.mark.parametrize("case", ["gate failed", "no gate summary", "rows changed since gate",
                                  "mart missing", "report crashes"])
def test_failure_leaves_previous_publication(
    case: str, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(data, "first")
    before = snapshot(data / "published")
    publications = list_publications(data / "published")
    reports = _reports(data)
    if case == "gate failed":
        reports = _reports(data, passed=False)
    elif case == "no gate summary":
        reports = {}
    elif case == "rows changed since gate":
        con = duckdb.connect(str(data / "warehouse.duckdb"))
        con.execute("delete from marketing.segments where rowid < 5")
        con.close()
    elif case == "mart missing":
        con = duckdb.connect(str(data / "warehouse.duckdb"))
        con.execute("drop table actuarial.claims_development")
        con.close()
    elif case == "report crashes":
        def boom(*a: object, **k: object) -> None:
            raise RuntimeError("disk full")
        monkeypatch.setattr(privacy_report, "write_report", boom)

    with pytest.raises((PublishError, RuntimeError)):
        publish(data / "warehouse.duckdb", data / "published", run_id="second", reports=reports)

    assert snapshot(data / "published") == before
    assert before["intact"] is True
    assert list_publications(data / "published") == publications
    assert not list((data / "publications").glob(".staging-*"))
    assert not (data / "publications" / "second").exists()


def test_keeps_the_last_three(data: Path) -> None:
    results = [_publish(data, f"run-{i}") for i in range(5)]
    kept = list_publications(data / "published")
    assert [p.name for p in kept] == ["run-2", "run-3", "run-4"]
    assert current_publication(data / "published") == results[-1].publication.resolve()
    assert [p.name for p in results[3].removed] == ["run-0"]


def test_reader_of_the_old_publication_keeps_its_files(data: Path) -> None:
    first = _publish(data, "first")
    old = (data / "published" / "marts.duckdb").resolve()  # what a reader has open
    _publish(data, "second")
    assert old.is_file() and old.parent == first.publication.resolve()
    assert (data / "published" / "marts.duckdb").resolve() != old
    con = duckdb.connect(str(old), read_only=True)
    con.execute("select count(*) from actuarial.policy_exposure").fetchall()
    con.close()


def test_retry_of_the_same_run_gets_its_own_folder(data: Path) -> None:
    a = _publish(data, "run")
    b = _publish(data, "run")
    assert (a.publication.name, b.publication.name) == ("run", "run.2")
    assert current_publication(data / "published") == b.publication.resolve()


def test_tampering_is_detected(data: Path) -> None:
    result = _publish(data, "run")
    assert publication_is_intact(result.publication)
    with open(result.publication / "reports" / "gate-summary.json", "a") as fh:
        fh.write(" ")
    assert not publication_is_intact(result.publication)


def test_a_plain_published_folder_is_replaced(data: Path) -> None:
    (data / "published").mkdir()
    (data / "published" / "marts.duckdb").write_bytes(b"old walking-skeleton file")
    _publish(data, "run")
    assert (data / "published").is_symlink()
    legacy = [p for p in (data / "publications").iterdir() if p.name.startswith("legacy-")]
    assert len(legacy) == 1 and (legacy[0] / "marts.duckdb").is_file()


def test_switch_is_a_rename_over_the_old_link(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The published path always exists: the new link is renamed over the old one."""
    _publish(data, "first")
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        seen.append((Path(src).name, Path(dst).name))
        assert (data / "published").is_symlink()  # still the old link just before
        real_replace(src, dst)

    monkeypatch.setattr(publish_module.os, "replace", spy)
    _publish(data, "second")
    assert len(seen) == 1 and seen[0][1] == "published" and seen[0][0].endswith(".tmp")
