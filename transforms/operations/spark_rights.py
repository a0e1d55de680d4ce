"""Rights, retention and compaction on the Spark engine: the DuckDB path's own code, run on a
working copy of the Spark warehouse, whose changes are written back as partition swaps.

Why a working copy and not a second implementation: the rules (request resolution, erasure with
its per-request counts, restriction resolutions, the retention rules with their restriction hold,
the audit tables) are SQL and polars code written against a DuckDB connection
(transforms/rights/, transforms/retention/). Running that very code keeps both engines' answers
equal by construction (tests/test_spark_engine.py compares them); a Spark SQL copy of the rules
could drift. The DuckDB views that spark_marts.py uses for the gate would be enough to resolve a
subject, but not to delete: the erasure and the retention delete and update rows. So the copy
holds real tables:

* `pseudo_<purpose>.<table>` and `gate_fingerprints.<table>`, read from the warehouse's Parquet
  (hive partitions by `_delivery_date`), and the tables dbt-spark built (`_dbt/`), so that an
  erasure removes and counts the subject's mart rows exactly as on DuckDB;
* `audit.deliveries` (from the ingest's audit files: landing checksums move along when an
  erasure rewrites a landing file), and the rights' own state (`audit.subject_requests`,
  `rights.suppression`, `audit.data_removals`, `audit.retention_runs`), kept between runs in
  `<warehouse>/_rights/state.duckdb`.

Writing back (`write_back`): every partition whose rows changed (count and an order-free sum of
row hashes, taken before and after) is written anew from the copy into a staging folder; a
partition left empty is removed; the delivery audit files whose checksums moved and the state
file are staged too. Then one journal (`_rights/commit.json`, written by rename) lists every
swap, and the swaps are done by rename (old folder to `_rights/trash/`, new folder into place).
The journal is the commit point: a crash before it leaves the warehouse as it was (the copy is
scratch, the raw zone not yet rewritten), a crash after it is finished by the next run
(`finish_commit`, idempotent), before it reads anything. Only then are the raw zone's rewritten
files renamed into place (the erasure's `RawZone.deferred`): a crash between the journal and
those renames is repaired by the next run's sweep (suppressed subjects' rows removed from the
raw zone), as erasure.py documents for the DuckDB file. Tables dbt built are not rewritten:
they, and the gate's database exported from them, are removed when an erasure touched them (the
marts are rebuilt whole by the next build, which the DAG triggers).

Compaction: on Spark it is the rewrite itself. A rewritten partition holds only the kept rows
and the old folder is deleted, and the state file is written afresh (never updated in place),
so no removed row survives in a file. The removals still mark a compaction due
(`audit.compaction_due`, the DuckDB path's code), which the DAG's compaction step clears
(`clear_compaction_marks`), so that both engines' states and reports agree.

What a cluster changes: see docs/scale-out.md. The working copy is a DuckDB file on the machine
that runs the task (the Airflow worker), sized like the warehouse's pseudonymised tables; the
swaps by rename need a file system (a local or shared volume). On object storage
(`s3a://`, `abfss://`) rename is not atomic: that is refused here (use a table format with
atomic commits, Delta Lake or Iceberg, and their DELETE).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from transforms import settings
from transforms.build.spark_marts import load_delivery_audit, marts_database, sql_str
from transforms.classification import load as load_classification
from transforms.compaction import TABLE as COMPACTION_TABLE
from transforms.compaction import compaction_due
from transforms.engines.spark_session import DBT_DIR
from transforms.files import write_text_atomic
from transforms.ingest.fingerprints import SCHEMA as FINGERPRINT_SCHEMA
from transforms.ingest.fingerprints import upgrade_tables
from transforms.ingest.minimise import DELIVERY_COLUMN
from transforms.ingest.suppression import TABLE as SUPPRESSION_TABLE
from transforms.ingest.suppression import load_suppression
from transforms.operations.spark_limits import refuse
from transforms.privacy.keys import DomainKeys
from transforms.rights.erasure import RawZone, sweep_suppressed

log = logging.getLogger(__name__)

STATE_DIR = "_rights"  # under the Spark warehouse; not a pseudo_* folder: no source reads it
STATE_FILE = "state.duckdb"
JOURNAL = "commit.json"
TRASH = "trash"
# the copy's tables that come from the Spark warehouse's own files, not from the state file
FROM_WAREHOUSE = ("audit.deliveries", "audit.quarantine", "audit.nullified")
WHOLE = ""  # the partition key of a table that is not partitioned (the resolution tables)

T = TypeVar("T")
Prints = dict[str, dict[str, tuple[int, int]]]  # table -> partition -> (rows, sum of row hashes)


def local_warehouse() -> Path:
    """The Spark warehouse as a local folder; an object-store URI is refused (no atomic
    rename there: docs/scale-out.md)."""
    folder = settings.spark_warehouse_folder()
    if folder is None:
        raise refuse("applying subject requests and retention on a Spark warehouse in object "
                     "storage (the partition swaps need an atomic rename; use a local or shared "
                     "volume for PIPELINE_SPARK_WAREHOUSE)")
    return folder


def state_database() -> Path:
    """The rights' state kept between runs on the Spark engine (audit.subject_requests,
    rights.suppression, audit.data_removals, audit.retention_runs)."""
    return local_warehouse() / STATE_DIR / STATE_FILE


def removals_database() -> Path | None:
    """The DuckDB file whose `audit.data_removals` records the erasures and purges of either
    engine: the warehouse file on DuckDB, the rights' state database on Spark (the gate's
    export, spark-marts.duckdb, has no removal log); None for a Spark warehouse in object
    storage, where rights and retention are refused, so nothing was removed. Read by
    publication retirement and the build's skip decision, which must not keep a publication
    older than a removal."""
    if settings.engine() != "spark":
        return settings.paths().warehouse
    return None if settings.spark_warehouse_folder() is None else state_database()


def _table_folders(warehouse: Path, data_tables: bool = True) -> list[tuple[str, str, Path]]:
    """(schema, table, folder) of every Parquet table: pseudo_*, gate_fingerprints, and the
    tables dbt built (`_dbt/<schema>.db/<table>`); the fingerprints only without
    `data_tables`."""
    out = []
    schemas = sorted(warehouse.glob("pseudo_*")) if data_tables else []
    for schema_dir in [*schemas, warehouse / FINGERPRINT_SCHEMA]:
        if schema_dir.is_dir():
            out += [(schema_dir.name, t.name, t) for t in sorted(schema_dir.iterdir())
                    if t.is_dir() and any(t.rglob("*.parquet"))]
    for db_dir in sorted((warehouse / DBT_DIR).glob("*.db")) if data_tables else []:
        out += [(db_dir.name.removesuffix(".db"), t.name, t) for t in sorted(db_dir.iterdir())
                if t.is_dir() and any(t.rglob("*.parquet"))]
    return out


def _partitioned(folder: Path) -> bool:
    return any(p.is_dir() and p.name.startswith(f"{DELIVERY_COLUMN}=") for p in folder.iterdir())


def _is_dbt(schema: str) -> bool:
    return not (schema.startswith("pseudo_") or schema == FINGERPRINT_SCHEMA)


def fingerprints(con: duckdb.DuckDBPyConnection, tables: list[str]) -> Prints:
    """Per table and partition: rows and an order-free sum of row hashes (what tells which
    partitions an erasure, a purge or a blanking changed)."""
    out: Prints = {}
    for name in tables:
        schema, table = name.split(".", 1)
        cols = {c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and "
            "table_name = ?", [schema, table]).fetchall()}
        part = f"cast({DELIVERY_COLUMN} as varchar)" if DELIVERY_COLUMN in cols else "''"
        out[name] = {str(p or WHOLE): (int(n), int(h or 0)) for p, n, h in con.execute(
            f'select {part}, count(*), sum(hash(t)::hugeint) from "{schema}"."{table}" t '
            "group by 1").fetchall()}
    return out


def _warehouse_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [f"{s}.{t}" for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = "
        "'BASE TABLE' and table_schema not in ('audit', 'rights') order by 1, 2").fetchall()]


def open_working_copy(warehouse: Path, scratch: Path, data_tables: bool = True) -> Prints:
    """Write the working copy (a new DuckDB file at `scratch`): the rights' state, the Parquet
    tables as tables (without `data_tables`, the gate's fingerprints only), the delivery audit.
    Returns the tables' fingerprints as copied."""
    for stale in (scratch, scratch.with_name(scratch.name + ".wal")):
        stale.unlink(missing_ok=True)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(scratch))
    try:
        settings.bound_duckdb(con)
        state = warehouse / STATE_DIR / STATE_FILE
        if state.is_file():
            con.execute(f"attach {sql_str(str(state))} as state (read_only)")
            con.execute(f'copy from database state to "{scratch.stem}"')
            con.execute("detach state")
        for schema, table, folder in _table_folders(warehouse, data_tables):
            con.execute(f'create schema if not exists "{schema}"')
            # union_by_name: partitions written before a column was added (the fingerprints'
            # counts) read as NULL there, as on DuckDB (transforms/ingest/fingerprints.py)
            hive = (f", hive_partitioning = true, hive_types = {{'{DELIVERY_COLUMN}': date}}"
                    if _partitioned(folder) else ", hive_partitioning = false")
            hive += ", union_by_name = true"
            con.execute(f'create table "{schema}"."{table}" as select * from read_parquet('
                        f"{sql_str(str(folder / '**' / '*.parquet'))}{hive})")
        upgrade_tables(con)  # fingerprint partitions of earlier versions: today's columns
        load_delivery_audit(con, warehouse)
        return fingerprints(con, _warehouse_tables(con))
    finally:
        con.close()


