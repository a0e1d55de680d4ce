"""A large claim-transactions delivery, generated vectorised, and its pseudonymisation through
the real ingest path (validation, quarantine, HMAC, DuckDB load) in bounded batches."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from transforms.ingest.run import ingest
from transforms.privacy.keys import DomainKeys

DELIVERY = date(2026, 1, 31)


def write_extract(rows: int, base: str | os.PathLike) -> Path:
    """Write `rows` claim transactions as one delivery under `base/landing`; return `base`."""
    base = Path(base)
    folder = base / "landing" / "claims" / DELIVERY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    chunk = 2_000_000
    path = folder / "claim_transactions.csv"
    with open(path, "wb") as fh:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start, start + n)
            payment = rng.random(n) < 0.5
            frame = pl.DataFrame({
                "transaction_id": pl.Series(ids).cast(pl.String).str.zfill(10),
                "claim_number": pl.Series(ids // 4).cast(pl.String).str.zfill(8),
                "transaction_date": pl.Series(rng.integers(18_262, 20_262, n)).cast(pl.Int32)
                .cast(pl.Date),
                "transaction_type": np.where(payment, "payment", "reserve_change"),
                "amount": np.round(rng.lognormal(6, 1, n), 2),
                "payee_iban": None,
            }).with_columns(
                ("TX" + pl.col("transaction_id")).alias("transaction_id"),
                ("CLM-" + pl.col("claim_number")).alias("claim_number"),
                pl.col("payee_iban").cast(pl.String),
            )
            frame.write_csv(fh, include_header=start == 0)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "_manifest.json").write_text(json.dumps({
        "system": "claims", "delivery_date": DELIVERY.isoformat(),
        "files": {"claim_transactions.csv": {"rows": rows, "sha256": sha}},
    }))
    return base


def pseudonymise_extract(base: Path, batch_rows: int) -> int:
    keys = DomainKeys.derive(os.urandom(32))
    reports = ingest(base / "landing", base / "warehouse.duckdb", base / "quarantine", keys,
                     batch_rows=batch_rows)
    return sum(r.rows_read for r in reports)
