"""Data-subject requests on a real small book: generated, ingested, built with dbt, published.

One scenario for the module (a dbt build per day, about a minute in all):

* day 26: the generated book and its own DPO feed are ingested and processed, marts built and
  published (publication 1);
* day 27: a DPO delivery with our requests: an erasure (customer number only, so that the
  actuarial domain can only be reached through the raw data), an objection, a consent
  withdrawal, two restrictions, an access request and bad input of every kind; ingested,
  processed, rebuilt, published (publication 2), stale publications retired;
* day 28: the restriction is lifted, the erasure request is delivered again, and the source
  systems redeliver the erased subject's rows; ingested, processed, rebuilt, published.

Then everything the pipeline holds is searched for the erased subject's identifiers and
pseudonyms in every domain: only the documented dpo-domain suppression entries remain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from rights_book import (
    Book,
    FileLog,
    customer_rows,
    found_elsewhere,
    identifier_values,
    landing_frames,
    make_book,
    other_rows_text,
    pseudonyms_of,
    write_delivery,
    write_dpo,
)

from transforms import landing as raw_rewrite
from transforms.build import dbt_run
from transforms.build.dbt_run import run_dbt
from transforms.classification import PROJECT_ROOT, load
from transforms.ingest.fingerprints import (
    FINGERPRINT,
    OCCURRENCES,
    SCHEMA,
    fingerprint_counts,
    fingerprint_frame,
)
from transforms.ingest.suppression import load_suppression
from transforms.operations.leak_scan import scan
from transforms.privacy.identity import identity_frame
from transforms.privacy.keys import FINGERPRINT_DOMAIN, DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.publish.publication import current_publication, publications_root, publish
from transforms.publish.retirement import retire_stale_publications
from transforms.rights import processing as rights
from transforms.rights.bulk_resolution import resolve_requests
from transforms.rights.erasure import (
    RawZone,
    _clean_files,
    _last_clean_sweep,
    subject_matcher,
    suppression_digest,
    sweep_suppressed,
    zone_files,
)
from transforms.rights.removals import latest_removal
from transforms.rights.subject_resolution import (
    ConflictingIdentifiers,
    GivenIdentifiers,
    clues_of,
    load_raw_index,
    resolve_request,
)
from transforms.settings import environment

WORDS = ", ".join(FINGERPRINT)  # the fingerprint columns, as SQL

D26, D27, D28 = date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 28)
MARTS_AS_OF = D26  # one as-of for every build, so that rows compare across days
SUPPRESSION = "warehouse.duckdb:rights.erasure_suppression.pseudonym"


def _build_and_publish(book: Book, run_id: str) -> None:
    # a 900-contract book is far too small for the 5 % uniqueness rule: with it, the row-level
    # marts would withhold most subjects, whose presence before a request is what is checked here
    run_dbt(["build", "--quiet"], warehouse=book.warehouse, as_of=MARTS_AS_OF,
            extra_vars={"max_unique_share": 1})
    publish(book.warehouse, book.published, run_id=run_id, gate_required=False)


def _copy_of(world: dict, tmp_path: Path) -> Book:
    """The world's book copied under tmp_path, for a test that changes it."""
    src: Book = world["book"]
    book = Book(tmp_path / "data", src.keys)
    shutil.copytree(src.data, book.data, symlinks=True)
    return book