def _write_state(con: duckdb.DuckDBPyConnection, source: str, target: Path,
                 skip: tuple[str, ...] = ()) -> None:
    """The rights' state (the audit and rights schemas of catalog `source`, but the delivery
    audit, which lives in the ingest's files, and the tables in `skip`), written into a new
    file: no removed row's bytes carried over."""
    target.unlink(missing_ok=True)
    con.execute(f"attach {sql_str(str(target))} as staged_state")
    try:
        for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables where "
                "table_catalog = ? and table_schema in ('audit', 'rights') "
                "and table_type = 'BASE TABLE' order by 1, 2", [source]).fetchall():
            if f"{schema}.{table}" in FROM_WAREHOUSE + skip:
                continue
            con.execute(f'create schema if not exists staged_state."{schema}"')
            con.execute(f'create table staged_state."{schema}"."{table}" as '
                        f'select * from "{source}"."{schema}"."{table}"')
    finally:
        con.execute("detach staged_state")


def clear_compaction_marks() -> dict[str, int]:
    """The compaction step on Spark: the removals were compacted by their partition rewrites
    already, so only the marks they left (`audit.compaction_due`, as on DuckDB) are cleared, by
    writing the state file anew; returns what compact_if_due returns on DuckDB."""
    warehouse = local_warehouse()
    finish_commit(warehouse)
    state = warehouse / STATE_DIR / STATE_FILE
    if not state.is_file():
        return {"compacted": 0, "rows_due": 0}
    staged = state.with_name(f".{state.name}.new")
    con = duckdb.connect()
    try:
        con.execute(f"attach {sql_str(str(state))} as state (read_only)")
        con.execute("use state")
        due = compaction_due(con)
        if due:
            _write_state(con, "state", staged, skip=(COMPACTION_TABLE,))
    finally:
        con.close()
    if not due:
        return {"compacted": 0, "rows_due": 0}
    os.replace(staged, state)
    return {"compacted": 1, "rows_due": due}


