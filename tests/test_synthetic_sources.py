"""Tests of the synthetic source systems (transforms/sources): the landing files they write must
match the classification and the source contract, be reproducible, and carry exactly the
defects the truth file records.

The validators below (VIN, IBAN) are written independently of the generator's own vectorised
code, so that a shared mistake cannot pass unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.classification import load
from transforms.sources.common import add_months, day_number
from transforms.sources.deliveries import History
from transforms.sources.generate import build_history, generate_book, main
from transforms.sources.vehicles import vin_check_digits

AS_OF = date(2026, 11, 26)
DAYS = 3
CONTRACTS = 500
ENTITIES = [("policy_admin", "contracts"), ("policy_admin", "quotes"), ("claims", "claims"),
            ("claims", "claim_transactions"), ("dpo", "consent_changes"),
            ("dpo", "subject_requests")]
DATES = ["2026-11-24", "2026-11-25", "2026-11-26"]


# --- independent validators -------------------------------------------------------------------

_VIN_VALUES = {**{str(d): d for d in range(10)}, "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6,
               "G": 7, "H": 8, "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9, "S": 2,
               "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9}
_VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def vin_valid(vin: str) -> bool:
    if len(vin) != 17 or any(ch not in _VIN_VALUES for ch in vin):
        return False
    total = sum(_VIN_VALUES[ch] * w for ch, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    return vin[8] == ("X" if total == 10 else str(total))


def iban_valid(iban: str) -> bool:
    if not re.fullmatch(r"(GB\d{2}[A-Z]{4}\d{14}|FR\d{25})", iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# --- fixtures ---------------------------------------------------------------------------------

# Every check of a written book runs on a book of one shard and on one built in three shards
# (transforms/sources/shards.py: defects in shard 0 only, rows of the later shards appended).
BOOKS = {"one-shard": {"contracts": CONTRACTS},
         "three-shards": {"contracts": 3_000, "shard_contracts": 1_000}}


@pytest.fixture(scope="module", params=list(BOOKS))
def book(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("book")
    params = {**BOOKS[request.param], "days": DAYS, "as_of": AS_OF, "seed": 7}
    summary = generate_book(root / "landing", **params)
    truth = json.loads((root / "synthetic_truth" / AS_OF.isoformat() / "defects.json")
                       .read_text(encoding="utf-8"))
    return {"root": root, "landing": root / "landing", "summary": summary, "truth": truth,
            "params": params}


def read(book: dict[str, Any], system: str, entity: str, day: str) -> pl.DataFrame:
    """A delivery file as text (empty field = null), exactly as the pipeline reads it."""
    return pl.read_csv(book["landing"] / system / day / f"{entity}.csv", infer_schema=False)


def truth_of(book: dict[str, Any], day: str) -> dict[str, Any]:
    return next(d for d in book["truth"]["deliveries"] if d["delivery_date"] == day)


def defects_at(book: dict[str, Any], day: str, system: str, entity: str,
               kind: str | None = None) -> list[dict[str, Any]]:
    return [d for d in truth_of(book, day)["defects"]
            if d["system"] == system and d["entity"] == entity
            and (kind is None or d["kind"] == kind)]


def extra_rows(book: dict[str, Any], day: str, system: str, entity: str) -> set[int]:
    """Rows that are not the system's own data of that day (all planted rows)."""
    return {d["row"] for d in defects_at(book, day, system, entity)}


# --- layout, manifest, reproducibility --------------------------------------------------------

def test_every_delivery_has_all_files_and_a_manifest(book: dict[str, Any]) -> None:
    for day in DATES:
        for system in ("policy_admin", "claims", "dpo"):
            folder = book["landing"] / system / day
            names = sorted(p.name for p in folder.iterdir())
            expected = sorted([f"{e}.csv" for s, e in ENTITIES if s == system] + ["_manifest.json"])
            assert names == expected


def test_columns_exactly_match_the_classification(book: dict[str, Any]) -> None:
    classification = load()
    for day in DATES:
        for system, entity in ENTITIES:
            path = book["landing"] / system / day / f"{entity}.csv"
            header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
            assert header == classification.entity(system, entity).column_names, (system, entity)


