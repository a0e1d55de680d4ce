"""Resolve all of a run's pending data-subject requests together: the same subjects, statuses
and counts as `subject_resolution.resolve_request` one request at a time, in a number of table
scans that does not grow with the number of requests.

Why: one request resolved alone expands each of its clues (and then all of them merged) in every
domain, scanning every pseudonym table once per fixpoint step and once more to count. At 1M
contracts a scan costs about 40 ms whatever the SQL, and a run's few dozen requests made it
thousands of scans each (over 1,000 s of CPU). Here every clue set of every request is a *job*
(a tag); the raw index and each pseudonym table are scanned once per fixpoint step for all jobs
together (rows tagged with the jobs whose values they hold), and counted once per table.

Measured (2 shared cores, load 4-14, `bench/peak_rss.py -- make run CONTRACTS=200000`, same
landing zone): the process_subject_requests task went from 226 s to 59 s of CPU (the whole run
417 s -> 268 s); in it, the 124 resolvable requests of the feed take 1.5 s of CPU together,
against 1.1 s each one at a time (identical subjects); what remains is the raw index (8 s) and
the erasure batch's raw-zone pass. At 1M contracts (`make run CONTRACTS=1000000` now finishes:
1,807 s wall at load 3-14, 983 s CPU, peak 2.95 GiB in process_subject_requests), the 924
requests' task takes 421 s of CPU; on its data afterwards, 684 requests resolve together in 6 s
of CPU against 4.1 s each one at a time (identical subjects), the raw index in 34 s.

Why the result is the same: each expansion is a closure (every row sharing a value with the
subject brings all its values, until nothing new comes), which does not depend on the order the
rows are visited in, nor on what other jobs find. Only values new at the previous step are
looked up again (rows holding older values already gave theirs). The conflict check is today's:
each clue of a request alone, then `Subject.overlaps` between those that found records.

Nothing here logs or returns a value: values stay in memory, a `Subject` prints counts only.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from transforms.privacy.identity import KINDS, NAMES_EMAIL
from transforms.privacy.keys import DOMAINS, DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.rights.subject_resolution import (
    REQUESTS_ENTITY,
    ConflictingIdentifiers,
    RawIndex,
    Subject,
    is_requests_table,
    pseudo_tables,
)

RAW_KINDS = (*KINDS, NAMES_EMAIL)
_TAGGED = {"job": pl.Int64, "kind": pl.String, "value": pl.String}
_FOUND_VIEW = "_bulk_resolution_found"  # registered on the caller's connection, then dropped

Clues = dict[str, str]  # clue kind -> normalised value (subject_resolution.clues)


def _tagged(rows: list[tuple[int, str, str]] | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows or [], schema=_TAGGED, orient="row")


def _new_only(found: pl.DataFrame, parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The (job, kind, value) of `parts` not yet in `found`."""
    if not parts:
        return _tagged()
    return pl.concat(parts).unique().join(found, on=["job", "kind", "value"], how="anti")


def _tag(rows: pl.DataFrame, kinds: dict[str, str], values: pl.DataFrame) -> pl.DataFrame:
    """(job, _row) for each row of `rows` holding one of the jobs' `values` in a column of
    `kinds` (column -> kind); `rows` has a `_row` column."""
    long = _long(rows, kinds)
    return long.join(values, on=["kind", "value"]).select("job", "_row").unique()


def _long(rows: pl.DataFrame, kinds: dict[str, str]) -> pl.DataFrame:
    """(_row, kind, value) of every non-null identifier of the rows."""
    if not kinds:
        return pl.DataFrame(schema={"_row": pl.Int64, "kind": pl.String, "value": pl.String})
    return pl.concat([
        rows.select(pl.col("_row").cast(pl.Int64), pl.lit(kind).alias("kind"),
                    pl.col(column).cast(pl.String).alias("value")).drop_nulls("value")
        for column, kind in kinds.items()])


# -- the raw zone ---------------------------------------------------------------------------