def _staged_audits(con: duckdb.DuckDBPyConnection, warehouse: Path, staging: Path
                   ) -> list[tuple[str, str]]:
    """The ingest's audit files whose landing checksums the erasure moved along (rewritten
    landing files), staged; returns (staged, target) pairs."""
    moves = []
    sha = {(s, e, str(d)): h for s, e, d, h in con.execute(
        "select system, entity, delivery_date, file_sha256 from audit.deliveries").fetchall()}
    for path in sorted((warehouse / "audit" / "deliveries").glob("*/*.json")):
        audit = json.loads(path.read_text(encoding="utf-8"))
        changed = False
        for entity in audit["entities"]:
            new = sha.get((audit["system"], entity["entity"], audit["delivery_date"]))
            if new and new != entity["file_sha256"]:
                entity["file_sha256"], changed = new, True
        if changed:
            staged = staging / "audit" / path.parent.name / path.name
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_text(json.dumps(audit, indent=1), encoding="utf-8")
            moves.append((str(staged), str(path)))
    return moves


def write_back(scratch: Path, warehouse: Path, before: Prints) -> dict[str, int]:
    """Stage what changed in the copy, commit it by the journal, and swap it in; returns counts
    (partitions rewritten and removed, built tables dropped)."""
    rights_dir = warehouse / STATE_DIR
    staging = rights_dir / f"staged-{uuid.uuid4().hex[:8]}"
    moves: list[tuple[str | None, str]] = []
    counts = {"partitions_rewritten": 0, "partitions_removed": 0, "built_tables_dropped": 0}
    con = duckdb.connect(str(scratch))
    try:
        settings.bound_duckdb(con)
        after = fingerprints(con, _warehouse_tables(con))
        dbt_changed = False
        for name in sorted(set(before) | set(after)):
            schema, table = name.split(".", 1)
            old, new = before.get(name, {}), after.get(name, {})
            if _is_dbt(schema):
                dbt_changed |= old != new
                continue
            folder = warehouse / schema / table
            parts = set(old) | set(new) or {WHOLE}  # an empty new table: written, empty
            for part in sorted(parts):
                if name in before and old.get(part) == new.get(part):
                    continue
                target = folder / f"{DELIVERY_COLUMN}={part}" if part != WHOLE else folder
                if new.get(part, (0, 0))[0] or part == WHOLE:  # a whole table stays, even empty
                    staged = staging / schema / table / (part or "_whole")
                    staged.mkdir(parents=True)
                    where = (f"where cast({DELIVERY_COLUMN} as varchar) = {sql_str(part)}"
                             if part != WHOLE else "")
                    drop = f" exclude ({DELIVERY_COLUMN})" if part != WHOLE else ""
                    con.execute(f'copy (select *{drop} from "{schema}"."{table}" {where}) to '
                                f"{sql_str(str(staged / 'part-00000.parquet'))} "
                                "(format parquet)")
                    moves.append((str(staged), str(target)))
                    counts["partitions_rewritten"] += 1
                else:
                    moves.append((None, str(target)))
                    counts["partitions_removed"] += 1
        if dbt_changed:  # rebuilt whole by the next build; never rewritten here
            moves += [(None, str(warehouse / DBT_DIR)), (None, str(marts_database()))]
            counts["built_tables_dropped"] = 1
        moves += _staged_audits(con, warehouse, staging)
        staging.mkdir(parents=True, exist_ok=True)
        _write_state(con, scratch.stem, staging / STATE_FILE)
        moves.append((str(staging / STATE_FILE), str(rights_dir / STATE_FILE)))
    except BaseException:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    con.close()
    write_text_atomic(rights_dir / JOURNAL, json.dumps(
        {"staging": str(staging), "moves": moves}, indent=1))
    finish_commit(warehouse)
    return counts


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def finish_commit(warehouse: Path) -> bool:
    """Do the swaps a committed journal lists (all of them, idempotently: a crash halfway is
    finished by the next call), then clear the journal; returns whether there was one. Staging
    folders without a journal (a crash before the commit) are removed."""
    rights_dir = warehouse / STATE_DIR
    journal = rights_dir / JOURNAL
    trash = rights_dir / TRASH
    if journal.is_file():
        plan = json.loads(journal.read_text(encoding="utf-8"))
        for i, (staged, target) in enumerate(plan["moves"]):
            target_path, old = Path(target), trash / str(i)
            if staged is not None and not Path(staged).exists():
                continue  # swapped already
            if target_path.exists() or target_path.is_symlink():
                if old.exists():
                    _remove(old)
                old.parent.mkdir(parents=True, exist_ok=True)
                try:  # out of sight at once: a reader never sees half a folder
                    os.replace(target_path, old)
                except OSError:  # another file system (the gate's database beside the data)
                    _remove(target_path)
            if staged is not None:
                target_path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target_path)
        shutil.rmtree(trash, ignore_errors=True)
        journal.unlink()
        done = True
    else:
        done = False
        shutil.rmtree(trash, ignore_errors=True)
    for staging in rights_dir.glob("staged-*"):
        shutil.rmtree(staging, ignore_errors=True)
    return done


