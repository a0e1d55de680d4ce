"""Tests of the generator's shards (transforms/sources/shards.py): a book above the shard size is
built shard by shard and appended to the same files, with identifiers unique across the book and
inside their formats; a book of one shard is exactly what the generator wrote before shards.

The written sharded book's defects, truth positions, referential integrity and reproducibility are
checked by tests/test_synthetic_sources.py, whose book fixture includes a book of three shards.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg2
import pytest

from transforms.classification import load
from transforms.privacy.identifiers import FORMATS
from transforms.sources import generate, landing_book, postgres_server, shards
from transforms.sources.common import rng_for, sequential_ids
from transforms.sources.deliveries import History
from transforms.sources.generate import build_history, generate_book, main
from transforms.sources.people import build_pools
from transforms.sources.policy_admin_extract import extract

AS_OF = date(2026, 11, 26)
SEED = 7
CONTRACTS = 3_000
SHARD = 1_000
HORIZON = AS_OF + timedelta(days=1)
SYSTEMS = ("policy_admin", "claims", "dpo")
KEYS = {  # the numbered identifiers of each file, by FORMATS name
    ("policy_admin", "contracts"): ["contract_number", "customer_number"],
    ("policy_admin", "quotes"): ["quote_number"],
    ("claims", "claims"): ["claim_number", "contract_number"],
    ("claims", "claim_transactions"): ["transaction_id", "claim_number"],
    ("dpo", "consent_changes"): ["change_id", "customer_number"],
    ("dpo", "subject_requests"): ["request_id", "contract_number", "customer_number"],
}


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sharded")
    summary = generate_book(root / "landing", CONTRACTS, 3, AS_OF, SEED, horizon=HORIZON,
                            shard_contracts=SHARD)
    return {"root": root, "landing": root / "landing", "summary": summary}


@pytest.fixture(scope="module")
def histories() -> list[History]:
    """The three shards' histories in memory (what each shard appends to the files)."""
    pools = build_pools(SEED)
    return [build_history(SEED, s.contracts, AS_OF, shard=s, pools=pools)
            for s in shards.plan(SEED, CONTRACTS, SHARD)]


# --- the plan and the numbers -----------------------------------------------------------------

def test_shards_are_near_equal_and_cover_the_book() -> None:
    plan = shards.plan(SEED, 2_500_001)
    assert [s.contracts for s in plan] == [833_334, 833_334, 833_333]
    assert [s.before for s in plan] == [0, 833_334, 1_666_668]
    assert [s.index for s in plan] == [0, 1, 2] and {s.count for s in plan} == {3}
    assert plan[0].seed == SEED and len({s.seed for s in plan}) == 3
    assert len(shards.plan(SEED, 1_000_000)) == 1 and len(shards.plan(SEED, 1_000_001)) == 2


@pytest.mark.parametrize("space,n", [
    (shards.CONTRACT_NUMBERS, 1_000_000), (shards.CUSTOMER_NUMBERS, 870_000),
    (shards.CLAIM_NUMBERS, 450_000), (shards.TRANSACTION_IDS, 2_500_000),
    (shards.QUOTE_NUMBERS, 400_000), (shards.CHANGE_IDS, 300_000),
    (shards.REQUEST_IDS, 1_100)])
def test_a_book_of_one_shard_keeps_its_former_numbers(space: shards.NumberSpace, n: int) -> None:
    """The numbers of a 1M-contract book, drawn as the generator drew them before shards."""
    whole = shards.whole_book(SEED, 1_000_000)
    got = shards.issue(np.random.default_rng(1), n, space, whole,
                       need=1_000_000 if space is shards.CONTRACT_NUMBERS else 0)
    rng = np.random.default_rng(1)
    former = sequential_ids(rng, n, space.base + int(rng.integers(0, space.spread)), space.gap)
    assert np.array_equal(got, former)


@pytest.mark.parametrize("contracts,lowest", [(3_000_000, 1_000_000), (9_500_000, 500_000),
                                              (10_000_000, 0)])
def test_contract_numbers_fit_seven_digits_up_to_ten_million(contracts: int,
                                                             lowest: int) -> None:
    plan = shards.plan(SEED, contracts)
    assert len(plan) == math.ceil(contracts / shards.DEFAULT_SHARD_CONTRACTS)
    numbers = np.concatenate([
        shards.issue(rng_for(s.seed, "test"), s.contracts, shards.CONTRACT_NUMBERS, s,
                     need=contracts) for s in plan])
    assert len(numbers) == contracts
    assert np.all(np.diff(numbers) > 0)  # increasing within and across shards: unique
    assert numbers[0] >= lowest and numbers[-1] < 10_000_000
    if contracts == 10_000_000:
        assert numbers[0] == 0 and numbers[-1] == 9_999_999  # dense


@pytest.mark.parametrize("space,per_contract", [
    (shards.CUSTOMER_NUMBERS, 1.0), (shards.CLAIM_NUMBERS, 1.0),
    (shards.TRANSACTION_IDS, 3.0), (shards.QUOTE_NUMBERS, 1.0), (shards.CHANGE_IDS, 1.0),
    (shards.REQUEST_IDS, 0.002)])