def _query(book: Book, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _hashed(book: Book, domain: str, values: list[str]) -> list[str]:
    """The engine's pseudonyms of normalised reference numbers, in order."""
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    return frame.select(pseudonymise(pl.col("v"), book.keys, domain)).to_series().to_list()


def _contract_keys(book: Book, contracts: pl.DataFrame, customer: str) -> set[str]:
    numbers = contracts.filter(pl.col("customer_number") == customer)["contract_number"]
    return set(_hashed(book, "actuarial", numbers.unique().to_list()))


def _audience(book: Book) -> set[str]:
    return {r[0] for r in _query(book, "select customer_key from marketing.renewal_audience")}


def _exposure(book: Book, contract_keys: set[str]) -> list[tuple]:
    return sorted(_query(book, "select * from actuarial.policy_exposure where "
                               "list_contains(?::varchar[], contract_key)",
                         [sorted(contract_keys)]))


def _person_row(contracts: pl.DataFrame, customer: str) -> dict:
    return contracts.filter(pl.col("customer_number") == customer).row(0, named=True)


def _pick_subjects(book: Book) -> dict[str, str]:
    """Customers for each role: the erased one has claims, the others are in the renewal
    audience (so that leaving it shows)."""
    contracts = pl.concat([pl.read_csv(p, infer_schema=False) for p in
                           sorted(book.landing.glob("policy_admin/*/contracts.csv"))])
    claims = pl.concat([pl.read_csv(p, infer_schema=False) for p in
                        sorted(book.landing.glob("claims/*/claims.csv"))])
    customers = sorted(set(contracts["customer_number"].drop_nulls().to_list()))
    mkeys = dict(zip(customers, _hashed(book, "marketing", customers), strict=True))
    audience = _audience(book)
    in_audience = [c for c in customers if mkeys[c] in audience]
    per_customer = contracts.group_by("customer_number").agg(pl.col("contract_number").unique())
    with_claims = claims.group_by("contract_number").len()
    score = per_customer.explode("contract_number").join(
        with_claims, on="contract_number", how="left").group_by("customer_number").agg(
        pl.col("contract_number").n_unique().alias("contracts"),
        pl.col("len").fill_null(0).sum().alias("claims"))
    erased = score.filter(~pl.col("customer_number").is_in(in_audience)).sort(
        ["claims", "contracts", "customer_number"], descending=[True, True, False]
    )["customer_number"][0]
    assert len(in_audience) >= 4, "the book is too small for the scenario"
    others = [c for c in customers if c not in in_audience and c != erased]
    return {"E": erased, "O": in_audience[0], "W": in_audience[1], "R": in_audience[2],
            "R2": in_audience[3], "A": others[0]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("rights")
    key = os.urandom(32).hex()
    with environment(PIPELINE_MASTER_KEY=key, PIPELINE_DATA_DIR=str(base / "data")), \
            FileLog(base / "data" / "logs" / "pipeline.log"):
        keys = DomainKeys.derive(bytes.fromhex(key))
        book = make_book(base / "data", keys, contracts=900, as_of=D26, seed=11)
        w: dict = {"book": book, "base": base, "key": key}
        w["day26"] = rights.process_requests(book.landing, book.quarantine, book.warehouse,
                                             keys, D26)
        _build_and_publish(book, "day26")
        w["pub1"] = current_publication(book.published)
        s = w["subjects"] = _pick_subjects(book)
        contracts = pl.concat([pl.read_csv(p, infer_schema=False) for p in
                               sorted(book.landing.glob("policy_admin/*/contracts.csv"))])
        people = {role: _person_row(contracts, c) for role, c in s.items()}
        w["people"] = people

        # what the erased subject is, before: raw rows, values, pseudonyms (positive control)
        rows = customer_rows(book.landing, s["E"])
        w["e_rows"] = rows
        values = identifier_values(rows)
        values -= found_elsewhere(values, other_rows_text(book.landing, rows))
        w["e_values"] = values
        w["e_pseudonyms"] = pseudonyms_of(keys, rows)
        w["e_prints"] = _own_fingerprints(book, keys, rows)
        w["e_prints_before"] = w["e_prints"] & _stored_fingerprints(book)
        w["before_scan"] = scan([book.warehouse, book.landing, book.published],
                                values | set().union(*w["e_pseudonyms"].values()))
        w["audience_26"] = _audience(book)
        for role in ("O", "R", "R2"):
            w[f"{role.lower()}_contracts"] = _contract_keys(book, contracts, s[role])
        w["exposure_26"] = {k: _exposure(book, w[k]) for k in
                            ("o_contracts", "r_contracts", "r2_contracts")}
        w["mkeys"] = dict(zip(s, _hashed(book, "marketing", list(s.values())), strict=True))

        # day 27: our requests
        o, wp, r, a = people["O"], people["W"], people["R"], people["A"]
        day27 = [
            {"request_id": "DSR-990001", "request_type": "erasure", "received_date": "2026-11-27",
             "customer_number": s["E"]},
            {"request_id": "DSR-990002", "request_type": "objection",
             "received_date": "2026-11-27", "surname": o["surname"].upper(),
             "first_name": o["first_name"], "date_of_birth": o["date_of_birth"]},
            {"request_id": "DSR-990003", "request_type": "consent_withdrawal",
             "received_date": "2026-11-27", "contract_number": wp["contract_number"]},
            {"request_id": "DSR-990004", "request_type": "restriction",
             "received_date": "2026-11-26", "contract_number": r["contract_number"],
             "email": r["email"]},
            {"request_id": "DSR-990005", "request_type": "restriction",
             "received_date": "2026-11-27", "customer_number": s["R2"]},
            {"request_id": "DSR-990006", "request_type": "access", "received_date": "2026-11-27",
             "surname": a["surname"], "first_name": a["first_name"],
             "date_of_birth": a["date_of_birth"], "contract_number": a["contract_number"]},
            # bad input
            {"request_id": "DSR-990007", "request_type": "erasure", "received_date": "2026-11-27",
             "surname": "Nobody", "first_name": "Atall", "customer_number": "C99999999"},
            {"request_id": "DSR-990008", "request_type": "rectification",
             "received_date": "2026-11-27", "customer_number": s["A"]},
            {"request_id": "DSR-990009", "request_type": "access", "received_date": "2026-02-30",
             "customer_number": s["A"]},
            {"request_id": None, "request_type": "access", "received_date": "2026-11-27",
             "customer_number": s["A"]},
            {"request_id": "DSR-990011", "request_type": "erasure", "received_date": "2026-11-27",
             "surname": a["surname"], "first_name": a["first_name"]},
            {"request_id": "DSR-990012", "request_type": "access", "received_date": "2026-11-27",
             "contract_number": a["contract_number"], "customer_number": s["O"]},
            {"request_id": "DSR-990013", "request_type": "erasure", "received_date": "2026-11-27",
             "contract_number": "XYZ-1"},
            {"request_id": "DSR-990014", "request_type": "objection",
             "received_date": "2026-11-27"},
        ]
        write_dpo(book.landing, D27, day27)
        book.ingest()
        w["day27"] = rights.process_requests(book.landing, book.quarantine, book.warehouse,
                                             keys, D27)
        _build_and_publish(book, "day27")
        w["retired_27"] = retire_stale_publications(book.published,
                                                    latest_removal(book.warehouse))
        w["audience_27"] = _audience(book)
        w["exposure_27"] = {k: _exposure(book, w[k]) for k in
                            ("o_contracts", "r_contracts", "r2_contracts")}

        # day 28: lifting, a repeated request, and the source systems redeliver the subject
        write_dpo(book.landing, D28, [
            {**day27[0]},
            {"request_id": "DSR-990015", "request_type": "restriction_lifted",
             "received_date": "2026-11-28", "contract_number": r["contract_number"],
             "email": r["email"]},
        ])
        write_delivery(book.landing, "policy_admin", D28, {
            "contracts.csv": rows[("policy_admin", "contracts")],
            "quotes.csv": rows[("policy_admin", "quotes")]})
        write_delivery(book.landing, "claims", D28, {
            "claims.csv": rows[("claims", "claims")],
            "claim_transactions.csv": rows[("claims", "claim_transactions")]})
        w["ingest_28"] = book.ingest()
        w["day28"] = rights.process_requests(book.landing, book.quarantine, book.warehouse,
                                             keys, D28)
        _build_and_publish(book, "day28")
        w["retired_28"] = retire_stale_publications(book.published,
                                                    latest_removal(book.warehouse))
        w["audience_28"] = _audience(book)
        w["exposure_28"] = {k: _exposure(book, w[k]) for k in
                            ("o_contracts", "r_contracts", "r2_contracts")}
        yield w


def _landing_fingerprints(landing: Path, keys: DomainKeys) -> set[tuple[str, str, str]]:
    """(table, delivery date, fingerprint) of every landing file as it is now."""
    classification, key = load(), keys.hmac_key(FINGERPRINT_DOMAIN)
    found = set()
    for system, name, path, frame in landing_frames(landing):
        entity = classification.entity(system, name)
        found |= {(f"{system}__{name}", path.parent.name, f) for f in
                  fingerprint_frame(frame, entity, key).select(*FINGERPRINT).rows()}
    return found


def _stored_fingerprints(book: Book, with_dates: bool = False) -> set:
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = ?", [SCHEMA]).fetchall()]
        rows = [(t, str(d), tuple(fp)) for t in tables for d, *fp in con.execute(
            f"select _delivery_date, {WORDS} from {SCHEMA}.{t} where chars > 0"
        ).fetchall()]
    finally:
        con.close()
    return set(rows) if with_dates else {f for _, _, f in rows}


def _own_fingerprints(book: Book, keys: DomainKeys,
                      rows: dict[tuple[str, str], pl.DataFrame]) -> set[str]:
    """The gate fingerprints of the subject's rows that no other landing row shares."""
    classification, key = load(), keys.hmac_key(FINGERPRINT_DOMAIN)
    mine = set().union(*(set(fingerprint_frame(f, classification.entity(*k), key)
                             .select(*FINGERPRINT).rows()) for k, f in rows.items() if f.height))
    everyone = {f for _, _, f in _landing_fingerprints(book.landing, keys)}
    own_rows = sum(f.height for f in rows.values())
    assert own_rows and mine <= everyone
    others = set()
    for system, name, _, frame in landing_frames(book.landing):
        own = rows.get((system, name))
        if own is not None and own.height:
            frame = frame.join(own.select(frame.columns).unique(), on=frame.columns, how="anti",
                               nulls_equal=True)
        entity = classification.entity(system, name)
        others |= set(fingerprint_frame(frame, entity, key).select(*FINGERPRINT).rows())
    return mine - others


def test_erasure_takes_the_subjects_gate_fingerprints_with_its_rows(world: dict) -> None:
    """The gate's fingerprints are keyed hashes of delivered identifiers: an erased subject's go
    with the rows, and what stays is exactly the fingerprints of the rows the landing zone still
    holds (a value another person shares stays looked for)."""
    book: Book = world["book"]
    keys = DomainKeys.derive(bytes.fromhex(world["key"]))
    assert world["e_prints_before"], "positive control: the subject was fingerprinted at ingest"
    stored = _stored_fingerprints(book, with_dates=True)
    left = world["e_prints"] & {f for _, _, f in stored}
    assert not left, f"{len(left)} of the subject's fingerprints remain"  # counts, no hash
    expected = _landing_fingerprints(book.landing, keys)
    assert stored == expected, f"{len(stored - expected)} extra, {len(expected - stored)} missing"


def test_erasure_leaves_each_fingerprint_counted_as_the_kept_rows_count_it(world: dict) -> None:
    """The erasure subtracts the removed rows' fingerprint counts instead of fingerprinting
    every kept row again: what is left must equal, fingerprint by fingerprint, the counts of the
    landing files as they are now (what fingerprinting them whole would write)."""
    book: Book = world["book"]
    keys = DomainKeys.derive(bytes.fromhex(world["key"]))
    classification, key = load(), keys.hmac_key(FINGERPRINT_DOMAIN)
    expected = {}
    for system, name, path, frame in landing_frames(book.landing):
        counts = fingerprint_counts(frame, classification.entity(system, name), key)
        for *fp, chars, n in counts.iter_rows():
            expected[(f"{system}__{name}", path.parent.name, *fp, chars)] = n
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        stored = {}
        for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = ?",
                                [SCHEMA]).fetchall():
            for day, *fp, chars, n in con.execute(
                    f"select _delivery_date::varchar, {WORDS}, chars, sum({OCCURRENCES}) "
                    f"from {SCHEMA}.{t} where chars > 0 group by all").fetchall():
                stored[(t, day, *fp, chars)] = n
    finally:
        con.close()
    assert stored, "positive control: fingerprints were stored"
    differ = {k for k in stored.keys() | expected.keys() if stored.get(k) != expected.get(k)}
    assert not differ, f"{len(differ)} fingerprints counted differently"  # counts, no hash


def test_the_recount_deletes_through_a_semi_join() -> None:
    """The plan DuckDB makes of remove_rows' delete: a semi join with the recounted
    fingerprints, not a dependent subquery over every fingerprint of the delivery (which ran out
    of memory at 3M contracts)."""
    from transforms.ingest import fingerprints

    con = duckdb.connect()
    try:
        con.execute("create schema gate_fingerprints")
        columns = ", ".join(f"{c} uinteger" for c in fingerprints.FINGERPRINT)
        con.execute(f"create table gate_fingerprints.t ({columns}, chars integer, "
                    f"occurrences bigint, {fingerprints.DELIVERY_COLUMN} date, "
                    f"{fingerprints.KEY_VERSION_COLUMN} varchar)")
        words = ", ".join(fingerprints.FINGERPRINT)
        con.execute(f"create temp table {fingerprints.LEFT} as select {words}, chars, "
                    "occurrences from gate_fingerprints.t")
        plan = "\n".join(str(r[-1]) for r in con.execute(
            "explain " + fingerprints.recount_delete_sql("gate_fingerprints.t"),
            [date(2026, 11, 24)]).fetchall())
    finally:
        con.close()
    assert "SEMI" in plan, plan
    assert "MARK" not in plan and "DEPENDENT" not in plan, plan


def test_fingerprint_removal_declines_what_it_cannot_vouch_for(tmp_path: Path) -> None:
    """Subtraction is refused (nothing changed, the caller fingerprints the file again) for a
    table written before counts existed (upgraded: NULL counts), a delivery of another key
    version, and counts that would go negative; it removes a fingerprint whose count reaches
    0 and keeps one another row still holds."""
    from transforms.ingest import fingerprints as fps

    classification = load()
    entity = classification.entity("policy_admin", "contracts")
    keys = DomainKeys.derive(os.urandom(32))
    day = date(2026, 11, 26)
    frame = pl.DataFrame({"surname": ["Example", "Example", "Sample"],
                          "first_name": ["Annabel", "Annabel", "Roberto"],
                          "email": ["ann@x.test", "ann@x.test", "bob@y.test"]})
    con = duckdb.connect()
    con.execute(f"create schema {SCHEMA}")
    table = fps.table_name(entity)
    rows = fps.delivery_rows(frame, entity, keys, day)
    con.register("r", rows.to_arrow())
    con.execute(f"create table {table} as select * from r")

    def content() -> list:
        return con.execute(f"select {WORDS}, chars, {OCCURRENCES} from {table} "
                           "order by all").fetchall()

    before = content()
    assert fps.remove_rows(con, entity, day, frame.head(1), keys)  # one "Ann" row of two
    after_one = content()
    assert after_one != before and {r[:5] for r in after_one} == {r[:5] for r in before}
    assert fps.remove_rows(con, entity, day, frame.slice(1, 1), keys)  # the other: Ann's go
    only_bob = fps.delivery_rows(frame.tail(1), entity, keys, day)
    assert {r[:5] for r in content()} == {(0, 0, 0, 0, 0), *only_bob.select(
        *FINGERPRINT, "chars").rows()}
    snapshot = content()
    assert not fps.remove_rows(con, entity, day, frame.head(1), keys)  # would go negative
    assert content() == snapshot
    other = DomainKeys.derive(os.urandom(32))  # another master key: another key version
    assert not fps.remove_rows(con, entity, day, frame.tail(1), other)
    con.execute(f"alter table {table} drop column {OCCURRENCES}")
    assert fps.upgrade_tables(con) == 1
    assert not fps.remove_rows(con, entity, day, frame.tail(1), keys)  # NULL counts
    assert content() == [(*r[:5], None) for r in snapshot]


def test_fingerprints_stored_as_hex_text_are_upgraded_to_the_same_integers() -> None:
    """A table written as 32 hex digits (before the integers), its `occurrences` added last,
    becomes today's columns in today's order with the same 128 bits, its marker rows 0 and 0:
    an erasure's subtraction and the gate's join then read it as if written today."""
    from transforms.ingest import fingerprints as fps

    entity = load().entity("policy_admin", "contracts")
    keys = DomainKeys.derive(os.urandom(32))
    day = date(2026, 11, 26)
    frame = pl.DataFrame({"surname": ["Example", "Sample"], "first_name": ["Annabel", "Roberto"],
                          "email": ["ann@x.test", "bob@y.test"]})
    today = fps.delivery_rows(frame, entity, keys, day)
    legacy = today.select(
        fingerprint=pl.when(pl.col("chars") > 0).then(pl.concat_str(
            pl.col(w).map_elements(lambda v: f"{v:08x}", pl.String) for w in FINGERPRINT))
        .otherwise(pl.lit("")),
        chars="chars", _delivery_date="_delivery_date", _key_version="_key_version",
        occurrences=OCCURRENCES)
    assert legacy["fingerprint"].str.len_chars().max() == fps.FINGERPRINT_HEX
    con = duckdb.connect()
    con.execute(f"create schema {SCHEMA}")
    con.register("r", legacy.to_arrow())
    con.execute(f"create table {fps.table_name(entity)} as select * from r")
    assert fps.upgrade_tables(con) == 1 and fps.upgrade_tables(con) == 0
    columns = con.execute(f"select * from {fps.table_name(entity)} limit 0").description
    assert [c[0] for c in columns] == today.columns
    stored = con.execute(f"select * from {fps.table_name(entity)} order by all").fetchall()
    assert stored == sorted(today.rows())
    assert fps.remove_rows(con, entity, day, frame.head(1), keys)  # counts still vouched for


def _statuses(book: Book) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in _query(
        book, "select request_id, request_type, status, records, counts "
              "from audit.subject_requests")}


