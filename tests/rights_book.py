"""Helpers shared by the retention and rights tests: a small real book in a temporary data
folder, extra DPO deliveries, and the subjects' raw values and pseudonyms to search for.

Keys are random per run; nothing here is stored in git.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ahocorasick
import polars as pl

from transforms.classification import load
from transforms.ingest.run import DeliveryReport, ingest
from transforms.privacy.identifiers import normalise
from transforms.privacy.identity import identity_frame
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.settings import Paths
from transforms.sources.generate import generate_book

REQUEST_COLUMNS = ["request_id", "request_type", "received_date", "surname", "first_name",
                   "date_of_birth", "email", "contract_number", "customer_number"]


@dataclass(frozen=True)
class Book(Paths):
    """The pipeline's paths under one data folder (transforms.settings.Paths), with its key."""

    keys: DomainKeys | None = None

    def ingest(self) -> list[DeliveryReport]:
        return ingest(self.landing, self.warehouse, self.quarantine, self.keys)


def make_book(data: Path, keys: DomainKeys, contracts: int, as_of: date, seed: int,
              days: int = 3) -> Book:
    generate_book(data / "landing", contracts=contracts, days=days, as_of=as_of, seed=seed,
                  truth_dir=data.parent / f"{data.name}-truth")
    book = Book(data, keys)
    book.ingest()
    return book


def write_delivery(landing: Path, system: str, day: date, files: dict[str, pl.DataFrame]
                   ) -> Path:
    """A delivery folder with its manifest, as a source system writes it."""
    folder = landing / system / day.isoformat()
    folder.mkdir(parents=True, exist_ok=False)
    manifest = {}
    for name, frame in files.items():
        path = folder / name
        frame.write_csv(path, line_terminator="\n")
        manifest[name] = {"rows": frame.height,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (folder / "_manifest.json").write_text(json.dumps(
        {"system": system, "delivery_date": day.isoformat(), "files": manifest}, indent=2))
    return folder


def requests_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in REQUEST_COLUMNS} for r in rows],
                        schema={c: pl.String for c in REQUEST_COLUMNS})


def write_dpo(landing: Path, day: date, requests: list[dict]) -> Path:
    consent = pl.DataFrame(schema={c: pl.String for c in
                                   ("change_id", "customer_number", "channel", "consent",
                                    "change_date")})
    return write_delivery(landing, "dpo", day, {"consent_changes.csv": consent,
                                                "subject_requests.csv": requests_frame(requests)})


def landing_frames(landing: Path) -> Iterable[tuple[str, str, Path, pl.DataFrame]]:
    for path in sorted(landing.rglob("*.csv")):
        system, name = path.parent.parent.name, path.stem
        yield system, name, path, pl.read_csv(path, infer_schema=False)


def customer_rows(landing: Path, customer_number: str) -> dict[tuple[str, str], pl.DataFrame]:
    """Every landing row of one customer (and of the person behind them): contracts, claims,
    transactions, consent changes, quotes of the same person, requests naming them."""
    classification = load()
    frames: dict[tuple[str, str], list[pl.DataFrame]] = {}
    for system, name, _, frame in landing_frames(landing):
        frames.setdefault((system, name), []).append(frame)
    every = {k: pl.concat(v) for k, v in frames.items()}
    contracts = every[("policy_admin", "contracts")].filter(
        pl.col("customer_number") == customer_number)
    contract_numbers = set(contracts["contract_number"].to_list())
    people = set(identity_frame(contracts, classification.entity("policy_admin", "contracts"))
                 ["person"].drop_nulls().to_list())
    claims = every[("claims", "claims")].filter(pl.col("contract_number").is_in(
        sorted(contract_numbers)))
    claim_numbers = set(claims["claim_number"].drop_nulls().to_list())
    out = {
        ("policy_admin", "contracts"): contracts,
        ("claims", "claims"): claims,
        ("claims", "claim_transactions"): every[("claims", "claim_transactions")].filter(
            pl.col("claim_number").is_in(sorted(claim_numbers))),
        ("dpo", "consent_changes"): every[("dpo", "consent_changes")].filter(
            pl.col("customer_number") == customer_number),
    }
    for system, name in (("policy_admin", "quotes"), ("dpo", "subject_requests")):
        frame = every[(system, name)]
        ident = identity_frame(frame, classification.entity(system, name))
        hit = ident["person"].is_in(sorted(people))
        if "customer_number" in frame.columns:
            hit = hit | (frame["customer_number"] == customer_number)
            hit = hit | frame["contract_number"].is_in(sorted(contract_numbers))
        out[(system, name)] = frame.filter(hit.fill_null(False))
    return out


