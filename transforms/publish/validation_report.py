"""The gate's validation results as our own static page: reports/validation-results.html.

Why not only GX's Data Docs: GX 1.24's Data Docs load their CSS and JavaScript from CDNs and
build the index table in JavaScript, so an auditor who opens the publication offline sees a
blank page. This page is rendered from the gate summary the publication already carries
(gate-summary.json: names and counts only, never a value): per suite, each expectation with its
rule, column, rows evaluated, offending count and result. Static HTML, no script, no network.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transforms.publish.templating import environment

FILE = "validation-results.html"


def _suites(gate: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks grouped by the GX suite that ran them (checks from before suites were recorded
    are grouped by their mart)."""
    texts = gate.get("rules") or {}
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in gate.get("checks") or []:
        grouped[str(c.get("suite") or c.get("table"))].append(c)
    out = []
    for suite, checks in sorted(grouped.items()):
        failed = sum(1 for c in checks if not c.get("passed"))
        rows = [{"expectation": c.get("expectation") or "(not recorded)",
                 "rule": c.get("rule"), "what": texts.get(str(c.get("rule")), ""),
                 "column": c.get("column") or "(table)", "kind": c.get("kind") or "",
                 "evaluated": "" if c.get("evaluated") is None else f"{c['evaluated']:,}",
                 "count": f"{int(c.get('count') or 0):,}", "passed": bool(c.get("passed"))}
                for c in checks]
        out.append({"name": suite, "anchor": suite.replace(".", "-"), "checks": len(checks),
                    "failed": failed, "rows": rows})
    return out


def render(gate: dict[str, Any], *, run_id: str) -> str:
    suites = _suites(gate)
    return environment().get_template("validation_results.html.j2").render(
        run_id=run_id,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        verdict="passed" if gate.get("passed") else "FAILED",
        gate_run=gate.get("run") or "",
        k=gate.get("min_cell_size", "not recorded"),
        skipped=", ".join(gate.get("skipped_rules") or []) or "none",
        total=sum(s["checks"] for s in suites),
        failed=sum(s["failed"] for s in suites),
        suites=suites,
    )


def write(path: Path, gate: dict[str, Any], *, run_id: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(gate, run_id=run_id), encoding="utf-8")
    return path