# -- erasure -------------------------------------------------------------------------------


def test_the_search_finds_the_subject_before_the_erasure(world: dict) -> None:
    """Positive control: the search below would see the subject if anything were left."""
    hits = world["before_scan"].hits
    assert world["e_values"] and all(world["e_pseudonyms"].values())
    assert any(k.startswith("warehouse.duckdb:pseudo_actuarial") for k in hits)
    assert any(k.startswith("warehouse.duckdb:pseudo_marketing") for k in hits)
    assert any("/landing/" in k for k in hits)
    assert any("marts.duckdb" in k or k.endswith(".parquet") or "extracts" in k for k in hits)


def test_nothing_of_the_erased_subject_remains_anywhere(world: dict) -> None:
    book: Book = world["book"]
    targets = [book.data, dbt_run.TARGET_PATH,
               PROJECT_ROOT / "data" / "logs" / "dbt"]
    targets = [t for t in targets if t.exists()]
    domains = world["e_pseudonyms"]
    found = scan(targets, world["e_values"] | domains["actuarial"] | domains["marketing"])
    assert found.total == 0, json.dumps(found.as_dict(), indent=1)
    dpo = scan(targets, domains["dpo"])
    assert set(dpo.hits) <= {SUPPRESSION}, json.dumps(dpo.as_dict(), indent=1)
    suppressed = {r[0] for r in _query(book, "select pseudonym from rights.erasure_suppression")}
    assert suppressed & domains["dpo"], "the erased subject is on the suppression list"