@contextmanager
def working_copy(scratch: Path | None = None, data_tables: bool = True) -> Iterator[Path]:
    """The working copy's path for the DuckDB path's code, written back when the block
    succeeds (discarded when it fails: the warehouse unchanged). A previous run's committed
    journal is finished first."""
    warehouse = local_warehouse()
    scratch = scratch or settings.paths().data / "tmp" / "spark-rights.duckdb"
    finish_commit(warehouse)
    before = open_working_copy(warehouse, scratch, data_tables)
    try:
        yield scratch
        counts = write_back(scratch, warehouse, before)
        log.info("spark warehouse: %s", json.dumps(counts))
    finally:
        for path in (scratch, scratch.with_name(scratch.name + ".wal")):
            path.unlink(missing_ok=True)


def on_working_copy(work: Callable[[Path, list], T], data_tables: bool = True) -> T:
    """Run `work(copy, raw_commits)` on a working copy of the Spark warehouse, commit what it
    changed, then commit the raw zone's rewrites it deferred into `raw_commits` (in that order:
    see the module's docstring)."""
    raw_commits: list = []
    try:
        with working_copy(data_tables=data_tables) as copy:
            result = work(copy, raw_commits)
    except BaseException:
        for plan in raw_commits:
            plan.discard()
        raise
    for plan in raw_commits:
        plan.commit()
    return result


