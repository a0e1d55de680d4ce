"""The actuarial marts reconciled, to the cent, with the landing files.

A small book from the real generator (plus a few hand-made rows for the cases it does not
produce at this size) goes through the real ingest and `dbt build`. Independently of dbt, the
same documented business rules are applied with polars and Decimal to the landing CSV files:

- which landing rows are accepted: `transforms.ingest.validation.validate` (quarantine is not
  what is under test here), then, per business key, the row of the latest delivery;
- cover `[start_date, min(end_date, cancellation_date, as_of + 1))`, calendar-year periods,
  earned exposure = covered days / 365.25, earned premium = premium x covered days / term days
  rounded half away from zero to the cent;
- claims notified on or before as_of, valued at as_of (paid = payments, incurred = payments +
  reserve changes), counted unless declined, in the period of their loss date (a period
  without cover gets a row with exposure 0); claims on unknown, erased or restricted contracts
  left out; amounts in GBP for GB contracts, EUR for FR, never added together;
- the development rectangle per product x component x currency.

Pseudonyms are computed from the landing values with the run's key
(transforms.privacy.pseudonymise), so that every landing row maps to its mart row. One generation,
ingest and build per module.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

from transforms.build import dbt_run
from transforms.build.dbt_run import run_dbt
from transforms.classification import PROJECT_ROOT, load
from transforms.ingest.run import ingest
from transforms.ingest.validation import person_expr, read_raw, validate
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)
CONTRACTS = 2_000
DAYS = 3
SEED = 45  # its book redelivers a claim closed the next day, and again unchanged (checked)
DAYS_PER_YEAR = 365.25
CENT = Decimal("0.01")
CURRENCY = {"GB": "GBP", "FR": "EUR"}
DOCS = PROJECT_ROOT / "dbt_project" / "models" / "marts" / "actuarial" / "_actuarial__docs.md"


# ------------------------------------------------------------------ hand-made deliveries
#
# At 2,000 contracts the daily increments hold a handful of rows, so the cases where the latest
# delivery changes a mart figure are added by hand, on made-up numbers outside the generator's
# ranges, to the generated delivery files (manifests rewritten):
#   contract H: delivered on day 1 uncancelled, redelivered on day 2 cancelled mid-year;
#   claim HC1: open with a reserve on day 1, redelivered declined on day 2 with the reserve
#     released, redelivered unchanged on day 3 (must count once, as declined);
#   claim HC2: lost within the cover, notified on day 2 after the contract ended, part-paid and
#     its reserve partly released on day 3;
#   claim HC3: delivered on day 1 with a status no rule knows (quarantined), with a payment on
#     day 1 and a reserve change on day 2: two orphan transactions, quarantined with their own
#     reason (transforms/ingest/orphans.py) and accounted for in the reconciliation.

H = "OPW-9900001"
HC1, HC2, HC3 = "CLM-99000001", "CLM-99000002", "CLM-99000003"
DAY1, DAY2, DAY3 = (AS_OF - timedelta(days=DAYS - 1 - i) for i in range(DAYS))


def hand_made_rows(template: dict[str, str]) -> dict[tuple[str, str, date], list[dict[str, str]]]:
    """Rows to append per (system, file, delivery date); `template` is a generated GB contract."""
    contract = {**template, "contract_number": H, "customer_number": "C99000001",
                "surname": "Example", "first_name": "Hand", "country": "GB",
                "start_date": "2025-03-15", "end_date": "2026-03-15", "cancellation_date": "",
                "premium_excl_ipt": "365.00", "ipt": "43.80"}
    claim = {"contract_number": H, "failed_component": "engine", "mileage_at_claim": "41000",
             "repairer_id": "R99001", "description": "", "breakdown_latitude": "",
             "breakdown_longitude": ""}
    hc1 = {**claim, "claim_number": HC1, "loss_date": "2025-06-01",
           "notification_date": "2025-06-03", "status": "open"}
    hc2 = {**claim, "claim_number": HC2, "loss_date": "2025-09-20",
           "notification_date": DAY2.isoformat(), "status": "open"}

    def tx(n: int, claim_number: str, day: date | str, kind: str, amount: str) -> dict[str, str]:
        day = day if isinstance(day, str) else day.isoformat()
        return {"transaction_id": f"TX99000000{n:02d}", "claim_number": claim_number,
                "transaction_date": day, "transaction_type": kind, "amount": amount,
                "payee_iban": ""}

    return {
        ("policy_admin", "contracts", DAY1): [contract],
        ("policy_admin", "contracts", DAY2): [{**contract, "cancellation_date": "2025-10-01"}],
        ("claims", "claims", DAY1): [hc1, {**hc1, "claim_number": HC3, "status": "lost"}],
        ("claims", "claims", DAY2): [{**hc1, "status": "declined"}, hc2],
        ("claims", "claims", DAY3): [{**hc1, "status": "declined"}],
        ("claims", "claim_transactions", DAY1): [tx(1, HC1, "2025-06-03", "reserve_change",
                                                    "500.00"),
                                                 tx(7, HC3, DAY1, "payment", "1234.56")],
        ("claims", "claim_transactions", DAY2): [tx(2, HC1, DAY2, "reserve_change", "-500.00"),
                                                 tx(3, HC2, DAY2, "reserve_change", "800.00"),
                                                 tx(8, HC3, DAY2, "reserve_change", "99.01")],
        ("claims", "claim_transactions", DAY3): [tx(4, HC2, DAY3, "payment", "300.00"),
                                                 tx(5, HC2, DAY3, "reserve_change", "-300.00"),
                                                 tx(6, HC2, DAY3, "reserve_change", "-200.00")],
    }


def append_rows(folder: Path, name: str, rows: list[dict[str, str]]) -> None:
    """Append rows to a delivery file (same CSV dialect) and update its manifest entry."""
    path = folder / f"{name}.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    with open(path, "a", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writerows(rows)
    manifest_path = folder / "_manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = manifest["files"][path.name]
    entry["rows"] += len(rows)
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def add_hand_made_deliveries(landing: Path) -> None:
    contracts = landing / "policy_admin" / DAY1.isoformat() / "contracts.csv"
    with open(contracts, encoding="utf-8", newline="") as fh:
        template = next(r for r in csv.DictReader(fh) if r["country"] == "GB")
    for (system, name, day), rows in hand_made_rows(template).items():
        append_rows(landing / system / day.isoformat(), name, rows)


# ------------------------------------------------------------------ the landing files


def accepted_rows(landing: Path, system: str, name: str) -> pl.DataFrame:
    """Every row validation accepts, of every delivery of one file, with its delivery date."""
    entity = load().entity(system, name)
    frames = []
    for folder in sorted(p for p in (landing / system).iterdir() if p.is_dir()):
        delivery = date.fromisoformat(folder.name)
        clean = validate(read_raw(folder / f"{name}.csv", entity), entity, delivery).clean
        frames.append(clean.with_columns(pl.lit(delivery).alias("delivery_date")))
    return pl.concat(frames)


def latest_delivery(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """Snapshots: per key, the row of the latest delivery."""
    return frame.sort("delivery_date").unique(subset=[key], keep="last", maintain_order=True)


@dataclass
class Landing:
    """The landing files as the rules see them (latest accepted rows, pseudonymised keys)."""

    contracts: pl.DataFrame
    claims: pl.DataFrame
    transactions: pl.DataFrame
    requests: pl.DataFrame
    claim_deliveries: pl.DataFrame  # claim_key -> how many deliveries carried it


def read_landing(landing: Path, keys: DomainKeys) -> Landing:
    def key(column: str) -> pl.Expr:
        return pseudonymise(pl.col(column), keys, "actuarial")

    person = pseudonymise(person_expr(("surname", "first_name", "date_of_birth")), keys,
                          "actuarial")
    contracts = latest_delivery(accepted_rows(landing, "policy_admin", "contracts"),
                                "contract_number").select(
        key("contract_number").alias("contract_key"), person.alias("person_key"),
        "product", "country", "start_date", "end_date", "cancellation_date", "premium_excl_ipt",
    )
    all_claims = accepted_rows(landing, "claims", "claims")
    claims = latest_delivery(all_claims, "claim_number").select(
        key("claim_number").alias("claim_key"), key("contract_number").alias("contract_key"),
        "loss_date", "notification_date", "failed_component", "status",
    )
    claim_deliveries = all_claims.group_by("claim_number").agg(
        pl.col("delivery_date").n_unique().alias("deliveries"),
        pl.col("status").unique().alias("statuses"),
    ).select(key("claim_number").alias("claim_key"), "deliveries", "statuses")
    transactions = latest_delivery(accepted_rows(landing, "claims", "claim_transactions"),
                                   "transaction_id").select(
        key("claim_number").alias("claim_key"), "transaction_date", "transaction_type", "amount",
    )
    requests = latest_delivery(accepted_rows(landing, "dpo", "subject_requests"),
                               "request_id").select(
        "request_id", "request_type", "received_date", person.alias("person_key"),
        key("contract_number").alias("contract_key"),
    )
    return Landing(contracts, claims, transactions, requests, claim_deliveries)


# ------------------------------------------------------------------ the rules, independently


def excluded_contracts(landing: Landing) -> set[str]:
    """Contracts of subjects who asked for erasure or are under a restriction not lifted
    since (a lifting the same day does not count). A request names its subject by person or
    contract and applies to every contract of that person."""
    requests = landing.requests.filter(
        pl.col("request_type").is_in(["erasure", "restriction", "restriction_lifted"]))
    contracts = landing.contracts.select("contract_key", "person_key")
    named = pl.concat([
        requests.drop("contract_key").join(contracts, on="person_key"),
        requests.drop("person_key").join(contracts, on="contract_key"),
    ], how="diagonal")
    same_person = named.select("request_id", "request_type", "received_date", "person_key") \
        .join(contracts, on="person_key")
    per_contract = pl.concat(
        [named.select(same_person.columns), same_person.select(same_person.columns)]
    ).group_by("contract_key").agg(
        (pl.col("request_type") == "erasure").any().alias("erased"),
        pl.col("received_date").filter(pl.col("request_type") == "restriction").max()
        .alias("restricted_on"),
        pl.col("received_date").filter(pl.col("request_type") == "restriction_lifted").max()
        .alias("lifted_on"),
    )
    restricted = pl.col("restricted_on").is_not_null() & (
        pl.col("lifted_on").is_null() | (pl.col("lifted_on") <= pl.col("restricted_on")))
    return set(per_contract.filter(pl.col("erased") | restricted)["contract_key"])


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)  # half away from zero (amount >= 0)


def quarter_years(days: int) -> Decimal:
    """Published exposure: covered days in years, to the nearest quarter year (never a tie)."""
    return Decimal(round(days * 4 / DAYS_PER_YEAR)) / 4


def contract_periods(contracts: pl.DataFrame) -> dict[tuple[str, date], dict[str, Any]]:
    """(contract_key, year start) -> covered days, exposure and earned premium."""
    out: dict[tuple[str, date], dict[str, Any]] = {}
    for c in contracts.iter_rows(named=True):
        cover_end = min(c["end_date"], c["cancellation_date"] or c["end_date"],
                        AS_OF + timedelta(days=1))
        term_days = (c["end_date"] - c["start_date"]).days
        for year in range(c["start_date"].year, cover_end.year + 1):
            start, end = date(year, 1, 1), date(year + 1, 1, 1)
            days = (min(cover_end, end) - max(c["start_date"], start)).days
            if days <= 0:
                continue
            out[(c["contract_key"], start)] = {
                "covered_days": days,
                "earned_exposure": quarter_years(days),
                "earned_premium": cents(c["premium_excl_ipt"] * days / term_days),
            }
    return out


def valued_claims(landing: Landing, contracts: pl.DataFrame) -> pl.DataFrame:
    """Claims notified by as_of on a processable contract, valued at as_of, with currency."""
    transactions = landing.transactions.filter(pl.col("transaction_date") <= AS_OF)
    totals = transactions.group_by("claim_key").agg(
        pl.col("amount").filter(pl.col("transaction_type") == "payment").sum().alias("paid"),
        pl.col("amount").sum().alias("incurred"),
    )
    return (
        landing.claims.filter(pl.col("notification_date") <= AS_OF)
        .join(contracts.select("contract_key", "product", "currency", "start_date", "end_date",
                               "cancellation_date"), on="contract_key")
        .join(totals, on="claim_key", how="left")
        .with_columns(
            pl.col("paid").fill_null(Decimal(0)), pl.col("incurred").fill_null(Decimal(0)),
            (pl.col("status") == "declined").alias("declined"),
        )
    )


def expected_policy_exposure(landing: Landing) -> dict[tuple[str, date], dict[str, Any]]:
    excluded = excluded_contracts(landing)
    contracts = landing.contracts.filter(~pl.col("contract_key").is_in(list(excluded))) \
        .with_columns(pl.col("country").replace_strict(CURRENCY).alias("currency"))
    currency = dict(zip(contracts["contract_key"], contracts["currency"], strict=True))
    rows: dict[tuple[str, date], dict[str, Any]] = {}
    zero = {"covered_days": 0, "earned_exposure": Decimal(0), "earned_premium": Decimal("0.00")}
    nothing = {"claim_count": 0, "declined_claims": 0, "paid_amount": Decimal(0),
               "incurred_amount": Decimal(0)}
    for (contract_key, period), earned in contract_periods(contracts).items():
        rows[(contract_key, period)] = {**earned, **nothing}
    for claim in valued_claims(landing, contracts).iter_rows(named=True):
        period = date(claim["loss_date"].year, 1, 1)
        row = rows.setdefault((claim["contract_key"], period), {**zero, **nothing})
        row["claim_count"] += 0 if claim["declined"] else 1
        row["declined_claims"] += 1 if claim["declined"] else 0
        row["paid_amount"] += claim["paid"]
        row["incurred_amount"] += claim["incurred"]
    for (contract_key, _), row in rows.items():
        row["currency"] = currency[contract_key]
    return rows


def year(day: date) -> date:
    return day.replace(month=1, day=1)


def years_between(first: date, last: date) -> list[date]:
    return [date(y, 1, 1) for y in range(first.year, last.year + 1)]


def expected_development(landing: Landing) -> dict[tuple, list[Any]]:
    """(origin, valuation, product, component, currency) -> [paid, incurred, reported,
    declined], for the whole rectangle of each component: every accident year from the first
    to the as-of year, every valuation year from the origin on; a movement before its origin
    counts in it. The mart publishes these summed over each component's published group."""
    excluded = excluded_contracts(landing)
    contracts = landing.contracts.filter(~pl.col("contract_key").is_in(list(excluded))) \
        .with_columns(pl.col("country").replace_strict(CURRENCY).alias("currency"))
    claims = valued_claims(landing, contracts)
    segment_of = {c["claim_key"]: (c["product"], c["failed_component"], c["currency"])
                  for c in claims.iter_rows(named=True)}
    origin_of = {c["claim_key"]: year(c["loss_date"]) for c in claims.iter_rows(named=True)}
    moves: dict[tuple, list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), 0, 0])
    for c in claims.iter_rows(named=True):
        origin = origin_of[c["claim_key"]]
        at = max(year(c["notification_date"]), origin)
        move = moves[(segment_of[c["claim_key"]], origin, at)]
        move[2 if not c["declined"] else 3] += 1
    for t in landing.transactions.filter(pl.col("transaction_date") <= AS_OF) \
            .iter_rows(named=True):
        if t["claim_key"] not in segment_of:
            continue
        origin = origin_of[t["claim_key"]]
        move = moves[(segment_of[t["claim_key"]], origin,
                      max(year(t["transaction_date"]), origin))]
        move[0] += t["amount"] if t["transaction_type"] == "payment" else 0
        move[1] += t["amount"]
    years = years_between(min(origin_of.values()), year(AS_OF))
    table: dict[tuple, list[Any]] = {}
    for segment in set(segment_of.values()):
        for i, origin in enumerate(years):
            total = [Decimal(0), Decimal(0), 0, 0]
            for valuation in years[i:]:
                move = moves.get((segment, origin, valuation))
                if move:
                    total = [a + b for a, b in zip(total, move, strict=True)]
                table[(origin, valuation, *segment)] = list(total)
    return table