def test_every_number_space_holds_a_ten_million_book(space: shards.NumberSpace,
                                                     per_contract: float) -> None:
    """About twice the numbers per contract a book issues or more (to its as-of date: 0.87
    customers, 0.34 claims, 1.7 transactions, 0.4 quotes, 0.27 consent changes, 0.001
    requests; a customer has at least one contract)."""
    plan = shards.plan(SEED, 10_000_000)
    blocks = [shards.issue(rng_for(s.seed, "test"), math.ceil(per_contract * s.contracts),
                           space, s) for s in plan]
    numbers = np.concatenate(blocks)
    assert np.all(np.diff(numbers) > 0)
    assert numbers[0] >= 0 and numbers[-1] < space.top
    pattern = FORMATS[{"CLM-": "claim_number", "C": "customer_number", "Q": "quote_number",
                       "TX": "transaction_id", "CC": "change_id",
                       "DSR-": "request_id"}[space.prefix]]
    ends = [f"{space.prefix}{v:0{space.width}d}" for v in (numbers[0], numbers[-1])]
    assert all(re.fullmatch(pattern, e) for e in ends), ends


def test_a_book_too_large_for_its_contract_numbers_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(shards.BookTooLargeError, match="10,000,000"):
        generate_book(tmp_path / "landing", contracts=10_000_001, days=1)
    assert not any(tmp_path.rglob("*"))  # refused before anything was written
    assert main(["--out", str(tmp_path / "landing"), "--contracts", "10000001",
                 "--days", "1"]) == 2
    assert "10,000,000" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*"))


# --- a book of one shard is unchanged ---------------------------------------------------------

# Every file (deliveries, manifests, truth, book record) of this book as the generator wrote it
# before shards existed (commit 012dba7): a book of one shard must stay byte for byte the same.
# An intended change of the generator's output changes it.
ONE_SHARD_DIGEST = "7d5c4a49fa9aeb735fb2cc2e00ea96cb63a67bed7b537b66696171efb7720c36"


