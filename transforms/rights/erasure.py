"""Erase subjects everywhere the pipeline holds them, a run's erasures as one batch, all or
nothing.

Why this order: the new raw files are prepared first (nothing changes), then one warehouse
transaction deletes the subjects' rows from every pseudonymised table of every domain and from
every table dbt built, adds the suppression entries, moves the landing checksums along and writes
the audit records; only once it has committed are the raw files renamed into place. A failure
before the commit changes nothing; a crash after it is repaired by the next run's sweep, which
removes suppressed subjects' rows from the raw files (see transforms/landing.py).

Why a batch: each erasure reads the whole raw zone (every landing and quarantine file) and
rewrites, then re-fingerprints, the files that hold the subject. One erasure at a time, a run
with a few hundred requests read a 1M-contract raw zone a few hundred times. A batch reads it
once: one matcher for all its subjects, one `prepare`, one delete per table (joined to a
temporary table of the subjects' pseudonyms), one re-fingerprinting of the rewritten files.

Counts per request stay those of one erasure at a time, in feed order: each removed row is
counted for the earliest request of the batch whose subject (or request id) it matches, as if
that request had been processed alone first (the later one would no longer have found the row).
A request whose subject's rows are all counted for earlier ones is `no_match`, as it was then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from transforms import landing as raw_rewrite
from transforms.checksums import file_sha256
from transforms.classification import Classification, Entity
from transforms.ingest.fingerprints import remove_rows, replace_delivery, upgrade_tables
from transforms.ingest.suppression import DOMAIN as SUPPRESSION_DOMAIN
from transforms.ingest.suppression import KINDS as SUPPRESSED_KINDS
from transforms.ingest.suppression import (
    Suppression,
    add_entries,
    load_suppression,
    suppressed_mask,
)
from transforms.privacy.identity import identity_exprs
from transforms.privacy.keys import DOMAINS, DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.rights.removals import record_removal
from transforms.rights.requests import Request, record
from transforms.rights.subject_resolution import (
    REQUESTS_ENTITY,
    Subject,
    is_requests_table,
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
    # None: rewritten raw files are renamed into place once the warehouse has committed. A list:
    # their plans are appended to it instead, for a caller whose commit point comes later (the
    # Spark engine's partition swaps, transforms/operations/spark_rights.py), which renames them
    # after it (or discards them on failure)
    deferred: list | None = field(default=None, compare=False)

    def prepare(self, matcher: raw_rewrite.Matcher,
                places: Collection[str] | None = None) -> raw_rewrite.RewritePlan:
        """The rewrite plan of the raw zone for `matcher`. A plan deferred earlier in the run
        is renamed into place first: the new plan must read the files it left (both write the
        same temporary names). That earlier plan is the run's sweep (its subjects are in the
        committed suppression list already) or, with a backlog of more than one erasure batch,
        an earlier batch, whose crash window is then the DuckDB path's (repaired by the sweep)."""
        while self.deferred:
            self.deferred.pop(0).commit()
        paths = None if places is None else {self.path_of(place) for place in places}
        return raw_rewrite.prepare(self.landing, self.quarantine, self.classification, matcher,
                                   paths)

    def path_of(self, place: str) -> Path:
        """The file at a place of zone_files (`landing/...` or `quarantine/...`)."""
        where, _, rest = place.partition("/")
        return (self.landing if where == "landing" else self.quarantine) / rest

    def commit(self, plan: raw_rewrite.RewritePlan) -> None:
        if self.deferred is None:
            plan.commit()
        else:
            self.deferred.append(plan)


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


@dataclass(frozen=True)
class Erasure:
    """One erasure request of a batch and its resolved subject (None: only the request itself,
    when nothing was found for it)."""

    request: Request
    subject: Subject | None


def dpo_entries(subject: Subject | None) -> dict[str, set[str]]:
    """The subject's dpo-domain pseudonyms of the kinds the suppression list keeps."""
    dpo = subject.pseudonyms.get("dpo", {}) if subject else {}
    return {k: set(dpo.get(k, ())) for k in SUPPRESSED_KINDS}


