"""Retention on a real small book, each rule at its boundary (the day before, the day after),
and the retention_and_rights DAG run by Airflow itself.

The book is generated, ingested and its DPO feed processed once; every test works on its own
copy of that data folder with a fixed "as of" date.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from rights_book import Book, make_book, write_dpo

from transforms.classification import PROJECT_ROOT, load
from transforms.operations.leak_scan import identifier_values, scan
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.retention.files import NeverKeptViolation
from transforms.retention.rules import held_contracts
from transforms.retention.run import (
    REMOVING_RULES,
    RetentionConfigError,
    RetentionPolicy,
    apply_retention,
)
from transforms.rights import processing as rights
from transforms.settings import environment

D26 = date(2026, 11, 26)
DAY = timedelta(days=1)


def add_years(d: date, years: int) -> date:
    """As DuckDB adds years: 29 February becomes 28 February."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def first_of_next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("retention")
    key = os.urandom(32).hex()
    keys = DomainKeys.derive(bytes.fromhex(key))
    with environment(PIPELINE_MASTER_KEY=key):
        book = make_book(base / "data", keys, contracts=400, as_of=D26, seed=5)
        rights.process_requests(book.landing, book.quarantine, book.warehouse, keys, D26)
    return {"book": book, "key": key}


@pytest.fixture
def book(pristine: dict, tmp_path: Path) -> Book:
    """A private copy of the pristine data folder."""
    src: Book = pristine["book"]
    shutil.copytree(src.data, tmp_path / "data")
    return Book(tmp_path / "data", src.keys)


def q(book: Book, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def retain(book: Book, as_of: date, policy: RetentionPolicy | None = None):
    return apply_retention(book.warehouse, book.landing, book.quarantine, as_of, policy=policy)


def clone(book: Book, name: str) -> Book:
    target = book.data.parent / name
    shutil.copytree(book.data, target)
    return Book(target, book.keys)


def hashed(book: Book, domain: str, value: str) -> str:
    return pl.DataFrame({"v": [value]}).select(
        pseudonymise(pl.col("v"), book.keys, domain)).item()


def a_contract_with_claims(book: Book) -> dict:
    """An ended contract with claims and transactions, both domains' keys and end dates."""
    raw = pl.concat([pl.read_csv(p, infer_schema=False, try_parse_dates=False)
                     for p in sorted(book.landing.glob("policy_admin/*/contracts.csv"))])
    rows = q(book, """
        with latest as (
            select * from pseudo_actuarial.policy_admin__contracts
            qualify row_number() over (partition by contract_key
                                       order by _delivery_date desc) = 1)
        select l.contract_key, least(l.end_date, coalesce(l.cancellation_date, l.end_date))
        from latest l
        where l.contract_key in (select c.contract_key from pseudo_actuarial.claims__claims c
            join pseudo_actuarial.claims__claim_transactions t on t.claim_key = c.claim_key)
        and least(l.end_date, coalesce(l.cancellation_date, l.end_date)) < date '2026-01-01'
        order by 2, 1 limit 1""")
    akey, ended = rows[0]
    numbers = raw["contract_number"].unique().to_list()
    number = next(n for n in numbers if hashed(book, "actuarial", n) == akey)
    mkey = hashed(book, "marketing", number)
    end_month, cancel_month = q(book, """
        select end_month, cancellation_month from pseudo_marketing.policy_admin__contracts
        where contract_key = ? order by _delivery_date desc limit 1""", [mkey])[0]
    m_ended = first_of_next_month(min(end_month, cancel_month or end_month))
    customer = raw.filter(pl.col("contract_number") == number)["customer_number"][0]
    return {"akey": akey, "mkey": mkey, "ended": ended, "m_ended": m_ended, "number": number,
            "customer": customer}


def contract_state(book: Book, c: dict) -> dict[str, int]:
    claims = [r[0] for r in q(book, "select claim_key from pseudo_actuarial.claims__claims "
                                    "where contract_key = ?", [c["akey"]])]
    return {
        "actuarial": q(book, "select count(*) from pseudo_actuarial.policy_admin__contracts "
                             "where contract_key = ?", [c["akey"]])[0][0],
        "marketing": q(book, "select count(*) from pseudo_marketing.policy_admin__contracts "
                             "where contract_key = ?", [c["mkey"]])[0][0],
        "claims": len(claims),
        "transactions": q(book, "select count(*) from pseudo_actuarial.claims__claim_transactions"
                                " where list_contains(?::varchar[], claim_key)",
                          [claims])[0][0],
    }


# -- policy -----------------------------------------------------------------------------------


def test_policy_defaults_are_the_privacy_policy_values() -> None:
    policy = RetentionPolicy()
    assert (policy.prospects_years_after_last_contact, policy.contract_prescription_years,
            policy.billing_years_after_contract_end) == (2, 6, 10)
    assert RetentionPolicy.from_classification(load()) == RetentionPolicy(
        **load().retention)
    with pytest.raises(RetentionConfigError, match="contract_prescription_years"):
        RetentionPolicy.from_config({"contract_prescription_years": -1})
    with pytest.raises(RetentionConfigError, match="unknown"):
        RetentionPolicy.from_config({"forever": 1})


# -- contracts and claims ---------------------------------------------------------------------


def test_contract_and_claim_rows_go_at_end_plus_prescription(book: Book) -> None:
    c = a_contract_with_claims(book)
    limit = add_years(c["ended"], 6)
    before, after = clone(book, "before"), clone(book, "after")
    retain(before, limit - DAY)
    kept = contract_state(before, c)
    assert kept["actuarial"] and kept["claims"] and kept["transactions"], kept
    report = retain(after, limit + DAY)
    gone = contract_state(after, c)
    assert (gone["actuarial"], gone["claims"], gone["transactions"]) == (0, 0, 0), gone
    assert report.counts["contracts_and_claims"]["pseudo_actuarial.claims__claims"] > 0


def test_marketing_contract_rows_follow_the_month_they_ended(book: Book) -> None:
    c = a_contract_with_claims(book)
    limit = add_years(c["m_ended"], 6)
    assert limit >= add_years(c["ended"], 6), "never earlier than the actuarial rule"
    before, after = clone(book, "before"), clone(book, "after")
    retain(before, limit - DAY)
    assert contract_state(before, c)["marketing"] > 0
    retain(after, limit + DAY)
    assert contract_state(after, c)["marketing"] == 0


def test_restricted_subject_is_held_past_the_limit_until_lifted(book: Book) -> None:
    c = a_contract_with_claims(book)
    limit = add_years(c["ended"], 6)
    # restriction given with the customer number alone: resolved through the raw data
    write_dpo(book.landing, D26 + DAY, [
        {"request_id": "DSR-880001", "request_type": "restriction",
         "received_date": (D26 + DAY).isoformat(), "customer_number": c["customer"]}])
    book.ingest()
    report = rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                                     D26 + DAY)
    assert report.statuses == {"done": 1}
    held = retain(book, limit + DAY)
    assert contract_state(book, c)["actuarial"] > 0 and contract_state(book, c)["claims"] > 0
    assert held.counts["contracts_and_claims"][
        "pseudo_actuarial.policy_admin__contracts:held_by_restriction"] >= 1
    write_dpo(book.landing, D26 + 2 * DAY, [
        {"request_id": "DSR-880002", "request_type": "restriction_lifted",
         "received_date": (D26 + 2 * DAY).isoformat(), "customer_number": c["customer"]}])
    book.ingest()
    rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                            D26 + 2 * DAY)
    retain(book, limit + DAY)
    assert contract_state(book, c)["actuarial"] == 0


