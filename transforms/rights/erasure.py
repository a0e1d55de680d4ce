"""Erase a subject everywhere the pipeline holds them, all or nothing.

Why this order: the new raw files are prepared first (nothing changes), then one warehouse
transaction deletes the subject's rows from every pseudonymised table of every domain and from
every table dbt built, adds the suppression entries, moves the landing checksums along and writes
the audit record; only once it has committed are the raw files renamed into place. A failure
before the commit changes nothing; a crash after it is repaired by the next run's sweep, which
removes suppressed subjects' rows from the raw files (see transforms/landing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from transforms import landing as raw_rewrite
from transforms.classification import Classification, Entity
from transforms.ingest.fingerprints import replace_delivery
from transforms.ingest.suppression import KINDS as SUPPRESSED_KINDS
from transforms.ingest.suppression import Suppression, add_entries, suppressed_mask
from transforms.privacy.keys import DOMAINS, DomainKeys
from transforms.rights.removals import record_removal
from transforms.rights.requests import Request, record
from transforms.rights.subject_resolution import (
    REQUESTS_ENTITY,
    Subject,
    is_requests_table,
    match_sql,
    pseudo_tables,
)
from transforms.transaction import transaction

# Schemas that hold no subject data (the suppression list lives in `rights`).
NON_DATA_SCHEMAS = ("audit", "rights", "information_schema", "pg_catalog")


@dataclass(frozen=True)
class RawZone:
    """Where the raw identifiers are: the landing deliveries still kept and the quarantine."""

    landing: Path
    quarantine: Path
    classification: Classification


def requests_matcher(request_ids: set[str]) -> raw_rewrite.Matcher:
    """Rows of the DPO feed with one of these request ids."""
    def match(frame: pl.DataFrame, entity: Entity) -> pl.Series:
        if (entity.system, entity.name) != REQUESTS_ENTITY or "request_id" not in frame.columns:
            return pl.Series([False] * frame.height, dtype=pl.Boolean)
        ids = frame["request_id"].cast(pl.String).str.strip_chars()
        return ids.is_in(sorted(request_ids)).fill_null(False)
    return match


def subject_matcher(suppression: Suppression, keys: DomainKeys,
                    request_ids: frozenset[str] = frozenset()) -> raw_rewrite.Matcher:
    """Rows of the suppressed subjects (dpo-domain pseudonyms), or of the given requests."""
    by_request = requests_matcher(set(request_ids))

    def match(frame: pl.DataFrame, entity: Entity) -> pl.Series:
        return suppressed_mask(frame, entity, suppression, keys) | by_request(frame, entity)
    return match


def delete_warehouse_rows(con: duckdb.DuckDBPyConnection, subject: Subject,
                          request_id: str) -> dict[str, int]:
    """Delete the subject's rows from every pseudonymised table (and the request's own rows)
    and from every table dbt built; returns rows deleted per table."""
    counts: dict[str, int] = {}
    for domain in DOMAINS:
        pseudonyms = subject.pseudonyms.get(domain, {})
        for table, columns in pseudo_tables(con, domain).items():
            where, params = match_sql(columns, pseudonyms)
            if is_requests_table(table):
                where, params = f"({where}) or request_id = ?", [*params, request_id]
            n = con.execute(f"delete from {table} where {where}", params).fetchall()[0][0]
            if n:
                counts[table] = int(n)
    everything = sorted(subject.all_pseudonyms())
    if not everything:
        return counts
    built = con.execute(
        "select c.table_schema, c.table_name, list(c.column_name) "
        "from information_schema.columns c join information_schema.tables t "
        "on t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where t.table_type = 'BASE TABLE' and c.table_schema not like 'pseudo\\_%' escape '\\' "
        f"and c.table_schema not in ({', '.join('?' * len(NON_DATA_SCHEMAS))}) "
        "and c.column_name like '%\\_key' escape '\\' and c.data_type = 'VARCHAR' "
        "group by 1, 2 order by 1, 2",
        list(NON_DATA_SCHEMAS),
    ).fetchall()
    for schema, table, columns in built:
        where = " or ".join(f'list_contains(?::varchar[], "{c}")' for c in columns)
        n = con.execute(f'delete from "{schema}"."{table}" where {where}',
                        [everything] * len(columns)).fetchall()[0][0]
        if n:
            counts[f"{schema}.{table}"] = int(n)
    return counts


def refingerprint(con: duckdb.DuckDBPyConnection, plan: raw_rewrite.RewritePlan,
                  keys: DomainKeys, classification: Classification) -> None:
    """The gate's fingerprints of every rewritten landing file, recomputed from its new rows
    (caller's transaction): the removed rows' keyed hashes go with them."""
    for f in plan.files:
        if f.kind != "landing" or f.tmp is None:
            continue
        system, entity, day = raw_rewrite.landing_file_parts(f.path)
        try:  # in batches: a rewritten full extract is not held whole
            replace_delivery(con, classification.entity(system, entity), day,
                             raw_rewrite.read_raw_csv_batches(f.tmp), keys)
        except (pl.exceptions.PolarsError, OSError):
            # the plan parsed it a moment ago: refuse rather than guess
            raise RuntimeError("a rewritten landing file could not be read back; "
                               "nothing changed") from None


def erase(con: duckdb.DuckDBPyConnection, keys: DomainKeys, zone: RawZone, as_of: date,
          req: Request, subject: Subject | None, status: str = "done") -> int:
    """Erase the subject (with subject None: only the request itself) everywhere, all or
    nothing, and record the request with `status`. Returns the rows removed."""
    subject = subject or Subject()
    dpo = subject.pseudonyms.get("dpo", {})
    entries = {k: set(dpo.get(k, ())) for k in SUPPRESSED_KINDS}
    matcher = subject_matcher(Suppression().union(entries), keys, frozenset({req.request_id}))
    plan = raw_rewrite.prepare(zone.landing, zone.quarantine, zone.classification, matcher)
    try:
        with transaction(con):
            counts = delete_warehouse_rows(con, subject, req.request_id)
            counts.update(plan.counts())
            add_entries(con, entries, keys, as_of)
            plan.update_audit(con)
            refingerprint(con, plan, keys, zone.classification)
            record(con, req, status, counts, as_of, keys)
            record_removal(con, "erasure", sum(counts.values()))
    except BaseException:
        plan.discard()
        raise
    plan.commit()
    return sum(counts.values())


def sweep_suppressed(con: duckdb.DuckDBPyConnection, keys: DomainKeys, zone: RawZone,
                     suppression: Suppression) -> int:
    """Remove erased subjects' rows that reached the raw zone since (redeliveries, or a crash
    between an erasure's commit and its renames). Returns the rows removed."""
    if not suppression:
        return 0
    plan = raw_rewrite.prepare(zone.landing, zone.quarantine, zone.classification,
                               subject_matcher(suppression, keys))
    if not plan.files:
        return 0
    try:
        with transaction(con):
            plan.update_audit(con)
            refingerprint(con, plan, keys, zone.classification)
    except BaseException:
        plan.discard()
        raise
    plan.commit()
    return plan.rows
