"""Key rotation: re-pseudonymise the warehouse from the landing data under a new master key.

Why rebuild rather than convert: a keyed hash cannot be turned into another keyed hash without
the raw value, and the raw values live only in the landing zone. So rotation re-ingests every
delivery the warehouse was built from, into a new warehouse file, and swaps the files only when
all of it worked. If some of those deliveries are no longer in the landing zone (retention has
deleted them), rotation is refused with the list of missing deliveries: a warehouse half under
one key and half under another is what the key-version checks exist to prevent.

    python -m transforms.operations.rekey  # uses the master key configured now (the new one)
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb

from transforms import settings
from transforms.classification import load as load_classification
from transforms.files import atomic_write
from transforms.ingest.run import ingest
from transforms.landing import discover
from transforms.privacy.keys import DomainKeys, load_domain_keys

log = logging.getLogger(__name__)
REBUILT_AUDIT = ("deliveries", "quarantine", "nullified")


class RotationRefused(RuntimeError):
    """The warehouse cannot be rebuilt under the new key; nothing was changed."""


def _loaded_deliveries(warehouse: Path) -> tuple[set[tuple[str, str]], set[str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select distinct system, cast(delivery_date as varchar), key_version "
            "from audit.deliveries").fetchall()
    finally:
        con.close()
    return {(s, d) for s, d, _ in rows}, {v for _, _, v in rows}


def _carry_over_audit(old: Path, new: Path) -> list[str]:
    """Copy audit tables the rebuild does not recreate (rights, retention records)."""
    carried = []
    con = duckdb.connect(str(new))
    try:
        con.execute(f"attach '{old}' as old_wh (read_only)")
        tables = con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'old_wh' and table_schema = 'audit'").fetchall()
        for (table,) in tables:
            if table in REBUILT_AUDIT:
                continue
            con.execute(f"create or replace table audit.{table} as "
                        f"select * from old_wh.audit.{table}")
            carried.append(table)
        con.execute("detach old_wh")
    finally:
        con.close()
    return carried


def rekey(keys: DomainKeys | None = None) -> dict:
    """Rebuild data/warehouse.duckdb under the configured master key; return counts."""
    if settings.engine() == "spark":  # this rebuilds the DuckDB file: say so, do not guess
        raise RotationRefused(
            "re-pseudonymising the Spark warehouse is not supported yet (PIPELINE_ENGINE=spark):"
            " ingest the landing data under the new key into a new PIPELINE_SPARK_WAREHOUSE")
    p = settings.paths()
    keys = keys or load_domain_keys()
    classification = load_classification()
    if not p.warehouse.exists():
        raise RotationRefused("there is no warehouse to re-pseudonymise")
    loaded, versions = _loaded_deliveries(p.warehouse)
    if versions == {keys.key_version}:
        return {"status": "unchanged", "key_version": keys.key_version}
    present = {(d.system, d.delivery_date.isoformat()) for d in discover(p.landing,
                                                                          classification)}
    missing = sorted(loaded - present)
    if missing:
        labels = ", ".join(f"{s}/{d}" for s, d in missing[:10])
        raise RotationRefused(
            f"{len(missing)} loaded deliveries are no longer in the landing zone ({labels}"
            f"{', ...' if len(missing) > 10 else ''}): the warehouse cannot be rebuilt under the "
            "new key; nothing was changed"
        )
    with atomic_write(p.warehouse, suffix=".rekey") as new:
        new.unlink(missing_ok=True)
        reports = ingest(p.landing, new, p.quarantine, keys, classification=classification)
        carried = _carry_over_audit(p.warehouse, new)
    log.info("warehouse re-pseudonymised under key version %s", keys.key_version)
    return {
        "status": "rekeyed",
        "from_versions": sorted(versions),
        "key_version": keys.key_version,
        "deliveries": len(reports),
        "rows_loaded": sum(r.rows_loaded for r in reports),
        "audit_tables_carried": carried,
    }


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m transforms.operations.rekey",
                            description=__doc__).parse_args(argv)
    try:
        result = rekey()
    except RotationRefused as exc:
        print(f"rotation refused: {exc}")
        return 2
    print(result)
    print("now rebuild the marts: airflow dags test build_and_publish <date> (or make run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