# -- prospects ------------------------------------------------------------------------------


def test_prospect_quotes_go_two_years_after_the_last_contact(book: Book) -> None:
    rows = q(book, """
        with latest as (select * from pseudo_marketing.policy_admin__quotes
                        qualify row_number() over (partition by quote_key
                                                   order by _delivery_date desc) = 1)
        select person_key, min(quote_date), max(quote_date), count(*) from latest
        where person_key is not null group by 1
        order by (max(quote_date) > min(quote_date)) desc, 3, 1 limit 1""")
    person, first, last, n = rows[0]
    limit = add_years(last, 2)

    def quotes(b: Book) -> int:
        return q(b, "select count(*) from pseudo_marketing.policy_admin__quotes "
                    "where person_key = ?", [person])[0][0]

    before, after = clone(book, "before"), clone(book, "after")
    retain(before, limit - DAY)
    assert quotes(before) >= n
    if add_years(first, 2) + DAY < limit:  # an old quote stays while the last contact is recent
        mid = clone(book, "mid")
        retain(mid, add_years(first, 2) + DAY)
        assert quotes(mid) >= n
    report = retain(after, limit + DAY)
    assert quotes(after) == 0
    assert report.counts["prospects"]["pseudo_marketing.policy_admin__quotes"] >= n


# -- billing --------------------------------------------------------------------------------


def test_billing_figures_are_blanked_at_their_own_limit(book: Book) -> None:
    c = a_contract_with_claims(book)
    policy = RetentionPolicy(billing_years_after_contract_end=3)
    limit = add_years(c["ended"], 3)
    before, after = clone(book, "before"), clone(book, "after")

    def figures(b: Book) -> list[tuple]:
        return q(b, "select premium_excl_ipt, ipt from pseudo_actuarial.policy_admin__contracts"
                    " where contract_key = ?", [c["akey"]])

    retain(before, limit - DAY, policy)
    assert figures(before) and all(p is not None for p, _ in figures(before))
    retain(after, limit + DAY, policy)
    assert figures(after) and all(p is None and i is None for p, i in figures(after))


