"""The dbt step of build_and_publish: one task (the default) or, with PIPELINE_DBT_TASKS=cosmos,
an astronomer-cosmos task group with one task per model (its tests included: `dbt build
--select <model>`; a test of several models in its own task after them).

Why the single task stays the default: measured on this machine (docs/architecture.md, "dbt in
Airflow"), the cosmos group costs a dbt invocation and an Airflow task per model (29 models),
several times the single `dbt build`; and the single task keeps guarantees the per-model tasks
cannot keep as strictly: dbt runs with secret-looking environment variables taken out of the
process (cosmos' in-process dbtRunner sees the task's whole environment: the project reads
only WAREHOUSE_PATH, which tests/test_dbt_tasks.py holds), and lineage is emitted for the whole
build at once.

What the cosmos group keeps from the single task (transforms/operations/tasks.py build_marts):
the same project, profile and warehouse (WAREHOUSE_PATH), the as-of date (pulled from the
`as_of_date` task's XCom) and min_cell_size as dbt vars, the derived source tables prepared first
(a `prepare` task in the group), DuckDB's single writer (every dbt task in the Airflow pool
`POOL` of one slot, created by scripts/run_pipeline.sh; dbt-duckdb's in-process connection
closed after each node), and the failure semantics: a failed model fails its task, its
downstream models are not run, and the gate and publish (all_success) do not run. The
incremental skip is upstream of the step (the `inputs_changed` short-circuit) and skips the
group like the single task.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from transforms import settings

DBT_TASKS_ENV = "PIPELINE_DBT_TASKS"
MODES = ("single", "cosmos")
POOL = "duckdb_warehouse"  # one slot: DuckDB allows one writer
POOL_DESCRIPTION = "DuckDB warehouse: one writer at a time (dbt tasks of build_and_publish)"
AS_OF_TEMPLATE = "{{ ti.xcom_pull(task_ids='as_of_date') }}"


def dbt_mode() -> str:
    """`single` (default) or `cosmos`, from PIPELINE_DBT_TASKS; anything else is refused."""
    mode = os.environ.get(DBT_TASKS_ENV, "single").strip() or "single"
    if mode not in MODES:
        raise ValueError(f"{DBT_TASKS_ENV} must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def dbt_step(single: Callable[[Any], Any], as_of: Any) -> Any:
    """The DAG's dbt step after `as_of`: `single(as_of)` (the one-task build), or the cosmos
    task group when PIPELINE_DBT_TASKS=cosmos (the as-of date then reaches dbt by template)."""
    if dbt_mode() == "cosmos":
        group = cosmos_task_group()
        as_of >> group
        return group
    return single(as_of)


def dbt_vars() -> dict[str, str]:
    """The vars of every cosmos dbt task: those build_marts passes to run_dbt."""
    return {"as_of_date": AS_OF_TEMPLATE, "min_cell_size": str(settings.min_cell_size())}


def cosmos_task_group(group_id: str = "dbt") -> Any:
    """A cosmos DbtTaskGroup of the project (one task per model, tests built with it), rendered
    from dbt's manifest (parsed again when the project changed), preceded by `prepare`."""
    from airflow.providers.standard.operators.python import PythonOperator
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import (
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )

    from transforms.build.dbt_run import DBT_PROJECT_DIR, parse_manifest, release_warehouse

    manifest = parse_manifest()
    warehouse = settings.paths().warehouse
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=manifest,
                                     project_name="insurer_marts"),
        profile_config=ProfileConfig(profile_name="insurer_marts", target_name="local",
                                     profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL,
                                         invocation_mode=InvocationMode.DBT_RUNNER,
                                         test_indirect_selection=TestIndirectSelection.CAUTIOUS),
        # a test of two models (relationships) runs in its own task after both: run with the
        # first one's `dbt build` it would read a table not built yet
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST,
                                   test_behavior=TestBehavior.BUILD,
                                   should_detach_multiple_parents_tests=True),
        operator_args={
            "vars": dbt_vars(),
            "env": {"WAREHOUSE_PATH": str(warehouse)},
            "pool": POOL,
            "install_deps": False,
            "callback": release_warehouse,
        },
    )
    roots = [t for t in group.children.values() if not t.upstream_list]
    with group:
        prepare = PythonOperator(task_id="prepare", python_callable=prepare_dbt,
                                 pool=POOL)
    prepare >> roots
    return group


def prepare_dbt() -> dict:
    """The `prepare` task of the cosmos group: the derived sources dbt reads exist."""
    from transforms.build.dbt_run import prepare_warehouse

    prepare_warehouse(settings.paths().warehouse)
    return {"prepared": str(settings.paths().warehouse.name)}
