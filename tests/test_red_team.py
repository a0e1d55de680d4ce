"""Red team: identifiers planted the ways an attacker or a careless source system would, each of
which must be quarantined, refused or blocked, and found nowhere the pipeline writes.

Function level, without Airflow (the one run through the real DAGs is in test_end_to_end.py):
- at the door (transforms.ingest.run): a value planted in every kept column of every system, written
  in disguise (lower case, spaced, zero-width, full-width, Cyrillic or Greek look-alikes, split
  over two rows, as an amount or a count) and as a header or a file name;
- at the gate (expectations.scan): the same disguises in marts, split over two columns or two
  rows, and identifiers written as numbers.
Every planted value is made up here (valid check digits, no real person).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from synthetic_marts import synthetic_marts

from expectations import KnownValues, collect_known_values
from expectations.findings import Rule
from expectations.scan import scan_table
from transforms.classification import load as load_classification
from transforms.ingest.run import ingest
from transforms.ingest.validation import DeliveryRefused
from transforms.operations.leak_scan import identifier_values, scan
from transforms.privacy.keys import DomainKeys
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)
VIN = "1M8GDM9AXKP042788"  # check digit valid
CYRILLIC_VIN = "1\u041c8GDM9\u0410XKP042788"  # М and А are Cyrillic
GREEK_VIN = "1\u039c8GDM9\u0391XKP042788"  # Μ and Α are Greek
EMAIL = "zed.planted.x9@example.net"
ZERO_WIDTH_EMAIL = "zed.planted.x9\u200b@\u200bexample.net"
FULL_WIDTH_PHONE = "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13"
IBAN_HEAD, IBAN_TAIL = "GB82 WEST 1234", "5698 7654 32"
CARD = "4111111111111111"


@dataclass(frozen=True)
class Plant:
    kind: str
    system: str
    entity: str
    column: str
    row: int
    value: str
    reason: str  # the quarantine reason expected for that row


PLANTS = [
    Plant("plate, lower case", "claims", "claims", "failed_component", 0, "ab12cde",
          "unexpected_value:failed_component"),
    Plant("email, zero-width around @", "claims", "claims", "failed_component", 1,
          ZERO_WIDTH_EMAIL, "unexpected_value:failed_component"),
    Plant("phone, full-width digits", "claims", "claims", "failed_component", 2,
          FULL_WIDTH_PHONE, "unexpected_value:failed_component"),
    Plant("VIN, Cyrillic look-alikes", "claims", "claims", "failed_component", 3, CYRILLIC_VIN,
          "unexpected_value:failed_component"),
    Plant("IBAN split over two claims (1)", "claims", "claims", "failed_component", 4, IBAN_HEAD,
          "unexpected_value:failed_component"),
    Plant("IBAN split over two claims (2)", "claims", "claims", "failed_component", 5, IBAN_TAIL,
          "unexpected_value:failed_component"),
    Plant("VIN, Greek look-alikes", "claims", "claims", "status", 6, GREEK_VIN,
          "unexpected_value:status"),
    Plant("card as a count", "claims", "claims", "mileage_at_claim", 7, CARD,
          "out_of_range:mileage_at_claim"),
    Plant("card as an amount", "claims", "claim_transactions", "amount", 0, CARD + ".00",
          "out_of_range:amount"),
    Plant("claim number as a type", "claims", "claim_transactions", "transaction_type", 1,
          "CLM-12345678", "unexpected_value:transaction_type"),
    Plant("amount in scientific notation", "claims", "claim_transactions", "amount", 2, "1e15",
          "bad_type:amount"),
    Plant("email, spaced", "policy_admin", "contracts", "fuel_type", 0,
          "zed . planted . x9 @ example . net", "unexpected_value:fuel_type"),
    Plant("postcode, spaced", "policy_admin", "contracts", "country", 1, "S W 1 A 1 A A",
          "unexpected_value:country"),
    Plant("NI number", "policy_admin", "contracts", "tier", 2, "AB 12 34 56 C",
          "unexpected_value:tier"),
    Plant("contract number", "policy_admin", "contracts", "sales_channel", 3, "OPW-1234567",
          "unexpected_value:sales_channel"),
    Plant("customer number", "policy_admin", "contracts", "product", 4, "C12345678",
          "unexpected_value:product"),
    Plant("phone as an integer", "policy_admin", "contracts", "mileage_at_start", 5,
          "447700900123", "out_of_range:mileage_at_start"),
    Plant("phone as an amount", "policy_admin", "contracts", "ipt", 6, "447700900123.00",
          "out_of_range:ipt"),
    Plant("licence number in a date", "policy_admin", "contracts", "start_date", 7,
          "MORGA753116SM9IJ", "bad_type:start_date"),
    Plant("VIN in a boolean", "policy_admin", "contracts", "consent_email", 8, VIN,
          "bad_type:consent_email"),
    Plant("email in a quote's product", "policy_admin", "quotes", "product", 0,
          "ann.example@mail.example.co.uk", "unexpected_value:product"),
    Plant("phone without decimals as an amount", "policy_admin", "quotes", "quoted_premium", 1,
          "07700900123", "bad_type:quoted_premium"),
    Plant("email as a change id", "dpo", "consent_changes", "change_id", 0,
          "ann.planted.z2@example.org", "invalid:change_id"),
    Plant("IBAN as a channel", "dpo", "consent_changes", "channel", 1,
          "GB82WEST12345698765432", "unexpected_value:channel"),
    Plant("phone as a request id", "dpo", "subject_requests", "request_id", 0, "07700 900456",
          "invalid:request_id"),
    Plant("contract number as a request type", "dpo", "subject_requests", "request_type", 1,
          "OPW-7654321", "unexpected_value:request_type"),
]


def _rewrite(path: Path, data: bytes) -> None:
    """Replace a delivery file and keep its manifest consistent (a well-formed bad delivery)."""
    path.write_bytes(data)
    manifest = path.parent / "_manifest.json"
    doc = json.loads(manifest.read_text())
    rows = data.count(b"\n") - 1 if data else 0
    doc["files"][path.name] = {"rows": rows, "sha256": hashlib.sha256(data).hexdigest()}
    manifest.write_text(json.dumps(doc))


def _plant(landing: Path, plants: list[Plant]) -> None:
    by_file: dict[Path, list[Plant]] = {}
    for p in plants:
        path = landing / p.system / AS_OF.isoformat() / f"{p.entity}.csv"
        by_file.setdefault(path, []).append(p)
    for path, mine in by_file.items():
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        for p in mine:
            rows[1 + p.row][rows[0].index(p.column)] = p.value
        lines = []
        for r in rows:
            fields = [f'"{f}"' if any(c in f for c in ',"\n') else f for f in r]
            lines.append(",".join(fields) + "\n")
        _rewrite(path, "".join(lines).encode("utf-8"))


@pytest.fixture(scope="module")
def planted_book(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One small book with every plant, ingested once for all systems."""
    base = tmp_path_factory.mktemp("red_team")
    generate_book(base / "landing", contracts=200, days=1, as_of=AS_OF, seed=5,
                  truth_dir=base / "truth")
    _plant(base / "landing", PLANTS)
    keys = DomainKeys.derive(os.urandom(32))
    reports = ingest(base / "landing", base / "warehouse.duckdb", base / "quarantine", keys)
    return {"base": base, "reports": reports, "keys": keys}


