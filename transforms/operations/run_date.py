"""The one "as of" date of a pipeline run, shared by every DAG of that run.

Why one date: ingest, rights and retention, and the build of the marts must agree on the day they
describe; when the build took "the latest delivery" and the rights DAG its logical date, two
runs of the same data could publish marts for different days. The rule, in order:

1. `PIPELINE_AS_OF` (YYYY-MM-DD), an operator's explicit override for every DAG at once;
2. the Airflow run's logical date (`ds`): `ingest_deliveries` and `retention_and_rights` are
   scheduled by time, and `airflow dags test <dag> <date>` (what `make run` does) gives every
   DAG the same one;
3. for a run triggered by the `warehouse_pseudonymised` asset (build_and_publish, which has no
   logical date of its own), the as-of date the producing run put in the asset event's extra
   (`{"as_of": "YYYY-MM-DD"}`); with several events, the latest date.

No fallback to "today" or to "the latest delivery": a run without a date is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from transforms import settings

EXTRA_KEY = "as_of"


class NoRunDate(RuntimeError):
    """Neither an override, a logical date nor a triggering asset event gives the date."""


def resolve_as_of(ds: str | None = None,
                  event_extras: Iterable[Mapping[str, object] | None] = ()) -> date:
    """The run's as-of date (see the module docstring for the order)."""
    override = settings.as_of_override()
    if override:
        return override
    if ds:
        return date.fromisoformat(ds)
    dates = []
    for extra in event_extras:
        value = (extra or {}).get(EXTRA_KEY)
        if isinstance(value, str):
            dates.append(date.fromisoformat(value))
    if dates:
        return max(dates)
    raise NoRunDate("this run has no as-of date: no PIPELINE_AS_OF, no logical date and no "
                    "triggering asset event carrying one (see transforms/operations/run_date.py)")


def event_extras(triggering_asset_events: Mapping | None) -> list[Mapping[str, object] | None]:
    """The extras of every triggering asset event (Airflow's `triggering_asset_events`)."""
    if not triggering_asset_events:
        return []
    return [getattr(event, "extra", None) for events in triggering_asset_events.values()
            for event in events]


def asset_extra(as_of: date | str) -> dict[str, str]:
    """What a producing task puts in its asset event for the consumers."""
    return {EXTRA_KEY: date.fromisoformat(str(as_of)).isoformat()}