def erased_subjects() -> int:
    """Entries of the suppression list in the Spark warehouse's rights state (0: none yet)."""
    state = state_database()
    if not state.is_file():
        return 0
    con = duckdb.connect(str(state), read_only=True)
    try:
        schema, table = SUPPRESSION_TABLE.split(".")
        if not con.execute("select count(*) from information_schema.tables where table_schema = "
                           "? and table_name = ?", [schema, table]).fetchall()[0][0]:
            return 0
        return int(con.execute(f"select count(*) from {SUPPRESSION_TABLE}").fetchall()[0][0])
    finally:
        con.close()


def sweep_before_ingest(keys: DomainKeys) -> int:
    """Before a Spark ingest: erased subjects' rows removed from the raw zone (a redelivery, or
    a crash between an erasure's journal and its raw renames) by the DuckDB path's own sweep
    (transforms/rights/erasure.py), so that the Spark ingest never loads them. The DuckDB
    ingest drops such rows itself (transforms/ingest/suppression.py); on Spark they are gone
    from the landing file before it is read (and its audit checksum moved along). Returns the
    rows removed; no working copy at all while nobody was erased."""
    if not finish_commit(local_warehouse()) and not erased_subjects():
        return 0
    p = settings.paths()

    def sweep(copy: Path, raw_commits: list) -> int:
        con = duckdb.connect(str(copy))
        try:
            zone = RawZone(p.landing, p.quarantine, load_classification(), raw_commits)
            return sweep_suppressed(con, keys, zone, load_suppression(con, keys))
        finally:
            con.close()

    return on_working_copy(sweep, data_tables=False)
