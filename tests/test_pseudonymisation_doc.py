"""Recompute one pseudonym exactly as docs/pseudonymisation.md says, with hmac/hashlib alone."""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from datetime import date

import polars as pl

from transforms.classification import load
from transforms.ingest.minimise import minimise
from transforms.privacy.identifiers import normalise_person
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise


def _stdlib_pseudonym(master: bytes, domain: str, normalised: str) -> str:
    prk = hmac.new(b"claims-pseudo-pipeline/hkdf-salt/v1", master, hashlib.sha256).digest()
    domain_key = hmac.new(prk, b"pseudonym-domain:" + domain.encode() + b"\x01",
                          hashlib.sha256).digest()
    return hmac.new(domain_key.hex().encode("ascii"), normalised.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def test_key_version_as_documented() -> None:
    master = os.urandom(32)
    prk = hmac.new(b"claims-pseudo-pipeline/hkdf-salt/v1", master, hashlib.sha256).digest()
    version = "kv-" + hmac.new(prk, b"key-version\x01", hashlib.sha256).hexdigest()[:12]
    assert DomainKeys.derive(master).key_version == version


def test_a_vin_pseudonym_recomputed_by_an_auditor() -> None:
    master = os.urandom(32)
    keys = DomainKeys.derive(master)
    vin_body = "".join("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"[b % 33] for b in os.urandom(17))
    engine = pl.DataFrame({"v": [vin_body]}).select(
        pseudonymise(pl.col("v"), keys, "actuarial")).item()
    assert engine == _stdlib_pseudonym(master, "actuarial", vin_body)
    assert engine != _stdlib_pseudonym(master, "marketing", vin_body)


def test_a_person_pseudonym_recomputed_by_an_auditor() -> None:
    master = os.urandom(32)
    keys = DomainKeys.derive(master)
    surname, first, dob = "  Ga\u0308rtner ", "ANNE   Marie", date(1975, 6, 30)
    frame = pl.DataFrame({"s": [surname], "f": [first], "d": [dob]})
    engine = frame.select(
        pseudonymise(normalise_person(pl.col("s"), pl.col("f"), pl.col("d")), keys, "dpo")
    ).item()

    def norm(name: str) -> str:
        folded = unicodedata.normalize("NFKC", name).lower().replace("ß", "ss")
        return " ".join(folded.split())

    normalised = "\x1f".join([norm(surname), norm(first), dob.isoformat()])
    assert engine == _stdlib_pseudonym(master, "dpo", normalised)


def test_every_hashed_output_is_documented_format() -> None:
    """Each hash treatment of the classification yields 64-hex or null, never a raw value."""
    cl = load()
    contracts = cl.entity("policy_admin", "contracts")
    keys = DomainKeys.derive(os.urandom(32))
    n = 3
    dtypes = {"string": pl.String, "date": pl.Date, "decimal": pl.Decimal(18, 2),
              "integer": pl.Int64, "boolean": pl.Boolean}
    frame = pl.DataFrame({c.name: [None] * n for c in contracts.columns},
                         schema={c.name: dtypes[c.type] for c in contracts.columns})
    frame = frame.with_columns(
        pl.lit("OPW-0000001").alias("contract_number"),
        pl.lit(date(2024, 1, 1)).alias("start_date"),
        pl.lit(date(2010, 1, 1)).alias("first_registration_date"),
        pl.lit(date(1980, 1, 1)).alias("date_of_birth"),
        pl.lit(date(2025, 1, 1)).alias("end_date"),
        pl.lit(None, dtype=pl.Date).alias("cancellation_date"),
        pl.lit(None, dtype=pl.Date).alias("consent_email_date"),
        pl.lit(None, dtype=pl.Date).alias("consent_sms_date"),
    )
    out = minimise(frame, contracts, "actuarial", keys, date(2026, 1, 1))
    assert out["contract_key"].str.contains(r"^[0-9a-f]{64}$").all()
    assert out["vehicle_key"].null_count() == n
