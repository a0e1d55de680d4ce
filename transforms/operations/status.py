"""`pipeline status`: what is published, the last run of each task, pending subject requests.

Why: an operator's first question ("what is live, when did it last run, is anything waiting?")
should not need Airflow's UI or a DuckDB shell. Read only: the publication's own record
(`data/published/publication.json`), the state file each task leaves (`data/state/*.json`,
transforms/operations/task_state.py) and the warehouse's audit counts (summary.collect). Counts,
dates and names only, never a value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from transforms import settings


def _publication(published: Path) -> dict:
    record = published / "publication.json"
    if not record.is_file():
        return {}
    doc = json.loads(record.read_text(encoding="utf-8"))
    return {"run_id": doc.get("run_id"), "created_at": doc.get("created_at"),
            "path": str(published.resolve())}


def _task_states(state_dir: Path) -> list[dict]:
    out = []
    for path in sorted(state_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            doc = {}
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
        out.append({"task": path.stem, "written_at": written,
                    "as_of": doc.get("as_of") if isinstance(doc, dict) else None})
    return out


def collect() -> dict:
    """Everything `pipeline status` shows, as a dict (for --json)."""
    p = settings.paths()
    out: dict = {"publication": _publication(p.published),
                 "tasks": _task_states(p.data / "state"), "warehouse": str(p.warehouse)}
    if not p.warehouse.exists():
        out["warehouse_state"] = "no warehouse yet (make run)"
        return out
    from transforms.operations.summary import collect as summary

    try:
        facts = summary()
    except duckdb.Error as exc:  # a run holds the write lock, or an older warehouse
        out["warehouse_state"] = f"not readable now: {type(exc).__name__}"
        return out
    out["warehouse_state"] = "ok"
    out["key_version"] = facts.get("key_version")
    out["rows_loaded"] = facts.get("rows_loaded")
    out["pending_requests"] = facts.get("pending_requests")
    out["pending_erasures"] = facts.get("pending_erasures")
    out["published_rows"] = facts.get("published_rows")
    out["gate_passed"] = (facts.get("gate") or {}).get("passed")
    out["build"] = facts.get("build")
    return out


def render(status: dict) -> str:
    pub = status["publication"]
    lines = ["== published"]
    if pub:
        lines.append(f"  publication  {pub['run_id']} (created {pub['created_at']})")
        lines.append(f"  where        {pub['path']}")
        for name, rows in (status.get("published_rows") or {}).items():
            lines.append(f"  {name:<36} {rows:>10,} rows")
        if status.get("gate_passed") is not None:
            lines.append(f"  gate         {'passed' if status['gate_passed'] else 'FAILED'}")
    else:
        lines.append("  nothing published yet")
    lines.append("== warehouse")
    lines.append(f"  {status['warehouse']}: {status['warehouse_state']}")
    if status["warehouse_state"] == "ok":
        lines.append(f"  key version  {status['key_version']}; {status['rows_loaded']:,} rows "
                     "loaded")
        lines.append(f"  requests     {status['pending_requests']:,} pending "
                     f"({status['pending_erasures']:,} erasures)")
        if status.get("build"):
            lines.append(f"  last build   {status['build']}")
    lines.append("== last runs (data/state)")
    for task in status["tasks"] or [{"task": "none yet", "written_at": "", "as_of": None}]:
        as_of = f"  as of {task['as_of']}" if task["as_of"] else ""
        lines.append(f"  {task['task']:<28} {task['written_at']}{as_of}")
    return "\n".join(lines)