def test_at_least_25_kinds_are_planted() -> None:
    assert len({p.kind for p in PLANTS}) + 2 >= 25  # + a header and a file name, below


def test_the_classification_closes_every_received_field() -> None:
    for entity in load_classification().entities:
        for col in entity.columns:
            if not col.treatments:
                continue
            kept_text = col.type == "string" and any(t.verb == "keep" for t in col.treatments)
            assert not kept_text or col.identifier or col.allowed_values(), col.name
            assert col.type not in ("integer", "decimal") or col.check("range"), col.name
            assert col.type != "date" or col.check("window"), col.name
            if col.name.endswith("_id"):
                assert col.identifier, f"{col.name}: an identifier-like key has a format"


@pytest.mark.parametrize("plant", PLANTS, ids=[p.kind for p in PLANTS])
def test_each_planted_row_is_quarantined_with_its_reason(planted_book: dict, plant: Plant
                                                         ) -> None:
    qfile = (planted_book["base"] / "quarantine" / plant.system / AS_OF.isoformat()
             / f"{plant.entity}.parquet")
    quarantine = pl.read_parquet(qfile)
    row = quarantine.filter(pl.col("_row") == plant.row)
    assert row.height == 1, plant.kind
    assert plant.reason in row["_reasons"][0].split(";")


