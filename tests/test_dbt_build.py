"""`dbt build` through run_dbt on a small hand-written warehouse, checked against hand-computed
marts.

The warehouse follows the loader's contract (docs/architecture.md): one table
`pseudo_<purpose>.<system>__<entity>` per entity and purpose, typed from the classification,
with `_delivery_date` and `_key_version`. Pseudonyms are sha256 hex strings of made-up names,
different per domain: no real identifier anywhere. One dbt build for the whole module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from transforms.build import dbt_run
from transforms.build.dbt_run import DbtRunError, run_dbt
from transforms.build.dbt_schema import column_text
from transforms.classification import Classification, Column, Composite, Treatment, load

AS_OF = date(2024, 12, 31)
K = 3  # min_cell_size for this build
KEY_VERSION = "v1"
SECRET = "f00d" * 16  # a stand-in master key, made up for this test
D1, D2 = date(2024, 12, 30), date(2024, 12, 31)  # two deliveries
DAYS_PER_YEAR = 365.25
WAREHOUSE_TYPES = {"string": "VARCHAR", "date": "DATE", "decimal": "DECIMAL(18,2)",
                   "integer": "BIGINT", "boolean": "BOOLEAN"}


def pseudonym(domain: str, name: str) -> str:
    return hashlib.sha256(f"{domain}:{name}".encode()).hexdigest()


def a(name: str) -> str:
    """Actuarial-domain pseudonym."""
    return pseudonym("actuarial", name)


def m(name: str) -> str:
    """Marketing-domain pseudonym."""
    return pseudonym("marketing", name)


def d(text: str) -> date:
    return date.fromisoformat(text)


# ------------------------------------------------------------------------------ the inputs

ACTUARIAL_CONTRACTS = [
    # cancelled mid-period: 184 days of 2023, 60 days of 2024 (366-day term)
    dict(contract_key=a("A"), person_key=a("pA"), product="warranty", tier="gold", country="GB",
         start_date=d("2023-07-01"), end_date=d("2024-07-01"),
         cancellation_date=d("2024-03-01"), premium_excl_ipt=Decimal("366.00")),
    # ends on the year boundary: 365 days of 2023
    dict(contract_key=a("B"), person_key=a("pB"), product="warranty", tier="silver", country="GB",
         start_date=d("2023-01-01"), end_date=d("2024-01-01"),
         premium_excl_ipt=Decimal("365.00")),
    # cut after as_of: 214 days of 2024; a French contract (amounts in EUR)
    dict(contract_key=a("C"), person_key=a("pC"), product="assistance", tier="bronze", country="FR",
         start_date=d("2024-06-01"), end_date=d("2025-06-01"),
         premium_excl_ipt=Decimal("365.00")),
    # restricted subject (by person), erased subject (by contract): left out
    dict(contract_key=a("D"), person_key=a("pD"), product="warranty", tier="gold", country="GB",
         start_date=d("2024-01-01"), end_date=d("2025-01-01"),
         premium_excl_ipt=Decimal("100.00")),
    dict(contract_key=a("E"), person_key=a("pE"), product="warranty", tier="gold", country="GB",
         start_date=d("2024-01-01"), end_date=d("2025-01-01"),
         premium_excl_ipt=Decimal("100.00")),
]
# F is redelivered: the second delivery adds a cancellation (91 days of 2024 covered)
CONTRACT_F = dict(contract_key=a("F"), person_key=a("pF"), product="warranty", tier="gold",
                  country="GB",
                  start_date=d("2024-01-01"), end_date=d("2025-01-01"),
                  premium_excl_ipt=Decimal("366.00"))

CLAIMS = [
    # on A: a reserve, payments (one after the contract ended), a reserve release
    dict(claim_key=a("c1"), contract_key=a("A"), loss_date=d("2023-09-10"),
         notification_date=d("2023-09-15"), failed_component="engine", status="closed"),
    # on B after its end: a period without cover (earned exposure 0)
    dict(claim_key=a("c2"), contract_key=a("B"), loss_date=d("2024-02-01"),
         notification_date=d("2024-02-05"), failed_component="gearbox", status="open"),
    # declined: not counted, amounts net 0
    dict(claim_key=a("c3"), contract_key=a("C"), loss_date=d("2024-08-01"),
         notification_date=d("2024-08-03"), failed_component="engine", status="declined"),
    # notified after as_of: not known yet
    dict(claim_key=a("c4"), contract_key=a("C"), loss_date=d("2024-12-20"),
         notification_date=d("2025-01-03"), failed_component="engine", status="open"),
    # unknown contract: left out, warned about
    dict(claim_key=a("c5"), contract_key=a("nowhere"), loss_date=d("2024-03-01"),
         notification_date=d("2024-03-02"), failed_component="engine", status="open"),
    # restricted subject's contract: left out
    dict(claim_key=a("c6"), contract_key=a("D"), loss_date=d("2024-03-01"),
         notification_date=d("2024-03-02"), failed_component="engine", status="open"),
]
# c7 is redelivered: open in the first delivery, closed in the second
CLAIM_C7 = dict(claim_key=a("c7"), contract_key=a("C"), loss_date=d("2024-10-10"),
                notification_date=d("2024-10-12"), failed_component="engine", status="open")

TRANSACTIONS = [
    ("t1", "c1", "2023-09-15", "reserve_change", "1000.00"),
    ("t2", "c1", "2023-11-02", "payment", "400.00"),
    ("t3", "c1", "2023-11-02", "reserve_change", "-400.00"),
    ("t4", "c1", "2024-08-01", "payment", "350.00"),  # after the contract ended
    ("t5", "c1", "2024-08-01", "reserve_change", "-350.00"),
    ("t6", "c1", "2024-09-01", "reserve_change", "-250.00"),  # reserve release
    ("t7", "c2", "2024-02-05", "reserve_change", "200.00"),
    ("t8", "c3", "2024-08-03", "reserve_change", "300.00"),
    ("t9", "c3", "2024-08-20", "reserve_change", "-300.00"),
    ("t10", "c4", "2025-01-03", "reserve_change", "500.00"),
    ("t11", "c5", "2024-03-02", "payment", "70.00"),
    ("t12", "c6", "2024-03-02", "payment", "80.00"),
    ("t13", "c7", "2024-11-01", "payment", "100.00"),
    ("t14", "c7", "2025-01-05", "payment", "50.00"),  # after as_of
]

ACTUARIAL_REQUESTS = [
    dict(request_id="ra1", request_type="restriction", received_date=d("2024-06-01"),
         person_key=a("pD")),
    dict(request_id="ra2", request_type="erasure", received_date=d("2024-06-01"),
         contract_key=a("E")),
    dict(request_id="ra3", request_type="access", received_date=d("2024-06-01"),
         person_key=a("pA")),
]


def marketing_contract(customer: str, product: str, band: str, region: str | None,
                       end: str, premium: str, consent: bool = True,
                       country: str = "GB") -> dict[str, Any]:
    return dict(contract_key=m(f"k-{customer}"), customer_key=m(customer),
                person_key=m(f"p-{customer}"), product=product, tier="gold",
                vehicle_age_band=band, region=region, country=country,
                start_month=d("2023-03-01"), end_month=d(end),
                premium_excl_ipt=Decimal(premium), consent_email=consent,
                consent_email_date=d("2023-03-01"))


MARKETING_CONTRACTS = [
    # the GB-SW cell: m1, m2, m3, m10 (m4 objected, m5 never consented, m11 restricted)
    marketing_contract("m1", "warranty", "02-03", "GB-SW", "2025-02-01", "100.00"),
    marketing_contract("m2", "warranty", "02-03", "GB-SW", "2025-09-01", "200.00"),
    marketing_contract("m3", "warranty", "02-03", "GB-SW", "2025-06-01", "300.00"),
    marketing_contract("m10", "warranty", "02-03", "GB-SW", "2025-06-01", "400.01"),
    marketing_contract("m4", "warranty", "02-03", "GB-SW", "2025-06-01", "999.00"),
    marketing_contract("m5", "warranty", "02-03", "GB-SW", "2025-06-01", "999.00", consent=False),
    marketing_contract("m11", "warranty", "02-03", "GB-SW", "2025-06-01", "999.00"),
    # three French cells of one customer each, pooled into 'other' in EUR (3 customers: published)
    marketing_contract("m6", "warranty", "02-03", "FR-69", "2025-01-01", "150.00", country="FR"),
    marketing_contract("m7", "warranty", "02-03", "FR-75", "2025-08-01", "250.00", country="FR"),
    marketing_contract("m8", "warranty", "02-03", None, "2025-08-01", "350.00", country="FR"),
    # alone even after pooling: suppressed from segments, still in the renewal audience
    marketing_contract("m9", "assistance", "00-01", "GB-M", "2025-03-01", "500.00"),
    # alone in GBP: pooled into 'other' of GBP, never with the EUR customers above
    marketing_contract("m12", "warranty", "02-03", "GB-NW", "2025-01-01", "990.00"),
]

MARKETING_REQUESTS = [
    dict(request_id="rm1", request_type="objection", received_date=d("2024-05-01"),
         person_key=m("p-m4")),
    dict(request_id="rm2", request_type="restriction", received_date=d("2024-05-01"),
         customer_key=m("m11")),
    dict(request_id="rm3", request_type="restriction", received_date=d("2024-05-01"),
         contract_key=m("k-m10")),
    dict(request_id="rm4", request_type="restriction_lifted", received_date=d("2024-06-01"),
         customer_key=m("m10")),
]


def output_type(item: Column | Composite, treatment: Treatment) -> str:
    if treatment.verb == "hash":
        return "VARCHAR"
    if treatment.verb == "generalise":
        return "DATE" if treatment.rule == "month" else "VARCHAR"
    assert isinstance(item, Column)
    return WAREHOUSE_TYPES[item.type]


def create_input_tables(con: duckdb.DuckDBPyConnection, classification: Classification) -> None:
    for entity in classification.entities:
        for purpose in entity.purposes():
            columns = [
                f"{t.output} {output_type(item, t)}"
                for item in (*entity.columns, *entity.composites)
                if (t := item.treatment_for(purpose))
            ]
            columns += ["_delivery_date DATE", "_key_version VARCHAR"]
            con.execute(f"create schema if not exists pseudo_{purpose}")
            con.execute(f"create table {entity.table_name(purpose)} ({', '.join(columns)})")


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]],
           delivery: date = D1) -> None:
    for row in rows:
        row = {**row, "_delivery_date": delivery, "_key_version": KEY_VERSION}
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        con.execute(f"insert into {table} ({names}) values ({marks})", list(row.values()))


def build_inputs(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        create_input_tables(con, load())
        contracts = "pseudo_actuarial.policy_admin__contracts"
        insert(con, contracts, ACTUARIAL_CONTRACTS)
        insert(con, contracts, [CONTRACT_F])
        insert(con, contracts, [{**CONTRACT_F, "cancellation_date": d("2024-04-01")}], D2)
        insert(con, "pseudo_actuarial.claims__claims", CLAIMS)
        insert(con, "pseudo_actuarial.claims__claims", [CLAIM_C7])
        insert(con, "pseudo_actuarial.claims__claims", [{**CLAIM_C7, "status": "closed"}], D2)
        insert(con, "pseudo_actuarial.claims__claim_transactions", [
            dict(transaction_key=a(key), claim_key=a(claim), transaction_date=d(day),
                 transaction_type=kind, amount=Decimal(amount))
            for key, claim, day, kind, amount in TRANSACTIONS
        ])
        insert(con, "pseudo_actuarial.dpo__subject_requests", ACTUARIAL_REQUESTS)
        insert(con, "pseudo_marketing.policy_admin__contracts", MARKETING_CONTRACTS)
        insert(con, "pseudo_marketing.dpo__subject_requests", MARKETING_REQUESTS)
        insert(con, "pseudo_marketing.dpo__consent_changes", [
            dict(change_id="ch1", customer_key=m("m3"), channel="sms", consent=True,
                 change_date=d("2024-02-01")),
        ])
    finally:
        con.close()


# ------------------------------------------------------------------------------ the build


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("dbt_build")
    warehouse = tmp / "warehouse.duckdb"
    build_inputs(warehouse)
    with pytest.MonkeyPatch.context() as patch:
        # keep this build's artefacts apart from the shared dbt_project/target
        patch.setattr(dbt_run, "TARGET_PATH", tmp / "target")
        patch.setattr(dbt_run, "LOG_PATH", tmp / "logs")
        # a master key in the environment, as on a pipeline worker: dbt must never see it
        patch.setenv("PIPELINE_MASTER_KEY", SECRET)
        # every contract of this tiny book is unique: allow it, or policy_exposure would be
        # withheld whole (tests/test_reconciliation.py covers the withholding)
        run_dbt(["build"], warehouse=warehouse, as_of=AS_OF,
                extra_vars={"min_cell_size": K, "max_unique_share": 1})
        assert os.environ["PIPELINE_MASTER_KEY"] == SECRET  # put back afterwards
        results = json.loads((tmp / "target" / "run_results.json").read_text())
        # the documentation site, on the built warehouse (before anything opens it read-only)
        run_dbt(["docs", "generate"], warehouse=warehouse, as_of=AS_OF,
                extra_vars={"min_cell_size": K, "max_unique_share": 1})
        yield {"warehouse": warehouse, "results": results["results"], "tmp": tmp}


@pytest.fixture(scope="module")
def con(build: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(build["warehouse"]), read_only=True)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# ------------------------------------------------------------------------------ the marts


def test_marts_have_the_classification_columns(con: duckdb.DuckDBPyConnection) -> None:
    for mart in load().marts:
        described = con.execute(f"describe {mart.name}").fetchall()
        assert [c[0] for c in described] == mart.column_names, mart.name
        types = [c[1].lower().replace(" ", "") for c in described]
        assert types == [c.data_type.replace(" ", "") for c in mart.columns], mart.name


def test_policy_exposure_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    got = {
        (r["contract_key"], r["period_start"].year): r
        for r in rows(con, "select * from actuarial.policy_exposure")
    }
    expected = {
        # (contract, year): (covered days, claims, declined, paid, incurred, earned premium)
        (a("A"), 2023): (184, 1, 0, "750.00", "750.00", "184.00"),
        (a("A"), 2024): (60, 0, 0, "0.00", "0.00", "60.00"),
        (a("B"), 2023): (365, 0, 0, "0.00", "0.00", "365.00"),
        (a("B"), 2024): (0, 1, 0, "0.00", "200.00", "0.00"),
        (a("C"), 2024): (214, 1, 1, "100.00", "100.00", "214.00"),
        (a("F"), 2024): (91, 0, 0, "0.00", "0.00", "91.00"),
    }
    assert set(got) == set(expected)
    for key, (days, claims, declined, paid, incurred, premium) in expected.items():
        row = got[key]
        # published to the nearest quarter year: exact days would reveal the cover start
        assert row["earned_exposure"] == Decimal(round(days * 4 / DAYS_PER_YEAR)) / 4, key
        assert row["claim_count"] == claims, key
        assert row["declined_claims"] == declined, key
        assert row["paid_amount"] == Decimal(paid), key
        assert row["incurred_amount"] == Decimal(incurred), key
        assert row["earned_premium"] == Decimal(premium), key
        assert row["key_version"] == KEY_VERSION
    assert got[(a("C"), 2024)]["product"] == "assistance"
    assert got[(a("A"), 2023)]["tier"] == "gold"
    currencies = {key: row["currency"] for key, row in got.items()}
    assert currencies == {key: "EUR" if key[0] == a("C") else "GBP" for key in expected}


def test_frequency_severity_cells(con: duckdb.DuckDBPyConnection) -> None:
    """With k = 3 no cell of this tiny book reaches k, even pooled to 'all': nothing is
    published, and the ledger keeps every day, claim and cent (exact, in days)."""
    assert rows(con, "select * from actuarial.frequency_severity") == []
    ledger = rows(con, "select * from intermediate.int_frequency_severity_cells")
    assert ledger and all(r["is_suppressed"] and r["contracts"] < K for r in ledger)
    assert {(r["vehicle_age_band"], r["mileage_band"]) for r in ledger} == {("all", "all")}
    cell = [r for r in ledger if r["product"] == "assistance"]
    assert len(cell) == 1
    assert (cell[0]["exposure_days"], cell[0]["claim_count"], cell[0]["declined_claims"],
            cell[0]["incurred_amount"]) == (214, 1, 1, Decimal("100.00"))
    totals = {
        r[0]: r[1:]
        for r in con.execute("""
            select currency, sum(exposure_days), sum(claim_count), sum(incurred_amount)
            from intermediate.int_frequency_severity_cells
            group by currency
        """).fetchall()
    }
    assert totals == {"GBP": (184 + 60 + 365 + 91, 2, Decimal("950.00")),
                      "EUR": (214, 1, Decimal("100.00"))}


def test_claims_development_segments_suppressed_below_k(con: duckdb.DuckDBPyConnection) -> None:
    """With k = 3: warranty GBP has one claim per accident year (engine, gearbox), assistance
    EUR two (one declined): pooled to 'all' and still below k, both are suppressed, whole; the
    ledger keeps their amounts, so that nothing is lost."""
    assert rows(con, "select * from actuarial.claims_development") == []
    ledger = {(r["product"], r["failed_component"], r["currency"]): r
              for r in rows(con, "select * from intermediate.int_claim_development_segments")}
    assert set(ledger) == {("warranty", "engine", "GBP"), ("warranty", "gearbox", "GBP"),
                           ("assistance", "engine", "EUR")}
    assert all(r["is_suppressed"] and r["component_group"] == "all" for r in ledger.values())
    assert ledger[("warranty", "engine", "GBP")]["declared_group"] == "engine_and_drivetrain"
    paid = sum(r["paid_amount"] for r in ledger.values() if r["currency"] == "GBP")
    incurred = sum(r["incurred_amount"] for r in ledger.values() if r["currency"] == "GBP")
    assert (paid, incurred) == (Decimal("750.00"), Decimal("950.00"))
    eur = ledger[("assistance", "engine", "EUR")]
    assert (eur["claims"], eur["paid_amount"], eur["incurred_amount"]) == (
        2, Decimal("100.00"), Decimal("100.00"))


def test_segments_small_cells_pooled_or_suppressed(con: duckdb.DuckDBPyConnection) -> None:
    got = {
        (r["product"], r["vehicle_age_band"], r["region"], r["tenure_band"], r["currency"]):
            (r["customers"], r["renewals"], r["average_premium"])
        for r in rows(con, "select * from marketing.segments")
    }
    assert got == {
        # m1, m2, m3, m10: (100.00 + 200.00 + 300.00 + 400.01) / 4 = 250.0025 -> 250.00
        ("warranty", "02-03", "GB-SW", "0-1", "GBP"): (4, 1, Decimal("250.00")),
        # FR-69, FR-75 and unknown pooled: (150 + 250 + 350) / 3 euros; m12 (GBP, alone in
        # 'other' of GBP) is not pooled with them, so suppressed
        ("warranty", "02-03", "other", "0-1", "EUR"): (3, 1, Decimal("250.00")),
    }
    assert all(customers >= K for customers, _, _ in got.values())


def test_renewal_audience(con: duckdb.DuckDBPyConnection) -> None:
    """Generalised for publication: country instead of region, no vehicle age band."""
    got = {
        r["customer_key"]: (r["renewal_month"], r["product"], r["country"], r["tenure_band"])
        for r in rows(con, "select * from marketing.renewal_audience")
    }
    assert got == {
        m("m1"): (d("2025-02-01"), "warranty", "GB", "0-1"),
        m("m6"): (d("2025-01-01"), "warranty", "FR", "0-1"),
        m("m9"): (d("2025-03-01"), "assistance", "GB", "0-1"),
        m("m12"): (d("2025-01-01"), "warranty", "GB", "0-1"),
    }
    keys = con.execute("select distinct key_version from marketing.renewal_audience").fetchall()
    assert keys == [(KEY_VERSION,)]


def test_subjects_who_objected_or_are_restricted_are_absent(
    con: duckdb.DuckDBPyConnection,
) -> None:
    actuarial = {r[0] for r in con.execute(
        "select contract_key from actuarial.policy_exposure").fetchall()}
    assert a("D") not in actuarial and a("E") not in actuarial
    audience = {r[0] for r in con.execute(
        "select customer_key from intermediate.int_marketing_audience_consented").fetchall()}
    assert audience == {m(c) for c in ("m1", "m2", "m3", "m10", "m6", "m7", "m8", "m9", "m12")}


def test_orphan_claims_are_warned_about(build: dict[str, Any]) -> None:
    relationship = [
        r for r in build["results"]
        if r["unique_id"].startswith(
            "test.insurer_marts.relationships_stg_claims__actuarial_claims")
    ]
    assert len(relationship) == 1
    assert relationship[0]["status"] == "warn" and relationship[0]["failures"] == 1
    failed = [r["unique_id"] for r in build["results"]
              if r["status"] in ("error", "fail", "runtime error")]
    assert failed == []
    unit_tests = [r for r in build["results"] if r["unique_id"].startswith("unit_test.")]
    assert unit_tests and all(r["status"] == "pass" for r in unit_tests)


# ------------------------------------------------------------------------------ the project


def artefact(build: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads((build["tmp"] / "target" / name).read_text())


def test_docs_generate_documents_every_column_of_every_model(build: dict[str, Any]) -> None:
    assert (build["tmp"] / "target" / "index.html").exists()
    catalog, manifest = artefact(build, "catalog.json"), artefact(build, "manifest.json")
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert set(models) <= set(catalog["nodes"])
    undocumented = [
        f"{node['name']}.{column}"
        for unique_id, node in models.items()
        for column in catalog["nodes"][unique_id]["columns"]
        if not (node["columns"].get(column) or {}).get("description", "").strip()
    ]
    assert undocumented == []
    assert all(node["description"].strip() for node in models.values())


def test_every_mart_has_an_enforced_contract_and_the_classification(
    build: dict[str, Any],
) -> None:
    manifest = artefact(build, "manifest.json")
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for mart in load().marts:
        node = models[mart.table]
        assert node["schema"] == mart.schema, mart.name
        assert node["config"]["contract"]["enforced"] is True, mart.name
        assert node["config"]["meta"]["purpose"] == mart.purpose, mart.name
        assert list(node["columns"]) == mart.column_names, mart.name
        for column in mart.columns:
            documented = node["columns"][column.name]
            assert documented["description"] == column_text(
                column.description, column.name, load().bands), (mart.name, column.name)
            assert documented["data_type"] == column.data_type, (mart.name, column.name)
            assert documented["config"]["meta"]["classification"] == column.cls, (
                mart.name, column.name)


def test_exposures_and_unit_tests(build: dict[str, Any]) -> None:
    manifest = artefact(build, "manifest.json")
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    depends = {name: {n.split(".")[-1] for n in e["depends_on"]["nodes"]}
               for name, e in exposures.items()}
    assert depends == {
        "actuarial_studies": {"policy_exposure", "frequency_severity", "claims_development"},
        "marketing_campaigns": {"segments", "renewal_audience"},
    }
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert tested >= {"int_actuarial_contract_periods_exploded", "int_actuarial_claims_valued",
                      "int_frequency_severity_cells", "int_policy_exposure_units",
                      "int_policy_exposure_generalised", "frequency_severity",
                      "claims_development", "segments", "int_marketing_contracts_segmented",
                      "int_actuarial_contracts_excluded", "int_marketing_customers_excluded",
                      "stg_dpo__actuarial_subject_requests"}


DOMAINS = ("actuarial", "marketing", "dpo")


def named_domain(node: dict[str, Any]) -> str:
    """The pseudonym domain a model's name and place say it belongs to: staging
    `stg_<system>__<domain>_<entity>`, intermediate `int_<domain>_...` or its folder, marts their
    schema (docs/architecture.md, "dbt project")."""
    name, layer, folder = node["name"], node["fqn"][1], node["fqn"][2]
    if layer == "staging":
        domain = name.split("__", 1)[1].split("_", 1)[0]
    else:
        domain = folder
        if name.startswith("int_") and name.split("_")[1] in DOMAINS:
            assert name.split("_")[1] == folder, name
    assert domain in DOMAINS, name
    return domain


def test_every_model_reads_one_pseudonym_domain_the_one_its_name_says(
    build: dict[str, Any],
) -> None:
    """Pseudonyms of two domains never meet in a model, and a model's name or place says which
    domain it is in: its sources, followed through every model it reads, are all that
    domain's `pseudo_<domain>` tables (or the DPO's resolutions written into that schema)."""
    nodes = artefact(build, "manifest.json")
    sources = {uid: s["schema"].removeprefix("pseudo_") for uid, s in nodes["sources"].items()}
    models = {uid: n for uid, n in nodes["nodes"].items() if n["resource_type"] == "model"}

    def domains(uid: str) -> set[str]:
        if uid in sources:
            return {sources[uid]}
        return set().union(*(domains(up) for up in models[uid]["depends_on"]["nodes"]))

    mismatched = {n["name"]: sorted(domains(uid)) for uid, n in models.items()
                  if domains(uid) != {named_domain(n)}}
    assert mismatched == {}
    staging = sorted(n["name"] for n in models.values() if n["fqn"][1] == "staging")
    assert staging == [
        "stg_claims__actuarial_claim_transactions", "stg_claims__actuarial_claims",
        "stg_dpo__actuarial_subject_requests", "stg_dpo__dpo_subject_requests",
        "stg_dpo__marketing_consent_changes", "stg_dpo__marketing_subject_requests",
        "stg_policy_admin__actuarial_contracts", "stg_policy_admin__marketing_contracts",
        "stg_policy_admin__marketing_quotes",
    ]


# ------------------------------------------------------------------------------ run_dbt


def test_run_dbt_refuses_unknown_vars_and_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="master_key"):
        run_dbt(["build"], warehouse=tmp_path / "w.duckdb", as_of=AS_OF,
                extra_vars={"master_key": "x"})
    with pytest.raises(ValueError, match="--vars"):
        run_dbt(["build", "--vars", "{}"], warehouse=tmp_path / "w.duckdb", as_of=AS_OF)
    with pytest.raises(ValueError, match="duckdb_memory_limit"):
        run_dbt(["build"], warehouse=tmp_path / "w.duckdb", as_of=AS_OF,
                extra_vars={"duckdb_memory_limit": "2GB'; drop table x; --"})


def test_run_dbt_failure_names_nodes_not_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbt_run, "TARGET_PATH", tmp_path / "target")
    monkeypatch.setattr(dbt_run, "LOG_PATH", tmp_path / "logs")
    with pytest.raises(DbtRunError) as raised:
        run_dbt(["run", "--select", "int_actuarial_contract_periods_exploded"],
                warehouse=tmp_path / "empty.duckdb", as_of=AS_OF,
                extra_vars={"exposure_period": "fortnight"})
    message = str(raised.value)
    assert "exposure_period" in message
    assert not re.search(r"[0-9a-f]{64}", message)


def test_no_secret_in_dbt_artefacts(build: dict[str, Any]) -> None:
    written = [p for p in build["tmp"].rglob("*") if p.is_file() and p.suffix != ".duckdb"]
    assert any(p.name == "manifest.json" for p in written)
    assert any(p.name == "dbt.log" for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_dbt_reads_no_environment_but_the_warehouse_path() -> None:
    project = Path(dbt_run.DBT_PROJECT_DIR)
    used = set()
    for path in project.rglob("*"):
        # dbt's artefacts (target/, and target-spark/ of the Spark engine) are not the project
        if path.suffix in (".sql", ".yml", ".yaml", ".md") and not any(
                part.startswith("target") for part in path.relative_to(project).parts):
            used |= set(re.findall(r"env_var\(\s*['\"]([^'\"]+)", path.read_text()))
    assert used == {"WAREHOUSE_PATH"}
