"""The actuarial report of a publication: reports/actuarial-report.html.

Why: actuaries read development as a triangle and experience as frequency and severity by
band. This report draws them from the published marts only (the gated, k-suppressed copy in the
publication's marts.duckdb), summed to coarser segments, never split finer: the paid and
incurred triangles per currency as heatmaps, the volume-weighted age-to-age factors, the
chain-ladder ultimate and IBNR per currency and product, and claim frequency and
severity per vehicle-age and mileage band with the earned exposure behind them. Two currencies
are never added together. Charts are static SVG (transforms/publish/charts.py): the page has no
script and needs no network.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from transforms.publish import charts
from transforms.publish.templating import environment

log = logging.getLogger(__name__)

DEVELOPMENT = "actuarial.claims_development"
FREQUENCY_SEVERITY = "actuarial.frequency_severity"
BANDS = ("vehicle_age_band", "mileage_band")


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def _number(value: object, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):,.{digits}f}"


def _triangle(df: pd.DataFrame, column: str) -> tuple[np.ndarray, list[int], list[int]]:
    """Origin x development-year matrix of one cumulative column (cells summed over the
    segments of one currency); cells not yet developed are NaN."""
    pivot = df.pivot_table(index="origin_year", columns="development_year", values=column,
                           aggfunc="sum")
    pivot = pivot.sort_index().sort_index(axis=1)
    origins = [getattr(o, "year", o) for o in pivot.index]  # a DATE in the mart: its year
    return pivot.to_numpy(dtype=float), origins, list(pivot.columns)


def _age_to_age(matrix: np.ndarray) -> list[float]:
    """Volume-weighted link ratios between consecutive development years."""
    factors = []
    for j in range(matrix.shape[1] - 1):
        both = np.isfinite(matrix[:, j]) & np.isfinite(matrix[:, j + 1])
        denominator = matrix[both, j].sum()
        factors.append(float(matrix[both, j + 1].sum() / denominator)
                       if denominator > 0 else float("nan"))
    return factors


def chain_ladder(matrix: np.ndarray) -> tuple[float, float]:
    """Basic chain-ladder of one cumulative origin x development triangle: volume-weighted
    age-to-age factors, no tail; each origin's latest value developed to ultimate. Returns the
    latest and the ultimate summed over origins (chainladder's `Chainladder().fit`, checked
    equal in tests/test_actuarial_report.py; that package is not imported here because its
    import alone costs about 13 s of CPU, several times the whole report)."""
    factors = np.nan_to_num(np.array(_age_to_age(matrix)), nan=1.0)
    to_ultimate = np.append(np.cumprod(factors[::-1])[::-1], 1.0)  # per development index
    latest = ultimate = 0.0
    for row in matrix:
        seen = np.flatnonzero(np.isfinite(row))
        if seen.size:
            latest += float(row[seen[-1]])
            ultimate += float(row[seen[-1]] * to_ultimate[seen[-1]])
    return latest, ultimate


def _chain_ladder(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Chain-ladder on incurred per currency and product (all component groups): latest
    incurred, ultimate and IBNR."""
    rows = []
    for (currency, product), part in sorted(df.groupby(["currency", "product"]),
                                            key=lambda kv: tuple(map(str, kv[0]))):
        latest, ultimate = chain_ladder(_triangle(part, "cumulative_incurred")[0])
        rows.append({"currency": currency, "product": product, "latest": latest,
                     "ultimate": ultimate, "ibnr": ultimate - latest})
    return rows


