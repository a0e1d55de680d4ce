"""The DPO's feed of data-subject requests, read raw, and the audit of what was done with each.

Why a module of its own: reading and recording are what make processing idempotent (one audit row
per request id; a request already recorded with a final status is never processed again) and
what the retention rules consult before deleting a DPO delivery (no request is lost with its
file). Nothing here logs or stores an identifier: the audit holds the request id, type, dates,
status and counts per table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from transforms.landing import complete_deliveries, read_raw_csv
from transforms.privacy.keys import DomainKeys
from transforms.rights.removals import utc_now
from transforms.rights.subject_resolution import REQUESTS_ENTITY, GivenIdentifiers

REQUEST_TYPES = ("erasure", "objection", "consent_withdrawal", "restriction",
                 "restriction_lifted", "access")
MART_TYPES = ("objection", "consent_withdrawal", "restriction", "restriction_lifted")
REQUEST_ID = re.compile(r"^DSR-[0-9]{6,}$")

STATUSES = {
    "done": "applied (erasure executed; objection, withdrawal or restriction in force in the "
            "marts from the next build; access answered with counts)",
    "no_match": "the identifiers given match no record",
    "rejected_unknown_type": "the request type is not one the pipeline knows",
    "rejected_malformed": "no usable request id, received date, type or identifier",
    "rejected_insufficient_identifiers": "what was given cannot identify anybody on its own "
                                         "(e.g. a name alone)",
    "rejected_conflicting_identifiers": "the identifiers given lead to different people",
    "awaiting_ingest": "not final: the request row is not in the warehouse yet",
    "failed": "not final: an error stopped processing; nothing was changed; retried next run",
}
FINAL = frozenset(s for s in STATUSES if s not in ("awaiting_ingest", "failed"))

AUDIT_DDL = (
    "create schema if not exists audit",
    """create table if not exists audit.subject_requests (
        request_id varchar, request_type varchar, received_date date, processed_date date,
        processed_at timestamp, status varchar, records bigint, counts varchar,
        source varchar, key_version varchar)""",
)


# -- reading the feed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request row, parsed. Identifiers stay inside `given` (repr hides them)."""

    request_id: str
    request_type: str | None  # a known type, "unknown", or None when missing
    received_date: date | None
    source: str  # the delivery, e.g. dpo/2026-11-26
    given: GivenIdentifiers
    problem: str | None = None  # why the row is malformed: a field name, never a value

    @property
    def sort_key(self) -> tuple:
        return (self.received_date or date.max, self.source, self.request_id)


def _row_reference(row: dict[str, object], keys: DomainKeys) -> str:
    """A stable reference for a row without a usable request id, keyed so that it reveals
    nothing of the row."""
    text = "\x1f".join("" if v is None else str(v) for v in row.values())
    digest = hmac.new(keys.hmac_key("dpo").encode("ascii"), text.encode("utf-8"),
                      hashlib.sha256).hexdigest()
    return f"unidentified-{digest[:16]}"


def parse_request(row: dict[str, object], source: str, delivered: date,
                  keys: DomainKeys) -> Request:
    def text(name: str) -> str | None:
        value = row.get(name)
        value = None if value is None else str(value).strip()
        return value or None

    problem = None
    rid = text("request_id")
    if rid is None or not REQUEST_ID.match(rid):
        rid, problem = _row_reference(row, keys), "request_id"
    rtype = text("request_type")
    if rtype is None:
        problem = problem or "request_type"
    elif rtype.lower() in REQUEST_TYPES:
        rtype = rtype.lower()
    else:
        rtype = "unknown"
    received = None
    try:
        received = date.fromisoformat(text("received_date") or "")
    except ValueError:
        problem = problem or "received_date"
    if received is not None and received > delivered:
        problem = problem or "received_date"
    return Request(rid, rtype, received, source, GivenIdentifiers.from_mapping(row), problem)


def read_requests(landing: Path, keys: DomainKeys, until: date | None) -> tuple[list[Request],
                                                                             int]:
    """Every request of every complete DPO delivery up to `until`, first delivery wins.
    Returns (requests, rows skipped as repeats of a request already read)."""
    seen: dict[str, Request] = {}
    repeats = 0
    for folder in complete_deliveries(landing, REQUESTS_ENTITY[0], until):
        path = folder / f"{REQUESTS_ENTITY[1]}.csv"
        frame = read_raw_csv(path) if path.is_file() else None
        if frame is None:
            continue
        delivered = date.fromisoformat(folder.name)
        for row in frame.iter_rows(named=True):
            req = parse_request(row, f"dpo/{folder.name}", delivered, keys)
            if req.request_id in seen:
                repeats += 1
                continue
            seen[req.request_id] = req
    return sorted(seen.values(), key=lambda r: r.sort_key), repeats


# -- the audit -----------------------------------------------------------------------------


def ensure_audit(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in AUDIT_DDL:
        con.execute(ddl)


def final_request_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    ensure_audit(con)
    rows = con.execute("select request_id from audit.subject_requests where status in "
                       f"({', '.join('?' * len(FINAL))})", sorted(FINAL)).fetchall()
    return {r[0] for r in rows}


def record(con: duckdb.DuckDBPyConnection, req: Request, status: str, counts: dict[str, int],
           processed: date, keys: DomainKeys) -> None:
    """One audit row per request (a retried request replaces its earlier non-final row)."""
    ensure_audit(con)
    con.execute("delete from audit.subject_requests where request_id = ?", [req.request_id])
    con.execute(
        "insert into audit.subject_requests values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [req.request_id, req.request_type, req.received_date, processed, utc_now(), status,
         sum(counts.values()), json.dumps(dict(sorted(counts.items()))), req.source,
         keys.key_version],
    )