# ------------------------------------------------------------------ the build


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("reconciliation")
    landing, warehouse = tmp / "landing", tmp / "warehouse.duckdb"
    generate_book(landing, CONTRACTS, DAYS, AS_OF, SEED, truth_dir=tmp / "truth")
    add_hand_made_deliveries(landing)
    keys = DomainKeys.derive(os.urandom(32))
    reports = ingest(landing, warehouse, tmp / "quarantine", keys)
    assert {r.status for r in reports} == {"loaded"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt_run, "TARGET_PATH", tmp / "target")
        patch.setattr(dbt_run, "LOG_PATH", tmp / "logs")
        run_dbt(["build"], warehouse=warehouse, as_of=AS_OF)
    yield {"landing": read_landing(landing, keys), "warehouse": warehouse,
           "key": lambda value: keys_for(keys, value), "landing_dir": landing,
           "quarantine": tmp / "quarantine"}


def keys_for(keys: DomainKeys, value: str) -> str:
    return pl.select(pseudonymise(pl.lit(value), keys, "actuarial")).item()


@pytest.fixture(scope="module")
def con(book: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(book["warehouse"]), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def exposure(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, date], dict[str, Any]]:
    cursor = con.execute("select * from actuarial.policy_exposure")
    names = [c[0] for c in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return {(r["contract_key"], r["period_start"]): r for r in rows}


@pytest.fixture(scope="module")
def expected(book: dict[str, Any]) -> dict[tuple[str, date], dict[str, Any]]:
    return expected_policy_exposure(book["landing"])


# ------------------------------------------------------------------ the edge cases are there


def test_edge_cases_are_in_the_book(
    book: dict[str, Any], expected: dict[tuple[str, date], dict[str, Any]]
) -> None:
    landing: Landing = book["landing"]
    contracts = landing.contracts.filter(
        pl.col("contract_key").is_in(list({k for k, _ in expected})))
    generated = contracts.filter(pl.col("contract_key") != book["key"](H))
    # cancellation mid-period: cover cut on a day that is not a period boundary
    cancelled = generated.filter(
        pl.col("cancellation_date").is_not_null()
        & (pl.col("cancellation_date").dt.ordinal_day() != 1)
        & (pl.col("cancellation_date") > pl.col("start_date")))
    assert cancelled.height >= 10
    for c in cancelled.head(10).iter_rows(named=True):
        period = date(c["cancellation_date"].year, 1, 1)
        row = expected[(c["contract_key"], period)]
        assert row["covered_days"] == (c["cancellation_date"]
                                       - max(period, c["start_date"])).days
    # claims notified after the contract ended (or was cancelled)
    claims = landing.claims.join(contracts, on="contract_key")
    late = claims.filter(pl.col("notification_date") >= pl.min_horizontal(
        "end_date", pl.col("cancellation_date").fill_null(pl.col("end_date"))))
    assert late.filter(pl.col("claim_key") != book["key"](HC2)).height >= 1
    # reserve releases: a reserve decrease that is not the offset of a same-day payment
    tx = landing.transactions
    payments = tx.filter(pl.col("transaction_type") == "payment") \
        .select("claim_key", "transaction_date", (-pl.col("amount")).alias("amount"))
    releases = tx.filter((pl.col("transaction_type") == "reserve_change")
                         & (pl.col("amount") < 0)) \
        .join(payments, on=["claim_key", "transaction_date", "amount"], how="anti")
    assert releases.height >= 50
    # redelivered claims: a generated claim carried by two deliveries, and the hand-made one
    # whose latest delivery (declined) changes the count
    redelivered = landing.claim_deliveries.filter(pl.col("deliveries") > 1)
    assert redelivered.filter(
        ~pl.col("claim_key").is_in([book["key"](HC1), book["key"](HC2)])).height >= 1
    assert set(redelivered["claim_key"]) >= {book["key"](HC1)}
    # both currencies
    assert set(contracts["country"]) == {"GB", "FR"}
    # claims left out: on a contract of an erased or restricted subject, on an unknown one
    excluded = excluded_contracts(landing)
    assert excluded and landing.claims.filter(
        pl.col("contract_key").is_in(list(excluded))).height >= 1
    known = landing.contracts["contract_key"].implode()
    assert landing.claims.filter(~pl.col("contract_key").is_in(known)).height >= 1


def test_hand_made_cases(con: duckdb.DuckDBPyConnection, book: dict[str, Any]) -> None:
    """Hand-computed: the latest deliveries win (cancellation, declined claim). Read before
    withholding (a made-up contract may well be unique)."""
    cursor = con.execute("select * from intermediate.int_policy_exposure_generalised")
    names = [c[0] for c in cursor.description]
    exposure = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    key = book["key"](H)
    # cover 15 March to 1 October 2025: 200 days of a 365-day term
    row = exposure[(key, date(2025, 1, 1))]
    assert row["earned_exposure"] == Decimal("0.50")  # 200 days: 2.19 quarters -> 2
    assert row["earned_premium"] == Decimal("200.00")
    assert row["currency"] == "GBP"
    # HC1 declined (not counted, reserve released: 0); HC2 lost in cover, notified late:
    # 300 paid, 800 - 300 - 200 = 300 outstanding
    assert (row["claim_count"], row["declined_claims"], row["paid_amount"],
            row["incurred_amount"]) == (1, 1, Decimal("300.00"), Decimal("600.00"))
    assert (key, date(2026, 1, 1)) not in exposure  # cancelled: no 2026 cover, no 2026 claim


# ------------------------------------------------------------------ policy exposure


def withheld(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Contracts that policy_exposure's disclosure ledger withholds (unique, too many unique)."""
    return {r[0] for r in con.execute(
        "select contract_key from intermediate.int_policy_exposure_units where is_suppressed"
    ).fetchall()}


def test_policy_exposure_row_by_row(
    exposure: dict[tuple[str, date], dict[str, Any]],
    expected: dict[tuple[str, date], dict[str, Any]],
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Every expected row, but those of withheld contracts (which are unique on the declared
    quasi-identifiers: a 2,000-contract book has more than 5 % of them)."""
    hidden = withheld(con)
    assert {c for c, _ in exposure} & hidden == set()
    assert exposure.keys() == {k for k in expected if k[0] not in hidden}
    for key, want in expected.items():
        if key[0] in hidden:
            continue
        got = exposure[key]
        assert got["currency"] == want["currency"], key
        assert got["earned_exposure"] == want["earned_exposure"], key
        assert got["earned_premium"] == want["earned_premium"], key
        assert got["claim_count"] == want["claim_count"], key
        assert got["declined_claims"] == want["declined_claims"], key
        assert got["paid_amount"] == want["paid_amount"], key
        assert got["incurred_amount"] == want["incurred_amount"], key


def test_policy_exposure_totals_per_currency_and_period(
    con: duckdb.DuckDBPyConnection, expected: dict[tuple[str, date], dict[str, Any]]
) -> None:
    want: dict[tuple[str, date], list[Any]] = defaultdict(
        lambda: [Decimal(0), 0, 0, Decimal(0), Decimal(0), Decimal(0), 0])
    for (_, period), row in expected.items():
        total = want[(row["currency"], period)]
        total[0] += row["earned_exposure"]
        total[1] += row["claim_count"]
        total[2] += row["declined_claims"]
        total[3] += row["paid_amount"]
        total[4] += row["incurred_amount"]
        total[5] += row["earned_premium"]
        total[6] += row["covered_days"]
    sums = """currency, period_start, sum(earned_exposure), sum(claim_count),
        sum(declined_claims), sum(paid_amount), sum(incurred_amount), sum(earned_premium)"""
    published = {(r[0], r[1]): r[2:] for r in con.execute(
        f"select {sums} from actuarial.policy_exposure group by all").fetchall()}
    hidden = {(r[0], r[1]): r[2:] for r in con.execute(
        f"select {sums} from intermediate.int_policy_exposure_generalised "
        "where contract_key in (select contract_key from intermediate.int_policy_exposure_units "
        "where is_suppressed) group by all").fetchall()}
    assert set(published) | set(hidden) == set(want)
    assert {c for c, _ in published} == {"GBP", "EUR"}
    zero = (Decimal(0), 0, 0, Decimal(0), Decimal(0), Decimal(0))
    for key, total in want.items():
        both = tuple(a + b for a, b in zip(published.get(key, zero), hidden.get(key, zero),
                                           strict=True))
        assert both == tuple(total[:6]), key


def test_frequency_severity_plus_suppressed_is_the_whole_book(
    con: duckdb.DuckDBPyConnection, expected: dict[tuple[str, date], dict[str, Any]]
) -> None:
    """Published cells plus the cells the ledger suppressed hold every covered day, claim,
    declined claim and cent of incurred, currency and period by currency and period; every
    published cell counts at least k contracts; pooling moved what the ledger says."""
    want: dict[tuple[str, date], list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal(0), 0])
    for (_, period), row in expected.items():
        total = want[(row["currency"], period)]
        total[0] += row["covered_days"]
        total[1] += row["claim_count"]
        total[2] += row["declined_claims"]
        total[3] += row["incurred_amount"]
        total[4] += 1
    sums = """currency, period_start, sum(exposure_days), sum(claim_count), sum(declined_claims),
        sum(incurred_amount), sum(contracts)"""
    published = {(r[0], r[1]): r[2:] for r in con.execute(
        f"select {sums} from actuarial.frequency_severity group by all").fetchall()}
    suppressed = {(r[0], r[1]): r[2:] for r in con.execute(
        f"select {sums} from intermediate.int_frequency_severity_cells where is_suppressed "
        "group by all").fetchall()}
    zero = (0, 0, 0, Decimal(0), 0)
    for key, total in want.items():
        both = [a + b for a, b in zip(published.get(key, zero), suppressed.get(key, zero),
                                      strict=True)]
        assert both == total, key
    assert set(published) | set(suppressed) <= set(want)
    smallest = con.execute("select min(contracts) from actuarial.frequency_severity").fetchall()
    assert smallest[0][0] >= 10
    # the declared levels, pooled levels and 'all' only
    levels = {r[0] for r in con.execute(
        "select distinct mileage_band from actuarial.frequency_severity").fetchall()}
    assert levels <= {"000-020k", "020-040k", "040-060k", "060-080k", "080-100k", "100-150k",
                      "150k+", "000-040k", "040-080k", "080k+", "all"}


# ------------------------------------------------------------------ claims development


def development_rows(con: duckdb.DuckDBPyConnection) -> dict[tuple, tuple]:
    return {
        tuple(r[:5]): tuple(r[5:])
        for r in con.execute("""
            select origin_year, valuation_year, product, component_group, currency,
                cumulative_paid, cumulative_incurred, reported_claims, declined_claims
            from actuarial.claims_development
        """).fetchall()
    }


def published_groups(con: duckdb.DuckDBPyConnection) -> dict[tuple, tuple[str, date | None]]:
    """(product, component, currency) -> (published group, first published accident year or
    None if suppressed whole), from the ledger."""
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in con.execute(
        "select product, failed_component, currency, component_group, first_origin_year "
        "from intermediate.int_claim_development_segments").fetchall()}


def test_claims_development_cell_by_cell(
    book: dict[str, Any], con: duckdb.DuckDBPyConnection
) -> None:
    """Components summed into their published groups give the mart cell by cell, to the cent;
    suppressed components are in no cell; every cell with claims counts at least k claims."""
    groups = published_groups(con)
    want: dict[tuple, list[Any]] = {}
    for (origin, valuation, product, component, currency), v in \
            expected_development(book["landing"]).items():
        group, first = groups[(product, component, currency)]
        if first is None or origin < first:
            continue
        total = want.setdefault((origin, valuation, product, group, currency),
                                [Decimal(0), Decimal(0), 0, 0])
        want[(origin, valuation, product, group, currency)] = [
            a + b for a, b in zip(total, v, strict=True)]
    got = development_rows(con)
    assert got.keys() == want.keys()
    mismatched = [k for k, v in want.items() if list(got[k]) != v]
    assert mismatched == []
    claims = [r[0] for r in con.execute(
        "select claims from actuarial.claims_development where claims > 0").fetchall()]
    assert claims and min(claims) >= 10


def test_development_latest_diagonal_plus_suppressed_is_policy_exposure(
    con: duckdb.DuckDBPyConnection, expected: dict[tuple[str, date], dict[str, Any]]
) -> None:
    want: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for row in expected.values():
        total = want[row["currency"]]
        total[0] += row["paid_amount"]
        total[1] += row["incurred_amount"]
        total[2] += row["claim_count"] + row["declined_claims"]
    got: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for currency, *values in con.execute("""
            select currency, sum(cumulative_paid), sum(cumulative_incurred), sum(claims)
            from actuarial.claims_development
            where valuation_year = ?
            group by currency
            union all
            select currency, sum(suppressed_paid_amount), sum(suppressed_incurred_amount),
                sum(suppressed_claims)
            from intermediate.int_claim_development_segments
            group by currency
        """, [year(AS_OF)]).fetchall():
        got[currency] = [a + b for a, b in zip(got[currency], values, strict=True)]
    assert dict(got) == dict(want)


# ------------------------------------------------------------------ chainladder


def documented_chainladder_call() -> str:
    """The python block of the claims_development docs, as published to its users."""
    text = DOCS.read_text(encoding="utf-8")
    block = text[text.index("{% docs claims_development %}"):]
    match = re.search(r"```python\n(.*?)```", block, re.DOTALL)
    assert match, "the claims_development docs show no python block"
    return match.group(1)


def test_claims_development_loads_into_chainladder_as_documented(
    book: dict[str, Any], con: duckdb.DuckDBPyConnection
) -> None:
    cl = pytest.importorskip("chainladder")
    code = documented_chainladder_call()
    published = '"data/published/marts.duckdb"'
    assert "cumulative=True" in code and published in code
    # the documented code, as it stands (the fit included), on this build's warehouse
    namespace: dict[str, Any] = {}
    exec(code.replace(published, repr(str(book["warehouse"]))), namespace)  # noqa: S102
    triangle, by_currency = namespace["triangle"], namespace["by_currency"]

    table = development_rows(con)
    segments = sorted({(k[4], k[2], k[3]) for k in table})  # (currency, product, group)
    origins = sorted({k[0] for k in table})
    assert triangle.shape == (len(segments), 3, len(origins), len(origins))
    index = [tuple(r) for r in triangle.index.itertuples(index=False)]
    assert sorted(index) == segments

    latest = triangle.latest_diagonal.values  # (segment, column, origin, 1)
    for i, (currency, product, group) in enumerate(index):
        for j, column in enumerate(("cumulative_paid", "cumulative_incurred",
                                    "reported_claims")):
            # a segment of a small book may start after the first origin (its earlier
            # accident years suppressed): chainladder shows those cells empty
            want = [float(table.get((o, year(AS_OF), product, group, currency),
                                    (0, 0, 0, 0))[j]) for o in origins]
            got = np.nan_to_num(latest[i, j, :, 0])
            assert got == pytest.approx(want, abs=1e-6), (currency, product, group, column)

    assert list(by_currency.index["currency"]) == ["EUR", "GBP"]
    model = cl.Chainladder().fit(by_currency["cumulative_paid"])
    assert model.ultimate_.shape == (2, 1, len(origins), 1)
    assert np.isfinite(np.nansum(model.ultimate_.values))


# ------------------------------------------------------------------ orphans accounted for


def expected_orphans(landing: Path) -> pl.DataFrame:
    """Accepted transactions whose claim was accepted in no delivery up to theirs (quarantined,
    or never delivered): the rule of transforms/ingest/orphans.py, applied independently."""
    known: set[str] = set()
    out = []
    for folder in sorted(p for p in (landing / "claims").iterdir() if p.is_dir()):
        delivery = date.fromisoformat(folder.name)
        claims = validate(read_raw(folder / "claims.csv", load().entity("claims", "claims")),
                          load().entity("claims", "claims"), delivery).clean
        known |= set(claims["claim_number"].drop_nulls())
        entity = load().entity("claims", "claim_transactions")
        tx = validate(read_raw(folder / "claim_transactions.csv", entity), entity, delivery).clean
        out.append(tx.filter(~pl.col("claim_number").is_in(sorted(known)))
                   .select("transaction_id", "amount", pl.lit(delivery).alias("delivery_date")))
    return pl.concat(out)


def quarantined_orphans(quarantine: Path) -> pl.DataFrame:
    """The rows the ingest quarantined as orphans (raw strings, as kept)."""
    frames = [pl.read_parquet(p).filter(pl.col("_reasons").str.contains("orphan:claim_number"))
              .select("transaction_id", "amount")
              for p in quarantine.glob("claims/*/claim_transactions.parquet")]
    return pl.concat(frames)


def test_orphan_transactions_are_quarantined_with_their_own_reason(
        book: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    want = expected_orphans(book["landing_dir"])
    got = quarantined_orphans(book["quarantine"])
    assert want.height >= 2  # HC3's two transactions at least
    assert sorted(got["transaction_id"]) == sorted(want["transaction_id"])
    assert sum(Decimal(a) for a in got["amount"]) == sum(want["amount"])
    loaded = {r[0] for r in con.execute(
        "select claim_key from pseudo_actuarial.claims__claim_transactions").fetchall()}
    assert book["key"](HC1) in loaded and book["key"](HC3) not in loaded
    audited = con.execute("select sum(rows) from audit.quarantine "
                          "where reason = 'orphan:claim_number'").fetchall()[0][0]
    assert audited == want.height


def test_every_landing_amount_is_in_a_mart_or_accounted_for(
        book: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    """Landing to mart, to the cent: every accepted transaction amount (latest delivery per
    transaction) is in claims_development at the as-of month, or in the quarantine as an
    orphan, or on a claim the marts leave out by rule (erased, restricted or unknown contract,
    notified after the as-of date). Amounts of both currencies are summed as plain numbers:
    a checksum, never a published figure."""
    landing: Landing = book["landing"]
    tx = landing.transactions.filter(pl.col("transaction_date") <= AS_OF)
    landing_total = sum(tx["amount"], Decimal(0))
    orphans = quarantined_orphans(book["quarantine"])
    orphan_total = sum((Decimal(a) for a in orphans["amount"]), Decimal(0))
    excluded = excluded_contracts(landing)
    contracts = landing.contracts.filter(~pl.col("contract_key").is_in(list(excluded))) \
        .with_columns(pl.col("country").replace_strict(CURRENCY).alias("currency"))
    valued = set(valued_claims(landing, contracts)["claim_key"])
    accepted_claims = set(landing.claims["claim_key"])
    left_out = tx.filter(pl.col("claim_key").is_in(sorted(accepted_claims))
                         & ~pl.col("claim_key").is_in(sorted(valued)))
    left_out_total = sum(left_out["amount"], Decimal(0))
    mart_total = con.execute(
        "select sum(cumulative_incurred) from actuarial.claims_development "
        "where valuation_year = ?", [year(AS_OF)]).fetchall()[0][0]
    # what disclosure control kept out of the triangle is in its ledger, to the cent
    suppressed_total = con.execute(
        "select coalesce(sum(suppressed_incurred_amount), 0) "
        "from intermediate.int_claim_development_segments").fetchall()[0][0]
    assert orphan_total != 0
    assert landing_total == mart_total + suppressed_total + orphan_total + left_out_total