def test_no_planted_value_reaches_the_warehouse_or_a_report(planted_book: dict) -> None:
    values = {p.value for p in PLANTS} | {p.value.replace(" ", "") for p in PLANTS}
    result = scan([planted_book["base"] / "warehouse.duckdb"], values)
    assert result.total == 0, result.as_dict()
    reports = json.dumps([r.as_dict() for r in planted_book["reports"]], ensure_ascii=False)
    assert not any(v in reports for v in values)
    assert all(r.status == "loaded" for r in planted_book["reports"])


def test_the_warehouse_holds_fingerprints_and_no_raw_value(planted_book: dict) -> None:
    """What the ingest wrote for the gate (transforms/ingest/fingerprints.py) is keyed hashes only:
    no candidate of any landing file is in any table of the warehouse, nor in its bytes."""
    base = planted_book["base"]
    warehouse = base / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = dict(con.execute(
            "select table_name, estimated_size from duckdb_tables() "
            "where schema_name = 'gate_fingerprints'").fetchall())
        shapes = con.execute(
            "select count(*), count(distinct (fingerprint_1, fingerprint_2, fingerprint_3, "
            "fingerprint_4)) "
            "from gate_fingerprints.policy_admin__contracts where chars > 0").fetchall()[0]
        # integers and counts only: the one text column is the key version's format
        types = set(con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'gate_fingerprints'").fetchall())
    finally:
        con.close()
    assert {"policy_admin__contracts", "claims__claims", "dpo__subject_requests"} <= set(counts)
    assert shapes[0] > 200 and shapes[1] > 200
    assert {t for c, t in types if c != "_key_version"} <= {"UINTEGER", "BIGINT", "INTEGER",
                                                             "DATE"}
    assert {t for c, t in types if c.startswith("fingerprint")} == {"UINTEGER"}
    values = identifier_values(sorted((base / "landing").rglob("*.csv")))
    assert len(values) > 1000
    assert scan([warehouse], values).total == 0
    data = warehouse.read_bytes()
    emails = [v for v in values if "@" in v and len(v) > 12]
    assert emails and not any(v.encode() in data for v in emails)


def test_the_ingest_fingerprints_find_delivered_values_in_disguise(planted_book: dict) -> None:
    """The gate's path in the pipeline: what the ingest fingerprinted, matched on mart text."""
    base = planted_book["base"]
    contracts = pl.read_csv(base / "landing" / "policy_admin" / AS_OF.isoformat()
                            / "contracts.csv", infer_schema=False)
    row = contracts.slice(10).filter(
        pl.col("vin").str.contains("[AME]") & pl.col("email").is_not_null()
        & pl.col("surname").is_not_null() & pl.col("first_name").is_not_null()).row(0, named=True)
    known = KnownValues.from_warehouse(base / "warehouse.duckdb", planted_book["keys"])
    vin, email = row["vin"], row["email"]
    cyrillic_vin = vin.replace("A", "\u0410").replace("M", "\u041c").replace("E", "\u0415")
    texts = pl.Series([
        f"towed, ref {cyrillic_vin}",  # a delivered VIN in disguise, inside text
        email.upper().replace("@", "\u200b@\u200b"),  # zero-width and upper case
        f"{row['first_name']} {row['surname']}".upper(),  # the full name
        row["surname"],  # a name part alone is not looked for
        "1M8GDM9A1KP042788",  # a VIN-shaped value nobody delivered
    ])
    assert known.matches(texts).to_list() == [True, True, True, False, False]
    assert str(vin) not in repr(known)


@pytest.mark.parametrize("where", ["header", "file name"])
def test_an_identifier_as_header_or_file_name_is_refused_and_never_echoed(
    tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    generate_book(tmp_path / "landing", contracts=50, days=1, as_of=AS_OF, seed=3,
                  truth_dir=tmp_path / "truth")
    delivery = tmp_path / "landing" / "policy_admin" / AS_OF.isoformat()
    secret = "ann.header.q7@example.org" if where == "header" else "CLM-12345678"
    if where == "header":
        path = delivery / "quotes.csv"
        data = path.read_bytes().replace(b"product", secret.encode(), 1)
        _rewrite(path, data)
    else:
        (delivery / f"{secret}.csv").write_bytes(b"a\n1\n")
        _rewrite(delivery / f"{secret}.csv", b"a\n1\n")
    with pytest.raises(DeliveryRefused) as info:
        ingest(tmp_path / "landing", tmp_path / "warehouse.duckdb", tmp_path / "quarantine",
               DomainKeys.derive(os.urandom(32)))
    message = str(info.value)
    assert "policy_admin/2026-11-26" in message and "position" in message
    assert secret.lower() not in message.lower() and secret.lower() not in caplog.text.lower()
    if (tmp_path / "warehouse.duckdb").exists():
        assert scan([tmp_path / "warehouse.duckdb"], {secret}).total == 0


# -- the gate's scans, on marts, without Great Expectations -----------------------------------


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("red_team_marts")
    synthetic_marts(base / "warehouse.duckdb", rows=300)
    delivery = base / "landing" / "policy_admin" / "2026-11-01"
    delivery.mkdir(parents=True)
    (delivery / "contracts.csv").write_text(
        "contract_number,vin,phone,iban,country\n"
        f"OPW-1234567,{VIN},07700 900123,{IBAN_HEAD} {IBAN_TAIL},GB\n", encoding="utf-8")
    con = duckdb.connect(str(base / "warehouse.duckdb"))
    try:
        frames = {m.name: con.sql(f"select * from {m.name}").pl()
                  for m in load_classification().marts}
    finally:
        con.close()
    return {"frames": frames, "known": collect_known_values([delivery])}


@dataclass(frozen=True)
class MartPlant:
    kind: str
    table: str
    cells: dict[tuple[int, str], object]
    rule: Rule


MART_PLANTS = [
    MartPlant("plate, lower case", "actuarial.policy_exposure",
              {(0, "vehicle_age_band"): "ab12 cde"}, Rule.IDENTIFIER),
    MartPlant("email, zero-width", "actuarial.policy_exposure",
              {(0, "vehicle_age_band"): ZERO_WIDTH_EMAIL}, Rule.IDENTIFIER),
    MartPlant("phone, full-width", "actuarial.policy_exposure",
              {(0, "vehicle_age_band"): FULL_WIDTH_PHONE}, Rule.IDENTIFIER),
    MartPlant("delivered VIN, Cyrillic", "actuarial.policy_exposure",
              {(0, "vehicle_age_band"): CYRILLIC_VIN}, Rule.KNOWN_VALUE),
    MartPlant("VIN, Greek", "actuarial.policy_exposure",
              {(0, "vehicle_age_band"): GREEK_VIN}, Rule.IDENTIFIER),
    MartPlant("IBAN, spaced letter by letter", "actuarial.policy_exposure",
              {(0, "vehicle_age_band"): " ".join((IBAN_HEAD + IBAN_TAIL).replace(" ", ""))},
              Rule.IDENTIFIER),
    MartPlant("IBAN split over two columns", "actuarial.claims_development",
              {(0, "product"): IBAN_HEAD, (0, "component_group"): IBAN_TAIL},
              Rule.SPLIT_IDENTIFIER),
    MartPlant("IBAN split over two rows", "actuarial.claims_development",
              {(0, "product"): IBAN_HEAD, (1, "product"): IBAN_TAIL},
              Rule.NOT_ALLOWED),
    MartPlant("card in an amount", "actuarial.policy_exposure",
              {(0, "paid_amount"): Decimal(CARD + ".00")}, Rule.NUMBER),
    MartPlant("UK mobile as a count", "actuarial.claims_development",
              {(0, "reported_claims"): 7700900123}, Rule.NUMBER),
    MartPlant("delivered phone as a number", "actuarial.frequency_severity",
              {(0, "claim_count"): 447700900123}, Rule.NUMBER),
    MartPlant("number of implausible magnitude", "actuarial.frequency_severity",
              {(0, "incurred_amount"): Decimal("123456789012345.00")}, Rule.NUMBER),
]


def _set(frame: pl.DataFrame, cells: dict[tuple[int, str], object]) -> pl.DataFrame:
    for (row, column), value in cells.items():
        series = frame[column].to_list()
        series[row] = value
        frame = frame.with_columns(pl.Series(column, series, dtype=frame.schema[column]))
    return frame


def test_clean_marts_give_no_count(marts: dict) -> None:
    classification = load_classification()
    for mart in classification.marts:
        counts = scan_table(marts["frames"][mart.name], mart, known=marts["known"], foreign=None)
        assert all(c.count == 0 for c in counts), [c for c in counts if c.count]


@pytest.mark.parametrize("plant", MART_PLANTS, ids=[p.kind for p in MART_PLANTS])
def test_each_disguise_in_a_mart_is_counted(marts: dict, plant: MartPlant) -> None:
    mart = load_classification().mart(plant.table)
    frame = _set(marts["frames"][plant.table], plant.cells)
    counts = scan_table(frame, mart, known=marts["known"], foreign=None)
    hits = [c for c in counts if c.rule == plant.rule and c.count]
    assert hits, [c for c in counts if c.count]
    # counts and labels only: no planted value in anything the scan returns
    text = repr(counts)
    assert not any(str(v) in text for v in plant.cells.values())


# -- the fold itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(("disguised", "plain"), [
    (CYRILLIC_VIN, VIN), (GREEK_VIN, VIN), (ZERO_WIDTH_EMAIL, EMAIL),
    (FULL_WIDTH_PHONE, "07700 900123"), ("ab12 cde", "ab12 cde"),
])
def test_unmask_undoes_disguises_the_same_in_polars_and_python(disguised: str, plain: str
                                                               ) -> None:
    from transforms.privacy.text_fold import unmask, unmask_text

    assert pl.select(unmask(pl.lit(disguised))).item() == plain
    assert unmask_text(disguised) == plain


def test_leak_scan_counts_a_value_written_in_disguise(tmp_path: Path) -> None:
    (tmp_path / "run.log").write_text(f"refused: {CYRILLIC_VIN}\n", encoding="utf-8")
    assert scan([tmp_path], {VIN}).total == 1


def test_leak_scan_compares_keyed_hashes_whole_and_searches_inside_text(tmp_path: Path) -> None:
    phone = "0612345678"  # a national form: digits only, so it can occur inside hex by chance
    pl.DataFrame({"k": [phone + "a" * 54, "b" * 64], "t": [f"call {phone}", "x"]}).write_parquet(
        tmp_path / "e.parquet")
    result = scan([tmp_path / "e.parquet"], {phone})
    assert dict(result.hits) == {f"{tmp_path / 'e.parquet'}:t": 1}
