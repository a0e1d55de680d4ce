"""Run dbt in-process on the warehouse, with the run's as-of date.

    run_dbt(["build"], warehouse=Path("data/warehouse.duckdb"), as_of=date(2025, 6, 30))

dbt receives exactly three things: the path of the DuckDB file (`WAREHOUSE_PATH`, read by
`dbt_project/profiles.yml`), the as-of date and the few vars named in `ALLOWED_VARS`. No key or
other secret reaches dbt: the project reads no other environment variable, any other var is
refused here, and while dbt runs (in this process) the environment variables that look like
secrets (`PIPELINE_MASTER_KEY` and any name containing KEY, SECRET, TOKEN, PASSWORD or
CREDENTIAL) are taken out of the environment and put back afterwards, so nothing secret can be
templated into SQL, logs or lineage.

Before dbt runs, the dbt yml is checked against the classification (`transforms.build.dbt_schema`):
a drift stops the run. When dbt fails, `DbtRunError` names the failed nodes and where the log is;
it never carries a database message, which could quote a data value.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from transforms import settings
from transforms.build.dbt_schema import SchemaDriftError
from transforms.build.dbt_schema_drift import check
from transforms.classification import PROJECT_ROOT
from transforms.settings import environment

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# dbt's compiled SQL, manifest and partial-parse cache. PIPELINE_DBT_TARGET_DIR moves it, so that
# two builds running at once (two test workers, two data directories) never share one.
TARGET_PATH = Path(os.environ.get("PIPELINE_DBT_TARGET_DIR") or DBT_PROJECT_DIR / "target")
# PIPELINE_ENGINE=spark: its own artefacts, beside the DuckDB target
SPARK_TARGET_PATH = TARGET_PATH.with_name(TARGET_PATH.name + "-spark")

LOG_PATH: Path | None = None  # None: <PIPELINE_DATA_DIR>/logs/dbt (transforms.settings)


def target_path() -> Path:
    """The dbt target folder of the configured engine (settings.engine()): where dbt writes
    its compiled SQL, manifest and run_results, and where lineage reads them."""
    return SPARK_TARGET_PATH if settings.engine() == "spark" else TARGET_PATH


# The vars a caller may set besides as_of_date (see dbt_project/dbt_project.yml, and
# dbt_project/profiles.yml for duckdb_memory_limit).
ALLOWED_VARS = frozenset(
    {"exposure_period", "min_cell_size", "max_unique_share", "renewal_window_days",
     "duckdb_memory_limit"}
)
# Options run_dbt sets itself; a caller passing them would point dbt elsewhere.
RESERVED_OPTIONS = frozenset(
    {"--vars", "--project-dir", "--profiles-dir", "--target-path", "--log-path", "--profile",
     "--target"}
)
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
# DuckDB's memory_limit as dbt_project/profiles.yml passes it on, e.g. "2GB" or "1.5GiB".
MEMORY_LIMIT = re.compile(r"[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)

# dbt reads its environment and the working directory: one invocation at a time per process.
_LOCK = threading.Lock()


class DbtRunError(RuntimeError):
    """dbt failed; the message names the failed nodes (never a data value)."""


def run_dbt(
    args: list[str],
    *,
    warehouse: Path,
    as_of: date,
    extra_vars: dict[str, Any] | None = None,
) -> None:
    """Run a dbt command (e.g. ``["build"]``) on ``warehouse`` for the run date ``as_of``.

    Raises :class:`DbtRunError` when dbt fails, and :class:`SchemaDriftError` before running
    anything when the dbt yml disagrees with the classification.
    """
    if not args:
        raise ValueError("run_dbt needs a dbt command, e.g. ['build']")
    reserved = sorted(a.split("=", 1)[0] for a in args if a.split("=", 1)[0] in RESERVED_OPTIONS)
    if reserved:
        raise ValueError(f"run_dbt sets {', '.join(reserved)} itself")
    extra_vars = dict(extra_vars or {})
    unknown = sorted(set(extra_vars) - ALLOWED_VARS)
    if unknown:
        raise ValueError(
            f"run_dbt passes only the vars {sorted(ALLOWED_VARS)} to dbt, not {unknown}"
        )
    limit = extra_vars.get("duckdb_memory_limit")
    if limit is not None and not MEMORY_LIMIT.fullmatch(str(limit)):
        raise ValueError("duckdb_memory_limit must be a size such as '2GB' or '1.5GiB'")
    if isinstance(as_of, datetime) or not isinstance(as_of, date):
        raise TypeError("as_of must be a datetime.date (not a datetime)")

    drift = check()
    if drift:
        raise SchemaDriftError(
            "The dbt yml disagrees with config/classification.yml (run "
            "`python -m transforms.build.dbt_schema write`):\n  " + "\n  ".join(drift)
        )

    # DuckDB's cap for dbt's connection: the pipeline's own (PIPELINE_DUCKDB_MEMORY_LIMIT,
    # settings.duckdb_memory_limit()) unless the caller names one, so that one setting bounds
    # every DuckDB the pipeline opens (1M contracts: 2.25 GiB under 2GB, 1.3 under 1GB)
    dbt_vars = {"as_of_date": as_of.isoformat(),
                "duckdb_memory_limit": settings.duckdb_memory_limit(), **extra_vars}
    log_path = _log_path()
    log_path.mkdir(parents=True, exist_ok=True)
    spark = settings.engine() == "spark"
    if spark:  # the same project on dbt-spark, over the Spark warehouse's Parquet tables
        from transforms.build.spark_sources import prepare_spark_build

        prepare_spark_build()
    else:
        _ensure_derived_sources(Path(warehouse))
    invocation = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path()),
        *(["--target", "spark"] if spark else []),
        "--log-path", str(log_path),
        "--vars", json.dumps(dbt_vars),
    ]
    with _LOCK, _secrets_hidden(), environment(WAREHOUSE_PATH=str(Path(warehouse).resolve())):
        from dbt.cli.main import dbtRunner  # heavy import: only when dbt runs

        try:
            result = dbtRunner().invoke(invocation)
        finally:
            if not spark:
                _release_warehouse()
    if not result.success:
        raise DbtRunError(_failure_summary(args, result))


def parse_manifest() -> Path:
    """dbt's manifest of the project (target/manifest.json), parsed again when any project file
    is newer: what astronomer-cosmos renders its task group from
    (transforms/operations/dbt_tasks.py). `dbt parse` opens no database and gets no secret."""
    manifest = TARGET_PATH / "manifest.json"
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml",
               *(f for d in ("models", "macros", "tests") for f in (DBT_PROJECT_DIR / d).rglob("*")
                 if f.is_file())]
    newest = max(f.stat().st_mtime for f in sources if f.exists())
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return manifest
    log_path = _log_path()
    log_path.mkdir(parents=True, exist_ok=True)
    invocation = ["parse", "--project-dir", str(DBT_PROJECT_DIR),
                  "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(TARGET_PATH),
                  "--log-path", str(log_path),
                  "--vars", json.dumps({"as_of_date": date.today().isoformat()})]
    with _LOCK, _secrets_hidden():
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(invocation)
    if not result.success:
        raise DbtRunError(_failure_summary(["parse"], result))
    return manifest


def built_schemas() -> tuple[str, ...]:
    """The schemas dbt builds into (every `+schema` of dbt_project.yml's models): what a build
    makes again from the warehouse's sources, so what a compaction need not copy
    (transforms/compaction.py)."""
    import yaml

    config = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    found: set[str] = set()
    stack = [config.get("models") or {}]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if key == "+schema":
                found.add(str(value))
            elif isinstance(value, dict):
                stack.append(value)
    return tuple(sorted(found))


def prepare_warehouse(warehouse: Path) -> None:
    """What run_dbt does before dbt runs, for a caller that runs dbt itself (cosmos): the
    derived source tables exist (empty when nothing was resolved yet)."""
    _ensure_derived_sources(Path(warehouse))


def release_warehouse(*_args: Any, **_kwargs: Any) -> None:
    """Close dbt-duckdb's in-process DuckDB instance after a dbt command run by another caller
    (cosmos calls it after each node with the project's folder and the task's context)."""
    _release_warehouse()


def _failure_summary(args: list[str], result: Any) -> str:
    command = args[0]
    lines = [f"dbt {command} failed (details in {_log_path() / 'dbt.log'})"]
    failed = [
        f"{r.node.unique_id}: {r.status}"
        for r in getattr(result.result, "results", None) or []
        if str(getattr(r, "status", "")).lower() in FAILED_STATUSES
    ]
    lines += [f"  {line}" for line in failed]
    if result.exception is not None:
        exc = result.exception
        # Compilation and parsing errors come from the project's own files (a missing var, a
        # bad ref); anything else may carry database text, so only its type is given.
        from dbt.exceptions import ParsingError
        from dbt_common.exceptions import CompilationError

        if isinstance(exc, CompilationError | ParsingError):
            lines.append(f"  {type(exc).__name__}: {exc}")
        else:
            lines.append(f"  {type(exc).__name__}")
    if len(lines) == 1:
        lines.append("  (no failed node reported)")
    return "\n".join(lines)


@contextmanager
def _secrets_hidden() -> Iterator[None]:
    """Take secret-looking variables out of the environment while dbt runs in this process."""
    hidden = {name: value for name, value in os.environ.items() if SECRET_NAME.search(name)}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(hidden)


def _log_path() -> Path:
    from transforms.settings import paths

    return LOG_PATH if LOG_PATH is not None else paths().logs / "dbt"


def _ensure_derived_sources(warehouse: Path) -> None:
    """Tables dbt reads that no delivery creates (the DPO's request resolutions) exist, empty
    when nothing was resolved yet, so that a fresh warehouse builds."""
    import duckdb

    from transforms.rights.processing import ensure_resolution_tables

    con = duckdb.connect(str(warehouse))
    try:
        ensure_resolution_tables(con)
    finally:
        con.close()


def _release_warehouse() -> None:
    """Close dbt-duckdb's in-process DuckDB instance, so that the file can be opened again
    (read-only, by another process or by this one) once dbt is done."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
            DuckDBConnectionManager._ENV = None
