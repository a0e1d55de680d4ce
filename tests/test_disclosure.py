"""Statistical disclosure control (issue 9): the risk figures on small hand-made frames, and an
independent check of the gate's figures with pycanon on marts built by dbt from a generated book.

The figures the gate enforces and the privacy report shows come from expectations/disclosure.py;
pycanon (k-anonymity) computes k on the same quasi-identifiers its own way.
"""

from __future__ import annotations

import polars as pl
import pytest

from expectations.disclosure import aggregate_risk, histogram, row_level_risk
from expectations.disclosure_rules import ledger_shares, unpooled_categories
from transforms.classification import load

CLASSIFICATION = load()


def test_row_level_risk_by_hand() -> None:
    # units a, b share their first row's values; c is alone; d has two periods (first: 2024)
    frame = pl.DataFrame({
        "unit": ["a", "b", "c", "d", "d"],
        "period": [2024, 2024, 2024, 2024, 2025],
        "tier": ["gold", "gold", "silver", "gold", "silver"],
    })
    risk = row_level_risk(frame, table="t", unit="contract", unit_key="unit",
                          quasi_identifiers=["period", "tier"], order_by=["period"], k=2,
                          max_unique_share=0.25)
    assert (risk.units, risk.cells, risk.smallest, risk.unique_units) == (4, 2, 1, 1)
    assert risk.share_unique == 0.25 and risk.passed
    assert risk.records_below_k == 1
    assert risk.average_risk == pytest.approx((1 / 3 * 3 + 1) / 4)
    assert risk.highest_risk == 1.0
    stricter = row_level_risk(frame, table="t", unit="contract", unit_key="unit",
                              quasi_identifiers=["period", "tier"], order_by=["period"], k=2,
                              max_unique_share=0.2)
    assert not stricter.passed


def test_the_gate_s_sql_classes_equal_the_polars_ones() -> None:
    """The gate computes a row-level mart's classes in DuckDB (it never holds the mart); the
    privacy report and the bench in polars: the same figures, units spanning periods, null
    quasi-identifiers and null order values (last) included."""
    import duckdb
    import numpy as np

    from expectations.disclosure import class_sizes_sql, risk_of_classes

    rng = np.random.default_rng(7)
    n = 5_000
    frame = pl.DataFrame({
        "unit": rng.integers(0, 1_500, n).astype(str),
        "period": pl.Series(rng.integers(2019, 2027, n)).set(
            pl.Series(rng.random(n) < 0.05), None),
        "tier": pl.Series(rng.choice(["bronze", "silver", "gold"], n)).set(
            pl.Series(rng.random(n) < 0.05), None),
        "area": rng.choice([f"GB-{i}" for i in range(40)], n),
    }).unique(["unit", "period"], keep="first")  # one row per unit and period, as the marts
    qis = ["period", "tier", "area"]
    expected = row_level_risk(frame, table="t", unit="contract", unit_key="unit",
                              quasi_identifiers=qis, order_by=["period"], k=10,
                              max_unique_share=0.5)
    con = duckdb.connect()
    con.register("mart", frame.to_arrow())
    sizes = con.sql(class_sizes_sql("mart", unit_key="unit", quasi_identifiers=qis,
                                    order_by=["period"])).pl()["size"]
    got = risk_of_classes(sizes, table="t", unit="contract", k=10, max_unique_share=0.5)
    assert got == expected
    assert expected.units == frame["unit"].n_unique() and expected.unique_units > 0


def test_aggregate_risk_ignores_empty_cells() -> None:
    frame = pl.DataFrame({"claims": [0, 0, 12, 3, 40, None]})
    risk = aggregate_risk(frame, table="t", unit="claim", count_column="claims", k=10)
    assert (risk.cells, risk.smallest, risk.cells_below_k, risk.records_below_k) == (3, 3, 1, 3)
    assert not risk.passed
    assert aggregate_risk(frame.filter(pl.col("claims") != 3), table="t", unit="claim",
                          count_column="claims", k=10).passed


def test_histogram_buckets_split_at_k() -> None:
    buckets = dict(histogram([1, 3, 9, 10, 25, 60, 500], 10))
    assert buckets == {"1": 1, "2-4": 1, "5-9": 1, "10-19": 1, "20-49": 1, "50-99": 1,
                       "100+": 1}


def test_unpooled_category_counts_levels_outside_the_hierarchy() -> None:
    mart = CLASSIFICATION.mart("actuarial.frequency_severity")
    frame = pl.DataFrame({"mileage_band": ["000-020k", "000-040k", "all", "20-40k", None],
                          "vehicle_age_band": ["11+", "08+", "all", "00-01", "1-2"]})
    assert unpooled_categories(CLASSIFICATION, mart, frame) == {"mileage_band": 1,
                                                                "vehicle_age_band": 1}


def test_ledger_shares() -> None:
    ledger = pl.DataFrame({
        "contracts": [10, 5, 5], "pooled_contracts": [0, 5, 0],
        "incurred_amount": [100.0, 0.0, 100.0], "pooled_incurred_amount": [0.0, 0.0, 0.0],
        "is_suppressed": [False, False, True],
    })
    shares = ledger_shares(ledger)
    assert shares["contracts"] == {"pooled": 0.25, "suppressed": 0.25}
    assert shares["incurred_amount"] == {"pooled": 0.0, "suppressed": 0.5}


def test_every_published_mart_declares_its_rule() -> None:
    for mart in CLASSIFICATION.marts:
        rule = mart.disclosure
        assert rule is not None, mart.name
        assert rule.k == 10
        if mart.aggregated:
            assert rule.count_column == {"contract": "contracts", "customer": "customers",
                                         "claim": "claims"}[rule.unit], mart.name
        else:
            assert rule.max_unique_share == 0.05 and rule.rationale, mart.name


def test_band_labels_sort_in_edge_order() -> None:
    for name, band in CLASSIFICATION.bands.items():
        assert band["labels"] == sorted(band["labels"]), name
    assert sorted(["11+", "02-03", "00-01"]) == ["00-01", "02-03", "11+"]
