"""Decide whether build_and_publish has anything to build: the skip logic of daily runs.

Why: dbt, the gate and publish cost most of a run and, when nothing the marts are made from has
changed since the current publication, would only publish the same marts again. The build DAG
calls `check_inputs` after the subject requests are applied and the warehouse is compacted (so
that a pending erasure is part of the inputs), then `should_build` as a short-circuit: when it
returns False, dbt, the gate and publish are skipped and the run says "unchanged, publication
<id> kept" in its log and in data/state/build.json (the run summary reads it).

A rebuild is chosen, with its reason, whenever any doubt remains: no publication yet, a
publication without a recorded fingerprint, any changed part
(transforms/build/input_fingerprint.py), a removal (erasure, retention) recorded after the
publication was made, a publication whose files no longer match its manifest, or
`PIPELINE_FORCE_BUILD=1`.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime
from pathlib import Path

from transforms import settings
from transforms.build.input_fingerprint import FORCE_ENV, compute, force_requested
from transforms.operations.spark_rights import removals_database
from transforms.publish.publication import (
    MANIFEST,
    current_publication,
    publication_is_intact,
    recorded_inputs,
)
from transforms.rights.removals import latest_removal

log = logging.getLogger(__name__)

STATE_FILE = "build.json"
MAX_PARTS_NAMED = 6


def dbt_vars(as_of: date) -> dict[str, object]:
    """The vars build_marts passes to dbt (transforms/tasks.py), as the fingerprint sees them."""
    return {"as_of_date": as_of.isoformat(), "min_cell_size": settings.min_cell_size()}


def _created_at(publication: Path) -> datetime | None:
    try:
        text = json.loads((publication / MANIFEST).read_text(encoding="utf-8"))["created_at"]
        stamp = datetime.fromisoformat(text)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def rebuild_reason(inputs: dict, publication: Path | None, warehouse: Path | None
                   ) -> str | None:
    """Why the marts must be built again, or None when the current publication holds them.
    `warehouse`: the DuckDB file whose `audit.data_removals` records erasures and purges (on
    Spark, the rights' state database)."""
    if force_requested():
        return f"forced ({FORCE_ENV})"
    if publication is None:
        return "no publication yet"
    recorded = recorded_inputs(publication)
    if recorded is None:
        return "the current publication records no input fingerprint"
    if recorded.get("digest") != inputs.get("digest"):
        old = recorded.get("parts") or {}
        new = inputs.get("parts") or {}
        changed = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
        named = ", ".join(changed[:MAX_PARTS_NAMED])
        more = f" and {len(changed) - MAX_PARTS_NAMED} more" if len(changed) > MAX_PARTS_NAMED \
            else ""
        return f"inputs changed: {named}{more}" if changed else "inputs changed"
    removed = latest_removal(warehouse)
    created = _created_at(publication)
    if removed is not None and (created is None or removed > created):
        return "rows were removed after the current publication was made"
    if not publication_is_intact(publication):
        return "the current publication's files do not match its manifest"
    return None


def check_inputs(as_of: str) -> dict:
    """Fingerprint the marts' inputs and compare with the current publication's.

    Returns (for XCom: digests and counts only) `unchanged`, the kept publication's folder
    name, the reason for a rebuild, and the fingerprint publish records."""
    from transforms.privacy.keys import load_domain_keys

    started = time.perf_counter()
    p = settings.paths()
    day = date.fromisoformat(as_of)
    key_version = load_domain_keys().key_version
    if settings.engine() == "spark":  # its Parquet tables, read in place
        folder = settings.spark_warehouse_folder()
        if folder is None:
            return {"as_of": day.isoformat(), "unchanged": False, "publication": None,
                    "build": "rebuild: no input fingerprint of a warehouse in object storage",
                    "inputs": None, "fingerprint_seconds": 0.0}
        fingerprint = compute(folder, p.landing, dbt_vars=dbt_vars(day),
                              key_version=key_version, spark=True)
    else:
        fingerprint = compute(p.warehouse, p.landing, dbt_vars=dbt_vars(day),
                              key_version=key_version)
    inputs = fingerprint.as_dict()
    publication = current_publication(p.published)
    reason = rebuild_reason(inputs, publication, removals_database())
    unchanged = reason is None
    name = publication.name if publication is not None else None
    build = f"unchanged, publication {name} kept" if unchanged else f"rebuild: {reason}"
    payload = {
        "as_of": day.isoformat(),
        "unchanged": unchanged,
        "publication": name,
        "build": build,
        "inputs": inputs,
        "fingerprint_seconds": round(time.perf_counter() - started, 2),
    }
    state = p.data / "state" / STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({k: v for k, v in payload.items() if k != "inputs"}, indent=2))
    log.info("build_and_publish %s: %s (inputs fingerprint %s, %.2f s)", day, build,
             inputs["digest"][:12], payload["fingerprint_seconds"])
    return payload


def should_build(checked: dict) -> bool:
    """The short-circuit: False (skip dbt, the gate and publish) when the inputs are unchanged."""
    if checked.get("unchanged"):
        log.info("%s: dbt, the gate and publish are skipped", checked.get("build"))
        return False
    log.info("%s", checked.get("build"))
    return True