def test_erasure_is_audited_by_request_id_with_counts_only(world: dict) -> None:
    rtype, status, records, counts = _statuses(world["book"])["DSR-990001"]
    assert (rtype, status) == ("erasure", "done")
    counts = json.loads(counts)
    assert records == sum(counts.values()) > 0
    for table in ("pseudo_actuarial.policy_admin__contracts",
                  "pseudo_marketing.policy_admin__contracts", "landing:policy_admin/contracts",
                  "pseudo_dpo.dpo__subject_requests", "landing:dpo/subject_requests"):
        assert counts.get(table, 0) > 0, table
    if world["e_rows"][("claims", "claims")].height:
        assert counts.get("pseudo_actuarial.claims__claims", 0) > 0
    columns = [r[0] for r in _query(world["book"], "select column_name from "
                                    "information_schema.columns where table_schema = 'audit' "
                                    "and table_name = 'subject_requests'")]
    assert not {"surname", "first_name", "date_of_birth", "email", "contract_number",
                "customer_number", "person_key"} & set(columns)


def test_redelivered_rows_of_an_erased_subject_are_dropped_at_ingest(world: dict) -> None:
    loaded = {r.delivery: r for r in world["ingest_28"] if r.status == "loaded"}
    erased = sum(n for d in ("policy_admin/2026-11-28", "claims/2026-11-28")
                 for k, n in loaded[d].reasons.items() if k.endswith(":erased_subject"))
    redelivered = sum(f.height for (s, _), f in world["e_rows"].items() if s != "dpo")
    assert erased == redelivered > 0
    # the erasure request delivered again is dropped too (its subject is suppressed)
    assert loaded["dpo/2026-11-28"].reasons.get("subject_requests:erased_subject") == 1
    assert loaded["policy_admin/2026-11-28"].rows_loaded == 0
    assert world["day28"].redelivered_rows_swept >= redelivered
    reasons = _query(world["book"], "select sum(rows) from audit.quarantine "
                                    "where reason = 'erased_subject'")
    assert reasons[0][0] >= redelivered


def test_older_publications_are_retired_after_the_rebuild(world: dict) -> None:
    book: Book = world["book"]
    assert not world["pub1"].exists()
    assert world["retired_27"]["publications_retired"] >= 1
    assert world["retired_27"]["current_is_stale"] == 0
    current = current_publication(book.published)
    assert current is not None and current.exists()
    remaining = [p for p in publications_root(book.published).iterdir() if p.is_dir()]
    assert all(p.name in ("day27", "day28") for p in remaining), remaining


# -- objection, withdrawal, restriction ------------------------------------------------------


def test_objection_and_withdrawal_leave_marketing_only(world: dict) -> None:
    m = world["mkeys"]
    for role in ("O", "W"):
        assert m[role] in world["audience_26"]
        assert m[role] not in world["audience_27"]
        assert m[role] not in world["audience_28"]
    # actuarial statistics are unaffected: the objector's exposure rows are unchanged
    assert world["exposure_26"]["o_contracts"]
    assert world["exposure_27"]["o_contracts"] == world["exposure_26"]["o_contracts"]


def test_restriction_keeps_data_but_no_mart_uses_it_until_lifted(world: dict) -> None:
    book: Book = world["book"]
    m = world["mkeys"]
    assert m["R"] in world["audience_26"] and world["exposure_26"]["r_contracts"]
    assert m["R"] not in world["audience_27"]
    assert world["exposure_27"]["r_contracts"] == []
    kept = _query(book, "select count(*) from pseudo_actuarial.policy_admin__contracts "
                        "where list_contains(?::varchar[], contract_key)",
                  [sorted(world["r_contracts"])])[0][0]
    assert kept == len(world["r_contracts"]), "a restricted subject's data is kept"
    # lifted on day 28: back in every mart
    assert m["R"] in world["audience_28"]
    assert world["exposure_28"]["r_contracts"] == world["exposure_26"]["r_contracts"]