def test_manifest_counts_and_hashes_are_right(book: dict[str, Any]) -> None:
    for day in DATES:
        for system in ("policy_admin", "claims", "dpo"):
            folder = book["landing"] / system / day
            manifest = json.loads((folder / "_manifest.json").read_text(encoding="utf-8"))
            assert manifest["system"] == system and manifest["delivery_date"] == day
            for name, meta in manifest["files"].items():
                data = (folder / name).read_bytes()
                assert hashlib.sha256(data).hexdigest() == meta["sha256"]
                assert pl.read_csv(folder / name, infer_schema=False).height == meta["rows"]
                assert data.endswith(b"\n") and b"\r" not in data


def test_summary_matches_the_manifests(book: dict[str, Any]) -> None:
    for d in book["summary"]["deliveries"]:
        manifest = json.loads((Path(d["path"]) / "_manifest.json").read_text(encoding="utf-8"))
        assert d["rows"] == {k: v["rows"] for k, v in manifest["files"].items()}


def test_same_seed_gives_byte_identical_files(book: dict[str, Any], tmp_path: Path) -> None:
    generate_book(tmp_path / "landing", **book["params"])
    first = sorted(p.relative_to(book["root"]) for p in book["root"].rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (book["root"] / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_another_seed_gives_another_book(book: dict[str, Any], tmp_path: Path) -> None:
    generate_book(tmp_path / "landing", contracts=CONTRACTS, days=1, as_of=AS_OF, seed=8)
    mine = (book["landing"] / "policy_admin" / DATES[0] / "contracts.csv").read_bytes()
    other = (tmp_path / "landing" / "policy_admin" / AS_OF.isoformat() / "contracts.csv")
    assert mine != other.read_bytes()


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--out", str(tmp_path / "landing"), "--contracts", "200", "--days", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("2026-11-26 ") == 3 and "defects:" in out
    before = (tmp_path / "landing" / "claims" / "2026-11-26" / "_manifest.json").read_bytes()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    after = (tmp_path / "landing" / "claims" / "2026-11-26" / "_manifest.json").read_bytes()
    assert before == after


# --- formats ----------------------------------------------------------------------------------

FORMATS = {
    ("policy_admin", "contracts"): {
        "contract_number": r"OPW-\d{7}", "customer_number": r"C\d{8}", "dealer_id": r"D\d{5}",
        "country": r"GB|FR", "premium_excl_ipt": r"-?\d+\.\d{2}", "ipt": r"\d+\.\d{2}",
        "consent_email": r"true|false", "consent_sms": r"true|false",
        "mileage_at_start": r"\d+", "date_of_birth": r"\d{4}-\d{2}-\d{2}",
        "fuel_type": r"petrol|diesel|hybrid|electric", "tier": r"bronze|silver|gold",
        "product": r"warranty|mechanical_breakdown|assistance",
        "sales_channel": r"dealer|direct|online|broker",
        "email": r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+\.[a-z]{2,}",
    },
    ("policy_admin", "quotes"): {"quote_number": r"Q\d{9}", "quoted_premium": r"\d+\.\d{2}",
                                 "consent_email": r"true|false"},
    ("claims", "claims"): {"claim_number": r"CLM-\d{8}", "repairer_id": r"R\d{5}",
                           "status": r"open|closed|declined|reopened",
                           "breakdown_latitude": r"-?\d+\.\d{2}",
                           "breakdown_longitude": r"-?\d+\.\d{2}"},
    ("claims", "claim_transactions"): {"transaction_id": r"TX\d{10}",
                                       "transaction_type": r"payment|reserve_change",
                                       "amount": r"-?\d+\.\d{2}"},
    ("dpo", "consent_changes"): {"change_id": r"CC\d{8}", "channel": r"email|sms",
                                 "consent": r"true|false"},
    ("dpo", "subject_requests"): {
        "request_id": r"DSR-\d{6}", "customer_number": r"C\d{8}",
        "request_type": r"erasure|objection|consent_withdrawal|restriction|restriction_lifted"
                        r"|access"},
}


def test_identifiers_and_values_have_their_documented_format(book: dict[str, Any]) -> None:
    for (system, entity), patterns in FORMATS.items():
        frame = read(book, system, entity, DATES[0])
        for column, pattern in patterns.items():
            values = frame[column].drop_nulls()
            bad = values.filter(~values.str.contains(f"^(?:{pattern})$"))
            assert bad.len() == 0, (entity, column, bad.len())


def test_uk_and_french_person_formats(book: dict[str, Any]) -> None:
    c = read(book, "policy_admin", "contracts", DATES[0])
    gb, fr = c.filter(pl.col("country") == "GB"), c.filter(pl.col("country") == "FR")
    assert 0.6 < gb.height / c.height < 0.8
    checks = [
        (gb, "postcode", r"[A-Z]{1,2}\d{1,2}[A-Z]? \d[ABD-HJLNP-UW-Z]{2}"),
        (fr, "postcode", r"(0[1-9]|[1-8]\d|9[0-5])\d{3}"),
        (gb, "registration_plate", r"[A-HJ-PR-Y][A-HJ-PR-Y]\d{2} [A-HJ-PR-Z]{3}"),
        (fr, "registration_plate", r"[A-HJ-NP-TV-Z]{2}-\d{3}-[A-HJ-NP-TV-Z]{2}"),
        (gb, "driving_licence_number", r"[A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2}"),
        (fr, "driving_licence_number", r"\d{12}"),
        (gb, "phone", r"07\d{3} ?\d{3} ?\d{3}|\+44 ?7\d{3} ?\d{6}"),
        (fr, "phone", r"0[67]([ .]\d{2}){4}|0[67]\d{8}|\+33 [67]( \d{2}){4}|\+33[67]\d{8}"),
    ]
    for frame, column, pattern in checks:
        bad = frame.filter(~pl.col(column).str.contains(f"^(?:{pattern})$"))
        assert bad.height == 0, (column, bad.height)
    # The licence starts with the surname and encodes the birth date (month + 50 for women).
    row = gb.row(0, named=True)
    letters = re.sub("[^A-Z]", "", row["surname"].upper().replace("MAC", "MC", 1))
    assert row["driving_licence_number"][:5] == (letters + "99999")[:5]
    dob = date.fromisoformat(row["date_of_birth"])
    lic = row["driving_licence_number"]
    assert lic[5] + lic[10] == str(dob.year)[2:] and int(lic[8:10]) == dob.day
    assert int(lic[6:8]) in (dob.month, dob.month + 50)


def test_vins_are_valid_except_the_planted_ones(book: dict[str, Any]) -> None:
    for day in DATES:
        vins = read(book, "policy_admin", "contracts", day)["vin"].to_list()
        invalid = {i for i, v in enumerate(vins) if not vin_valid(v)}
        planted = {d["row"] for d in defects_at(book, day, "policy_admin", "contracts",
                                                "bad_vin_check_digit")}
        assert invalid == planted
    quotes = read(book, "policy_admin", "quotes", DATES[0])["vin"].drop_nulls().to_list()
    assert quotes and all(vin_valid(v) for v in quotes)


def test_ibans_pass_mod_97(book: dict[str, Any]) -> None:
    for day in DATES:
        ibans = read(book, "policy_admin", "contracts", day)["iban"].to_list()
        payees = read(book, "claims", "claim_transactions", day)["payee_iban"].drop_nulls()
        assert all(iban_valid(i) for i in [*ibans, *payees.to_list()])


# --- defects ----------------------------------------------------------------------------------

def test_defects_are_where_the_truth_says(book: dict[str, Any]) -> None:
    for i, day in enumerate(DATES):
        entry = truth_of(book, day)
        assert entry["full_extract"] == (i == 0)
        for d in entry["defects"]:
            frame = read(book, d["system"], d["entity"], day)
            row = frame.row(d["row"], named=True)
            kind = d["kind"]
            if kind == "bad_vin_check_digit":
                assert not vin_valid(row["vin"])
            elif kind == "missing_claim_number":
                assert row["claim_number"] is None
            elif kind == "negative_amount":
                assert float(row[d["column"]]) < 0
                if d["entity"] == "claim_transactions":
                    assert row["transaction_type"] == "payment"
            elif kind == "future_date":
                assert row[d["column"]] > day
            elif kind == "duplicate_row":
                assert d["duplicate_of_row"] != d["row"]
                assert frame.row(d["duplicate_of_row"], named=True) == row
            elif kind == "redelivered_row":
                assert d["from_delivery"] == DATES[i - 1]
                prev = read(book, d["system"], d["entity"], d["from_delivery"])
                assert prev.row(d["from_row"], named=True) == row
                key = load().entity(d["system"], d["entity"]).key[0]
                assert frame[key].to_list().count(row[key]) == 1
            else:
                pytest.fail(f"unknown defect kind {kind}")
        totals = {k: sum(1 for d in entry["defects"] if d["kind"] == k) for k in entry["totals"]}
        assert totals == entry["totals"]
        assert all(v <= 3 for v in entry["totals"].values())


def test_each_delivery_carries_its_defects(book: dict[str, Any]) -> None:
    first = truth_of(book, DATES[0])["totals"]
    assert first["redelivered_row"] == 0
    assert all(first[k] >= 1 for k in first if k != "redelivered_row")
    for previous, day in zip(DATES, DATES[1:], strict=False):
        clean = sum(read(book, s, e, previous).height - len(extra_rows(book, previous, s, e))
                    for s, e in ENTITIES)
        if clean:  # a tiny book's increment may hold nothing to send again
            assert truth_of(book, day)["totals"]["redelivered_row"] >= 1


def test_keys_repeat_only_where_planted(book: dict[str, Any]) -> None:
    classification = load()
    for day in DATES:
        for system, entity in ENTITIES:
            key = classification.entity(system, entity).key[0]
            frame = read(book, system, entity, day).with_row_index("_row")
            repeated = frame.filter(pl.col(key).is_duplicated() & pl.col(key).is_not_null())
            dupes = {d["row"] for d in defects_at(book, day, system, entity, "duplicate_row")}
            originals = {d["duplicate_of_row"]
                         for d in defects_at(book, day, system, entity, "duplicate_row")}
            assert set(repeated["_row"].to_list()) <= dupes | originals


def test_negative_amounts_only_where_planted(book: dict[str, Any]) -> None:
    for day in DATES:
        premium = read(book, "policy_admin", "contracts", day)["premium_excl_ipt"]
        negative = {i for i, v in enumerate(premium.to_list()) if float(v) < 0}
        tx = read(book, "claims", "claim_transactions", day)
        negative_pay = {i for i, (t, a) in enumerate(zip(tx["transaction_type"], tx["amount"],
                                                         strict=True))
                        if t == "payment" and float(a) < 0}
        planted = defects_at(book, day, "policy_admin", "contracts", "negative_amount")
        assert negative == {d["row"] for d in planted}
        planted = defects_at(book, day, "claims", "claim_transactions", "negative_amount")
        assert negative_pay == {d["row"] for d in planted}


NOT_AFTER_DELIVERY = {
    ("policy_admin", "contracts"): ["date_of_birth", "first_registration_date", "start_date",
                                    "cancellation_date", "consent_email_date", "consent_sms_date"],
    ("policy_admin", "quotes"): ["date_of_birth", "quote_date"],
    ("claims", "claims"): ["loss_date", "notification_date"],
    ("claims", "claim_transactions"): ["transaction_date"],
    ("dpo", "consent_changes"): ["change_date"],
    ("dpo", "subject_requests"): ["received_date", "date_of_birth"],
}


def test_no_date_after_the_delivery_date_except_planted(book: dict[str, Any]) -> None:
    for day in DATES:
        for (system, entity), columns in NOT_AFTER_DELIVERY.items():
            frame = read(book, system, entity, day)
            planted = {(d["row"], d["column"]) for d in defects_at(book, day, system, entity,
                                                                   "future_date")}
            for column in columns:
                future = {(i, column) for i, v in enumerate(frame[column].to_list())
                          if v is not None and v > day}
                assert future == {p for p in planted if p[1] == column}, (entity, column)


def test_claim_numbers_are_missing_only_where_planted(book: dict[str, Any]) -> None:
    for day in DATES:
        numbers = read(book, "claims", "claims", day)["claim_number"].to_list()
        missing = {i for i, v in enumerate(numbers) if v is None}
        planted = defects_at(book, day, "claims", "claims", "missing_claim_number")
        assert missing == {d["row"] for d in planted}


# --- semantics --------------------------------------------------------------------------------

def test_referential_integrity_across_deliveries(book: dict[str, Any]) -> None:
    contracts: set[str] = set()
    claims: set[str] = set()
    missing = 0
    for day in DATES:
        contracts |= set(read(book, "policy_admin", "contracts", day)["contract_number"])
        claim_rows = read(book, "claims", "claims", day)
        claims |= set(claim_rows["claim_number"].drop_nulls())
        missing += truth_of(book, day)["totals"]["missing_claim_number"]
        assert set(claim_rows["contract_number"]) <= contracts
        tx = set(read(book, "claims", "claim_transactions", day)["claim_number"])
        assert len(tx - claims) <= missing  # only claims whose number was blanked


def test_increments_hold_only_that_days_news(book: dict[str, Any]) -> None:
    for day in DATES[1:]:
        def own(system: str, entity: str, day: str = day) -> pl.DataFrame:
            frame = read(book, system, entity, day).with_row_index("_row")
            return frame.filter(~pl.col("_row").is_in(list(extra_rows(book, day, system,
                                                                      entity))))
        c = own("policy_admin", "contracts")
        assert c.filter((pl.col("start_date") != day)
                        & (pl.col("cancellation_date").fill_null("") != day)).height == 0
        assert own("policy_admin", "quotes").filter(pl.col("quote_date") != day).height == 0
        cl = own("claims", "claims")
        assert cl.filter((pl.col("notification_date") != day) & (pl.col("status") == "open")
                         ).height == 0
        tx = own("claims", "claim_transactions")
        assert tx.filter(pl.col("transaction_date") != day).height == 0
        assert own("dpo", "consent_changes").filter(pl.col("change_date") != day).height == 0
        assert own("dpo", "subject_requests").filter(pl.col("received_date") != day).height == 0


def test_contract_dates_and_amounts_are_consistent(book: dict[str, Any]) -> None:
    c = read(book, "policy_admin", "contracts", DATES[0]).with_row_index("_row")
    c = c.filter(~pl.col("_row").is_in(list(extra_rows(book, DATES[0], "policy_admin",
                                                       "contracts"))))
    start = pl.col("start_date").str.to_date()
    end = pl.col("end_date").str.to_date()
    months = (end.dt.year() - start.dt.year()) * 12 + end.dt.month() - start.dt.month()
    assert c.filter(~months.is_in([12, 24, 36])).height == 0
    cancelled = c.filter(pl.col("cancellation_date").is_not_null())
    assert cancelled.filter((pl.col("cancellation_date") <= pl.col("start_date"))
                            | (pl.col("cancellation_date") >= pl.col("end_date"))).height == 0
    rate = pl.when(pl.col("country") == "GB").then(0.12).otherwise(0.09)
    ipt_error = (pl.col("ipt").cast(pl.Float64)
                 - pl.col("premium_excl_ipt").cast(pl.Float64) * rate).abs()
    assert c.filter(ipt_error > 0.006).height == 0
    age = (start - pl.col("first_registration_date").str.to_date()).dt.total_days() / 365.25
    assert c.filter((age < 0) | (age > 12.01)).height == 0
    for kind in ("email", "sms"):
        given = c.filter(pl.col(f"consent_{kind}") == "true")
        assert given.filter(pl.col(f"consent_{kind}_date").is_null()
                            | (pl.col(f"consent_{kind}_date") > pl.col("start_date"))).height == 0
        assert c.filter((pl.col(f"consent_{kind}") == "false")
                        & pl.col(f"consent_{kind}_date").is_not_null()).height == 0


def test_claim_ledger_keeps_the_outstanding_reserve_non_negative(book: dict[str, Any]) -> None:
    frames = []
    for day in DATES:
        tx = read(book, "claims", "claim_transactions", day).with_row_index("_row")
        frames.append(tx.filter(~pl.col("_row").is_in(list(extra_rows(
            book, day, "claims", "claim_transactions")))).drop("_row"))
    tx = pl.concat(frames).unique("transaction_id", keep="first").with_columns(
        cents=(pl.col("amount").cast(pl.Float64) * 100).round().cast(pl.Int64))
    tx = tx.sort("transaction_id")
    reserve = tx.filter(pl.col("transaction_type") == "reserve_change").with_columns(
        outstanding=pl.col("cents").cum_sum().over("claim_number"))
    assert reserve["outstanding"].min() >= 0
    payments = tx.filter(pl.col("transaction_type") == "payment")
    assert payments.filter(pl.col("payee_iban").is_null()).height == 0
    assert tx.filter((pl.col("transaction_type") == "reserve_change")
                     & pl.col("payee_iban").is_not_null()).height == 0
    matched = payments.join(
        reserve.select("claim_number", "transaction_date", cents=-pl.col("cents")),
        on=["claim_number", "transaction_date", "cents"], how="semi")
    assert matched.height == payments.height


def test_claims_fall_within_cover_and_after_loss(book: dict[str, Any]) -> None:
    planted = pl.col("_row").is_in(list(extra_rows(book, DATES[0], "policy_admin", "contracts")))
    c = read(book, "policy_admin", "contracts", DATES[0]).with_row_index("_row")
    defective = c.filter(planted)["contract_number"]
    c = c.filter(~planted)
    cl = read(book, "claims", "claims", DATES[0]).with_row_index("_row")
    cl = cl.filter(~pl.col("_row").is_in(list(extra_rows(book, DATES[0], "claims", "claims"))))
    joined = cl.join(c.select("contract_number", "start_date", "end_date", "cancellation_date",
                              "product"), on="contract_number")
    # only claims on the few contracts whose row carries a planted defect are left out (a
    # contract may have several claims)
    left_out = cl.join(c.select("contract_number"), on="contract_number", how="anti")
    assert left_out["contract_number"].is_in(defective.implode()).all()
    cover_end = pl.min_horizontal(pl.col("end_date"),
                                  pl.col("cancellation_date").fill_null("9999-12-31"))
    assert joined.filter((pl.col("loss_date") < pl.col("start_date"))
                         | (pl.col("loss_date") >= cover_end)).height == 0
    assert joined.filter(pl.col("notification_date") < pl.col("loss_date")).height == 0
    coords = pl.col("breakdown_latitude").is_not_null()
    assert joined.filter(coords != (pl.col("product") == "assistance")).height == 0


def test_descriptions_mention_people_as_recorded(book: dict[str, Any]) -> None:
    claims = read(book, "claims", "claims", DATES[0])
    contracts = read(book, "policy_admin", "contracts", DATES[0]).unique("contract_number")
    joined = claims.join(contracts.select("contract_number", "surname", "registration_plate",
                                          "phone"), on="contract_number", how="left")
    text = pl.col("description").fill_null("")
    counts = joined.select(
        name=text.str.contains(pl.col("surname"), literal=True).sum(),
        plate=text.str.contains(pl.col("registration_plate"), literal=True).sum(),
        phone=text.str.contains(pl.col("phone"), literal=True).sum(),
    ).row(0, named=True)
    recorded = truth_of(book, DATES[0])["description_mentions"]
    assert counts["plate"] == recorded["plate"] and counts["phone"] == recorded["phone"]
    assert counts["name"] >= recorded["name"] > 0  # a surname can also be a word of the text


def test_subject_requests_match_customers_except_a_few(book: dict[str, Any]) -> None:
    contracts = pl.concat([read(book, "policy_admin", "contracts", d) for d in DATES])
    customers = set(contracts["customer_number"])
    contract_numbers = set(contracts["contract_number"])
    people = {(s.casefold(), f, b) for s, f, b in
              contracts.select("surname", "first_name", "date_of_birth").iter_rows()}
    for day in DATES:
        entry = truth_of(book, day)
        requests = read(book, "dpo", "subject_requests", day)
        others = set(entry["subject_request_rows"]["nobody"]) | set(
            entry["subject_request_rows"]["prospect"])
        for i, r in enumerate(requests.iter_rows(named=True)):
            known = (r["customer_number"] in customers or r["contract_number"] in contract_numbers
                     or ((r["surname"] or "").casefold(), r["first_name"], r["date_of_birth"])
                     in people)
            assert known == (i not in others), (day, i)
    first = truth_of(book, DATES[0])["subject_request_matches"]
    assert first["nobody"] >= 2 and first["customer"] > first["nobody"]


# --- realism (in memory, a larger book) -------------------------------------------------------

@pytest.fixture(scope="module")
def history() -> History:
    return build_history(seed=3, contracts=20_000, as_of=AS_OF)


def test_book_shape_is_realistic(history: History) -> None:
    c = history.book.contracts
    per_customer = c.group_by("_cust").len()["len"]
    assert 0.10 < (per_customer > 1).mean() < 0.20
    assert per_customer.max() <= 3
    assert 0.07 < c["cancellation_date"].is_not_null().mean() < 0.13
    makes = c["make"].value_counts()
    assert makes.filter(pl.col("count") < 20).height >= 3  # rare makes to pool
    assert set(c["fuel_type"].unique()) == {"petrol", "diesel", "hybrid", "electric"}
    age = (c["start_date"] - c["date_of_birth"]).dt.total_days() / 365.25
    assert age.min() >= 18 and age.max() <= 86
    assert c["vin"].n_unique() == c["_chain"].n_unique()  # renewals keep their vehicle
    # A renewal starts on its predecessor's (exclusive) end date.
    renewals = c.filter(pl.col("_chain") == pl.col("_chain").shift(1))
    prev_end = c["_end"].shift(1).filter(c["_chain"] == c["_chain"].shift(1))
    assert renewals.height > 0 and (renewals["_start"] == prev_end).all()


def test_claim_frequency_rises_with_vehicle_age(history: History) -> None:
    c = history.book.contracts.with_columns(
        exposure=(pl.min_horizontal(pl.when(pl.col("_cancel") >= 0).then(pl.col("_cancel"))
                                    .otherwise(pl.col("_end")), history.book.as_of + 1)
                  - pl.col("_start")).clip(0) / 365.25)
    claims = history.claims.claims.group_by("_contract").len()
    c = c.with_row_index("_contract").join(
        claims.with_columns(pl.col("_contract").cast(pl.UInt32)), on="_contract", how="left")
    band = (pl.col("_vehicle_age") >= 7).alias("old")
    freq = c.group_by(band).agg(pl.col("len").fill_null(0).sum() / pl.col("exposure").sum())
    young = freq.filter(~pl.col("old"))["len"][0]
    old = freq.filter(pl.col("old"))["len"][0]
    assert old > 1.4 * young
    status = history.claims.status_events.filter(pl.col("status") == "declined")
    assert 0.04 < status.height / history.claims.claims.height < 0.12
    delay = (history.claims.claims["_notif"] - history.claims.claims["_loss"])
    assert (delay > 90).mean() > 0.01  # a heavy tail


# --- generator building blocks ----------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=17, max_size=17))
def test_vectorised_vin_check_digit_matches_the_reference(body: str) -> None:
    chars = np.frombuffer(body.encode("ascii"), dtype=np.uint8).reshape(1, 17).copy()
    check = chr(int(vin_check_digits(chars)[0]))
    assert vin_valid(body[:8] + check + body[9:])


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
       st.sampled_from([1, 12, 24, 36, -6]))
def test_add_months_clamps_to_the_end_of_the_month(start: date, months: int) -> None:
    got = add_months(np.array([day_number(start)]), months)[0]
    total = start.year * 12 + start.month - 1 + months
    y, m = divmod(total, 12)
    m += 1
    last = (date(y + (m == 12), m % 12 + 1, 1) - date(y, m, 1)).days
    assert got == day_number(date(y, m, min(start.day, last)))