def test_with_the_default_policy_no_billing_figure_outlives_ten_years(book: Book) -> None:
    as_of = date(2036, 6, 30)
    report = retain(book, as_of)
    assert sum(report.counts["billing"].values()) == 0, "contract rows went first, at 6 years"
    con = duckdb.connect(str(book.warehouse), read_only=True)
    try:
        held = held_contracts(con, "actuarial")  # restricted subjects keep everything
        old = con.execute(f"""select count(*) from pseudo_actuarial.policy_admin__contracts
            where premium_excl_ipt is not null and cast(least(end_date,
            coalesce(cancellation_date, end_date)) + to_years(10) as date) <= ?
            and contract_key not in ({held})""", [as_of]).fetchall()[0][0]
    finally:
        con.close()
    assert old == 0


# -- landing -------------------------------------------------------------------------------


def test_landing_deliveries_go_once_loaded_after_the_grace_period(book: Book) -> None:
    first = date(2026, 11, 24)
    qdir = book.quarantine / "policy_admin" / first.isoformat()
    assert qdir.is_dir()
    before, on_day, after = (clone(book, n) for n in ("before", "on_day", "after"))
    retain(before, first + 6 * DAY)
    assert (before.landing / "policy_admin" / first.isoformat()).is_dir()
    report = retain(on_day, first + 7 * DAY)
    assert not (on_day.landing / "policy_admin" / first.isoformat()).exists()
    assert report.counts["landing"]["landing:policy_admin"] > 0
    retain(after, first + 8 * DAY)
    for system in ("policy_admin", "claims", "dpo"):
        assert not (after.landing / system / first.isoformat()).exists()
        assert not (after.quarantine / system / first.isoformat()).exists()
    assert (after.landing / "policy_admin" / D26.isoformat()).is_dir(), "younger ones stay"


def test_landing_not_loaded_or_with_pending_requests_is_kept(book: Book) -> None:
    old = date(2026, 11, 10)
    write_dpo(book.landing, old, [
        {"request_id": "DSR-880010", "request_type": "access", "received_date": "2026-11-10",
         "customer_number": "C12345678"}])
    report = retain(book, date(2026, 12, 31))
    assert (book.landing / "dpo" / old.isoformat()).is_dir(), "not loaded yet"
    assert report.landing_kept_past_grace == 1
    book.ingest()  # loaded, but its request is not processed yet
    retain(book, date(2026, 12, 31))
    assert (book.landing / "dpo" / old.isoformat()).is_dir()
    rights.process_requests(book.landing, book.quarantine, book.warehouse, book.keys,
                            date(2026, 12, 31))
    retain(book, date(2026, 12, 31))
    assert not (book.landing / "dpo" / old.isoformat()).exists()


# -- never kept -------------------------------------------------------------------------------


def test_gps_and_call_data_are_never_kept(book: Book) -> None:
    qfile = next(book.quarantine.glob("claims/*/claims.parquet"))  # missing claim numbers
    frame = pl.read_parquet(qfile)
    frame.with_columns(breakdown_latitude=pl.lit("51.50"),
                       breakdown_longitude=pl.lit("-0.12")).write_parquet(qfile)
    report = retain(book, D26)
    assert report.counts["never_kept"][f"quarantine:claims/{qfile.stem}"] >= 2 * frame.height
    for path in book.quarantine.glob("claims/*/claims.parquet"):
        got = pl.read_parquet(path)
        assert got["breakdown_latitude"].null_count() == got.height
        assert got["breakdown_longitude"].null_count() == got.height
    con = duckdb.connect(str(book.warehouse))
    try:
        con.execute("create table pseudo_actuarial.sneaky (breakdown_latitude decimal(9,2))")
        con.execute("insert into pseudo_actuarial.sneaky values (51.50)")
    finally:
        con.close()
    with pytest.raises(NeverKeptViolation) as err:
        retain(book, D26)
    assert "pseudo_actuarial.sneaky.breakdown_latitude" in str(err.value)
    assert "51.5" not in str(err.value)


# -- audit and idempotency ---------------------------------------------------------------------


def test_runs_are_recorded_and_a_second_run_removes_nothing(book: Book) -> None:
    as_of = date(2029, 3, 1)
    first = retain(book, as_of)
    assert first.removed_from_warehouse > 0
    second = retain(book, as_of)
    assert second.removed_from_warehouse == 0
    runs = q(book, "select run_id, as_of, rule, sum(rows) from audit.retention_runs "
                   "group by all order by 1")
    by_run = {}
    for run_id, day, rule, rows in runs:
        assert day == as_of
        by_run.setdefault(run_id, {})[rule] = rows
    assert set(by_run) == {first.run_id, second.run_id}
    assert {"contracts_and_claims", "prospects", "billing", "landing", "orphans",
            "never_kept"} <= set(by_run[first.run_id])
    cols = [r[0] for r in q(book, "select column_name from information_schema.columns "
                                  "where table_schema = 'audit' and table_name = 'retention_runs'")]
    assert cols == ["run_id", "run_at", "as_of", "rule", "target", "rows"]