def _digest(root: Path) -> str:
    lines = sorted(f"{rel} {hashlib.sha256(data).hexdigest()}"
                   for rel, data in files_of(root).items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_a_book_of_one_shard_is_what_the_generator_always_wrote(tmp_path: Path) -> None:
    small = {"contracts": 300, "days": 2, "as_of": AS_OF, "seed": 5, "horizon": HORIZON}
    generate_book(tmp_path / "default" / "landing", **small)
    generate_book(tmp_path / "exact" / "landing", **small, shard_contracts=300)
    generate_book(tmp_path / "large" / "landing", **small, shard_contracts=10_000)
    assert _digest(tmp_path / "default") == ONE_SHARD_DIGEST
    assert _digest(tmp_path / "exact") == ONE_SHARD_DIGEST
    assert _digest(tmp_path / "large") == ONE_SHARD_DIGEST
    record = json.loads((tmp_path / "default" / "landing" / "_book.json").read_text())
    assert "shard_contracts" not in record


# --- a sharded book -----------------------------------------------------------------------------

def test_identifiers_are_unique_across_the_book_and_in_format(sharded: dict[str, Any]) -> None:
    truth = json.loads((sharded["root"] / "synthetic_truth" / AS_OF.isoformat()
                        / "defects.json").read_text(encoding="utf-8"))
    first = truth["deliveries"][0]
    classification = load()
    for (system, entity), columns in KEYS.items():
        frame = pl.read_csv(sharded["landing"] / system / first["delivery_date"] / f"{entity}.csv",
                            infer_schema=False).with_row_index("_row")
        for column in columns:
            values = frame[column].drop_nulls()
            bad = values.filter(~values.str.contains(FORMATS[column]))
            assert bad.len() == 0, (entity, column, bad.len())
        # the full extract holds every row to its date once, but for the planted extra rows
        extra = [d["row"] for d in first["defects"]
                 if (d["system"], d["entity"]) == (system, entity)
                 and d["kind"] in ("duplicate_row", "redelivered_row")]
        own = frame.filter(~pl.col("_row").is_in(extra))
        key = classification.entity(system, entity).key[0]
        keys = own[key].drop_nulls()
        assert keys.n_unique() == keys.len(), (entity, key)
    contracts = pl.read_csv(sharded["landing"] / "policy_admin" / first["delivery_date"]
                            / "contracts.csv", infer_schema=False)
    # a customer number is one person's, whichever shard issued it
    people = contracts.group_by("customer_number").agg(
        pl.struct("surname", "first_name", "date_of_birth").n_unique().alias("people"))
    assert people["people"].max() == 1
    assert sharded["summary"]["shards"] == 3


def test_shards_issue_disjoint_numbers(histories: list[History]) -> None:
    columns = {
        "contract_number": lambda h: h.book.contracts["contract_number"],
        "customer_number": lambda h: h.book.customers["customer_number"],
        "claim_number": lambda h: h.claims.claims["claim_number"],
        "transaction_id": lambda h: h.claims.transactions["transaction_id"],
        "quote_number": lambda h: h.quotes["quote_number"],
        "change_id": lambda h: h.consent_changes["change_id"],
        "request_id": lambda h: h.subject_requests["request_id"],
    }
    for name, column in columns.items():
        values = pl.concat([column(h) for h in histories])
        assert values.len() > len(histories), name
        assert values.n_unique() == values.len(), name
        assert values.str.contains(FORMATS[name]).all(), name


def test_shards_share_the_books_dealers_and_repairers(histories: list[History]) -> None:
    """One network per book: as many distinct dealers and repairers as a book of this size has,
    not a network per shard."""
    dealers = pl.concat([h.book.contracts["dealer_id"] for h in histories]).drop_nulls()
    repairers = pl.concat([h.claims.claims["repairer_id"] for h in histories])
    assert dealers.n_unique() <= min(max(20, CONTRACTS // 60), 80_000)
    assert repairers.n_unique() <= min(max(30, CONTRACTS // 150), 80_000)


def test_append_day_of_a_sharded_book_is_byte_identical(sharded: dict[str, Any],
                                                         tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate_book(landing, CONTRACTS, 2, AS_OF - timedelta(days=1), SEED, horizon=HORIZON,
                  shard_contracts=SHARD)
    record = landing_book.read_record(landing)
    assert record is not None and record.shard_contracts == SHARD and record.shards == 3
    summary = landing_book.append_day(landing)
    assert summary["as_of"] == AS_OF.isoformat() and summary["shards"] == 3
    mine, whole = files_of(tmp_path), files_of(sharded["root"])
    assert mine.keys() - {"synthetic_truth/2026-11-25/defects.json"} == whole.keys()
    for rel in whole:
        assert mine[rel] == whole[rel], rel


def test_another_shard_count_is_another_book(sharded: dict[str, Any], tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(sharded["landing"], landing)
    with pytest.raises(landing_book.LandingBookError, match="another book .* in 3 shards"):
        landing_book.ensure_book(landing, contracts=CONTRACTS, days=3, as_of=AS_OF, seed=SEED,
                                 shard_contracts=1_500)  # 2 shards of 1,500
    kept = landing_book.ensure_book(landing, contracts=CONTRACTS, days=3, as_of=AS_OF,
                                    seed=SEED, shard_contracts=1_200)  # 3 shards again
    assert "kept" in kept


def test_a_record_without_a_shard_size_is_a_book_of_one_shard(tmp_path: Path) -> None:
    record = landing_book.BookRecord(seed=1, contracts=3_000_000, first=AS_OF, horizon=AS_OF)
    landing_book.write_record(tmp_path, record)
    assert "shard_contracts" not in json.loads((tmp_path / "_book.json").read_text())
    read = landing_book.read_record(tmp_path)
    assert read == record and read.shards == 1 and read.shard_size == 3_000_000


def test_a_failed_generation_leaves_no_file_that_looks_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = generate.build_history

    def fail_on_the_last_shard(seed: int, contracts: int, as_of: date, **kw: Any) -> History:
        if kw["shard"].index == 2:
            raise RuntimeError("planted failure")
        return real(seed, contracts, as_of, **kw)

    monkeypatch.setattr(generate, "build_history", fail_on_the_last_shard)
    with pytest.raises(RuntimeError, match="planted failure"):
        generate_book(tmp_path / "landing", CONTRACTS, 2, AS_OF, SEED, shard_contracts=SHARD)
    left = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert left == []


# --- the policy-admin database ------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres() -> Iterator[postgres_server.Server]:
    base = Path(tempfile.mkdtemp(prefix="pipeline-pg-shards-"))
    base.chmod(0o755)  # the server runs as `postgres` when the tests run as root
    try:
        try:
            server = postgres_server.start(base / "postgres")
        except Exception as exc:  # no PostgreSQL on this machine
            pytest.skip(f"no PostgreSQL server: {type(exc).__name__}")
        try:
            yield server
        finally:
            postgres_server.stop(base / "postgres")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_sharded_book_loaded_into_the_database_extracts_to_the_same_files(
        sharded: dict[str, Any], postgres: postgres_server.Server, tmp_path: Path) -> None:
    con = psycopg2.connect(postgres.dsn)
    try:
        generate_book(tmp_path / "landing", CONTRACTS, 3, AS_OF, SEED, horizon=HORIZON,
                      shard_contracts=SHARD, policy_admin_db=con,
                      truth_dir=tmp_path / "truth")
        assert not (tmp_path / "landing" / "policy_admin").exists()
        extract(con, load(), tmp_path / "landing", tmp_path / "state.json", AS_OF)
    finally:
        con.close()
    extracted = files_of(tmp_path / "landing" / "policy_admin")
    dropped = files_of(sharded["landing"] / "policy_admin")
    assert extracted.keys() == dropped.keys() and len(dropped) == 9
    for rel in dropped:
        assert extracted[rel] == dropped[rel], rel