def test_restriction_by_customer_number_alone_leaves_marketing(world: dict) -> None:
    assert world["mkeys"]["R2"] not in world["audience_27"]
    resolved = _query(world["book"], "select count(*) from "
                      "pseudo_actuarial.dpo__subject_requests_resolved "
                      "where request_id = 'DSR-990005' and list_contains(?::varchar[], "
                      "contract_key)", [sorted(world["r2_contracts"])])[0][0]
    assert resolved == len(world["r2_contracts"]), "resolved through the raw data"


def test_restriction_by_customer_number_alone_leaves_actuarial_marts(world: dict) -> None:
    assert world["exposure_27"]["r2_contracts"] == []


# -- access ---------------------------------------------------------------------------------


def test_access_request_from_the_feed_is_answered_with_counts(world: dict) -> None:
    rtype, status, records, counts = _statuses(world["book"])["DSR-990006"]
    assert (rtype, status) == ("access", "done") and records > 0
    assert json.loads(counts).get("pseudo_actuarial.policy_admin__contracts", 0) >= 1


def test_access_command_lists_counts_never_identifiers(world: dict, capsys) -> None:
    book: Book = world["book"]
    a = world["people"]["A"]
    given = [a["surname"], a["first_name"], a["date_of_birth"], a["contract_number"],
             world["subjects"]["A"]]
    with environment(PIPELINE_MASTER_KEY=world["key"], PIPELINE_DATA_DIR=str(book.data)):
        code = rights.main(["access", "--surname", a["surname"], "--first-name",
                            a["first_name"], "--date-of-birth", a["date_of_birth"],
                            "--contract-number", a["contract_number"]])
        out = capsys.readouterr()
        assert code == 0
        assert "pseudo_actuarial.policy_admin__contracts" in out.out
        assert "pseudo_marketing.policy_admin__contracts" in out.out
        text = out.out + out.err
        for value in given:
            assert value not in text
        for value in world["e_pseudonyms"]["actuarial"]:
            assert value not in text
        code = rights.main(["access", "--surname", a["surname"], "--first-name",
                            a["first_name"], "--date-of-birth", "1970-13-45"])
        out = capsys.readouterr()
        assert code == 2 and "date_of_birth" in out.err and "1970-13-45" not in out.err
        code = rights.main(["access", "--customer-number", "C99999999"])
        out = capsys.readouterr()
        assert code == 0 and "No record found" in out.out and "C99999999" not in out.out


# -- idempotency and bad input ----------------------------------------------------------------


def test_each_request_is_processed_once(world: dict) -> None:
    book: Book = world["book"]
    rows = _query(book, "select request_id, count(*) from audit.subject_requests group by 1 "
                        "having count(*) > 1")
    assert rows == []
    assert world["day28"].repeats_skipped + world["day28"].already_processed >= 1
    assert world["day28"].statuses == {"done": 1}, world["day28"].statuses

    def fingerprint() -> list:
        tables = _query(book, "select table_schema || '.' || table_name from "
                              "information_schema.tables where table_schema <> 'information_schema'"
                              " and table_type = 'BASE TABLE' order by 1")
        # bookkeeping, not data: the removals log, and the digest of the raw zone the sweep
        # last found clean (recorded by this rerun's sweep, which finds nothing)
        return [(t, _query(book, f"select count(*), sum(hash(columns(*))) from {t}")[0])
                for (t,) in tables if t not in ("audit.data_removals", "audit.raw_zone_sweep")]

    before = fingerprint()
    again = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys, D28)
    assert again.statuses == {} and again.rows_erased == 0
    assert fingerprint() == before


def test_bad_input_gets_a_clear_status(world: dict) -> None:
    statuses = _statuses(world["book"])
    expected = {
        "DSR-990007": "no_match",
        "DSR-990008": "rejected_unknown_type",
        "DSR-990009": "rejected_malformed",
        "DSR-990011": "rejected_insufficient_identifiers",
        "DSR-990012": "rejected_conflicting_identifiers",
        "DSR-990013": "rejected_malformed",
        "DSR-990014": "rejected_malformed",
    }
    for rid, status in expected.items():
        assert statuses[rid][1] == status, rid
    unidentified = [v for k, v in statuses.items() if k.startswith("unidentified-")]
    assert [v[1] for v in unidentified] == ["rejected_malformed"]
    assert statuses["DSR-990008"][0] == "unknown"
    for rid in ("DSR-990002", "DSR-990003", "DSR-990004", "DSR-990005"):
        assert statuses[rid][1] == "done", rid
    # the insufficient and conflicting requests changed nothing of A
    assert _query(world["book"], "select count(*) from pseudo_marketing.policy_admin__contracts "
                  "where customer_key = ?", [world["mkeys"]["A"]])[0][0] > 0


def test_a_failed_erasure_changes_nothing_and_is_retried(world: dict, tmp_path: Path,
                                                         monkeypatch) -> None:
    book = _copy_of(world, tmp_path)
    subject = world["subjects"]["A"]
    write_dpo(book.landing, date(2026, 11, 29), [
        {"request_id": "DSR-990020", "request_type": "erasure", "received_date": "2026-11-29",
         "customer_number": subject}])
    book.ingest()

    def state() -> tuple:
        files = sorted((str(p.relative_to(book.data)), hashlib.sha256(p.read_bytes()).hexdigest())
                       for root in (book.landing, book.quarantine) for p in root.rglob("*")
                       if p.is_file())
        tables = _query(book, "select table_schema || '.' || table_name from "
                              "information_schema.tables where table_schema not in "
                              "('information_schema', 'audit') and table_type = 'BASE TABLE'")
        counts = [(t, _query(book, f"select count(*), sum(hash(columns(*))) from {t}")[0])
                  for (t,) in sorted(tables)]
        return files, counts

    before = state()

    def broken(self, con) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(raw_rewrite.RewritePlan, "update_audit", broken)
    report = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                                     date(2026, 11, 29))
    assert report.statuses == {"failed": 1}
    assert state() == before, "a failed erasure must leave everything as it was"
    assert _statuses(book)["DSR-990020"][1] == "failed"
    monkeypatch.undo()
    report = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                                     date(2026, 11, 29))
    assert report.statuses == {"done": 1} and report.rows_erased > 0
    frame = pl.concat([pl.read_csv(p, infer_schema=False) for p in
                       book.landing.glob("policy_admin/*/contracts.csv")])
    assert subject not in frame["customer_number"].to_list()


