"""Print the disclosure risk of every published table: `python bench/disclosure.py [marts.duckdb]`.

Why: issue 9's table of findings (uniqueness of row-level marts, smallest cells of aggregates)
must be reproducible on any run, before and after a change. With `--baseline` it measures the
marts as they were before issue 9 (no disclosure block in the classification: every category,
band, region and date column as quasi-identifier, the first period's exposure revealing the
cover start); otherwise it reads the rules declared in the classification, exactly as the gate
and the privacy report do (expectations/disclosure.py). Prints counts and shares only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from expectations.disclosure import Risk, aggregate_risk, row_level_risk  # noqa: E402
from expectations.disclosure_rules import mart_risk  # noqa: E402
from transforms.classification import load  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "published" / "marts.duckdb"

# The marts before issue 9, measured as the issue did.
BASELINE_QIS = {
    "actuarial.policy_exposure": ["product", "tier", "vehicle_age_band", "mileage_band",
                                  "make_group", "fuel_type", "region", "currency",
                                  "driver_age_band", "sales_channel"],
    "marketing.renewal_audience": ["renewal_month", "product", "vehicle_age_band", "region",
                                   "tenure_band"],
}


def _frame(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame | None:
    schema, table = name.split(".")
    found = con.execute("select count(*) from information_schema.tables where table_schema = ? "
                        "and table_name = ?", [schema, table]).fetchall()[0]
    return con.sql(f'select * from "{schema}"."{table}"').pl() if found and found[0] else None


def baseline(con: duckdb.DuckDBPyConnection, k: int = 10) -> list[Risk]:
    """The pre-issue-9 marts: cells = rows by their categories, units = contracts/claims."""
    out: list[Risk] = []
    pe = _frame(con, "actuarial.policy_exposure")
    if pe is not None:
        qis = BASELINE_QIS["actuarial.policy_exposure"]
        out.append(row_level_risk(pe, table="policy_exposure (10 QIs)", unit="contract",
                                  unit_key="contract_key", quasi_identifiers=qis,
                                  order_by=["period_start"], k=k, max_unique_share=0.05))
        out.append(row_level_risk(pe, table="policy_exposure (+ first exposure)",
                                  unit="contract", unit_key="contract_key",
                                  quasi_identifiers=[*qis, "period_start", "earned_exposure"],
                                  order_by=["period_start"], k=k, max_unique_share=0.05))
        rows = pe.with_row_index("row")  # earned premium: unique among rows
        out.append(row_level_risk(rows, table="policy_exposure rows (earned premium)",
                                  unit="row", unit_key="row", quasi_identifiers=["earned_premium"],
                                  k=k, max_unique_share=0.05))
        fs = pe.group_by(["period_start", *qis]).agg(pl.col("contract_key").n_unique()
                                                     .alias("contracts"))
        out.append(aggregate_risk(fs, table="frequency_severity (cells by contracts)",
                                  unit="contract", count_column="contracts", k=k))
    cd = _frame(con, "actuarial.claims_development")
    if cd is not None and "reported_claims" in cd.columns:
        latest = cd.filter(pl.col("valuation_month") == pl.col("valuation_month").max())
        out.append(aggregate_risk(latest, table="claims_development (latest diagonal)",
                                  unit="claim", count_column="reported_claims", k=k))
    ra = _frame(con, "marketing.renewal_audience")
    if ra is not None:
        out.append(row_level_risk(ra, table="renewal_audience", unit="customer",
                                  unit_key="customer_key",
                                  quasi_identifiers=BASELINE_QIS["marketing.renewal_audience"],
                                  order_by=["renewal_month"], k=k, max_unique_share=0.05))
    seg = _frame(con, "marketing.segments")
    if seg is not None:
        out.append(aggregate_risk(seg, table="segments", unit="customer",
                                  count_column="customers", k=k))
    return out


def declared(con: duckdb.DuckDBPyConnection) -> list[Risk]:
    """Every mart by the rule the classification declares for it."""
    out = []
    for mart in load().marts:
        frame = _frame(con, mart.name)
        if frame is not None and mart.disclosure is not None:
            out.append(mart_risk(mart, frame))
    return out


def describe(r: Risk) -> str:
    if r.kind == "aggregate":
        return (f"{r.table:44s} cells {r.cells:7d}  units {r.units:8d}  smallest {r.smallest}  "
                f"cells<k {r.cells_below_k} ({r.records_below_k} units)  "
                f"cells of 1: {r.share_unique:.1%}")
    return (f"{r.table:44s} units {r.units:7d}  classes {r.cells:7d}  unique {r.share_unique:.1%}"
            f"  below k {r.records_below_k}  avg risk {r.average_risk:.3f}  "
            f"max risk {r.highest_risk:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("marts", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    con = duckdb.connect(str(args.marts), read_only=True)
    try:
        for r in (baseline(con) if args.baseline else declared(con)):
            print(describe(r))
    finally:
        con.close()


if __name__ == "__main__":
    main()