def _raw_frames(index: RawIndex) -> dict[tuple[str, str], tuple[pl.DataFrame, dict[str, str]]]:
    return {key: (frame.with_row_index("_row"),
                  {c: c for c in frame.columns if c in RAW_KINDS})
            for key, frame in index.frames.items()}


def expand_raw_all(index: RawIndex, start: pl.DataFrame) -> pl.DataFrame:
    """`subject_resolution.expand_raw` for every job of `start` (job, kind, value) at once: one
    pass over the index per fixpoint step. Request rows are matched, never expanded from."""
    frames = {k: (f, _long(f, kinds)) for k, (f, kinds) in _raw_frames(index).items()
              if k != REQUESTS_ENTITY}
    found = start.unique()
    delta = found
    while delta.height:
        parts = []
        for _frame, long in frames.values():
            hits = long.join(delta, on=["kind", "value"]).select("job", "_row").unique()
            if hits.height:
                parts.append(hits.join(long, on="_row").select("job", "kind", "value"))
        delta = _new_only(found, parts)
        found = pl.concat([found, delta])
    return found


def raw_counts_all(index: RawIndex, found: pl.DataFrame) -> dict[int, dict[str, int]]:
    """`subject_resolution.raw_counts` per job: rows per raw place, e.g.
    `landing:policy_admin/contracts`."""
    out: dict[int, dict[str, int]] = {}
    for (system, name), (frame, kinds) in _raw_frames(index).items():
        hits = _tag(frame, kinds, found)
        if not hits.height:
            continue
        per = hits.join(frame.select("_row", "_where"), on="_row").group_by("job", "_where").len()
        for job, where, n in per.iter_rows():
            out.setdefault(job, {})[f"{where}:{system}/{name}"] = int(n)
    return out


# -- the pseudonym domains -------------------------------------------------------------------


def hash_all(found: pl.DataFrame, keys: DomainKeys, domain: str) -> pl.DataFrame:
    """(job, kind, value) -> (job, kind, pseudonym in `domain`), each distinct value hashed once
    by the pipeline's own engine (`subject_resolution.hash_values` for every job)."""
    values = found.filter(pl.col("kind").is_in(KINDS))
    distinct = values.select("kind", "value").unique()
    hashed = distinct.with_columns(pseudonymise(pl.col("value"), keys, domain).alias("p"))
    return (values.join(hashed, on=["kind", "value"]).drop_nulls("p")
            .select("job", "kind", pl.col("p").alias("value")).unique())


def _matching_rows(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
                   values: pl.DataFrame, *, row_ids: bool) -> pl.DataFrame:
    """The rows of `table` whose pseudonym columns hold one of `values` (any job): one scan,
    each column semi-joined to the values of its kind. Columns: `_row` (DuckDB's rowid, or a
    position when `row_ids` is false and rows are distinct) and the pseudonym columns."""
    kinds_held = set(values["kind"].unique().to_list())
    conds = [f'"{c}" in (select value from {_FOUND_VIEW} where kind = ?)'
             for c, k in columns.items() if k in kinds_held]
    params = [k for k in columns.values() if k in kinds_held]
    if not conds:
        return pl.DataFrame(schema={"_row": pl.Int64, **{c: pl.String for c in columns}})
    cols = ", ".join(f'"{c}"' for c in columns)
    select = f"select rowid as _row, {cols}" if row_ids else f"select distinct {cols}"
    con.register(_FOUND_VIEW, values.to_arrow())
    try:
        rows = con.execute(f"{select} from {table} where {' or '.join(conds)}",
                           params).fetchall()
    finally:
        con.unregister(_FOUND_VIEW)
    schema = {**({"_row": pl.Int64} if row_ids else {}), **{c: pl.String for c in columns}}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame if row_ids else frame.with_row_index("_row").with_columns(
        pl.col("_row").cast(pl.Int64))


