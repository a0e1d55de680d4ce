"""What each Airflow task does, callable and testable without Airflow.

The DAG files only wire these together. Every function returns a small dict of counts for XCom:
never an identifier, a pseudonym list or a key.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from transforms import settings
from transforms.files import write_text_atomic
from transforms.ingest.run import ingest
from transforms.operations.run_date import resolve_as_of
from transforms.operations.task_state import record
from transforms.privacy.keys import load_domain_keys

log = logging.getLogger(__name__)


def ingest_system(system: str, ds: str | None = None, outlet_events=None) -> dict:
    """Validate, quarantine, pseudonymise and load every pending delivery of one system, up to
    the run's as-of date (a delivery dated later belongs to a later run). With the task's
    `outlet_events` (the last ingest task), the warehouse asset event carries that date."""
    p = settings.paths()
    keys = load_domain_keys()
    as_of = resolve_as_of(ds)
    if settings.engine() == "spark":  # Parquet tables under settings.spark_warehouse()
        from transforms.ingest.spark_load import ingest_spark
        from transforms.operations.spark_rights import sweep_before_ingest

        swept = sweep_before_ingest(keys)  # erased subjects' redelivered rows: never loaded
        reports = ingest_spark(p.landing, p.quarantine, keys, systems=[system], until=as_of)
    else:
        reports = ingest(p.landing, p.warehouse, p.quarantine, keys, systems=[system],
                         until=as_of)
    payload = {
        "system": system,
        "as_of": as_of.isoformat(),
        "key_version": keys.key_version,
        "deliveries": [r.as_dict() for r in reports],
        "rows_read": sum(r.rows_read for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "rows_loaded": sum(r.rows_loaded for r in reports),
    }
    if settings.engine() == "spark":
        payload["erased_rows_swept_before_ingest"] = swept
    if settings.lineage_enabled() and any(r.status == "loaded" for r in reports):
        from transforms.build.lineage import emit_events, ingest_events

        payload["lineage_events"] = emit_events(
            ingest_events(system, key_version=keys.key_version), p.lineage, "ingest")
    if outlet_events is not None:
        from transforms.operations.assets import WAREHOUSE, announce

        announce(outlet_events, WAREHOUSE, payload["as_of"])
    return record(f"ingest-{system}", payload)


def check_classification_sync() -> dict:
    """Fail the build when dbt's column metadata disagrees with the classification file."""
    from transforms.build.dbt_schema_drift import check

    problems = check()
    if problems:
        raise RuntimeError(
            "dbt metadata disagrees with config/classification.yml: "
            + "; ".join(problems)
            + " (run `python -m transforms.build.dbt_schema write`)"
        )
    return {"classification": "in sync"}


def build_marts(as_of: str, *, data_tests: bool = True) -> dict:
    """dbt build of every model for the run's as-of date (transforms/operations/run_date.py),
    then its OpenLineage events (transforms/build/lineage.py), also when dbt failed.
    `data_tests=False` runs the models only (`dbt run`): for tests of the Spark engine, where
    each of dbt's ~160 data tests is a Spark job (minutes on one machine)."""
    from transforms.build.dbt_run import run_dbt

    day = date.fromisoformat(as_of)
    if settings.engine() == "spark":  # a failed build must not leave the last one to publish
        from transforms.build.spark_marts import marts_database

        marts_database().unlink(missing_ok=True)
    started = time.time()
    try:
        run_dbt(["build" if data_tests else "run"], warehouse=settings.paths().warehouse,
                as_of=day,
                extra_vars={"min_cell_size": settings.min_cell_size()})
    except BaseException:
        emit_dbt_lineage(started, failed_build=True)
        raise
    events = emit_dbt_lineage(started)
    payload = {"as_of": day.isoformat(), "dbt": f"{'build' if data_tests else 'run'} succeeded",
               "lineage_events": events}
    if settings.engine() == "spark":  # the marts for the gate and publish (build/spark_marts.py)
        from transforms.build.spark_marts import export_marts
        from transforms.engines.spark_session import spark_session

        payload["engine"] = "spark"
        payload["marts_exported"] = export_marts(spark_session())
    return record("dbt", payload)