def _held(book: Book, raw: bool = True) -> dict[str, int]:
    """Rows per warehouse data table and (with `raw`) per raw place (`landing:system/entity`,
    quarantine)."""
    tables = _query(book, "select table_schema || '.' || table_name from information_schema."
                          "tables where table_schema not in ('information_schema', 'audit', "
                          "'rights') and table_catalog <> 'temp' and table_type = 'BASE TABLE'")
    out = {t: _query(book, f"select count(*) from {t}")[0][0] for (t,) in tables}
    if not raw:
        return out
    for where, root, pattern in (("landing", book.landing, "*/*/*.csv"),
                                 ("quarantine", book.quarantine, "*/*/*.parquet")):
        for path in root.glob(pattern):
            frame = (pl.read_csv(path, infer_schema=False) if where == "landing"
                     else pl.read_parquet(path))
            place = f"{where}:{path.parent.parent.name}/{path.stem}"
            out[place] = out.get(place, 0) + frame.height
    return out


def _erase_two_subjects(world: dict, book: Book, day: date, first_id: int) -> tuple[str, str]:
    """Deliver and ingest three erasure requests of `day` (ids DSR-<first_id> onwards): subject
    A by customer number, subject O by customer number, then A again by contract number.
    Returns A's and O's customer numbers."""
    a, o = world["subjects"]["A"], world["subjects"]["O"]
    received = day.isoformat()
    write_dpo(book.landing, day, [
        {"request_id": f"DSR-{first_id}", "request_type": "erasure", "received_date": received,
         "customer_number": a},
        {"request_id": f"DSR-{first_id + 1}", "request_type": "erasure",
         "received_date": received, "customer_number": o},
        {"request_id": f"DSR-{first_id + 2}", "request_type": "erasure",
         "received_date": received, "contract_number": world["people"]["A"]["contract_number"]}])
    book.ingest()
    return a, o


def test_erasures_of_one_run_are_one_batch_with_counts_per_request(world: dict, tmp_path: Path
                                                                   ) -> None:
    """Two subjects erased in one run, and a third request about the first subject: every row
    removed is counted once, for the earliest request it belongs to (as one at a time in feed
    order: the third then finds nothing). A batch that fails (a landing file that cannot be
    parsed) changes nothing and records every request `failed`; the next run applies it."""
    book = _copy_of(world, tmp_path)
    day = date(2026, 11, 29)
    a, o = _erase_two_subjects(world, book, day, 990031)
    # no suppression yet: the run's first raw-zone pass is the batch's own (not the sweep's)
    con = duckdb.connect(str(book.warehouse))
    con.execute("delete from rights.erasure_suppression")
    con.close()
    expected = {}
    for rid, customer in (("DSR-990031", a), ("DSR-990032", o)):
        found = rights.access_report(GivenIdentifiers(customer_number=customer),
                                     landing=book.landing, quarantine=book.quarantine,
                                     warehouse=book.warehouse, keys=book.keys)
        expected[rid] = {k: n for k, n in found.items() if "subject_requests" not in k}
        assert expected[rid], "positive control: the subject is held"
    broken = sorted(book.landing.glob("claims/*/claims.csv"))[-1]
    good = broken.read_bytes()
    broken.write_bytes(good + b'"unbalanced\n')
    def files() -> list[tuple[str, str]]:
        return sorted((str(p.relative_to(book.data)), hashlib.sha256(p.read_bytes()).hexdigest())
                      for root in (book.landing, book.quarantine) for p in root.rglob("*")
                      if p.is_file())

    before = (_held(book, raw=False), files())
    report = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                                     day)
    assert report.statuses == {"failed": 3} and report.rows_erased == 0
    assert (_held(book, raw=False), files()) == before, "a failed batch changed something"
    assert not list(book.landing.rglob(f"*{raw_rewrite.TMP_SUFFIX}"))
    assert not _query(book, "select count(*) from rights.erasure_suppression")[0][0]
    broken.write_bytes(good)
    before = _held(book)
    report = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                                     day)
    after = _held(book)
    assert report.statuses == {"done": 2, "no_match": 1}, report.statuses
    statuses = _statuses(book)
    counts = {rid: json.loads(statuses[rid][3]) for rid in expected}
    assert statuses["DSR-990033"][1:] == ("no_match", 0, "{}")
    for rid, want in expected.items():
        assert statuses[rid][1] == "done"
        got = {k: n for k, n in counts[rid].items() if k in want or (
            k.startswith(("pseudo_", "landing:", "quarantine:")) and "subject_requests" not in k)}
        assert got == want, rid
        assert counts[rid].get("landing:dpo/subject_requests", 0) >= 1 + (rid == "DSR-990031")
    removed = {k: before.get(k, 0) - after.get(k, 0) for k in before.keys() | after.keys()
               if not k.startswith("gate_fingerprints.")}  # recomputed, not counted as rows
    counted = {k: sum(c.get(k, 0) for c in counts.values()) for k in removed}
    assert {k: n for k, n in removed.items() if n} == {k: n for k, n in counted.items() if n}
    assert report.rows_erased == sum(removed.values()) > 0
    # the raw zone the batch left is recorded as swept clean, so the next run does not parse it
    # again; and a sweep that does parse it finds nothing to remove
    con = duckdb.connect(str(book.warehouse))
    try:
        zone = RawZone(book.landing, book.quarantine, load())
        suppression = load_suppression(con, book.keys)
        assert suppression, "the batch's subjects are on the suppression list"
        assert suppression_digest(zone, suppression, book.keys) == _last_clean_sweep(con)
        assert _clean_files(con, _last_clean_sweep(con)) == zone_files(zone)
        assert zone.prepare(subject_matcher(suppression, book.keys)).files == []
    finally:
        con.close()


def test_a_batch_beyond_duckdb_s_memory_is_applied_in_halves(world: dict, tmp_path: Path,
                                                             monkeypatch, caplog) -> None:
    """A batch whose transaction runs out of DuckDB's memory limit (as 625 erasures did at 3M
    contracts under the rights step's 512MB) is rolled back and applied again as two halves,
    each all or nothing, instead of failing every run: the same statuses as one batch (the
    third request, about the first subject, finds nothing left), the subjects gone, no
    request failed. The out-of-memory error is planted inside the real transaction, after the
    batch's deletes, so that the rollback is DuckDB's."""
    from transforms.rights import erasure

    book = _copy_of(world, tmp_path)
    day = date(2026, 11, 29)
    a, o = _erase_two_subjects(world, book, day, 990041)
    sizes: list[int] = []
    real = erasure.delete_warehouse_rows

    def deletes_then_runs_out(con: duckdb.DuckDBPyConnection, batch: list) -> dict:
        sizes.append(len(batch))
        out = real(con, batch)
        if len(batch) == 3:
            raise duckdb.OutOfMemoryException("Out of Memory Error: planted")
        return out

    monkeypatch.setattr(erasure, "delete_warehouse_rows", deletes_then_runs_out)
    report = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                                     day)
    assert sizes == [3, 1, 2]
    assert report.statuses == {"done": 2, "no_match": 1}, report.statuses
    statuses = _statuses(book)
    assert [statuses[r][1] for r in ("DSR-990041", "DSR-990042", "DSR-990043")] == \
        ["done", "done", "no_match"]
    assert "applying them in two halves" in caplog.text
    assert not list(book.landing.rglob(f"*{raw_rewrite.TMP_SUFFIX}"))
    frame = pl.concat([pl.read_csv(p, infer_schema=False) for p in
                       book.landing.glob("policy_admin/*/contracts.csv")])
    assert not {a, o} & set(frame["customer_number"].to_list())


