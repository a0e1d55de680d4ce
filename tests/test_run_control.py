"""How a run is controlled: its one as-of date, one run per DAG and date, crash leftovers.

Pure functions and real files; the Airflow side (the three DAGs for one date, a killed ingest,
run results per logical date) is exercised in tests/test_end_to_end.py.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from transforms.ingest.leftovers import remove_leftovers
from transforms.operations import airflow_run
from transforms.operations.run_date import NoRunDate, asset_extra, event_extras, resolve_as_of


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_AS_OF", raising=False)


def test_the_logical_date_is_the_as_of_date(no_override: None) -> None:
    assert resolve_as_of("2026-11-26") == date(2026, 11, 26)


def test_an_asset_triggered_run_takes_the_producers_date(no_override: None) -> None:
    events = {"warehouse_pseudonymised": [SimpleNamespace(extra=asset_extra("2026-11-25")),
                                          SimpleNamespace(extra=asset_extra(date(2026, 11, 26))),
                                          SimpleNamespace(extra=None)]}
    assert resolve_as_of(None, event_extras(events)) == date(2026, 11, 26)


def test_a_run_without_a_date_is_refused_not_guessed(no_override: None) -> None:
    with pytest.raises(NoRunDate, match="no as-of date"):
        resolve_as_of(None, event_extras({"warehouse_pseudonymised": []}))


def test_the_override_wins_for_every_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_AS_OF", "2026-01-31")
    assert resolve_as_of("2026-11-26") == date(2026, 1, 31)
    assert resolve_as_of(None, [asset_extra("2026-11-26")]) == date(2026, 1, 31)


def test_a_second_run_of_the_same_dag_and_date_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    called = []
    monkeypatch.setattr(airflow_run, "run_dag_test", lambda *a, **k: called.append(a))
    with airflow_run.exclusive_run("build_and_publish", "2026-11-26"):
        assert airflow_run.main(["build_and_publish", "2026-11-26"]) == airflow_run.REFUSED
    err = capsys.readouterr().err
    assert "already in progress" in err and str(os.getpid()) in err
    assert "FOREIGN KEY" not in err and called == [], "refused before Airflow starts"
    # another date, or the same one once the first run is over, is not refused
    with airflow_run.exclusive_run("build_and_publish", "2026-11-25"):
        pass
    with airflow_run.exclusive_run("build_and_publish", "2026-11-26"):
        pass


def test_a_bad_logical_date_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert airflow_run.main(["build_and_publish", "26/11/2026"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_a_killed_runs_files_are_removed(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    spool = tmp_path / ".load-spool-abc123"
    spool.mkdir()
    (spool / "pseudo_actuarial.policy_admin__contracts.000000.parquet").write_bytes(b"x")
    qdir = quarantine / "claims" / "2026-11-26"
    qdir.mkdir(parents=True)
    (qdir / "claims.parquet.tmp").write_bytes(b"x")
    (qdir / "claims.parquet").write_bytes(b"kept")  # committed quarantine: stays
    (landing / "dpo" / "2026-11-26").mkdir(parents=True)
    (landing / "dpo" / "2026-11-26" / "subject_requests.csv.rights-tmp").write_bytes(b"x")
    (tmp_path / "warehouse.duckdb.compact").write_bytes(b"x")
    found = remove_leftovers(warehouse, landing, quarantine)
    assert found.as_dict() == {"spool_dirs": 1, "quarantine_tmp": 1, "rights_tmp": 1,
                               "compaction_copies": 1}
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["quarantine/claims/2026-11-26/claims.parquet"]
    assert remove_leftovers(warehouse, landing, quarantine).total == 0
