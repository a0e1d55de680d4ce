"""A content fingerprint of everything the marts are built from, to skip a build that would
publish the same thing again.

Why: a daily run with no new delivery used to rebuild every mart, gate them again and write a
new publication of identical content (at 1M contracts, 69 % of a full run and 310 MB). The
build DAG now computes this fingerprint before dbt and, when it equals the one recorded in the
manifest of the publication `data/published` points at, skips dbt, the gate and publish.

What goes in (each part a SHA-256, the whole a SHA-256 of the parts):

* every table of the pseudonymised schemas (`pseudo_*`: what dbt's sources read, and the DPO's
  request resolutions): its columns and types, its row count and DuckDB's order-independent
  aggregate of a 64-bit hash of every row (`sum(hash(t))`, one scan, no sort). An erasure, a
  retention purge, a consent change, a restriction (its resolution rows), a replaced or new
  delivery all change a table's rows and so its part;
* the landing zone's delivery manifests (which deliveries exist and their checksums): the gate
  compares the marts with the raw values of every delivery, so a new raw value must be gated;
* the dbt project's files (models, macros, tests, dbt_project.yml, profiles.yml), the
  classification file, the dbt vars (as_of_date, min_cell_size) and the key version.

What does not go in: timestamps, audit logs, Airflow's state. Nothing of a row's value leaves
DuckDB: the parts are digests of aggregate hashes, and the part names are the warehouse's own
table names (fixed by the classification), never a delivery's column or file name.

On the Spark engine the tables are the warehouse's Parquet folders
(`pseudo_<purpose>/<system>__<entity>/_delivery_date=.../*.parquet`, ingest/spark_load.py):
`compute(..., spark=True)` reads them through DuckDB views (read_parquet with the partition
column), so a table's part is the same columns-rows-row-hash digest of its content, not of its
files: a partition rewritten with the same rows (a no-op erasure pass, a Spark writer's new
file names) leaves it unchanged, one changed row does not.

Limits, said plainly: the row aggregate is a 64-bit hash per row summed, so two different
table contents collide with probability about 2^-64; a change of code outside dbt (the gate,
publish, the privacy report) is not an input: set `PIPELINE_FORCE_BUILD=1` to rebuild anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from transforms.checksums import table_parts
from transforms.classification import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
CLASSIFICATION_FILE = PROJECT_ROOT / "config" / "classification.yml"
# dbt's own output and caches under the project: not inputs
DBT_IGNORED = frozenset({"target", "logs", "dbt_packages", ".user.yml", "__pycache__"})
FORCE_ENV = "PIPELINE_FORCE_BUILD"


@dataclass(frozen=True)
class InputFingerprint:
    """The digest of the marts' inputs and its parts (part name -> SHA-256 hex)."""

    parts: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return _sha(json.dumps(self.parts, sort_keys=True))

    def as_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "parts": dict(sorted(self.parts.items()))}

    def changed_parts(self, recorded: dict | None) -> list[str]:
        """Names of the parts that differ from a recorded `as_dict()` (all when none)."""
        old = (recorded or {}).get("parts") or {}
        names = set(self.parts) | set(old)
        return sorted(n for n in names if self.parts.get(n) != old.get(n))


def _sha(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def tree_digest(root: Path, ignored: frozenset[str] = frozenset()) -> str:
    """SHA-256 over every file's relative path and bytes under `root` (sorted)."""
    h = hashlib.sha256()
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part in ignored for part in rel.parts) or not path.is_file():
                continue
            h.update(str(rel).encode("utf-8") + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def landing_digest(landing: Path) -> str:
    """The delivery folders and their manifests' bytes (the manifest lists every file's
    SHA-256, so the CSVs need not be read again)."""
    h = hashlib.sha256()
    for manifest in sorted(Path(landing).glob("*/*/_manifest.json")):
        h.update(str(manifest.relative_to(landing)).encode("utf-8") + b"\0")
        h.update(hashlib.sha256(manifest.read_bytes()).digest())
    return h.hexdigest()


def compute(
    warehouse: Path,
    landing: Path,
    *,
    dbt_vars: dict[str, object],
    key_version: str,
    classification_file: Path = CLASSIFICATION_FILE,
    dbt_project_dir: Path = DBT_PROJECT_DIR,
    spark: bool = False,
) -> InputFingerprint:
    """The fingerprint of the marts' inputs now (one read-only pass over the warehouse).
    `spark`: `warehouse` is the Spark engine's folder of `pseudo_*` Parquet tables, read by
    DuckDB in memory through views (bounded like every DuckDB connection of the pipeline)."""
    parts = _spark_table_parts(warehouse) if spark else _duckdb_table_parts(warehouse)
    parts["landing"] = landing_digest(landing)
    parts["dbt_project"] = tree_digest(dbt_project_dir, DBT_IGNORED)
    parts["classification"] = _sha(Path(classification_file).read_bytes())
    parts["dbt_vars"] = _sha(json.dumps(dbt_vars, sort_keys=True, default=str))
    parts["key_version"] = _sha(key_version)
    return InputFingerprint(parts)


def _duckdb_table_parts(warehouse: Path) -> dict[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return table_parts(con)
    finally:
        con.close()


def _spark_table_parts(warehouse: Path) -> dict[str, str]:
    from transforms import settings
    from transforms.build.spark_marts import create_pseudo_views

    con = duckdb.connect()
    try:
        settings.bound_duckdb(con)
        create_pseudo_views(con, warehouse)
        return table_parts(con, "VIEW")
    finally:
        con.close()


def force_requested() -> bool:
    return os.environ.get(FORCE_ENV, "").strip().lower() in {"1", "true", "yes"}