def batch_matcher(batch: list[Erasure], keys: DomainKeys) -> raw_rewrite.Matcher:
    """Raw rows of the batch's subjects (dpo-domain pseudonyms of their identifiers) or of its
    requests (request id), each marked with the earliest request it belongs to (its index)."""
    owners: dict[str, dict[str, int]] = {k: {} for k in SUPPRESSED_KINDS}
    by_id: dict[str, int] = {}
    for i, item in enumerate(batch):
        for kind, values in dpo_entries(item.subject).items():
            for value in values:
                owners[kind].setdefault(value, i)
        by_id.setdefault(item.request.request_id, i)

    def match(frame: pl.DataFrame, entity: Entity) -> pl.Series:
        exprs = [pseudonymise(expr, keys, SUPPRESSION_DOMAIN).replace_strict(
                     owners[kind], default=None, return_dtype=pl.Int64)
                 for kind, expr in identity_exprs(frame, entity).items()
                 if kind in SUPPRESSED_KINDS and owners[kind]]
        if (entity.system, entity.name) == REQUESTS_ENTITY and "request_id" in frame.columns:
            exprs.append(pl.col("request_id").cast(pl.String).str.strip_chars().replace_strict(
                by_id, default=None, return_dtype=pl.Int64))
        if not exprs or frame.height == 0:
            return pl.Series("owner", [None] * frame.height, dtype=pl.Int64)
        return frame.select(pl.min_horizontal(exprs).alias("owner")).to_series()
    return match


PSEUDONYMS = "_erasure_pseudonyms"  # (domain, kind, value, owner): the batch's subjects
ANY_PSEUDONYM = "_erasure_any_pseudonym"  # (value, owner): every domain and kind at once
REQUEST_IDS = "_erasure_request_ids"  # (value, owner)


def _stage_owners(con: duckdb.DuckDBPyConnection, batch: list[Erasure]) -> None:
    """The batch's pseudonyms and request ids as temporary tables, each value with the earliest
    request it belongs to (caller's transaction; a rollback drops them)."""
    rows = [(domain, kind, value, i) for i, item in enumerate(batch) if item.subject
            for domain, per in item.subject.pseudonyms.items()
            for kind, values in per.items() for value in values]
    frame = pl.DataFrame(rows, orient="row", schema={
        "domain": pl.String, "kind": pl.String, "value": pl.String, "owner": pl.Int64})
    ids = pl.DataFrame([(item.request.request_id, i) for i, item in enumerate(batch)],
                       orient="row", schema={"value": pl.String, "owner": pl.Int64})
    con.register("_erasure_staged", frame.to_arrow())
    con.register("_erasure_staged_ids", ids.to_arrow())
    try:
        con.execute(f"create or replace temp table {PSEUDONYMS} as select domain, kind, value, "
                    "min(owner) as owner from _erasure_staged group by all")
        con.execute(f"create or replace temp table {ANY_PSEUDONYM} as select value, "
                    f"min(owner) as owner from {PSEUDONYMS} group by all")
        con.execute(f"create or replace temp table {REQUEST_IDS} as select value, "
                    "min(owner) as owner from _erasure_staged_ids group by all")
    finally:
        con.unregister("_erasure_staged")
        con.unregister("_erasure_staged_ids")


def _delete_owned(con: duckdb.DuckDBPyConnection, table: str,
                  joins: list[tuple[str, str, list[str]]]) -> dict[int, int]:
    """Delete the rows of `table` whose column holds a value of the batch (`joins`: column, the
    query of (value, owner) it is matched against, its parameters); returns rows per owner, each
    row counted once, for the earliest owner it matches."""
    if not joins:
        return {}
    matched = " union all ".join(
        f'select t.rowid as rid, k.owner from {table} t join ({source}) k on t."{column}" = k.value'
        for column, source, _ in joins)
    params = [p for _, _, ps in joins for p in ps]
    owned = f"select rid, min(owner) as owner from ({matched}) group by rid"
    per_owner = {int(o): int(n) for o, n in con.execute(
        f"select owner, count(*) from ({owned}) group by owner", params).fetchall()}
    if per_owner:
        n = con.execute(f"delete from {table} where rowid in (select rid from ({owned}))",
                        params).fetchall()[0][0]
        if n != sum(per_owner.values()):  # the same query twice in one transaction
            raise RuntimeError("erasure: rows deleted and rows counted disagree; nothing changed")
    return per_owner


