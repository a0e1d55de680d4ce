"""Data-subject requests from the DPO's feed, applied by the pipeline itself.

The source systems do not act on requests (docs/source-contract.md), so the pipeline must. Each
request of `landing/dpo/<date>/subject_requests.csv` is read raw, in memory only, and processed
once (by request id; a repeated delivery of the same request is harmless):

* erasure: every record of the subject is deleted from every pseudonymised table of every
  domain, from the marts and intermediate tables already built, from the subject-request tables,
  from the landing files still kept and from the quarantine, in one warehouse transaction; the
  subject's dpo-domain pseudonyms go to the suppression list so that redeliveries are dropped at
  ingest (transforms/ingest/suppression.py); the warehouse file is compacted; publications made
  before are retired once a rebuild has published a new one (transforms/publish/retirement.py);
* objection, consent withdrawal, restriction, lifting of a restriction: enforced by the dbt
  models from the request rows the ingest loads (pseudo_<purpose>.dpo__subject_requests); here
  the request is resolved, counted and recorded once that row is in the warehouse;
* access: the records found, per table, are counted; the DPO's command line
  (`python -m transforms.rights.processing access ...`) gives the same answer on demand.

Every request leaves one row in `audit.subject_requests`: request id, type, dates, status and
counts per table, never the identity. Bad input gets a status, never a crash: see STATUSES.

Why resolution goes through the raw data: see transforms/rights/subject_resolution.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from transforms import landing as raw_rewrite
from transforms import settings
from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.compaction import compact_if_due
from transforms.ingest.suppression import load_suppression
from transforms.privacy.keys import DomainKeys, load_domain_keys
from transforms.rights.bulk_resolution import resolve_requests
from transforms.rights.erasure import Erasure, RawZone, erase_batch, sweep_suppressed
from transforms.rights.requests import (
    FINAL,
    MART_TYPES,
    REQUEST_ID,
    REQUEST_TYPES,
    STATUSES,
    Request,
    ensure_audit,
    final_request_ids,
    read_requests,
    record,
)
from transforms.rights.subject_resolution import (
    ConflictingIdentifiers,
    GivenIdentifiers,
    MalformedIdentifiers,
    RawIndex,
    Subject,
    Values,
    clues,
    clues_each,
    clues_of,
    load_raw_index,
    match_sql,
    pseudo_tables,
)
from transforms.transaction import transaction

__all__ = ["FINAL", "MART_TYPES", "REQUEST_ID", "REQUEST_TYPES", "STATUSES", "ProcessReport",
           "access_report", "final_request_ids", "main", "process_requests"]

log = logging.getLogger(__name__)

RESOLVED = "pseudo_{d}.dpo__subject_requests_resolved"


@dataclass
class Context:
    """One run of request processing: the warehouse connection, the keys, the raw zone, and
    the in-memory index of raw identifiers (rebuilt after the raw files change)."""

    con: duckdb.DuckDBPyConnection
    keys: DomainKeys
    zone: RawZone
    as_of: date
    about: Values | None = None  # the pending requests' clues: the index holds their rows only
    erasures: list[Erasure] = field(default_factory=list)  # resolved, not yet applied
    resolved: dict[str, Subject | ConflictingIdentifiers] = field(default_factory=dict)
    mart_requests: set[str] = field(default_factory=set)  # pending restrictions and the like
    # each pending request's clues, read once for the run (request_clues)
    known_clues: dict[tuple, dict[str, str] | MalformedIdentifiers] = field(default_factory=dict)
    _index: RawIndex | None = None
    _contract_rows: dict[str, dict[str, set[tuple]]] | None = None
    _loaded: dict[str, set[str]] | None = None

    def loaded(self, request_id: str) -> dict[str, set[str]]:
        """Per domain, whether the ingest has loaded the request (its id in the set): for the
        run's pending mart-type requests looked up together on first use (loaded_request_ids;
        the request loop writes no dpo__subject_requests row), for another one alone."""
        if request_id not in self.mart_requests:
            return loaded_request_ids(self.con, [request_id])
        if self._loaded is None:
            self._loaded = loaded_request_ids(self.con, self.mart_requests)
        return self._loaded

    def index(self) -> RawIndex:
        if self._index is None:
            self._index = load_raw_index(self.zone.landing, self.zone.quarantine,
                                         self.zone.classification, about=self.about)
        return self._index

    def raw_changed(self) -> None:
        self._index = None
        self.resolved = {}  # resolved on the raw rows as they were
        self._contract_rows = None

    def contract_rows(self, request_id: str) -> dict[str, set[tuple]] | None:
        """The contract rows record_resolution writes for this request, per domain, looked up
        for all the run's pending mart-type requests at once on first use (contract_rows_of);
        None when the request was not resolved with the others (it is then looked up alone).
        Exact: nothing in the request loop changes the contracts tables (the run's erasures are
        applied after it)."""
        if self._contract_rows is None:
            subjects = {rid: r for rid, r in self.resolved.items()
                        if rid in self.mart_requests and isinstance(r, Subject) and r.records}
            try:
                self._contract_rows = contract_rows_of(self.con, subjects)
            except Exception as exc:  # never a crash: record_resolution looks up alone
                log.error("looking up %d resolutions together: %s; one at a time",
                          len(subjects), type(exc).__name__)
                self._contract_rows = {}
        return self._contract_rows.get(request_id)

    def resolve_pending(self, requests: list[Request]) -> None:
        """Resolve every request that will need its subject, all at once
        (transforms/rights/bulk_resolution.py): one scan per table and fixpoint step for the
        whole run instead of thousands per request. Should it fail, each request is resolved
        alone when processed, and fails alone as before."""
        pending: dict[str, dict[str, str]] = {}
        for req in requests:
            found, rejected = request_clues(req, self.known_clues)
            if rejected is None:
                pending[req.request_id] = found
                if req.request_type in MART_TYPES:
                    self.mart_requests.add(req.request_id)
        if not pending:  # nothing to resolve: the raw index (8 s at 1M) is not read
            self.resolved = {}
            return
        try:
            self.resolved = resolve_requests(self.con, self.index(), self.keys, pending)
        except Exception as exc:  # never a crash: process_one resolves and fails per request
            log.error("resolving %d requests together: %s; resolved one at a time", len(pending),
                      type(exc).__name__)
            self.resolved = {}

    def subject(self, req: Request, found: dict[str, str]) -> Subject:
        """The request's subject (resolved with the run's others when it could be); raises
        ConflictingIdentifiers when its clues lead to different people."""
        result = self.resolved.get(req.request_id)
        if result is None:
            result = resolve_requests(self.con, self.index(), self.keys,
                                      {req.request_id: found})[req.request_id]
        if isinstance(result, ConflictingIdentifiers):
            raise result
        return result


@dataclass
class ProcessReport:
    """Counts for the DAG's XCom and the logs: never an identifier."""

    requests_read: int = 0
    repeats_skipped: int = 0
    already_processed: int = 0
    statuses: Counter = field(default_factory=Counter)
    erasures: int = 0
    rows_erased: int = 0
    redelivered_rows_swept: int = 0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "statuses": dict(self.statuses)}

    @property
    def changed(self) -> bool:
        return bool(self.rows_erased or self.redelivered_rows_swept
                    or self.statuses.get("done", 0))


