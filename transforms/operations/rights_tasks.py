"""What the retention_and_rights DAG's tasks do, callable and testable without Airflow.

Each function returns a small dict of counts for XCom (and writes it to data/state/): never an
identifier, a pseudonym or a key.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transforms import settings
from transforms.build.dbt_run import built_schemas
from transforms.compaction import compact_if_due
from transforms.operations import spark_limits
from transforms.operations.run_date import resolve_as_of
from transforms.operations.spark_rights import (
    clear_compaction_marks,
    on_working_copy,
    removals_database,
)
from transforms.operations.task_state import record
from transforms.privacy.keys import load_domain_keys
from transforms.publish.retirement import retire_stale_publications
from transforms.retention.run import RetentionReport, apply_retention
from transforms.rights.processing import ProcessReport, process_requests
from transforms.rights.removals import latest_removal

log = logging.getLogger(__name__)


class RequestsFailed(RuntimeError):
    """Some requests could not be processed (nothing was changed for them); they are retried."""


def process_subject_requests(ds: str | None = None, state: str = "rights") -> dict:
    """Apply the DPO feed's pending requests (received up to the run's as-of date); fail
    (after recording all) if any failed, so that no build publishes before they are applied.

    Both the retention_and_rights DAG and build_and_publish (before dbt) call this: whatever
    identifier a request used, its subject is erased, or resolved for the marts to exclude,
    before any build. The compaction is left to the DAG's own step (once per run)."""
    p = settings.paths()
    as_of = resolve_as_of(ds)
    keys = load_domain_keys()

    def apply(warehouse: Path, raw_commits: list | None) -> ProcessReport:
        return process_requests(p.landing, p.quarantine, warehouse, keys, as_of, compact=False,
                                raw_commits=raw_commits)

    # on Spark the same code, on a working copy of the Spark warehouse (spark_rights.py)
    report = on_working_copy(apply) if spark_limits.on_spark() else apply(p.warehouse, None)
    payload = record(state, {"as_of": as_of.isoformat(), **report.as_dict(),
                                 "changed": report.changed})
    failed = report.statuses.get("failed", 0)
    if failed:
        raise RequestsFailed(f"{failed} subject request(s) failed and will be retried; see "
                             "audit.subject_requests (status 'failed') and the task log")
    return payload


def apply_retention_rules(ds: str | None = None) -> dict:
    p = settings.paths()
    as_of = resolve_as_of(ds)

    def apply(warehouse: Path, _raw_commits: list | None) -> RetentionReport:
        # the keys let retention keep the last clean sweep's record valid (on DuckDB's file)
        keys = None if _raw_commits is not None else load_domain_keys()
        return apply_retention(warehouse, p.landing, p.quarantine, as_of, compact=False,
                               keys=keys)

    report = on_working_copy(apply) if spark_limits.on_spark() else apply(p.warehouse, None)
    return record("retention", {**report.as_dict(),
                                 "changed": bool(report.removed_from_warehouse)})


def compact_if_anything_removed(state: str = "compaction") -> dict:
    """One compaction for the whole run, when rows were removed or replaced
    (transforms/compaction.py). On Spark a removal is itself the compaction: the affected
    partitions are rewritten with the kept rows only and the old ones deleted
    (transforms/operations/spark_rights.py): only the marks are cleared."""
    if spark_limits.on_spark():
        return record(state, clear_compaction_marks())
    return record(state, compact_if_due(settings.paths().warehouse, built_schemas()))


def retire_publications() -> dict:
    """Delete publications made before the latest erasure or purge (never the current one)."""
    return record("retire", retire_stale_publications(settings.paths().published,
                                                      latest_removal(removals_database())))


def signal_rebuild(requests: dict, retention: dict, retired: dict, outlet_events) -> dict:
    """Emit the warehouse asset event (for the run's as-of date) when a rebuild is due; skip the
    task otherwise, so that build_and_publish is not triggered for nothing."""
    from airflow.sdk.exceptions import AirflowSkipException

    from transforms.operations.assets import WAREHOUSE, announce

    if not rebuild_needed(requests, retention, retired):
        raise AirflowSkipException("nothing changed: no rebuild needed")
    announce(outlet_events, WAREHOUSE, requests["as_of"])
    return {"rebuild": True}


def rebuild_needed(requests: dict, retention: dict, retired: dict) -> bool:
    """A rebuild is due when rows were removed or requests took effect, or when the current
    publication still holds removed rows."""
    return bool(requests.get("changed") or retention.get("changed")
                or retired.get("current_is_stale"))