def expand_domain_all(con: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]],
                      start: pl.DataFrame) -> pl.DataFrame:
    """`subject_resolution.expand_domain` for every job at once: per fixpoint step, one scan of
    each of the domain's tables (request tables excepted) for the values new at the step."""
    tables = {t: c for t, c in tables.items() if not is_requests_table(t)}
    found = start.unique()
    delta = found
    while delta.height:
        parts = []
        for table, columns in tables.items():
            rows = _matching_rows(con, table, columns, delta, row_ids=False)
            if not rows.height:
                continue
            hits = _tag(rows, columns, delta)
            parts.append(hits.join(_long(rows, columns), on="_row").select("job", "kind", "value"))
        delta = _new_only(found, parts)
        found = pl.concat([found, delta])
    return found


def domain_counts_all(con: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]],
                      found: pl.DataFrame) -> dict[int, dict[str, int]]:
    """`subject_resolution.domain_counts` per job: rows per table (request tables included),
    one scan per table for all jobs."""
    out: dict[int, dict[str, int]] = {}
    for table, columns in tables.items():
        rows = _matching_rows(con, table, columns, found, row_ids=True)
        if not rows.height:
            continue
        for job, n in _tag(rows, columns, found).group_by("job").len().iter_rows():
            out.setdefault(job, {})[table] = int(n)
    return out


# -- subjects and requests -------------------------------------------------------------------


def _values(found: pl.DataFrame, job: int, kinds: tuple[str, ...]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in kinds}
    for kind, value in found.filter(pl.col("job") == job).select("kind", "value").iter_rows():
        out.setdefault(kind, set()).add(value)
    return out


def resolve_many(con: duckdb.DuckDBPyConnection | None, index: RawIndex, keys: DomainKeys,
                 starts: list[Clues], domains: tuple[str, ...] = DOMAINS,
                 tables: dict[str, dict[str, dict[str, str]]] | None = None) -> list[Subject]:
    """`subject_resolution.resolve` of each clue set of `starts`, all together."""
    if con is not None and tables is None:
        tables = {d: pseudo_tables(con, d) for d in domains}
    start = _tagged([(job, kind, value) for job, given in enumerate(starts)
                     for kind, value in given.items()])
    raw = expand_raw_all(index, start)
    counts = raw_counts_all(index, raw)
    subjects = []
    for job in range(len(starts)):
        subjects.append(Subject(raw=_values(raw, job, RAW_KINDS),
                                counts=dict(counts.get(job, {}))))
    for domain in domains:
        hashed = hash_all(raw, keys, domain)
        if con is not None and tables is not None:
            hashed = expand_domain_all(con, tables[domain], hashed)
            for job, per in domain_counts_all(con, tables[domain], hashed).items():
                subjects[job].counts.update(per)
        for job, subject in enumerate(subjects):
            subject.pseudonyms[domain] = _values(hashed, job, KINDS)
    return subjects


def resolve_requests(con: duckdb.DuckDBPyConnection | None, index: RawIndex, keys: DomainKeys,
                     requests: Mapping[str, Clues]
                     ) -> dict[str, Subject | ConflictingIdentifiers]:
    """`subject_resolution.resolve_request` for every request (id -> its clues) at once: its
    subject, or the ConflictingIdentifiers it raises alone. Equal clue sets (the same clue in
    two requests, or a request's only clue) are resolved once and share their Subject."""
    jobs: dict[frozenset[tuple[str, str]], int] = {}

    def job(given: Clues) -> int:
        return jobs.setdefault(frozenset(given.items()), len(jobs))

    plan = {rid: (job(given), [job({k: v}) for k, v in given.items()] if len(given) > 1 else [])
            for rid, given in requests.items()}
    tables = None if con is None else {d: pseudo_tables(con, d) for d in DOMAINS}
    subjects = resolve_many(con, index, keys, [dict(j) for j in jobs], tables=tables)
    out: dict[str, Subject | ConflictingIdentifiers] = {}
    for rid, (merged, alone) in plan.items():
        found = [subjects[j] for j in alone if subjects[j].records]
        if any(not a.overlaps(b) for i, a in enumerate(found) for b in found[i + 1:]):
            out[rid] = ConflictingIdentifiers("the identifiers given match different subjects")
        else:
            out[rid] = subjects[merged]
    return out
