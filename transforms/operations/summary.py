"""The short summary that ends `make run`: what was delivered, quarantined, loaded, published.

Counts only, read from the warehouse's audit tables and the publication itself, so that the
summary says what is really there rather than what a task believed it did.
"""

from __future__ import annotations

import argparse
import json

import duckdb

from transforms import settings
from transforms.build.spark_marts import marts_database
from transforms.rights.requests import FINAL


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def collect() -> dict:
    p = settings.paths()
    # on Spark the audit is in the build's export (transforms/build/spark_marts.py)
    audited = marts_database() if settings.engine() == "spark" else p.warehouse
    out: dict = {"warehouse": str(audited), "published": str(p.published)}
    con = duckdb.connect(str(audited))
    try:
        read, quarantined, loaded, deliveries, version = _rows(
            con,
            "select sum(rows_read), sum(rows_quarantined), sum(rows_loaded), "
            "count(distinct system || delivery_date), max(key_version) from audit.deliveries",
        )[0]
        reasons = _rows(
            con,
            "select reason, sum(rows) from audit.quarantine group by 1 order by 2 desc, 1",
        )
        requests = _rows(
            con,
            "select request_type, status, count(*) from audit.subject_requests "
            "group by 1, 2 order by 1, 2",
        ) if _rows(con, "select count(*) from information_schema.tables where table_schema = "
                        "'audit' and table_name = 'subject_requests'")[0][0] else []
    finally:
        con.close()
    out.update(
        deliveries=deliveries, rows_delivered=int(read or 0),
        rows_quarantined=int(quarantined or 0), rows_loaded=int(loaded or 0),
        key_version=version, quarantine_reasons={r: int(c) for r, c in reasons},
        orphans=sum(int(c) for r, c in reasons if r.startswith("orphan:")),
        requests={f"{t}:{s}": int(n) for t, s, n in requests},
        pending_requests=sum(int(n) for _, s, n in requests if s not in FINAL),
        pending_erasures=sum(int(n) for t, s, n in requests
                             if t == "erasure" and s not in FINAL),
    )
    marts_file = p.published / "marts.duckdb"
    published: dict[str, int] = {}
    if marts_file.exists():
        pub = duckdb.connect(str(marts_file), read_only=True)
        try:
            for schema, table in _rows(
                pub,
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('actuarial', 'marketing') order by 1, 2",
            ):
                published[f"{schema}.{table}"] = _rows(
                    pub, f'select count(*) from "{schema}"."{table}"')[0][0]
        finally:
            pub.close()
    out["published_rows"] = published
    gate_file = p.data / "state" / "gate.json"
    if gate_file.exists():
        out["gate"] = json.loads(gate_file.read_text())
    build_file = p.data / "state" / "build.json"  # transforms/operations/build_skip.py
    if build_file.exists():
        out["build"] = json.loads(build_file.read_text()).get("build")
    return out


def render(summary: dict, *, log: str | None, seconds: int | None) -> str:
    p = settings.paths()
    lines = ["", "== pipeline summary" + (f" ({seconds} s)" if seconds is not None else "")]
    lines.append(f"  delivered    {summary['rows_delivered']:>10,} rows in "
                 f"{summary['deliveries']} deliveries   ({p.landing})")
    top = ", ".join(f"{r} {c}" for r, c in list(summary["quarantine_reasons"].items())[:6])
    lines.append(f"  quarantined  {summary['rows_quarantined']:>10,} rows   ({p.quarantine})"
                 + (f"\n               reasons: {top}" if top else ""))
    if summary.get("orphans"):
        lines.append(f"               orphans {summary['orphans']:,} rows (their parent row was "
                     "quarantined or never delivered)")
    if summary.get("requests"):
        done = sum(n for k, n in summary["requests"].items() if k.endswith(":done"))
        lines.append(f"  requests     {sum(summary['requests'].values()):>10,} processed, {done:,} "
                     f"applied, {summary['pending_requests']:,} pending "
                     f"({summary['pending_erasures']:,} erasures)")
    lines.append(f"  loaded       {summary['rows_loaded']:>10,} rows   ({p.warehouse}, key "
                 f"version {summary['key_version']})")
    total = sum(summary["published_rows"].values())
    lines.append(f"  published    {total:>10,} rows   ({p.published / 'marts.duckdb'})")
    for name, n in summary["published_rows"].items():
        lines.append(f"               {name}: {n:,}")
    if summary.get("build"):
        lines.append(f"  build        {summary['build']}")
    gate = summary.get("gate")
    if gate:
        lines.append(f"  gate         {'passed' if gate.get('passed') else 'FAILED'}"
                     f"   ({p.published / 'reports' / 'privacy-report.html'})")
    if log:
        lines.append(f"  log          {log}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.operations.summary")
    parser.add_argument("--log")
    parser.add_argument("--seconds", type=int)
    args = parser.parse_args(argv)
    summary = collect()
    print(render(summary, log=args.log, seconds=args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
