"""What each Airflow task leaves in data/state/<name>.json: the counts it returned to XCom.

Why a file beside XCom: `make run` and operators read the last run's counts without Airflow's
database. One writer for every task entry point (operations/tasks.py, operations/rights_tasks.py),
written atomically: counts only, never an identifier, a pseudonym or a key.
"""

from __future__ import annotations

import json

from transforms import settings
from transforms.files import write_text_atomic


def record(name: str, payload: dict) -> dict:
    """Write `payload` to data/state/<name>.json and return it (for XCom)."""
    path = settings.paths().data / "state" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=2, default=str))
    return payload
