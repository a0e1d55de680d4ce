"""Are subjects who asked for erasure or restriction in the published marts? Counts only.

    uv run python bench/rights_in_marts.py --landing SNAPSHOT --data data --as-of 2026-11-26

SNAPSHOT is a copy of the landing zone taken before the run (an erasure removes the subject's
rows from landing, so they must be looked up in the copy). For every erasure and restriction
request of the DPO feed received up to the as-of date, the subject is resolved through the raw
snapshot (transforms/rights/subject_resolution.py: every contract and person sharing an
identifier), hashed with the run's key, and looked up in the published row-level marts
(actuarial.policy_exposure by contract, marketing.renewal_audience by customer). A restriction
counts only when no lifting of the same subject was received strictly later. Also prints the
requests not in a final state in `audit.subject_requests` (pending). Never prints an identifier
or a pseudonym.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb

from transforms.classification import load as load_classification
from transforms.privacy.keys import load_domain_keys
from transforms.rights.requests import FINAL, read_requests
from transforms.rights.subject_resolution import (
    ConflictingIdentifiers,
    MalformedIdentifiers,
    clues,
    load_raw_index,
    resolve,
)

KINDS = ("contract_number", "customer_number", "person", "names_email")


def given_kind(found: dict[str, str]) -> str:
    return "+".join(sorted(found)) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    args = parser.parse_args(argv)
    keys = load_domain_keys()
    classification = load_classification()
    index = load_raw_index(args.landing, args.data / "quarantine-none", classification)
    requests, _ = read_requests(args.landing, keys, args.as_of)
    subjects = []  # (request, kind, actuarial contract keys, marketing customer keys)
    for req in requests:
        if req.request_type not in ("erasure", "restriction", "restriction_lifted"):
            continue
        try:
            found = clues(req.given)
        except MalformedIdentifiers:
            continue
        if not found:
            continue
        try:
            subject = resolve(None, index, keys, found)
        except ConflictingIdentifiers:
            continue
        subjects.append((req, given_kind(found), subject))
    marts = duckdb.connect(str(args.data / "published" / "marts.duckdb"), read_only=True)
    out: dict[str, object] = {"requests": Counter(), "published": Counter(),
                              "published_rows": Counter()}
    try:
        for req, kind, subject in subjects:
            if req.request_type == "restriction_lifted":
                continue
            if req.request_type == "restriction" and any(
                    r.request_type == "restriction_lifted" and s.overlaps(subject)
                    and r.received_date > req.received_date for r, _, s in subjects):
                continue
            label = f"{req.request_type}:{kind}"
            out["requests"][label] += 1
            contracts = sorted(subject.pseudonyms["actuarial"]["contract_number"])
            customers = sorted(subject.pseudonyms["marketing"]["customer_number"])
            rows = marts.execute(
                "select (select count(*) from actuarial.policy_exposure "
                "where list_contains(?::varchar[], contract_key)) + "
                "(select count(*) from marketing.renewal_audience "
                "where list_contains(?::varchar[], customer_key))", [contracts, customers]
            ).fetchall()[0][0]
            if rows:
                out["published"][label] += 1
                out["published_rows"][label] += rows
    finally:
        marts.close()
    wh = duckdb.connect(str(args.data / "warehouse.duckdb"), read_only=True)
    try:
        statuses = dict(wh.execute(
            "select request_type || ':' || status, count(*) from audit.subject_requests "
            "group by 1 order by 1").fetchall()) if wh.execute(
            "select count(*) from information_schema.tables where table_schema = 'audit' "
            "and table_name = 'subject_requests'").fetchall()[0][0] else {}
        recorded = {r[0] for r in wh.execute(
            "select request_id from audit.subject_requests where status in "
            f"({', '.join('?' * len(FINAL))})", sorted(FINAL)).fetchall()} if statuses else set()
    finally:
        wh.close()
    pending = Counter(r.request_type for r in requests if r.request_id not in recorded)
    out["statuses"] = statuses
    out["pending"] = dict(pending)
    print(json.dumps({k: dict(v) if isinstance(v, Counter) else v for k, v in out.items()},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
