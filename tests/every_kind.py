"""Helpers for the whole-pipeline test: requests of every identifier kind planted in a generated
book, and an ingest killed with SIGKILL in the middle of a delivery.

Nothing here is stored in git: the book is generated at test time, the keys are random.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

# identifier kind -> the request columns it fills
KINDS = {
    "contract_number": ("contract_number",),
    "customer_number": ("customer_number",),
    "name_and_birth_date": ("surname", "first_name", "date_of_birth"),
    "name_and_email": ("surname", "first_name", "email"),
}
REQUEST_COLUMNS = ["request_id", "request_type", "received_date", "surname", "first_name",
                   "date_of_birth", "email", "contract_number", "customer_number"]


@dataclass(frozen=True)
class Planted:
    """One planted request: its id, type, identifier kind and its subject's contract numbers."""

    request_id: str
    request_type: str
    kind: str
    contract_numbers: tuple[str, ...]


def _landing(landing: Path, system: str, name: str) -> pl.DataFrame:
    return pl.concat([pl.read_csv(p, infer_schema=False)
                      for p in sorted((landing / system).glob(f"*/{name}.csv"))])


def plant_requests(landing: Path, as_of: date) -> list[Planted]:
    """Append an erasure and a restriction per identifier kind to the last DPO delivery, each
    for a different subject with a contract in force, whom no other request names."""
    contracts = _landing(landing, "policy_admin", "contracts").unique("contract_number",
                                                                       keep="last")
    requests = _landing(landing, "dpo", "subject_requests")
    named_customers = set(requests["customer_number"].drop_nulls())
    named_contracts = set(requests["contract_number"].drop_nulls())
    named_people = set(requests["surname"].drop_nulls().str.to_lowercase())
    per_customer = contracts.group_by("customer_number").len()
    one_contract = set(per_customer.filter(pl.col("len") == 1)["customer_number"])
    people = contracts.group_by("surname", "first_name", "date_of_birth").len()
    one_person = people.filter(pl.col("len") == 1)
    candidates = (
        contracts.join(one_person.drop("len"), on=["surname", "first_name", "date_of_birth"])
        .filter(pl.col("customer_number").is_in(sorted(one_contract))
                & ~pl.col("customer_number").is_in(sorted(named_customers))
                & ~pl.col("contract_number").is_in(sorted(named_contracts))
                & ~pl.col("surname").str.to_lowercase().is_in(sorted(named_people))
                & pl.col("email").is_not_null()
                & (pl.col("start_date") <= (as_of - timedelta(days=60)).isoformat())
                & (pl.col("end_date") > as_of.isoformat())
                & pl.col("cancellation_date").is_null())
        .unique("surname", keep="first").sort("contract_number")
    )
    rows, planted = [], []
    chosen = iter(candidates.iter_rows(named=True))
    n = 0
    for request_type in ("erasure", "restriction"):
        for kind, columns in KINDS.items():
            subject = next(chosen)
            n += 1
            rid = f"DSR-99{n:04d}"
            row = {c: "" for c in REQUEST_COLUMNS}
            row.update(request_id=rid, request_type=request_type,
                       received_date=(as_of - timedelta(days=1)).isoformat())
            row.update({c: subject[c] for c in columns})
            rows.append(row)
            planted.append(Planted(rid, request_type, kind, (subject["contract_number"],)))
    folder = sorted((landing / "dpo").iterdir())[-1]
    append_rows(folder, "subject_requests", rows)
    return planted


def append_rows(folder: Path, name: str, rows: list[dict[str, str]]) -> None:
    """Append rows to a delivery file (same CSV dialect) and update its manifest entry."""
    path = folder / f"{name}.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    with open(path, "a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=header, lineterminator="\n").writerows(rows)
    manifest_path = folder / "_manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = manifest["files"][path.name]
    entry["rows"] += len(rows)
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


# The ingest, in its own process, killed with SIGKILL just before its delivery's transaction
# inserts the spooled rows: the spool and the quarantine in progress are on disk then.
KILL_MID_DELIVERY = """
import os, signal, sys
from transforms import settings
from transforms.ingest import load
from transforms.ingest.run import ingest
from transforms.privacy.keys import load_domain_keys

p = settings.paths()
original = load.DeliveryWriter._insert_spooled

def insert_or_die(self):
    if any(p.quarantine.rglob("*.parquet.tmp")) and self._spool is not None:
        print("killing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    original(self)

load.DeliveryWriter._insert_spooled = insert_or_die
ingest(p.landing, p.warehouse, p.quarantine, load_domain_keys(), systems=[sys.argv[1]])
"""


def kill_ingest_mid_delivery(env: dict[str, str], cwd: Path, system: str) -> int:
    """Run the ingest of one system in a subprocess that dies by SIGKILL mid-delivery;
    returns its exit status (-9 when it was killed)."""
    proc = subprocess.run([sys.executable, "-c", KILL_MID_DELIVERY, system], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode
