"""Progress of long steps: a bar in a terminal, plain counts in logs.

Why: generating or ingesting a large book takes minutes, and an operator at a terminal should see
it move; inside an Airflow task (no terminal) a redrawn bar would fill the task log with control
characters, so there the same progress is a log line per `every` rows and one per finished
unit (file). Labels are the caller's own words (system, entity, date): never a delivered value.

    with Progress("ingest policy_admin/2026-11-26 contracts", total=50_000, unit="rows") as bar:
        for batch in batches:
            bar.update(batch.height)
"""

from __future__ import annotations

import logging
import os
import sys
from types import TracebackType
from typing import IO, Any

log = logging.getLogger(__name__)

DEFAULT_EVERY = 250_000  # rows between two log lines when not a terminal
DISABLE_ENV = "PIPELINE_PROGRESS"  # "0": no bar, counts only; "1": a bar even without a TTY


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether a bar can be drawn: the stream is a TTY (or PIPELINE_PROGRESS=1 forces it)."""
    forced = os.environ.get(DISABLE_ENV, "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class Progress:
    """Counts of `unit` towards `total` (None when unknown), shown as a tqdm bar on a terminal
    and as log lines (`label: n of total unit`) every `every` units otherwise, plus a last line
    when the step ends."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "rows",
                 every: int = DEFAULT_EVERY, stream: IO[str] | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.every = max(1, every)
        self.count = 0
        self._next_log = self.every
        self._log = logger or log
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        if is_terminal(self._stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=f" {unit}", unit_scale=unit == "rows",
                             file=self._stream, leave=True, dynamic_ncols=True)

    @property
    def is_bar(self) -> bool:
        return self._bar is not None

    def update(self, n: int) -> None:
        """Add `n` units; logs a line when a multiple of `every` is passed (no terminal)."""
        if n <= 0:
            return
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
            return
        if self.count >= self._next_log:
            self._log.info("%s: %s", self.label, self._counts())
            self._next_log = (self.count // self.every + 1) * self.every

    def close(self, *, failed: bool = False) -> None:
        """End the step: the bar's last state, or a last log line ("done", or where a failed
        step stopped)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif failed:
            self._log.info("%s: stopped at %s", self.label, self._counts())
        else:
            self._log.info("%s: %s done", self.label, self._counts())

    def _counts(self) -> str:
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.count:,}{of} {self.unit}"

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(failed=exc_type is not None)