def loaded_request_ids(con: duckdb.DuckDBPyConnection, request_ids: Iterable[str]
                       ) -> dict[str, set[str]]:
    """domain -> which of `request_ids` the ingest has loaded into its dpo__subject_requests
    (the rows the dbt models enforce a request from): one query per domain for a run's
    requests, not one per request and domain with the catalog looked up each time."""
    ids = sorted(set(request_ids))
    out: dict[str, set[str]] = {}
    for domain in RESOLVED_KEYS:
        table = f"pseudo_{domain}.dpo__subject_requests"
        out[domain] = set()
        if ids and table in pseudo_tables(con, domain):
            out[domain] = {r for (r,) in con.execute(
                f"select distinct request_id from {table} where request_id in "
                f"(select unnest(?::varchar[]))", [ids]).fetchall()}
    return out


RESOLVED_KEYS = {
    "actuarial": ["person_key", "contract_key"],
    "marketing": ["person_key", "contract_key", "customer_key"],
}


def ensure_resolution_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (empty) resolution tables, so that dbt can always read them."""
    for domain, keys in RESOLVED_KEYS.items():
        con.execute(f"create schema if not exists pseudo_{domain}")
        con.execute(f"create table if not exists {RESOLVED.format(d=domain)} (request_id varchar, "
                    "request_type varchar, received_date date, "
                    + ", ".join(f"{k} varchar" for k in keys) + ", _key_version varchar)")


def _contracts_table(con: duckdb.DuckDBPyConnection, domain: str
                     ) -> tuple[str, dict[str, str]] | None:
    """The domain's contracts table and its pseudonym columns, or None when it has none."""
    contracts = f"pseudo_{domain}.policy_admin__contracts"
    tables = pseudo_tables(con, domain)
    return (contracts, tables[contracts]) if contracts in tables else None


