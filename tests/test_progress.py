"""Progress: a bar on a terminal, plain counts in logs (transforms/progress.py)."""

from __future__ import annotations

import io
import logging

import pytest

from transforms.progress import Progress, is_terminal


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_logs_counts_every_n_rows_and_at_the_end(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_PROGRESS", raising=False)
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="transforms.progress"), \
            Progress("ingest claims", total=1000, every=300, stream=stream) as bar:
        assert not bar.is_bar
        for _ in range(10):
            bar.update(100)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["ingest claims: 300 of 1,000 rows", "ingest claims: 600 of 1,000 rows",
                     "ingest claims: 900 of 1,000 rows", "ingest claims: 1,000 of 1,000 rows done"]
    assert stream.getvalue() == ""  # no control characters in a log


def test_a_failed_step_says_where_it_stopped(caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_PROGRESS", raising=False)
    with caplog.at_level(logging.INFO, logger="transforms.progress"), \
            pytest.raises(RuntimeError), Progress("x", total=10, stream=io.StringIO()) as bar:
        bar.update(4)
        raise RuntimeError("boom")
    assert [r.getMessage() for r in caplog.records] == ["x: stopped at 4 of 10 rows"]


def test_a_terminal_gets_a_bar_and_no_log_lines(caplog: pytest.LogCaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_PROGRESS", raising=False)
    stream = FakeTerminal()
    with caplog.at_level(logging.INFO, logger="transforms.progress"), \
            Progress("generate", total=3, unit="days", every=1, stream=stream) as bar:
        assert bar.is_bar
        bar.update(3)
    assert caplog.records == []
    assert "3/3" in stream.getvalue() and "generate" in stream.getvalue()


def test_the_environment_overrides_the_tty_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_PROGRESS", "0")
    assert not is_terminal(FakeTerminal())
    monkeypatch.setenv("PIPELINE_PROGRESS", "1")
    assert is_terminal(io.StringIO())
    monkeypatch.delenv("PIPELINE_PROGRESS")
    assert is_terminal(FakeTerminal()) and not is_terminal(io.StringIO())
