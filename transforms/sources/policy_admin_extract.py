"""Pull the policy-administration database into the landing zone, by watermark on `updated_at`.

Why here, and why a landing delivery: the ingest, the gate, erasure and retention all read the
landing contract (transforms/landing.py, docs/source-contract.md); an extract that writes the
same folders, files and manifest as the file drop leaves everything downstream unchanged.

For a run of date D (its as-of date):

* the rows to pull are those with `watermark < updated_at < D+1 00:00 UTC` (later rows wait for
  a later run, as a file dated later does);
* every day those rows were updated on, and every day after the watermark's up to D (as the
  file drop delivers every day, with header-only files when nothing changed), is extracted
  whole: its folder
  `<landing>/policy_admin/<day>/` gets `contracts.csv` and `quotes.csv` with every row of that
  day (by `updated_at`, in the order they were recorded; header only when none), written by the
  file drop's own writer, and `_manifest.json` last. A day already delivered whose rows are the
  same keeps its files untouched; a day with a row changed after the watermark (a change on a
  day already extracted) is written again: a redelivery, which the ingest loads in place of the
  old one;
* the watermark becomes the newest `updated_at` pulled. It is kept with each run's lower bound
  in `<data>/state/policy_admin_watermark.json`, so that re-running date D pulls from the same
  lower bound and writes the same bytes (idempotent), and never moves the watermark back.

Nothing here logs or returns a value: the report holds dates and counts only.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from transforms.checksums import bytes_sha256
from transforms.classification import Classification
from transforms.files import write_text_atomic
from transforms.landing import MANIFEST, manifest_files
from transforms.sources.deliveries import write_csv, write_manifest
from transforms.sources.policy_admin_db import SYSTEM, TABLES, columns, day_start

_NEVER = datetime(1900, 1, 1, tzinfo=UTC)


def read_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"watermark": None, "runs": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def _day_rows(conn: Any, classification: Classification, table: str,
              day: date) -> pl.DataFrame:
    cols = columns(classification, table)
    names = ", ".join(f'"{c}"' for c in cols)
    with conn.cursor() as cur:
        cur.execute(f'select {names} from "{table}" where updated_at >= %s and updated_at < %s '
                    "order by row_id", [day_start(day), day_start(day + timedelta(days=1))])
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema={c: pl.String for c in cols}, orient="row")


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    return frame.write_csv(line_terminator="\n").encode("utf-8")


def write_day(conn: Any, classification: Classification, landing: Path, day: date) -> dict:
    """Extract one day whole into its delivery folder, unless the folder already holds exactly
    these files. Returns rows per file and whether the folder was written."""
    folder = landing / SYSTEM / day.isoformat()
    frames = {t: _day_rows(conn, classification, t, day) for t in TABLES}
    wanted = {f"{t}.csv": {"rows": f.height, "sha256": bytes_sha256(_csv_bytes(f))}
              for t, f in frames.items()}
    rows = {name: meta["rows"] for name, meta in wanted.items()}
    if manifest_files(folder) == wanted:
        return {"delivery_date": day.isoformat(), "rows": rows, "written": False}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # incomplete until the new manifest is written
    files: dict[str, dict[str, object]] = {}
    for table, frame in frames.items():
        count, sha = write_csv(frame, folder / f"{table}.csv", [])
        files[f"{table}.csv"] = {"rows": count, "sha256": sha}
    write_manifest(folder, SYSTEM, day.isoformat(), files)
    return {"delivery_date": day.isoformat(), "rows": rows, "written": True}


def extract(conn: Any, classification: Classification, landing: Path, state_path: Path,
            run_date: date) -> dict:
    """Pull what changed up to the end of `run_date` (module docstring); returns counts."""
    state = read_state(state_path)
    previous = state["runs"].get(run_date.isoformat())
    low = _parse(previous["low"]) if previous else _parse(state["watermark"])
    end = day_start(run_date + timedelta(days=1))
    changed: dict[date, int] = {}
    high = low
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"select (updated_at at time zone 'UTC')::date, count(*), max(updated_at) "
                        f'from "{table}" where updated_at > %s and updated_at < %s group by 1',
                        [low or _NEVER, end])
            for day, count, newest in cur.fetchall():
                changed[day] = changed.get(day, 0) + count
                high = newest if high is None else max(high, newest)
    conn.rollback()  # a read-only transaction: end it
    days = set(changed)
    first = low.astimezone(UTC).date() + timedelta(days=1) if low else min(days, default=run_date)
    days.update(first + timedelta(days=i) for i in range((run_date - first).days + 1))
    deliveries = [write_day(conn, classification, landing, day) for day in sorted(days)]
    watermark = _parse(state["watermark"])
    if high is not None and (watermark is None or high > watermark):
        watermark = high
    state["runs"][run_date.isoformat()] = {"low": low.isoformat() if low else None,
                                           "high": high.isoformat() if high else None}
    state["watermark"] = watermark.isoformat() if watermark else None
    state_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")
    return {
        "system": SYSTEM,
        "as_of": run_date.isoformat(),
        "rows_changed": sum(changed.values()),
        "deliveries": deliveries,
        "deliveries_written": sum(1 for d in deliveries if d["written"]),
        "watermark": state["watermark"],
    }