def test_only_duckdb_s_memory_limit_splits_a_batch() -> None:
    try:
        try:
            raise duckdb.OutOfMemoryException("Out of Memory Error")
        except duckdb.OutOfMemoryException:
            raise duckdb.TransactionException("Current transaction is aborted") from None
    except duckdb.TransactionException as exc:
        masked = exc
    assert rights.out_of_memory(masked)  # its context is the out-of-memory error
    assert rights.out_of_memory(duckdb.TransactionException(  # DuckDB's commit out of memory
        "TransactionContext Error: Failed to commit: failed to pin block of size 256.0 KiB "
        "(488.4 MiB/488.2 MiB used)"))
    assert not rights.out_of_memory(duckdb.TransactionException("conflict"))
    assert not rights.out_of_memory(OSError("disk full"))


def test_the_sweep_skips_an_unchanged_raw_zone_and_runs_when_it_changes(
        world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daily run with nothing new does not parse the raw zone again for erased subjects
    (the digest of the last clean sweep matches); a redelivery of an erased subject's rows
    changes the digest, and the sweep runs and removes them."""
    book = _copy_of(world, tmp_path)
    zone = RawZone(book.landing, book.quarantine, load())
    con = duckdb.connect(str(book.warehouse))
    try:
        suppression = load_suppression(con, book.keys)
        assert suppression, "the erased subject is on the suppression list"
        assert sweep_suppressed(con, book.keys, zone, suppression) == 0

        def parsed(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("an unchanged raw zone was parsed again")

        with monkeypatch.context() as patched:
            patched.setattr(raw_rewrite, "prepare", parsed)
            assert sweep_suppressed(con, book.keys, zone, suppression) == 0
        rows = world["e_rows"][("claims", "claims")]
        assert rows.height, "positive control: the erased subject had claims"
        write_delivery(book.landing, "claims", date(2026, 11, 29), {"claims.csv": rows})
        read: list = []
        real = raw_rewrite.prepare

        def reading(*args: object, **kwargs: object) -> object:
            read.append(args[4] if len(args) > 4 else kwargs.get("paths"))
            return real(*args, **kwargs)

        with monkeypatch.context() as patched:
            patched.setattr(raw_rewrite, "prepare", reading)
            assert sweep_suppressed(con, book.keys, zone, suppression) == rows.height
            # only the new delivery was read: every other file is recorded clean as it is
            assert read == [{book.landing / "claims" / "2026-11-29" / "claims.csv"}]
            read.clear()
            assert sweep_suppressed(con, book.keys, zone, suppression) == 0  # the rewritten file
            assert read == [{book.landing / "claims" / "2026-11-29" / "claims.csv"}]
            read.clear()
            assert sweep_suppressed(con, book.keys, zone, suppression) == 0
            assert read == [], "a zone recorded clean file by file is not read again"
    finally:
        con.close()
    redelivered = pl.read_csv(book.landing / "claims" / "2026-11-29" / "claims.csv",
                              infer_schema=False)
    assert redelivered.height == 0


def test_identity_frame_matches_the_warehouse_pseudonyms(world: dict) -> None:
    """The raw-side normalisation used to find a subject gives the loader's pseudonyms."""
    book: Book = world["book"]
    path = sorted(book.landing.glob("policy_admin/*/contracts.csv"))[0]
    frame = pl.read_csv(path, infer_schema=False).head(200)
    ident = identity_frame(frame, load().entity("policy_admin", "contracts"))
    persons = set(ident.select(pseudonymise(pl.col("person"), book.keys, "actuarial"))
                  .to_series().drop_nulls())
    stored = {r[0] for r in _query(book, "select person_key from "
                                         "pseudo_actuarial.policy_admin__contracts")}
    assert persons and len(persons & stored) >= 0.9 * len(persons)


# -- bulk resolution -----------------------------------------------------------------------


def _one_at_a_time(con, index, keys, requests: dict) -> dict:
    """The reference: each request resolved alone by subject_resolution.resolve_request, as
    request processing did before it resolved a run's requests together."""
    out: dict = {}
    for rid, found in requests.items():
        try:
            out[rid] = resolve_request(con, index, keys, found)
        except ConflictingIdentifiers as exc:
            out[rid] = exc
    return out


def test_a_runs_requests_resolved_together_as_each_alone(world: dict, tmp_path: Path,
                                                         monkeypatch) -> None:
    """One feed of every kind of request, resolved in bulk (transforms/rights/bulk_resolution)
    and one at a time: the same subjects (raw values, pseudonyms, counts) and conflicts, then,
    processed, the same audit rows, resolution tables and rows held."""
    src: Book = world["book"]
    day = date(2026, 11, 29)
    s, people = world["subjects"], world["people"]
    a, o, r, w = people["A"], people["O"], people["R"], people["W"]
    feed = [
        {"request_id": "DSR-990041", "request_type": "erasure", "customer_number": s["W"]},
        {"request_id": "DSR-990042", "request_type": "access", "surname": a["surname"],
         "first_name": a["first_name"], "date_of_birth": a["date_of_birth"],
         "contract_number": a["contract_number"]},
        {"request_id": "DSR-990043", "request_type": "restriction", "customer_number": s["O"]},
        {"request_id": "DSR-990044", "request_type": "objection", "surname": r["surname"],
         "first_name": r["first_name"], "date_of_birth": r["date_of_birth"]},
        {"request_id": "DSR-990045", "request_type": "access",  # conflicting clues
         "contract_number": a["contract_number"], "customer_number": s["O"]},
        {"request_id": "DSR-990046", "request_type": "access", "customer_number": "C99999999"},
        # two more about subjects above: W (erased in this run) and O (restricted)
        {"request_id": "DSR-990047", "request_type": "access", "surname": w["surname"],
         "first_name": w["first_name"], "date_of_birth": w["date_of_birth"],
         "customer_number": s["W"]},
        {"request_id": "DSR-990048", "request_type": "consent_withdrawal",
         "contract_number": o["contract_number"]},
    ]
    books = {}
    for name in ("bulk", "alone"):
        books[name] = Book(tmp_path / name / "data", src.keys)
        if name == "bulk":
            shutil.copytree(src.data, books[name].data, symlinks=True)
            write_dpo(books[name].landing, day, [{**q, "received_date": day.isoformat()}
                                                 for q in feed])
            books[name].ingest()
        else:
            shutil.copytree(books["bulk"].data, books[name].data, symlinks=True)

    # the subjects themselves, on the same index and warehouse
    book = books["bulk"]
    givens = {q["request_id"]: rights.clues(GivenIdentifiers.from_mapping(q)) for q in feed}
    index = load_raw_index(book.landing, book.quarantine, load(),
                           about=clues_of(GivenIdentifiers.from_mapping(q) for q in feed))
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        together = resolve_requests(con, index, book.keys, givens)
        alone = _one_at_a_time(con, index, book.keys, givens)
    finally:
        con.close()
    assert together.keys() == alone.keys() == givens.keys()
    for rid, want in alone.items():
        got = together[rid]
        assert type(got) is type(want), rid
        if isinstance(want, ConflictingIdentifiers):
            continue
        assert (got.raw, got.pseudonyms, got.counts) == (want.raw, want.pseudonyms,
                                                          want.counts), rid
    assert isinstance(alone["DSR-990045"], ConflictingIdentifiers)
    assert not alone["DSR-990046"].records, "no_match: nothing found but its own request"
    assert all(alone[rid].records for rid in ("DSR-990041", "DSR-990042", "DSR-990043",
                                              "DSR-990044", "DSR-990047", "DSR-990048"))

    # processed: bulk (subjects, and the contract rows of the resolution tables), then the
    # reference one request at a time (each request's own contracts scan)
    looked_up: list[set[str]] = []
    bulk_rows = rights.contract_rows_of

    def counted(con, subjects):
        looked_up.append(set(subjects))
        return bulk_rows(con, subjects)

    monkeypatch.setattr(rights, "contract_rows_of", counted)
    reports = {"bulk": rights.process_requests(book.landing, book.quarantine, book.warehouse,
                                               book.keys, day)}
    assert looked_up == [{"DSR-990043", "DSR-990044", "DSR-990048"}], "one lookup for all"
    monkeypatch.setattr(rights, "resolve_requests", _one_at_a_time)
    monkeypatch.setattr(rights, "contract_rows_of", lambda con, subjects: {})
    ref = books["alone"]
    reports["alone"] = rights.process_requests(ref.landing, ref.quarantine, ref.warehouse,
                                               ref.keys, day)
    assert reports["bulk"].as_dict() == reports["alone"].as_dict()
    ours = {rid: v for rid, v in _statuses(book).items() if rid in givens}
    assert ours == {rid: v for rid, v in _statuses(ref).items() if rid in givens}
    assert {rid: v[1] for rid, v in ours.items()} == {
        "DSR-990041": "done", "DSR-990042": "done", "DSR-990043": "done", "DSR-990044": "done",
        "DSR-990045": "rejected_conflicting_identifiers", "DSR-990046": "no_match",
        "DSR-990047": "done", "DSR-990048": "done"}
    assert json.loads(ours["DSR-990047"][3]), "answered as of before the run's erasure"
    resolved = "select * from pseudo_{d}.dpo__subject_requests_resolved order by all"
    for d in ("actuarial", "marketing"):
        assert _query(book, resolved.format(d=d)) == _query(ref, resolved.format(d=d))
        contract_keys = {row[4] for row in _query(book, resolved.format(d=d))} - {None}
        assert contract_keys, f"{d}: the restricted subjects' contracts are resolved"
    assert _held(book) == _held(ref)


def test_loaded_request_ids_tell_loaded_requests_from_awaiting_ones(world: dict) -> None:
    """A mart-type request is `done` once the ingest has loaded its row in each domain it
    concerns, `awaiting_ingest` before: the run looks its requests up together."""
    book: Book = world["book"]
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        loaded = {d: {r for (r,) in con.execute(
            f"select request_id from pseudo_{d}.dpo__subject_requests").fetchall()}
            for d in ("actuarial", "marketing")}
        some = sorted(loaded["marketing"])[:3]
        assert some, "positive control: the ingest loaded requests"
        found = rights.loaded_request_ids(con, [*some, "DSR-999999"])
        assert found["marketing"] == set(some)
        assert found["actuarial"] == set(some) & loaded["actuarial"]
        assert rights.loaded_request_ids(con, []) == {"actuarial": set(), "marketing": set()}
    finally:
        con.close()


def test_retention_keeps_a_swept_raw_zone_vouched_for(world: dict, tmp_path: Path) -> None:
    """Retention's file rules only blank quarantine columns and delete files: a raw zone the
    last clean sweep vouched for stays vouched for, so the next request step does not parse it
    again. A file changed otherwise, or a new one, is not vouched for: the next run sweeps it,
    and only it."""
    from transforms.retention.run import apply_retention
    from transforms.rights.erasure import (
        carry_clean_sweep,
        unswept_files,
        vouched_files,
        zone_files,
    )

    book = _copy_of(world, tmp_path)
    zone = RawZone(book.landing, book.quarantine, load())
    con = duckdb.connect(str(book.warehouse))
    try:
        assert sweep_suppressed(con, book.keys, zone, load_suppression(con, book.keys)) == 0
        before = vouched_files(con, zone, book.keys)
        assert before, "positive control: a clean sweep vouches for the zone"
        assert unswept_files(con, zone, book.keys) == set()
        quarantined = sorted(book.quarantine.rglob("*.parquet"))
        assert len(quarantined) >= 2
        first, second = (f"quarantine/{p.relative_to(book.quarantine)}" for p in quarantined[:2])
        for path in quarantined[:2]:  # a rewrite such as retention's blanking
            frame = pl.read_parquet(path)
            frame.with_columns(pl.lit(None, dtype=frame.dtypes[0]).alias(frame.columns[0])
                               ).write_parquet(path)
        assert zone_files(zone)[first] != before[first]
        assert not carry_clean_sweep(con, zone, book.keys, before, {first}), "second unexplained"
        assert unswept_files(con, zone, book.keys) == {second}
        assert carry_clean_sweep(con, zone, book.keys, before, {first, second})
        assert unswept_files(con, zone, book.keys) == set()
    finally:
        con.close()
    apply_retention(book.warehouse, book.landing, book.quarantine, D28, keys=book.keys,
                    compact=False)
    con = duckdb.connect(str(book.warehouse))
    try:
        assert unswept_files(con, zone, book.keys) == set()
        write_delivery(book.landing, "claims", date(2026, 11, 30),
                       {"claims.csv": world["e_rows"][("claims", "claims")]})
        assert unswept_files(con, zone, book.keys) == {"landing/claims/2026-11-30/claims.csv"}, \
            "a new delivery is not vouched for, and only it"
    finally:
        con.close()