def contract_rows_of(con: duckdb.DuckDBPyConnection, subjects: dict[str, Subject]
                     ) -> dict[str, dict[str, set[tuple]]]:
    """request id -> domain -> the distinct RESOLVED_KEYS rows of the domain's contracts table
    that hold one of the subject's pseudonyms: what record_resolution selects per request,
    for many requests with one join per domain and pseudonym column instead of one scan of
    the contracts table per request and domain (at 1M contracts, each scan is a full one)."""
    out: dict[str, dict[str, set[tuple]]] = {rid: {d: set() for d in RESOLVED_KEYS}
                                             for rid in subjects}
    for domain, keys in RESOLVED_KEYS.items():
        found = _contracts_table(con, domain)
        if found is None or not subjects:
            continue
        contracts, columns = found
        clues = [(rid, column, value) for rid, subject in subjects.items()
                 for column, kind in columns.items()
                 for value in subject.pseudonyms.get(domain, {}).get(kind, ())]
        if not clues:
            continue
        rids, names, values = (list(x) for x in zip(*clues, strict=True))
        con.register("_resolution_clues", pa.table(
            {"request_id": rids, "column_name": names, "value": values}))
        try:
            picked = ", ".join(f't."{k}"' for k in keys)
            sql = " union ".join(
                f"select q.request_id, {picked} from _resolution_clues q join {contracts} t "
                f"on q.column_name = '{column}' and t.\"{column}\" = q.value"
                for column in columns)
            for rid, *row in con.execute(sql).fetchall():
                out[rid][domain].add(tuple(row))
        finally:
            con.unregister("_resolution_clues")
    return out


def record_resolution(con: duckdb.DuckDBPyConnection, req: Request, subject: Subject,
                      key_version: str, contract_rows: dict[str, set[tuple]] | None = None,
                      *, tables_exist: bool = False) -> int:
    """Write, per domain, the subject's contract and person pseudonyms under the request id
    (`pseudo_<domain>.dpo__subject_requests_resolved`, shaped like dpo__subject_requests).

    Why: the request row the ingest loads carries only the pseudonyms of what the subject gave;
    a restriction given with a customer number alone cannot be matched in the actuarial domain,
    which has no customer pseudonym. The resolution through the raw data can, and this table
    hands its result to the retention hold (and to the dbt models, which may union it).
    `contract_rows`: the contracts' rows per domain, when looked up with the run's other
    requests (contract_rows_of); otherwise they are selected here. `tables_exist`: the caller
    made the tables (ensure_resolution_tables) for its whole run.
    """
    n = 0
    if not tables_exist:
        ensure_resolution_tables(con)
    for domain, keys in RESOLVED_KEYS.items():
        pseudonyms = subject.pseudonyms.get(domain, {})
        table = RESOLVED.format(d=domain)
        con.execute(f"delete from {table} where request_id = ?", [req.request_id])
        rows: set[tuple] = set()
        if contract_rows is not None:
            rows |= contract_rows.get(domain, set())
        elif (found := _contracts_table(con, domain)) is not None:
            contracts, columns = found
            where, params = match_sql(columns, pseudonyms)
            rows |= set(con.execute(f"select distinct {', '.join(keys)} from {contracts} "
                                    f"where {where}", params).fetchall())
        rows |= {(p, *([None] * (len(keys) - 1))) for p in pseudonyms.get("person", ())}
        ordered = sorted(rows, key=lambda r: tuple(x or "" for x in r))
        if ordered:  # one statement per request and domain
            one = f"(?, ?, ?, {', '.join('?' * len(keys))}, ?)"
            con.execute(f"insert into {table} values {', '.join([one] * len(ordered))}",
                        [x for row in ordered for x in (req.request_id, req.request_type,
                                                        req.received_date, *row, key_version)])
            n += len(ordered)
    return n