def emit_dbt_lineage(not_before: float, *, failed_build: bool = False) -> int:
    """Write the OpenLineage events of the dbt invocation that started at `not_before` (epoch
    seconds) to <data>/lineage/dbt/; returns how many. Nothing when PIPELINE_LINEAGE=0 or dbt
    left no newer run_results.json. After a failed build an emission error is logged (its type
    only), so that dbt's own error is the one the task fails with."""
    from transforms.build.dbt_run import target_path
    from transforms.build.lineage import emit_dbt_lineage as emit

    target = target_path()
    results = target / "run_results.json"
    if not settings.lineage_enabled() or not results.exists() \
            or results.stat().st_mtime < not_before:
        return 0
    try:
        count = emit(target, settings.paths().lineage,
                     key_version=load_domain_keys().key_version)
    except Exception as exc:
        if not failed_build:
            raise
        log.warning("lineage of the failed dbt build not written (%s)", type(exc).__name__)
        return 0
    log.info("OpenLineage: %d dbt events in %s", count, settings.paths().lineage / "dbt")
    return count


def gate_marts() -> dict:
    """Run the publication gate over every mart; raise (failing the task) when it fails."""
    from expectations import KnownValues, foreign_pseudonyms, run_gate
    from transforms.build.spark_marts import gate_database
    from transforms.privacy.keys import load_domain_keys

    p = settings.paths()
    marts = gate_database()  # the warehouse, or on Spark the build's marts as DuckDB tables
    # Great Expectations' import (about 6 s, Python-bound) runs beside the lookup of what the
    # ingest fingerprinted. The gate holds no raw value: it matches keyed fingerprints and other
    # domains' pseudonyms in DuckDB (expectations/known_values.py, expectations/pseudonyms.py).
    with ThreadPoolExecutor(max_workers=1) as pool:
        gx_import = pool.submit(importlib.import_module, "great_expectations")
        known = KnownValues.from_warehouse(marts, load_domain_keys())
        foreign = foreign_pseudonyms(marts)
        gx_import.result()
        result = run_gate(
            marts,
            min_cell_size=settings.min_cell_size(),
            known_values=known,
            foreign_pseudonyms=foreign,
            gx_root=p.gx,
        )
    record("gate", {"passed": result.passed, "findings": len(result.findings),
                     "seconds": round(result.seconds, 2)})
    result.raise_for_failure()
    return {"passed": True, "checks": len(result.checks), "seconds": round(result.seconds, 2)}


def publish_marts(run_id: str | None = None, inputs: dict | None = None) -> dict:
    """Publish the gated marts atomically (the gate's summary must say it passed); `inputs`,
    the fingerprint of what they were built from (transforms/operations/build_skip.py), goes into
    the publication's manifest for the next run's skip decision."""
    from datetime import UTC, datetime

    from expectations import report_files
    from transforms.build.spark_marts import gate_database
    from transforms.operations.spark_rights import removals_database
    from transforms.publish.publication import publish
    from transforms.publish.retirement import retire_stale_publications
    from transforms.rights.removals import latest_removal

    p = settings.paths()
    run_id = run_id or datetime.now(UTC).strftime("run-%Y%m%dT%H%M%SZ")
    marts = gate_database()  # what the gate validated: the warehouse, or the Spark build's marts
    result = publish(marts, p.published, run_id=run_id, reports=report_files(p.gx),
                     inputs=inputs, actuarial=True)
    # an erasure since an older publication was made: that publication must not outlive it
    retired = retire_stale_publications(p.published, latest_removal(removals_database()))
    return record("publish", {"publication": str(result.publication),
                               "tables": dict(result.tables), "retired": retired})


def write_summary() -> dict:
    """The counts `make run` prints at the end (also kept in data/run-summary.json)."""
    from transforms.operations.summary import collect

    summary = collect()
    write_text_atomic(settings.paths().run_summary, json.dumps(summary, indent=2, default=str))
    return {k: summary[k] for k in ("rows_delivered", "rows_quarantined", "rows_loaded")}
