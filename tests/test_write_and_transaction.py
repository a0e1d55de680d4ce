"""The two helpers every stage writes through: atomic_write (files) and transaction (DuckDB)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from transforms.files import atomic_write, write_text_atomic
from transforms.transaction import transaction


def test_atomic_write_replaces_the_file_only_when_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    with atomic_write(target) as tmp:
        tmp.write_text("new", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old"  # readers still see the old file
    assert target.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_atomic_write_keeps_the_old_file_and_no_temporary_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    write_text_atomic(target, "whole")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(target, ".tmp") as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_transaction_commits_or_rolls_back_everything(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create table t (n integer)")
    with transaction(con):
        con.execute("insert into t values (1)")
    with pytest.raises(ValueError, match="refused"), transaction(con):
        con.execute("insert into t values (2)")
        raise ValueError("refused")
    assert con.execute("select list(n) from t").fetchone()[0] == [1]
    con.execute("insert into t values (3)")  # the connection is usable after a rollback
    assert con.execute("select count(*) from t").fetchone()[0] == 2
    con.close()