def request_clues(req: Request, known: dict[tuple, dict[str, str] | MalformedIdentifiers]
                  | None = None) -> tuple[dict[str, str], str | None]:
    """The request's clues, or the status that rejects it before any resolution. One place for
    both the run's bulk resolution (which resolves only what will be needed) and process_one.
    `known`: clues read for the run's pending requests at once (read_clues), by given values."""
    if req.problem is not None or req.request_type is None:
        return {}, "rejected_malformed"
    if req.request_type == "unknown":
        return {}, "rejected_unknown_type"
    if not req.given.any_given():
        return {}, "rejected_malformed"
    found = (known or {}).get(_given_values(req.given))
    if found is None:
        try:
            found = clues(req.given)
        except MalformedIdentifiers:
            return {}, "rejected_malformed"
    if isinstance(found, MalformedIdentifiers):
        return {}, "rejected_malformed"
    if not found:
        return {}, "rejected_insufficient_identifiers"
    return found, None


def process_one(ctx: Context, req: Request, report: ProcessReport) -> str:
    """Apply one request and record it; returns its status, or PENDING for an erasure, which
    is resolved here and applied with the run's other erasures (`apply_erasures`)."""
    def done(status: str, counts: dict[str, int] | None = None) -> str:
        record(ctx.con, req, status, counts or {}, ctx.as_of, ctx.keys)
        return status

    found, rejected = request_clues(req, ctx.known_clues)
    if rejected is not None:
        return done(rejected)
    try:
        subject = ctx.subject(req, found)
    except ConflictingIdentifiers:
        return done("rejected_conflicting_identifiers")
    if req.request_type == "erasure":  # applied with the run's other erasures, at the end
        ctx.erasures.append(Erasure(req, subject if subject.records else None))
        return PENDING
    counts = {k: v for k, v in subject.counts.items() if "subject_requests" not in k}
    if not subject.records:
        return done("no_match")
    if req.request_type in MART_TYPES:
        domains = ("actuarial", "marketing") if req.request_type.startswith("restriction") \
            else ("marketing",)
        # the resolution is in force from the next build even before the ingest has loaded the
        # request row: no build may publish a restricted subject in between
        loaded = ctx.loaded(req.request_id)
        status = ("done" if all(req.request_id in loaded[d] for d in domains)
                  else "awaiting_ingest")
        with transaction(ctx.con):
            record_resolution(ctx.con, req, subject, ctx.keys.key_version,
                              ctx.contract_rows(req.request_id), tables_exist=True)
            done(status, counts)
        return status
    return done("done", counts)


def read_clues(requests: list[Request]) -> dict[tuple, dict[str, str] | MalformedIdentifiers]:
    """The clues of every well-formed request, read in one pass (clues_each), by the given
    values: request_clues then looks them up instead of reading each request again."""
    readable = [r.given for r in requests if r.problem is None and r.given.any_given()]
    return {_given_values(g): found for g, found in zip(readable, clues_each(readable),
                                                         strict=True)}


def _given_values(given: GivenIdentifiers) -> tuple:
    return tuple(given.__dict__.values())


PENDING = "pending_erasure"  # process_one's answer for an erasure: applied in a batch
ERASURE_BATCH = 1_000  # erasures applied together: one raw-zone pass and one transaction each