def delete_warehouse_rows(con: duckdb.DuckDBPyConnection, batch: list[Erasure]
                          ) -> dict[int, dict[str, int]]:
    """Delete the batch's subjects' rows from every pseudonymised table (and its requests' own
    rows) and from every table dbt built, one statement per table; returns, per request index,
    rows deleted per table."""
    _stage_owners(con, batch)
    out: dict[int, dict[str, int]] = {}

    def add(table: str, per_owner: dict[int, int]) -> None:
        for owner, n in per_owner.items():
            out.setdefault(owner, {})[table] = n

    for domain in DOMAINS:
        for table, columns in pseudo_tables(con, domain).items():
            joins = [(column, f"select value, owner from {PSEUDONYMS} "
                              "where domain = ? and kind = ?", [domain, kind])
                     for column, kind in columns.items()]
            if is_requests_table(table):
                joins.append(("request_id", f"select value, owner from {REQUEST_IDS}", []))
            add(table, _delete_owned(con, table, joins))
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
        joins = [(c, f"select value, owner from {ANY_PSEUDONYM}", []) for c in columns]
        add(f"{schema}.{table}", _delete_owned(con, f'"{schema}"."{table}"', joins))
    for name in (PSEUDONYMS, ANY_PSEUDONYM, REQUEST_IDS):
        con.execute(f"drop table if exists {name}")
    return out


def refingerprint(con: duckdb.DuckDBPyConnection, plan: raw_rewrite.RewritePlan,
                  keys: DomainKeys, classification: Classification) -> None:
    """Take the removed rows' keyed hashes out of the gate's fingerprints of every rewritten
    landing file (caller's transaction), by subtracting their counts; where the table cannot
    vouch for its counts, the delivery is fingerprinted again from the file's new rows."""
    upgrade_tables(con)
    for f in plan.files:
        if f.kind != "landing" or f.tmp is None:
            continue
        system, name, day = raw_rewrite.landing_file_parts(f.path)
        entity = classification.entity(system, name)
        if f.removed is not None and remove_rows(con, entity, day, f.removed, keys):
            continue
        try:  # in batches: a rewritten full extract is not held whole
            replace_delivery(con, entity, day, raw_rewrite.read_raw_csv_batches(f.tmp), keys)
        except (pl.exceptions.PolarsError, OSError):
            # the plan parsed it a moment ago: refuse rather than guess
            raise RuntimeError("a rewritten landing file could not be read back; "
                               "nothing changed") from None


def status_of(item: Erasure, counts: dict[str, int]) -> str:
    """`done` when rows of the subject itself were removed for this request, else `no_match`
    (nothing found, or everything found was counted for an earlier request of the batch)."""
    if item.subject is None or not item.subject.records:
        return "no_match"
    return "done" if any(n for place, n in counts.items()
                         if "subject_requests" not in place) else "no_match"


def erase_batch(con: duckdb.DuckDBPyConnection, keys: DomainKeys, zone: RawZone, as_of: date,
                batch: list[Erasure]) -> list[tuple[str, int]]:
    """Erase every subject of the batch everywhere, all or nothing for the whole batch, and
    record each request; returns (status, rows removed) per request, in the batch's order."""
    if not batch:
        return []
    entries: dict[str, set[str]] = {k: set() for k in SUPPRESSED_KINDS}
    for item in batch:
        if item.subject is not None and item.subject.records:
            for kind, values in dpo_entries(item.subject).items():
                entries[kind] |= values
    batch = [item if item.subject is None or item.subject.records else Erasure(item.request, None)
             for item in batch]
    # the raw zone before the batch, and the files the last clean sweep vouches for: those are
    # clean after the batch too (record_swept_by_erasure, which records only where a sweep has
    # recorded before: without a record, the zone is not hashed for nothing). With nobody
    # suppressed yet, every file is clean against the list the batch starts from.
    before = vouched = None
    last = _last_clean_sweep(con) if zone.deferred is None else None
    if last is not None:
        before = zone_files(zone)
        suppressed = load_suppression(con, keys)
        if not suppressed:
            vouched = before
        elif suppression_digest(zone, suppressed, keys) == last:
            vouched = _clean_files(con, last)
    plan = zone.prepare(batch_matcher(batch, keys))
    try:
        with transaction(con):
            per_request = delete_warehouse_rows(con, batch)
            for owner, counts in plan.counts_by_owner().items():
                per_request.setdefault(owner, {}).update(counts)
            add_entries(con, entries, keys, as_of)
            plan.update_audit(con)
            refingerprint(con, plan, keys, zone.classification)
            results = []
            for i, item in enumerate(batch):
                counts = per_request.get(i, {})
                status = status_of(item, counts)
                record(con, item.request, status, counts, as_of, keys)
                results.append((status, sum(counts.values())))
            record_removal(con, "erasure", sum(n for _, n in results))
    except BaseException:
        plan.discard()
        raise
    zone.commit(plan)
    if before is not None and vouched is not None:
        record_swept_by_erasure(con, zone, keys, before, plan, vouched)
    return results


def vouched_files(con: duckdb.DuckDBPyConnection, zone: RawZone, keys: DomainKeys
                  ) -> dict[str, str] | None:
    """The raw zone's files (zone_files), for carry_clean_sweep; None when nobody was erased or
    no sweep recorded anything (nothing is hashed then)."""
    suppression = load_suppression(con, keys)
    if not suppression or _last_clean_sweep(con) is None:
        return None
    return zone_files(zone)


def carry_clean_sweep(con: duckdb.DuckDBPyConnection, zone: RawZone, keys: DomainKeys,
                      before: dict[str, str], rewritten: set[str]) -> bool:
    """Keep the record of files swept clean after a change that cannot bring an erased
    subject's row into them: retention blanking never-kept columns of quarantine files
    (`rewritten`, by place) and deleting expired deliveries. `before`: vouched_files before
    the change. A rewritten file stays clean if its version before was; a deleted file leaves
    the record; a new file, or one changed otherwise, is not recorded (the next sweep reads it,
    and only it). Why: the blanking rewrites every new quarantine file, and the build's request
    step then parsed the whole raw zone to find nothing (12-14 s at 1M contracts). Returns
    whether every file of the zone is recorded clean."""
    digest = suppression_digest(zone, load_suppression(con, keys), keys)
    clean = _clean_files(con, digest)
    after = zone_files(zone)
    # a record of a file changed otherwise stays: it vouches for that content only
    kept = {place: sha for place, sha in clean.items() if place in after}
    for place in rewritten & after.keys():
        if place in before and clean.get(place) == before[place]:
            kept[place] = after[place]
    if kept != clean:
        _record_clean_sweep(con, digest, kept)
    return all(kept.get(place) == sha for place, sha in after.items())


def unswept_files(con: duckdb.DuckDBPyConnection, zone: RawZone, keys: DomainKeys,
                  suppression: Suppression | None = None,
                  files: dict[str, str] | None = None) -> set[str]:
    """The places of the raw files a sweep would read now: those not recorded clean, with
    their present checksum, against the present suppression list (all of them without a
    record; none when nobody is suppressed)."""
    suppression = load_suppression(con, keys) if suppression is None else suppression
    if not suppression:
        return set()
    clean = _clean_files(con, suppression_digest(zone, suppression, keys))
    files = zone_files(zone) if files is None else files
    return {place for place, sha in files.items() if clean.get(place) != sha}


def record_swept_by_erasure(con: duckdb.DuckDBPyConnection, zone: RawZone, keys: DomainKeys,
                            before: dict[str, str], plan: raw_rewrite.RewritePlan,
                            vouched: dict[str, str]) -> bool:
    """Record the files an erasure batch left as swept clean, where they are by construction.

    Why: an erasure rewrites landing files, so the next run's sweep (the build DAG's request
    step, an hour later the next day's) found a changed zone and parsed every raw file again
    to find nothing: 10-12 s at 1M contracts. A file is clean by construction when (1) it was
    clean against the suppression list the batch started from in the version the batch read
    (`vouched`: place -> checksum; `before`: the zone the batch read) and (2) the batch removed
    every row of the subjects it added to the list: its matcher (batch_matcher) is the sweep's
    (suppressed_mask: the same dpo pseudonyms of the same kinds) over every file. A file the
    sweeps had not vouched for is left out of the record, and the next sweep reads it (and
    only it).
    """
    after = _after(zone, before, plan)
    if after is None or _last_clean_sweep(con) is None:
        # no sweep recorded yet (the first erasure): the next run's sweep makes the record, so
        # that an erasure never adds a bookkeeping table a first sweep would not have made
        return False
    # _after checked that each rewritten file was `before`'s version when the plan read it
    clean = {place: sha for place, sha in after.items()
             if place in before and vouched.get(place) == before[place]}
    _record_clean_sweep(con, suppression_digest(zone, load_suppression(con, keys), keys), clean)
    return True


# What the sweeps read and found clean, file by file (an audit record like the removals log, not
# subject data): each file's place and checksum, under the digest of the suppression list it
# was swept against. A sweep reads only the files not recorded under the current list with the
# checksum they have now (sweep_suppressed).
SWEEP_TABLE = "audit.raw_zone_sweep"


def suppression_digest(zone: RawZone, suppression: Suppression, keys: DomainKeys) -> str:
    """SHA-256 of what a sweep matches with, apart from the files: the key version, the
    suppressed pseudonyms and the classification's entities (which columns are matched). An
    erasure changes it, and so does a crash between an erasure's commit and its renames (the
    old files with a longer suppression list)."""
    digest = hashlib.sha256()
    for part in (keys.key_version, repr(zone.classification.entities)):
        digest.update(part.encode() + b"\0")
    for kind in sorted(suppression.pseudonyms):
        for pseudonym in sorted(suppression.pseudonyms[kind]):
            digest.update(f"{kind}:{pseudonym}\0".encode())
    return digest.hexdigest()