def identifier_values(rows: dict[tuple[str, str], pl.DataFrame]) -> set[str]:
    """Raw and normalised values of every direct identifier in the rows."""
    classification = load()
    values: set[str] = set()
    for (system, name), frame in rows.items():
        entity = classification.entity(system, name)
        country = pl.col("country") if "country" in frame.columns else None
        for col in entity.columns:
            if col.cls != "direct_identifier" or col.name not in frame.columns:
                continue
            exprs = [pl.col(col.name).str.strip_chars().alias("raw")]
            if col.identifier:
                exprs.append(normalise(col.identifier, pl.col(col.name), country).alias("n"))
            for series in frame.select(exprs).iter_columns():
                values.update(v for v in series.drop_nulls().to_list() if v)
        ident = identity_frame(frame, entity)
        if "person" in ident.columns:
            values.update(ident["person"].drop_nulls().to_list())
    return values


def found_elsewhere(values: set[str], texts: Iterable[str]) -> set[str]:
    """The values that occur (as substrings) in other people's data: useless as evidence."""
    auto = ahocorasick.Automaton()
    for v in values:
        auto.add_word(v, v)
    auto.make_automaton()
    hits: set[str] = set()
    for text in texts:
        hits.update(v for _, v in auto.iter(text))
    return hits


def other_rows_text(landing: Path, exclude: dict[tuple[str, str], pl.DataFrame]) -> list[str]:
    out = []
    for system, name, _, frame in landing_frames(landing):
        mine = exclude.get((system, name))
        others = frame.join(mine, on=frame.columns, how="anti", nulls_equal=True) \
            if mine is not None and mine.height else frame
        out.append(others.write_csv())
    return out


def pseudonyms_of(keys: DomainKeys, rows: dict[tuple[str, str], pl.DataFrame]
                  ) -> dict[str, set[str]]:
    """domain -> the pseudonyms of every identifier of the rows, made by the engine."""
    classification = load()
    values: dict[str, set[str]] = {}
    for (system, name), frame in rows.items():
        entity = classification.entity(system, name)
        ident = identity_frame(frame, entity)
        for kind in ident.columns:
            values.setdefault(kind, set()).update(ident[kind].drop_nulls().to_list())
        if "vin" in frame.columns:
            values.setdefault("vin", set()).update(
                frame.select(normalise("vin", pl.col("vin"))).to_series().drop_nulls().to_list())
    out: dict[str, set[str]] = {}
    for domain in ("actuarial", "marketing", "dpo"):
        got: set[str] = set()
        for kind, vals in values.items():
            if kind == "names_email" or not vals:
                continue
            got.update(pl.DataFrame({"v": sorted(vals)}).select(
                pseudonymise(pl.col("v"), keys, domain)).to_series().to_list())
        out[domain] = got
    return out


class FileLog:
    """Every log record of the run, to a file the leak search reads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.root = logging.getLogger()

    def __enter__(self) -> FileLog:
        self.level = self.root.level
        self.root.setLevel(logging.DEBUG)
        self.root.addHandler(self.handler)
        return self

    def __exit__(self, *exc) -> None:
        self.root.removeHandler(self.handler)
        self.root.setLevel(self.level)
        self.handler.close()