def _development(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per currency: triangles, factors and the chain-ladder by product."""
    df = _frame(con, f"select * from {DEVELOPMENT}")
    if df.empty:
        return []
    ladder = _chain_ladder(df)
    out = []
    for currency, part in sorted(df.groupby("currency"), key=lambda kv: str(kv[0])):
        section: dict[str, Any] = {"currency": currency, "triangles": [], "factors": []}
        all_factors: dict[str, list[float]] = {}
        for column, label in (("cumulative_paid", "Paid"),
                              ("cumulative_incurred", "Incurred")):
            matrix, origins, devs = _triangle(part, column)
            section["triangles"].append({
                "label": label,
                "chart": charts.heatmap(matrix, origins, devs,
                                        title=f"{label} development triangle, {currency}",
                                        xlabel="development year", ylabel="accident year"),
            })
            all_factors[label] = _age_to_age(matrix)
            section["periods"] = [f"{a}-{b}" for a, b in zip(devs, devs[1:], strict=False)]
        section["factors"] = [[label, *(_number(f, 3) for f in values)]
                              for label, values in all_factors.items()]
        section["factor_chart"] = charts.lines(
            section["periods"], all_factors, title=f"Age-to-age factors, {currency}",
            xlabel="development years", ylabel="factor") if section["periods"] else None
        mine = [r for r in ladder if r["currency"] == currency]
        section["ladder"] = [[r["product"], _number(r["latest"]), _number(r["ultimate"]),
                              _number(r["ibnr"])] for r in mine]
        section["ladder_chart"] = charts.grouped_bars(
            [r["product"] for r in mine],
            {"latest incurred": [r["latest"] for r in mine],
             "IBNR": [r["ibnr"] for r in mine]},
            title=f"Chain-ladder ultimate = latest incurred + IBNR, {currency}",
            ylabel=f"amount ({currency})") if mine else None
        out.append(section)
    return out


def _bands(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Frequency per band (all currencies: counts and exposure add up) and severity per band
    and currency, with the exposure they rest on."""
    out = []
    for band in BANDS:
        freq = _frame(con, f"""
            select {band} as band, sum(earned_exposure)::double as exposure,
                   sum(claim_count)::double as claims, sum(contracts)::bigint as contracts
            from {FREQUENCY_SEVERITY} group by 1 order by 1""")
        sev = _frame(con, f"""
            select {band} as band, currency, sum(claim_count)::double as claims,
                   sum(incurred_amount)::double as incurred
            from {FREQUENCY_SEVERITY} group by 1, 2 order by 1, 2""")
        if freq.empty:
            continue
        freq["frequency"] = freq["claims"] / freq["exposure"].where(freq["exposure"] > 0)
        sev["severity"] = sev["incurred"] / sev["claims"].where(sev["claims"] > 0)
        labels = [str(b) for b in freq["band"]]
        currencies = sorted(sev["currency"].unique())
        severity = {c: [float(sev[(sev["band"] == b) & (sev["currency"] == c)]["severity"]
                               .sum(min_count=1)) for b in freq["band"]] for c in currencies}
        out.append({
            "band": band,
            "chart": charts.grouped_bars(
                labels, {"earned exposure (years)": list(freq["exposure"])},
                title=f"Exposure and claim frequency by {band.replace('_', ' ')}",
                ylabel="earned exposure (years)",
                line=("frequency", list(freq["frequency"].fillna(0.0)), "claims per year")),
            "severity_chart": charts.grouped_bars(
                labels, {c: [0.0 if math.isnan(v) else v for v in vs]
                         for c, vs in severity.items()},
                title=f"Severity (incurred per claim) by {band.replace('_', ' ')}",
                ylabel="incurred per claim"),
            "rows": [[lab, _number(e, 1), _number(n), _number(c), _number(f, 4),
                      *(_number(severity[cur][i], 0) for cur in currencies)]
                     for i, (lab, e, n, c, f) in enumerate(zip(
                         labels, freq["exposure"], freq["claims"], freq["contracts"],
                         freq["frequency"], strict=True))],
            "headers": [band, "Earned exposure (years)", "Claims", "Contracts", "Frequency",
                        *(f"Severity ({c})" for c in currencies)],
        })
    return out


def render_report(marts_db: Path, *, run_id: str) -> str:
    con = duckdb.connect(str(marts_db), read_only=True)
    try:
        development = _development(con)
        bands = _bands(con)
    finally:
        con.close()
    return environment().get_template("actuarial_report.html.j2").render(
        run_id=run_id, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        development=development, bands=bands)


def write_report(path: Path, *, marts_db: Path, run_id: str) -> Path:
    """Write the actuarial report of a publication whose marts are in `marts_db`."""
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(marts_db, run_id=run_id), encoding="utf-8")
    log.info("actuarial report written in %.2f s", time.monotonic() - started)
    return path
