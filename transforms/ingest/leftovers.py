"""Files a killed run leaves behind, removed by the next run that holds the warehouse.

Why: a run killed mid-delivery (kill -9, OOM, power) cannot clean up after itself. It leaves
the load spool (`data/.load-spool-*/`, pseudonymised rows of the delivery being loaded: outside
the warehouse, where erasure and retention cannot reach them), the delivery's quarantine in
progress (`quarantine/<system>/<date>/*.parquet.tmp`, raw rows), an erasure's prepared raw files
(`*.rights-tmp`) and a compaction's half-written copy (`warehouse.duckdb.compact`). None of them
is committed state: the warehouse transaction they belonged to never committed (or its files
were already renamed into place), so removing them loses nothing.

When it is safe: only while holding the warehouse's write connection. DuckDB lets one process
write the file, and every writer of these files (ingest, erasure, compaction) holds that
connection while they exist; so whoever holds it now knows that nobody is still writing them.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from transforms import landing as raw_rewrite
from transforms.ingest.load import SPOOL_PREFIX

log = logging.getLogger(__name__)

QUARANTINE_TMP = "*.parquet.tmp"
COMPACT_SUFFIXES = (".compact", ".compact.wal")


@dataclass(frozen=True)
class Leftovers:
    """Counts of what was removed (never a path or a value in the logs)."""

    spool_dirs: int = 0
    quarantine_tmp: int = 0
    rights_tmp: int = 0
    compaction_copies: int = 0

    @property
    def total(self) -> int:
        return self.spool_dirs + self.quarantine_tmp + self.rights_tmp + self.compaction_copies

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def remove_leftovers(warehouse: Path, landing: Path, quarantine: Path) -> Leftovers:
    """Remove a killed run's files. Call only while holding the warehouse write connection."""
    spools = 0
    for spool in warehouse.parent.glob(f"{SPOOL_PREFIX}*"):
        if spool.is_dir():
            shutil.rmtree(spool, ignore_errors=True)
            spools += 1
    qtmp = 0
    if quarantine.exists():
        for tmp in quarantine.rglob(QUARANTINE_TMP):
            tmp.unlink(missing_ok=True)
            qtmp += 1
    rights = raw_rewrite.discard_pending(landing, quarantine)
    copies = 0
    for suffix in COMPACT_SUFFIXES:
        copy = warehouse.with_name(warehouse.name + suffix)
        if copy.exists():
            copy.unlink()
            copies += 1
    found = Leftovers(spools, qtmp, rights, copies)
    if found.total:
        log.warning("removed the files a killed run left behind: %s", found.as_dict())
    return found