def test_a_rerun_on_unchanged_inputs_skips_the_warehouse_rules(
        book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run records the digest of the tables it leaves (transforms/retention/unchanged.py);
    a rerun of the same date over them reports what the rules would (nothing removed, the same
    held) without running a rule. A changed table, a later as-of date or other periods run the
    rules again."""
    from transforms.retention import rules as retention_rules

    c = a_contract_with_claims(book)
    limit = add_years(c["ended"], 6)
    first = retain(book, limit - DAY)
    assert first.warehouse_rules == "applied" and first.removed_from_warehouse > 0
    forced = clone(book, "forced")  # the same tables, without the record: the rules run

    def not_run(*_args, **_kwargs):
        raise AssertionError("a warehouse rule ran on unchanged inputs")

    with monkeypatch.context() as m:
        for rule in ("contracts_and_claims", "prospects", "billing", "orphans"):
            m.setattr(retention_rules, rule, not_run)
        second = retain(book, limit - DAY)
    assert second.warehouse_rules == "unchanged inputs"
    assert second.removed_from_warehouse == 0
    con = duckdb.connect(str(forced.warehouse))
    try:
        con.execute("drop table audit.retention_unchanged")
    finally:
        con.close()
    applied = retain(forced, limit - DAY)
    assert applied.warehouse_rules == "applied"
    assert {r: second.counts[r] for r in REMOVING_RULES} == \
        {r: applied.counts[r] for r in REMOVING_RULES}, "the recorded counts are the rules'"
    assert contract_state(book, c)["actuarial"] > 0

    # other periods: the rules run (a period of 0 years makes every ended contract due)
    other = retain(clone(book, "other"), limit - DAY,
                   RetentionPolicy(contract_prescription_years=0))
    assert other.warehouse_rules == "applied" and other.removed_from_warehouse > 0
    # a row delivered meanwhile that is long past its limit: same date, changed table
    con = duckdb.connect(str(book.warehouse))
    try:
        con.execute("""insert into pseudo_actuarial.policy_admin__contracts
            select * replace (repeat('e', 64) as contract_key, date '2001-01-31' as end_date,
                              null::date as cancellation_date)
            from pseudo_actuarial.policy_admin__contracts limit 1""")
    finally:
        con.close()
    third = retain(book, limit - DAY)
    assert third.warehouse_rules == "applied"
    assert q(book, "select count(*) from pseudo_actuarial.policy_admin__contracts "
                   "where contract_key = ?", ["e" * 64])[0][0] == 0
    # and the day the contract's limit is reached: a new as-of date
    fourth = retain(book, limit + DAY)
    assert fourth.warehouse_rules == "applied"
    assert contract_state(book, c)["actuarial"] == 0


# -- the DAG, through Airflow itself ------------------------------------------------------------


def test_the_dag_runs_through_airflow(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "airflow_home"
    key = os.urandom(32).hex()
    keys = DomainKeys.derive(bytes.fromhex(key))
    with environment(PIPELINE_MASTER_KEY=key):
        book = make_book(data, keys, contracts=300, as_of=D26, seed=3)
    values = identifier_values(sorted(book.landing.rglob("*.csv")))
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data), "AIRFLOW_HOME": str(home),
           "PIPELINE_MASTER_KEY": key}
    env.pop("PIPELINE_MASTER_KEY_FILE", None)
    env.pop("PIPELINE_AS_OF", None)
    script = ("source scripts/pipeline_env.sh && mkdir -p \"$AIRFLOW_HOME\" && "
              "uv run airflow db migrate >/dev/null && "
              "uv run python -m transforms.operations.airflow_run retention_and_rights 2026-11-26")
    proc = subprocess.run(["bash", "-c", script], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    (tmp_path / "airflow.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "dag run state success" in proc.stdout
    statuses = dict(q(book, "select status, count(*) from audit.subject_requests group by 1"))
    assert statuses.get("done", 0) > 0
    assert q(book, "select count(distinct run_id) from audit.retention_runs "
                   "where as_of = date '2026-11-26'")[0][0] == 1
    state = {n: json.loads((data / "state" / f"{n}.json").read_text())
             for n in ("rights", "retention", "retire")}
    assert state["rights"]["as_of"] == "2026-11-26"
    # the task logs, XComs and state carry counts only
    found = scan([data / "state", data / "logs", home, tmp_path / "airflow.log"], values)
    assert found.total == 0, found.as_dict()