def zone_files(zone: RawZone) -> dict[str, str]:
    """Every raw file's place (`landing/...` or `quarantine/...`) and SHA-256, in the raw zone's
    order."""
    out = {}
    for where, _entity, path in raw_rewrite.raw_files(zone.landing, zone.quarantine,
                                                      zone.classification):
        root = zone.landing if where == "landing" else zone.quarantine
        out[f"{where}/{path.relative_to(root)}"] = file_sha256(path)
    return out


def _after(zone: RawZone, files: dict[str, str], plan: raw_rewrite.RewritePlan
           ) -> dict[str, str] | None:
    """`files` as the committed plan left them (rewritten files' new checksums, deleted files
    gone); None when the plan touched a file `files` does not hold as the plan read it."""
    out = dict(files)
    for f in plan.files:
        root = zone.landing if f.kind == "landing" else zone.quarantine
        place = f"{f.kind}/{f.path.relative_to(root)}"
        if out.get(place) != f.old_sha:
            return None
        if f.tmp is None:
            del out[place]
        else:
            out[place] = f.new_sha
    return out


def _sweep_table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file-by-file record exists (the one-row record of earlier versions, which
    vouched for the zone as a whole, has no `place`: read as no record)."""
    return bool(con.execute(
        "select count(*) from information_schema.columns where table_schema = 'audit' "
        "and table_name = 'raw_zone_sweep' and column_name = 'place'").fetchall()[0][0])


def _last_clean_sweep(con: duckdb.DuckDBPyConnection) -> str | None:
    """The suppression digest the recorded files were swept clean against (None: no record)."""
    if not _sweep_table_exists(con):
        return None
    row = con.execute(f"select any_value(digest) from {SWEEP_TABLE}").fetchone()
    return row[0] if row else None


def _clean_files(con: duckdb.DuckDBPyConnection, digest: str | None) -> dict[str, str]:
    """Place -> checksum of the files swept clean against the suppression list `digest`."""
    if digest is None or not _sweep_table_exists(con):
        return {}
    return dict(con.execute(f"select place, sha256 from {SWEEP_TABLE} where digest = ? "
                            "and place <> ''", [digest]).fetchall())


def _record_clean_sweep(con: duckdb.DuckDBPyConnection, digest: str,
                        files: dict[str, str]) -> None:
    """Replace the record: these files, as they are, are clean against the list `digest` (an
    empty set of files still records the digest)."""
    con.execute("create schema if not exists audit")
    if not _sweep_table_exists(con):
        con.execute(f"drop table if exists {SWEEP_TABLE}")  # the one-row record of before
    con.execute(f"create table if not exists {SWEEP_TABLE} (digest varchar not null, "
                "place varchar not null, sha256 varchar not null, swept_at timestamp not null)")
    rows = [[digest, place, sha] for place, sha in sorted(files.items())] or [[digest, "", ""]]
    with transaction(con):
        con.execute(f"delete from {SWEEP_TABLE}")
        con.executemany(f"insert into {SWEEP_TABLE} values (?, ?, ?, "
                        "current_timestamp::timestamp)", rows)


def sweep_suppressed(con: duckdb.DuckDBPyConnection, keys: DomainKeys, zone: RawZone,
                     suppression: Suppression) -> int:
    """Remove erased subjects' rows that reached the raw zone since (redeliveries, or a crash
    between an erasure's commit and its renames). Returns the rows removed.

    Why file by file: a sweep parses the files it reads (18 s of a 50k no-op run when it read
    them all; 8-9 s of a 1M one-day run, for a new day of a few thousand rows). A file that an
    earlier sweep (or an erasure, record_swept_by_erasure) found clean against the same
    suppression list, and that has the same checksum, would be found clean again: only new or
    changed files are read. Hashing the files costs a fraction of parsing them."""
    if not suppression:
        return 0
    digest = suppression_digest(zone, suppression, keys)
    files = zone_files(zone)
    todo = unswept_files(con, zone, keys, suppression, files)
    if not todo and _last_clean_sweep(con) == digest:
        return 0
    plan = zone.prepare(subject_matcher(suppression, keys), places=todo)
    if not plan.files:
        _record_clean_sweep(con, digest, files)
        return 0
    try:
        with transaction(con):
            plan.update_audit(con)
            refingerprint(con, plan, keys, zone.classification)
    except BaseException:
        plan.discard()
        raise
    zone.commit(plan)
    return plan.rows
