"""The Airflow assets the DAGs exchange, declared once.

Why here and not in dags/: Airflow's DAG processor parses every file in dags/, and a module of
constants there would be parsed (and listed) as a DAG file. ingest_deliveries and
retention_and_rights produce `WAREHOUSE`; build_and_publish consumes it and produces
`PUBLISHED`. Importing this module imports the Airflow SDK: only DAG files and Airflow task
entry points do.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from airflow.sdk import Asset

from transforms.operations.run_date import asset_extra

WAREHOUSE = Asset("warehouse_pseudonymised")
PUBLISHED = Asset("published_marts")


def announce(outlet_events: Mapping[Asset, Any], asset: Asset, as_of: date | str) -> None:
    """Put the run's as-of date on the asset event, so that the consuming DAG's run builds for
    the same date (transforms/operations/run_date.py)."""
    outlet_events[asset].extra = asset_extra(as_of)
