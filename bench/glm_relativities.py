"""Poisson GLM relativities on the published frequency_severity and on row-level data rebuilt
from the landing files: `python bench/glm_relativities.py [landing] [marts.duckdb]`.

Why: pooling small cells changes what an actuary can fit. This fits the same claim-frequency
GLM (claims ~ product + tier + vehicle age band + mileage band + period + currency, offset log
exposure) on both
and prints each level's relativity (exp of its coefficient against the base level) and the
difference. tests/test_glm_relativities.py asserts they agree within 2 %. Pooled levels of the
aggregate ('all', wider bands) are levels of their own there; only the declared levels that
both fits estimate are compared.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transforms.privacy.generalise import (  # noqa: E402
    MILEAGE_BANDS,
    VEHICLE_AGE_BANDS,
    band,
    whole_years_between,
)

FACTORS = ("product", "tier", "vehicle_age_band", "mileage_band")
# Fitted too (the cells' other dimensions), not compared: leaving them out would let the mix of
# periods and currencies among unpooled cells bias the published fit.
CONTROLS = ("period_start", "currency")
BASE = {"product": "warranty", "tier": "silver", "vehicle_age_band": "04-05",
        "mileage_band": "040-060k"}
ROOT = Path(__file__).resolve().parent.parent


def poisson_relativities(frame: pl.DataFrame, *, claims: str = "claim_count",
                         exposure: str = "exposure_days") -> dict[tuple[str, str], float]:
    """(factor, level) -> relativity against BASE, from a Poisson GLM with a log-exposure offset
    over rows with exposure (statsmodels, a test/bench dependency only)."""
    import statsmodels.api as sm

    rows = frame.filter(pl.col(exposure) > 0)
    columns, names = [np.ones(rows.height)], [("", "intercept")]
    for factor in (*FACTORS, *CONTROLS):
        values = rows.get_column(factor).cast(pl.String).fill_null("missing")
        base = BASE.get(factor, min(values.to_list()))
        for level in sorted(set(values.to_list()) - {base}):
            columns.append((values == level).cast(pl.Float64).to_numpy())
            names.append((factor, level))
    design = np.column_stack(columns)
    model = sm.GLM(rows.get_column(claims).cast(pl.Float64).to_numpy(), design,
                   family=sm.families.Poisson(),
                   offset=np.log(rows.get_column(exposure).cast(pl.Float64).to_numpy()))
    fitted = model.fit()
    return {name: float(np.exp(beta)) for name, beta in zip(names, fitted.params, strict=True)
            if name[0] in FACTORS}


def _read(landing: Path, system: str, name: str, key: str,
          columns: dict[str, type[pl.DataType] | pl.DataType]) -> pl.DataFrame:
    """The latest delivery's row per key, of the named columns, typed; a value that does not
    parse is null (validation would have quarantined its row: a handful, not a relativity)."""
    frames = []
    for folder in sorted(p for p in (landing / system).iterdir() if p.is_dir()):
        raw = pl.read_csv(folder / f"{name}.csv", infer_schema=False, columns=list(columns))
        frames.append(raw.with_columns(pl.lit(folder.name).alias("delivery")))
    typed = pl.concat(frames).with_columns(
        pl.col(c).str.to_date(strict=False) if t == pl.Date else pl.col(c).cast(t, strict=False)
        for c, t in columns.items()
    )
    return typed.sort("delivery").unique(key, keep="last")


def row_level_from_landing(landing: Path, as_of: date) -> pl.DataFrame:
    """One row per contract and calendar year with covered days and non-declined claims by loss
    year, rebuilt from the landing CSV files (latest delivery per key; the rating factors banded
    by the declared bands). Erasure requests and quarantine are not applied: the comparison is
    of relativities, which a handful of contracts does not move."""
    contracts = _read(landing, "policy_admin", "contracts", "contract_number", {
        "contract_number": pl.String, "product": pl.String, "tier": pl.String,
        "country": pl.String, "start_date": pl.Date, "end_date": pl.Date,
        "cancellation_date": pl.Date, "first_registration_date": pl.Date,
        "mileage_at_start": pl.Int64,
    }).filter(pl.col("start_date").is_not_null() & pl.col("end_date").is_not_null()) \
        .with_columns(
        band(pl.max_horizontal(whole_years_between(pl.col("first_registration_date"),
                                                   pl.col("start_date")), pl.lit(0)),
             VEHICLE_AGE_BANDS).alias("vehicle_age_band"),
        band(pl.col("mileage_at_start"), MILEAGE_BANDS).alias("mileage_band"),
        pl.min_horizontal("end_date", pl.col("cancellation_date").fill_null(pl.col("end_date")),
                          pl.lit(as_of + timedelta(days=1))).alias("cover_end"),
    )
    claims = _read(landing, "claims", "claims", "claim_number", {
        "claim_number": pl.String, "contract_number": pl.String, "loss_date": pl.Date,
        "notification_date": pl.Date, "status": pl.String,
    }).filter((pl.col("notification_date") <= as_of) & (pl.col("status") != "declined"))
    years = contracts.with_columns(
        pl.int_ranges(pl.col("start_date").dt.year(), pl.col("cover_end").dt.year() + 1)
        .alias("year")).explode("year").with_columns(
        pl.date(pl.col("year"), 1, 1).alias("period_start"),
        pl.date(pl.col("year") + 1, 1, 1).alias("period_end"),
    ).with_columns(
        (pl.min_horizontal("cover_end", "period_end")
         - pl.max_horizontal("start_date", "period_start")).dt.total_days()
        .clip(lower_bound=0).alias("exposure_days"))
    counts = claims.group_by("contract_number", pl.col("loss_date").dt.year().alias("year")) \
        .len("claim_count")
    return years.join(counts, on=["contract_number", "year"], how="left").with_columns(
        pl.col("claim_count").fill_null(0),
        pl.col("country").replace_strict({"GB": "GBP", "FR": "EUR"}, default=None)
        .alias("currency")).select(
        "contract_number", "period_start", *FACTORS, "currency", "exposure_days", "claim_count")


def compare(published: pl.DataFrame, rows: pl.DataFrame) -> list[tuple[str, str, float, float]]:
    """(factor, level, row-level relativity, published relativity) for the levels both fit."""
    a, b = poisson_relativities(rows), poisson_relativities(published)
    return [(f, lvl, a[(f, lvl)], b[(f, lvl)]) for (f, lvl) in sorted(a) if (f, lvl) in b]


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", nargs="?", type=Path, default=ROOT / "data" / "landing")
    parser.add_argument("marts", nargs="?", type=Path,
                        default=ROOT / "data" / "published" / "marts.duckdb")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 26))
    args = parser.parse_args()
    con = duckdb.connect(str(args.marts), read_only=True)
    published = con.sql("select * from actuarial.frequency_severity").pl()
    con.close()
    for factor, level, row, pub in compare(published, row_level_from_landing(args.landing,
                                                                             args.as_of)):
        print(f"{factor:18s} {level:12s} row-level {row:7.4f}  published {pub:7.4f}  "
              f"diff {pub / row - 1:+.2%}")


if __name__ == "__main__":
    main()
