"""Retiring publications that still hold rows removed since they were made.

Why: an erasure or a retention purge removes rows from the warehouse, but a publication made
before it still holds them (row-level marts, extracts). `retire_stale_publications` deletes
every publication made before the latest removal (transforms/rights/removals.py), except the one
`data/published` points at: readers must never find it gone. That one becomes stale as soon as
the rebuild triggered by the removal publishes a new one, and is retired by the next call (the
retention_and_rights DAG calls it daily; build_and_publish calls it after publish).
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

from transforms.publish.publication import MANIFEST, current_publication, publications_root

log = logging.getLogger(__name__)


def _created_at(folder: Path) -> datetime | None:
    """When a publication was made (its manifest), naive UTC; None when unknown."""
    try:
        text = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["created_at"]
        stamp = datetime.fromisoformat(text)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def retire_stale_publications(published_dir: Path, removed_at: datetime | None) -> dict[str, int]:
    """Delete every publication made before `removed_at`, except the current one.

    Returns counts: retired publications, and whether the current one is itself stale (it then
    waits for the rebuild to publish a newer one).
    """
    root = publications_root(published_dir)
    out = {"publications_retired": 0, "current_is_stale": 0}
    if removed_at is None or not root.is_dir():
        return out
    current = current_publication(published_dir)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        created = _created_at(folder)
        if created is not None and created >= removed_at:
            continue
        if current is not None and folder.resolve() == current.resolve():
            out["current_is_stale"] = 1
            continue
        shutil.rmtree(folder)
        out["publications_retired"] += 1
    if out["publications_retired"]:
        log.info("retired %d publication(s) made before the latest removal",
                 out["publications_retired"])
    return out
