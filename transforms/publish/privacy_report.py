"""The privacy report of a publication: reports/privacy-report.html.

Why generated: an auditor must be able to check, without reading code, what each published
table is for, on what legal basis, what was done to every source field on its way there, and
what this run's gate found. All of it follows from config/classification.yml, the published
marts and the gate summary (counts only), so it is rendered from them and cannot drift.

This module gathers the figures; the markup is the autoescaped Jinja2 template
`templates/privacy_report.html.j2` (static HTML, no script). docs/classification.md is written by
transforms/publish/classification_doc.py; `python -m transforms.publish.privacy_report docs
[--check]` still writes (or checks) it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from transforms import settings
from transforms.classification import Classification, Mart
from transforms.classification import load as load_classification
from transforms.publish import charts
from transforms.publish.classification_doc import DOCS_PATH, main, render_markdown
from transforms.publish.classification_words import fed_by, source_rows, treatment_text
from transforms.publish.templating import environment

__all__ = ["DOCS_PATH", "main", "mart_facts", "render_markdown", "render_report",
           "row_flow", "treatment_text", "write_report"]

MART_CLASS_TEXT = {
    "pseudonym": "pseudonym: keyed hash (HMAC-SHA-256) in the purpose's own domain",
    "generalised": "generalised quasi-identifier (a band, an area, a month)",
    "dimension": "non-personal category",
    "period": "period (a month or year, not a personal date)",
    "measure": "measure computed from the fields above",
    "count": "count of persons in the cell (at least k)",
    "metadata": "run metadata",
}


# -- facts from the published marts -----------------------------------------------------------


def mart_facts(marts_db: Path, classification: Classification) -> dict[str, dict[str, Any]]:
    """Rows, smallest cell and key versions of each published mart."""
    facts: dict[str, dict[str, Any]] = {}
    con = duckdb.connect(str(marts_db), read_only=True)
    try:
        for m in classification.marts:
            table = f'"{m.schema}"."{m.table}"'
            rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
            f: dict[str, Any] = {"rows": rows}
            if m.aggregated and m.count_column:
                f["smallest_cell"] = con.execute(
                    f'select min("{m.count_column}") from {table}').fetchall()[0][0]
            if "key_version" in m.column_names:
                f["key_versions"] = [r[0] for r in con.execute(
                    f"select distinct key_version from {table} order by 1").fetchall()]
            facts[m.name] = f
    finally:
        con.close()
    return facts


def row_flow(warehouse: Path, published: dict[str, int]) -> dict[str, Any] | None:
    """Rows delivered, quarantined and loaded per source entity (audit.deliveries: counts the
    ingest records, entity names from the classification) and rows published: the flow an
    auditor follows from the deliveries to the publication. None when no audit is recorded."""
    con = duckdb.connect(str(warehouse))  # not read_only: dbt-duckdb may hold it in-process
    try:
        settings.bound_duckdb(con)
        if not con.execute("select count(*) from information_schema.tables where table_schema"
                           " = 'audit' and table_name = 'deliveries'").fetchall()[0][0]:
            return None
        entities = con.execute(
            "select system || '.' || entity, count(*), sum(rows_read), sum(rows_quarantined),"
            " sum(rows_loaded) from audit.deliveries group by 1 order by 1").fetchall()
    finally:
        con.close()
    delivered, quarantined, loaded = (sum(int(e[i] or 0) for e in entities) for i in (2, 3, 4))
    stages = [("delivered", delivered), ("quarantined", quarantined), ("loaded", loaded),
              ("published (mart rows)", sum(published.values()))]
    return {
        "stages": [[name, f"{n:,}"] for name, n in stages],
        "entities": [[name, files, f"{int(r or 0):,}", f"{int(q or 0):,}", f"{int(lo or 0):,}"]
                     for name, files, r, q, lo in entities],
        "marts": [[name, f"{n:,}"] for name, n in published.items()],
        "chart": charts.flow(stages, title="Rows from delivery to publication"),
    }


# -- what the template shows ------------------------------------------------------------------


def _gate_rows(gate: dict[str, Any] | None, mart: str) -> list[dict[str, Any]]:
    """Per rule of one mart: checks run, offending count (counts only), passed."""
    if not gate:
        return []
    texts = gate.get("rules") or {}
    by_rule: dict[str, dict[str, int]] = {}
    for c in gate.get("checks") or []:
        if c.get("table") != mart:
            continue
        r = by_rule.setdefault(c["rule"], {"checks": 0, "failed": 0, "count": 0})
        r["checks"] += 1
        r["failed"] += 0 if c.get("passed") else 1
        r["count"] += 0 if c.get("passed") else int(c.get("count") or 0)
    return [{"rule": rule, "text": texts.get(rule, ""), "checks": v["checks"],
             "count": v["count"], "passed": not v["failed"]}
            for rule, v in sorted(by_rule.items())]


def _chart(buckets: list[list[object]], k: int) -> dict[str, Any] | None:
    """Geometry of a small inline SVG bar chart: cells (or classes) per size bucket, buckets
    below k in red, a line at k. Inline and static (no script, no CDN): it renders offline."""
    if not buckets:
        return None
    width, height, bar = 420, 150, 420 // max(len(buckets), 1)
    top = max(int(n) for _, n in buckets) or 1
    bars, k_index = [], None
    for i, (label, n) in enumerate(buckets):
        below = int(str(label).split("-")[0].rstrip("+")) < k
        if not below and k_index is None:
            k_index = i
        h = round(height * int(n) / top)
        bars.append({"x": i * bar + 4, "y": height - h, "width": bar - 8, "height": h,
                     "colour": "#b00020" if below else "#2a6f97", "label": label, "n": n,
                     "centre": i * bar + bar // 2, "value_y": max(height - h - 3, 10)})
    return {"width": width, "height": height, "k": k, "bars": bars,
            "k_x": None if k_index is None else k_index * bar}


def _pct(value: object) -> str:
    return f"{float(value):.2%}" if isinstance(value, int | float) else "not measured"


def _disclosure(mart: Mart, gate: dict[str, Any] | None) -> dict[str, Any]:
    """The mart's disclosure rule and this run's risk figures (counts and shares only)."""
    rule = mart.disclosure
    if rule is None:
        return {"rule": None}
    stats = (((gate or {}).get("tables") or {}).get(mart.name) or {}).get("disclosure") or {}
    if mart.aggregated:
        text = (f"Aggregate: every non-empty cell counts at least k = {rule.k} distinct "
                f"{rule.unit}s in column {rule.count_column}; small cells are pooled up "
                f"{', '.join(rule.pooling) or 'no hierarchy'} before any is suppressed.")
    else:
        text = (f"Row-level, one {rule.unit} per {rule.unit_key}: at most "
                f"{_pct(rule.max_unique_share)} of {rule.unit}s may be unique on the "
                f"quasi-identifiers of their first row. {rule.rationale}")
    if not stats:
        return {"rule": rule, "text": text, "figures": []}
    unique_label = "Cells holding a single unit" if mart.aggregated else "Share of units unique"
    figures = [
        ["Unit", rule.unit], ["Quasi-identifiers", ", ".join(rule.quasi_identifiers)],
        ["k (threshold)", rule.k], ["Units", stats.get("units")],
        ["Cells / equivalence classes", stats.get("cells")],
        ["Smallest cell / class (k-anonymity)", stats.get("smallest")],
        [unique_label, _pct(stats.get("share_unique"))],
        ["Records in classes below k", stats.get("records_below_k")],
        ["Average prosecutor risk", stats.get("average_risk")],
        ["Highest prosecutor risk", stats.get("highest_risk")],
        ["Rule met", "yes" if stats.get("passed") else "NO"],
    ]
    shares = [[m, _pct(v.get("pooled")), _pct(v.get("suppressed"))]
              for m, v in (stats.get("shares") or {}).items()]
    return {"rule": rule, "text": text, "figures": figures, "shares": shares,
            "chart": _chart(stats.get("histogram") or [], rule.k)}


def _mart(classification: Classification, mart: Mart, facts: dict[str, Any],
          gate: dict[str, Any] | None, k: object) -> dict[str, Any]:
    purpose = classification.purposes[mart.purpose]
    mart_k = mart.disclosure.k if mart.disclosure else k
    smallest = facts.get("smallest_cell", "not applicable (no count column)")
    versions = facts.get("key_versions")
    key_text = ", ".join(map(str, versions)) if versions else "no pseudonyms in this mart"
    if versions is not None and not versions:
        key_text = "no rows"
    return {
        "name": mart.name,
        "purpose": mart.purpose,
        "anchor": mart.name.replace(".", "-"),
        "facts": [
            ("Purpose", f"{mart.purpose}: {purpose.get('title', '')}"),
            ("Legal basis", purpose.get("legal_basis", "")),
            ("Privacy policy sections", ", ".join(purpose.get("policy_sections", []))),
            ("Grain", mart.grain),
            ("Aggregated", "yes" if mart.aggregated else "no (one row per pseudonymous subject)"),
            ("Retention", mart.retention),
            ("Key version", key_text),
            ("Rows", facts.get("rows")),
            ("Smallest cell", f"{smallest} (threshold k = {mart_k})" if mart.count_column
             else smallest),
            ("Parquet extract", "yes" if mart.extract else "no"),
        ],
        "columns": [[c.name, c.cls, c.data_type, c.description,
                     "; ".join(fed_by(classification, mart, c.name))
                     or MART_CLASS_TEXT.get(c.cls, c.cls)] for c in mart.columns],
        "disclosure": _disclosure(mart, gate),
        "gate": _gate_rows(gate, mart.name),
    }


def render_report(
    classification: Classification,
    facts: dict[str, dict[str, Any]],
    *,
    gate_summary: dict[str, Any] | None,
    data_docs_href: str | None,
    run_id: str,
    flow: dict[str, Any] | None = None,
    validation_href: str | None = None,
) -> str:
    gate = gate_summary
    k = (gate or {}).get("min_cell_size", "not recorded")
    purposes = sorted({m.purpose for m in classification.marts})
    return environment().get_template("privacy_report.html.j2").render(
        run_id=run_id,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=classification.version,
        verdict="not run" if gate is None else ("passed" if gate.get("passed") else "FAILED"),
        skipped=", ".join((gate or {}).get("skipped_rules") or []) or "none",
        k=k,
        data_docs_href=data_docs_href,
        validation_href=validation_href,
        flow=flow,
        retention=[[k_, v] for k_, v in classification.retention.items()],
        marts=[_mart(classification, m, facts.get(m.name, {}), gate, k)
               for m in classification.marts],
        purposes=[{"name": p, "rows": [[r["source"], r["class"], r["category"], r["treatment"]]
                                       for r in source_rows(classification, p)]}
                  for p in purposes],
    )


def write_report(
    path: Path,
    *,
    marts_db: Path,
    classification: Classification | None = None,
    gate_summary: dict[str, Any] | None,
    data_docs_href: str | None,
    run_id: str,
    flow: dict[str, Any] | None = None,
    validation_href: str | None = None,
) -> Path:
    """Write the privacy report of a publication whose marts are in `marts_db`."""
    classification = classification or load_classification()
    facts = mart_facts(marts_db, classification)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(classification, facts, gate_summary=gate_summary,
                                  data_docs_href=data_docs_href, run_id=run_id, flow=flow,
                                  validation_href=validation_href),
                    encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
