"""What each Airflow task does, callable and testable without Airflow.

The DAG files only wire these together. Every function returns a small dict of counts for XCom:
never an identifier, a pseudonym list or a key.
"""

from __future__ import annotations

import importlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from transforms import settings
from transforms.ingest import ingest
from transforms.keys import load_domain_keys
from transforms.run_date import resolve_as_of

log = logging.getLogger(__name__)


def _state_file(name: str) -> Path:
    p = settings.paths().data / "state" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _record(name: str, payload: dict) -> dict:
    _state_file(f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    return payload


def ingest_system(system: str, ds: str | None = None) -> dict:
    """Validate, quarantine, pseudonymise and load every pending delivery of one system, up to
    the run's as-of date (a delivery dated later belongs to a later run)."""
    p = settings.paths()
    keys = load_domain_keys()
    as_of = resolve_as_of(ds)
    reports = ingest(p.landing, p.warehouse, p.quarantine, keys, systems=[system], until=as_of)
    payload = {
        "system": system,
        "as_of": as_of.isoformat(),
        "key_version": keys.key_version,
        "deliveries": [r.as_dict() for r in reports],
        "rows_read": sum(r.rows_read for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "rows_loaded": sum(r.rows_loaded for r in reports),
    }
    return _record(f"ingest-{system}", payload)


def check_classification_sync() -> dict:
    """Fail the build when dbt's column metadata disagrees with the classification file."""
    from transforms.dbt_schema import check

    problems = check()
    if problems:
        raise RuntimeError(
            "dbt metadata disagrees with config/classification.yml: "
            + "; ".join(problems)
            + " (run `python -m transforms.dbt_schema write`)"
        )
    return {"classification": "in sync"}


def build_marts(as_of: str) -> dict:
    """dbt build of every model for the run's as-of date (transforms/run_date.py)."""
    from transforms.dbt_run import run_dbt

    day = date.fromisoformat(as_of)
    run_dbt(["build"], warehouse=settings.paths().warehouse, as_of=day,
            extra_vars={"min_cell_size": settings.min_cell_size()})
    return _record("dbt", {"as_of": day.isoformat(), "dbt": "build succeeded"})


def gate_marts() -> dict:
    """Run the publication gate over every mart; raise (failing the task) when it fails."""
    from expectations import collect_known_values, foreign_pseudonyms, run_gate

    p = settings.paths()
    deliveries = sorted(d for d in p.landing.glob("*/*") if d.is_dir())
    # Great Expectations' import (about 6 s, Python-bound) and the other-domain pseudonyms
    # (DuckDB) run beside the raw-value collection (polars): each releases the GIL the others
    # need. The raw values themselves stay in this process's memory, never in XCom or a file.
    with ThreadPoolExecutor(max_workers=2) as pool:
        gx_import = pool.submit(importlib.import_module, "great_expectations")
        foreign = pool.submit(foreign_pseudonyms, p.warehouse)
        known = collect_known_values(deliveries)
        gx_import.result()
        result = run_gate(
            p.warehouse,
            min_cell_size=settings.min_cell_size(),
            known_values=known,
            foreign_pseudonyms=foreign.result(),
            gx_root=p.gx,
        )
    _record("gate", {"passed": result.passed, "findings": len(result.findings),
                     "seconds": round(result.seconds, 2)})
    result.raise_for_failure()
    return {"passed": True, "checks": len(result.checks), "seconds": round(result.seconds, 2)}


def publish_marts(run_id: str | None = None, inputs: dict | None = None) -> dict:
    """Publish the gated marts atomically (the gate's summary must say it passed); `inputs`,
    the fingerprint of what they were built from (transforms/build_skip.py), goes into the
    publication's manifest for the next run's skip decision."""
    from datetime import UTC, datetime

    from expectations import report_files
    from transforms.publish import publish
    from transforms.removals import latest_removal, retire_stale_publications

    p = settings.paths()
    run_id = run_id or datetime.now(UTC).strftime("run-%Y%m%dT%H%M%SZ")
    result = publish(p.warehouse, p.published, run_id=run_id, reports=report_files(p.gx),
                     inputs=inputs)
    # an erasure since an older publication was made: that publication must not outlive it
    retired = retire_stale_publications(p.published, latest_removal(p.warehouse))
    return _record("publish", {"publication": str(result.publication),
                               "tables": dict(result.tables), "retired": retired})


def write_summary() -> dict:
    """The counts `make run` prints at the end (also kept in data/run-summary.json)."""
    from transforms.summary import collect

    summary = collect()
    settings.paths().run_summary.write_text(json.dumps(summary, indent=2, default=str))
    return {k: summary[k] for k in ("rows_delivered", "rows_quarantined", "rows_loaded")}