def apply_erasures(ctx: Context, report: ProcessReport) -> None:
    """Apply the run's resolved erasures, ERASURE_BATCH at a time, each batch all or nothing.

    Why batches and not one erasure at a time: each pass reads the whole raw zone (see
    transforms/rights/erasure.py); why not one batch whatever its size: the batch's pseudonyms
    are held in memory and staged in the warehouse, and a failure sends the whole batch to
    `failed` (retried next run). A run's requests fit in one batch (the feed brings a few
    hundred); a backlog is cut.
    A batch whose transaction does not fit in DuckDB's memory limit is applied again as two
    halves, each all or nothing (down to single requests), rather than failed: at 3M contracts
    the daily feed's 625 erasures in one transaction ran out of the rights step's 512MB every
    time, so that they were retried, and failed, run after run. Each half reads the raw zone
    again: the price of staying within the limit.
    Applied after the run's other requests: a later request of the same run about an erased
    subject is answered as of before the erasure (counts only; its rows go with the erasure).
    """
    pending, ctx.erasures = ctx.erasures, []
    queue = [pending[start:start + ERASURE_BATCH]
             for start in range(0, len(pending), ERASURE_BATCH)]
    while queue:
        batch = queue.pop(0)
        try:
            results = erase_batch(ctx.con, ctx.keys, ctx.zone, ctx.as_of, batch)
        except Exception as exc:  # never a crash, never a partial erasure
            if out_of_memory(exc) and len(batch) > 1:
                half = len(batch) // 2
                log.warning("%d erasure requests did not fit in DuckDB's memory limit in one "
                            "transaction (nothing changed); applying them in two halves",
                            len(batch))
                queue[:0] = [batch[:half], batch[half:]]
                continue
            log.error("%d erasure requests: %s; nothing changed, retried next run", len(batch),
                      type(exc).__name__)
            for item in batch:
                record(ctx.con, item.request, "failed", {}, ctx.as_of, ctx.keys)
            results = [("failed", 0)] * len(batch)
        ctx.raw_changed()
        for status, rows in results:
            report.statuses[status] += 1
            report.erasures += status == "done"
            report.rows_erased += rows


_MEMORY_MESSAGE = re.compile(r"out of memory|failed to pin block|could not allocate",
                             re.IGNORECASE)


