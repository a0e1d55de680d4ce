"""Writing a file so that a reader sees the old version or the new one, never a part.

Why one helper: a file written in place and interrupted (a killed task, a full disk) is a
truncated manifest, state file or Parquet file that the next run trusts. Writing beside the
target and renaming over it (os.replace: atomic on POSIX within a filesystem) is the rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, on failure
    delete it (the old file, if any, is untouched)."""
    tmp = path.with_name(path.name + suffix)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str, suffix: str = ".part") -> None:
    """`path.write_text(text)` (UTF-8), atomically."""
    with atomic_write(path, suffix) as tmp:
        tmp.write_text(text, encoding="utf-8")
