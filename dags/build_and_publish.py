"""Build the minimised marts with dbt, gate them with Great Expectations, publish atomically.

Runs when the pseudonymised warehouse changes. Every build first applies the data subjects'
pending requests (whatever identifier they used), so that no publication contains a subject who
asked for erasure or restriction, and compacts the warehouse file if rows were removed or
replaced. The gate must pass before anything is published; a failed gate fails this DAG visibly
and leaves the previous publication untouched. When the marts' inputs are unchanged since the
current publication (transforms/operations/build_skip.py: content fingerprint), dbt, the gate
and publish are skipped: "unchanged, publication <id> kept".

As-of date: the logical date (`airflow dags test build_and_publish <date>`), else the one the
triggering asset event carries (transforms/operations/run_date.py): the same date as the
producing run.

dbt runs as one task (`dbt_build`), or with PIPELINE_DBT_TASKS=cosmos as an astronomer-cosmos
task group `dbt` with one task per model and its tests (transforms/operations/dbt_tasks.py).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from transforms.operations.assets import PUBLISHED, WAREHOUSE
from transforms.operations.dbt_tasks import dbt_step


@dag(
    dag_id="build_and_publish",
    schedule=[WAREHOUSE],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "gate", "publish", "privacy"],
    doc_md=__doc__,
)
def build_and_publish() -> None:
    @task
    def as_of_date(ds: str | None = None, triggering_asset_events=None) -> str:
        from transforms.operations.run_date import event_extras, resolve_as_of

        return resolve_as_of(ds, event_extras(triggering_asset_events)).isoformat()

    @task
    def check_classification() -> dict:
        from transforms.operations.tasks import check_classification_sync

        return check_classification_sync()

    @task
    def apply_subject_requests(as_of: str) -> dict:
        from transforms.operations.rights_tasks import process_subject_requests

        return process_subject_requests(as_of, state="rights-build")

    @task
    def compact_warehouse() -> dict:
        from transforms.operations.rights_tasks import compact_if_anything_removed

        return compact_if_anything_removed(state="compaction-build")

    @task
    def fingerprint_inputs(as_of: str) -> dict:
        from transforms.operations.build_skip import check_inputs

        return check_inputs(as_of)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def inputs_changed(checked: dict) -> bool:
        from transforms.operations.build_skip import should_build

        return should_build(checked)

    @task
    def dbt_build(as_of: str) -> dict:
        from transforms.operations.tasks import build_marts

        return build_marts(as_of)

    @task
    def publication_gate() -> dict:
        from transforms.operations.tasks import gate_marts

        return gate_marts()

    @task(outlets=[PUBLISHED])
    def publish(checked: dict, run_id: str | None = None) -> dict:
        from transforms.operations.tasks import publish_marts

        return publish_marts(run_id, inputs=checked["inputs"])

    @task(trigger_rule="none_failed")  # also after a skipped build
    def summary() -> dict:
        from transforms.operations.tasks import write_summary

        return write_summary()

    as_of = as_of_date()
    requests = apply_subject_requests(as_of)
    checked = fingerprint_inputs(as_of)
    check_classification() >> requests >> compact_warehouse() >> checked
    # one dbt task, or a cosmos task group of one task per model (PIPELINE_DBT_TASKS=cosmos)
    built = dbt_step(dbt_build, as_of)
    inputs_changed(checked) >> built >> publication_gate() >> publish(checked) >> summary()


build_and_publish()