def out_of_memory(exc: BaseException) -> bool:
    """Whether DuckDB's memory limit caused `exc`: an OutOfMemoryException, raised or behind
    what it set off (a statement after it in the aborted transaction fails with a
    TransactionException whose context is the OutOfMemoryException), or a commit that could not
    get its memory, which DuckDB raises as a TransactionException ('Failed to commit: failed to
    pin block of size ...'; at 10M contracts the halves of a batch failed so). The message is
    read here only, never logged: DuckDB's memory messages name sizes, not data."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, duckdb.OutOfMemoryException):
            return True
        if isinstance(current, duckdb.Error) and _MEMORY_MESSAGE.search(str(current)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def process_requests(landing: Path, quarantine: Path, warehouse: Path, keys: DomainKeys,
                     as_of: date, *, classification: Classification | None = None,
                     compact: bool = True, raw_commits: list | None = None) -> ProcessReport:
    """Process every request not yet processed, received in deliveries up to `as_of`.
    `raw_commits`: see RawZone.deferred (the Spark engine's working copy)."""
    classification = classification or load_classification()
    report = ProcessReport()
    raw_rewrite.discard_pending(landing, quarantine)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    # an erasure's deletes and rewrites: memory set, not by the book
    settings.bound_duckdb(con, settings.duckdb_maintenance_memory_limit())
    try:
        ensure_audit(con)
        ensure_resolution_tables(con)  # once for the run's record_resolution calls
        ctx = Context(con, keys, RawZone(landing, quarantine, classification, raw_commits),
                      as_of)
        suppression = load_suppression(con, keys)
        if suppression.stale:
            log.warning("%d suppression entries were made with another key version and cannot "
                        "be matched (see docs/retention-and-rights.md)", suppression.stale)
        report.redelivered_rows_swept = sweep_suppressed(con, keys, ctx.zone, suppression)
        ctx.raw_changed()
        requests, report.repeats_skipped = read_requests(landing, keys, as_of)
        report.requests_read = len(requests)
        finished = final_request_ids(con)
        pending = [r for r in requests if r.request_id not in finished]
        ctx.known_clues = read_clues(pending)
        ctx.about = clues_of(r.given for r in pending if r.problem is None)
        ctx.resolve_pending(pending)
        for req in requests:
            if req.request_id in finished:
                report.already_processed += 1
                continue
            try:
                status = process_one(ctx, req, report)
            except Exception as exc:  # never a crash, never a partial erasure
                log.error("request %s: %s; nothing changed, retried next run", req.request_id,
                          type(exc).__name__)
                record(con, req, "failed", {}, as_of, keys)
                status = "failed"
            if status != PENDING:
                report.statuses[status] += 1
        apply_erasures(ctx, report)
    finally:
        con.close()
    if compact:  # deleted rows must not survive in the file (marked due by the erasure)
        compact_if_due(warehouse)
    log.info("subject requests: %s", json.dumps(report.as_dict(), default=str))
    return report


# -- access --------------------------------------------------------------------------------


def access_report(given: GivenIdentifiers, *, landing: Path, quarantine: Path, warehouse: Path,
                  keys: DomainKeys, classification: Classification | None = None
                  ) -> dict[str, int]:
    """Records held about a subject, per table (and raw place): counts only."""
    classification = classification or load_classification()
    found = clues(given)
    if not found:
        raise MalformedIdentifiers("not enough identifiers: give a contract number, a customer "
                                   "number, or surname, first name and date of birth")
    index = load_raw_index(landing, quarantine, classification,
                           about={k: {v} for k, v in found.items()})
    con = duckdb.connect(str(warehouse), read_only=True) if warehouse.exists() else None
    try:
        subject = resolve_requests(con, index, keys, {"access": found})["access"]
    finally:
        if con is not None:
            con.close()
    if isinstance(subject, ConflictingIdentifiers):
        raise subject
    return dict(sorted(subject.counts.items()))


def _access_main(args: argparse.Namespace) -> int:
    given = GivenIdentifiers(args.surname, args.first_name, args.date_of_birth, args.email,
                             args.contract_number, args.customer_number)
    p = settings.paths()
    try:
        counts = access_report(given, landing=p.landing, quarantine=p.quarantine,
                               warehouse=p.warehouse, keys=load_domain_keys())
    except MalformedIdentifiers as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConflictingIdentifiers as exc:
        print(f"error: {exc}; check them with the subject", file=sys.stderr)
        return 3
    except duckdb.IOException:
        print("error: the warehouse is in use by another process; try again", file=sys.stderr)
        return 1
    if not counts:
        print("No record found for the identifiers given.")
        return 0
    width = max(len(k) for k in counts)
    print("Records held about the subject (table: count). Raw places are landing files still "
          "kept and the quarantine;\nsubject_requests rows are the subject's own requests.")
    for place, n in counts.items():
        print(f"  {place:<{width}}  {n:>6}")
    print(f"  {'total':<{width}}  {sum(counts.values()):>6}")
    return 0


def _process_main(args: argparse.Namespace) -> int:
    p = settings.paths()
    as_of = args.as_of or settings.as_of_override() or date.today()
    report = process_requests(p.landing, p.quarantine, p.warehouse, load_domain_keys(), as_of)
    print(json.dumps(report.as_dict(), indent=2, default=str))
    return 1 if report.statuses.get("failed") else 0


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transforms.rights.processing",
        description="Data-subject rights: access report for the DPO, request processing.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    acc = sub.add_parser("access", help="count the records held about a subject "
                                        "(never prints an identifier)")
    # plain strings: argparse would echo a value it cannot convert
    for flag in ("--surname", "--first-name", "--date-of-birth", "--email", "--contract-number",
                 "--customer-number"):
        acc.add_argument(flag, default=None, metavar="TEXT")
    proc = sub.add_parser("process", help="process the DPO feed's pending requests")
    proc.add_argument("--as-of", type=_date_arg, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return _access_main(args) if args.cmd == "access" else _process_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
