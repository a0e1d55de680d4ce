"""The operator CLI (`pipeline`, transforms/operations/cli.py).

`pipeline --help` through the installed console script; every subcommand's `--help` exits 0;
status, access and leak-scan really run on a small ingested book (tests/rights_book.py), and the
leak scan fails on a planted raw value, so the delegation cannot pass by doing nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from rights_book import Book, make_book

from transforms.operations import cli
from transforms.privacy.keys import DomainKeys

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".venv" / "bin" / "pipeline"


def test_console_script_help_lists_every_subcommand() -> None:
    assert SCRIPT.is_file(), "uv sync installs the console script ([project.scripts])"
    proc = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in cli.COMMANDS:
        assert f"  {name} " in proc.stdout, name


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture) -> None:
    assert cli.main([name, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Book, str]:
    key = os.urandom(32).hex()
    data = tmp_path_factory.mktemp("cli") / "data"
    return make_book(data, DomainKeys.derive(bytes.fromhex(key)), 300, date(2026, 11, 26), 5,
                     days=1), key


@pytest.fixture
def book_env(book: tuple[Book, str], monkeypatch: pytest.MonkeyPatch) -> Book:
    data, key = book
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data.data))
    monkeypatch.setenv("PIPELINE_MASTER_KEY", key)
    monkeypatch.delenv("PIPELINE_MASTER_KEY_FILE", raising=False)
    return data


def test_status_reports_the_warehouse(book_env: Book, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["warehouse_state"] == "ok"
    assert status["rows_loaded"] > 0
    assert status["publication"] == {}
    assert cli.main(["status"]) == 0
    assert "nothing published yet" in capsys.readouterr().out


def test_access_counts_a_subject_without_printing_it(book_env: Book,
                                                     capsys: pytest.CaptureFixture) -> None:
    contracts = pl.read_csv(next((book_env.landing / "policy_admin").glob("*/contracts.csv")),
                            infer_schema=False)
    row = contracts.filter(pl.col("customer_number").is_not_null()).row(0, named=True)
    assert cli.main(["access", "--customer-number", row["customer_number"]]) == 0
    out = capsys.readouterr().out
    assert "total" in out
    assert row["customer_number"] not in out


def test_leak_scan_defaults_and_a_planted_value(book_env: Book,
                                                capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["leak-scan"]) == 0  # warehouse (and logs) against landing
    assert json.loads(capsys.readouterr().out)["total_hits"] == 0
    contracts = pl.read_csv(next((book_env.landing / "policy_admin").glob("*/contracts.csv")),
                            infer_schema=False)
    email = contracts.filter(pl.col("email").is_not_null())["email"][0]
    planted = book_env.logs / "planted.log"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(f"oops {email}\n")
    try:
        assert cli.main(["leak-scan"]) == 1
        assert json.loads(capsys.readouterr().out)["total_hits"] >= 1
    finally:
        planted.unlink()
