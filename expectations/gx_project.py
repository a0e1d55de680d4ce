"""The gate's Great Expectations project: a file context rebuilt from code on every run.

Why rebuilt: suites, validation definitions and checkpoints all follow from the classification
and the code, so nothing in gx_root is edited by hand and a stale suite can never validate a
new mart. Only this run's results and Data Docs remain there, so the Data Docs that a
publication copies are the ones of the run that published it.

Why this result format: GX's default results carry `partial_unexpected_list` (the offending
values themselves) and Data Docs render them. Every validation here runs with BASIC counts,
no partial list, no unexpected rows and `exclude_unexpected_values`, so results hold counts,
percentages and column names only.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import pandas_execution_engine

from expectations.findings import Check, Rule
from expectations.gate import DATA_DOCS_SITE

log = logging.getLogger(__name__)

RESULT_FORMAT: dict[str, object] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
    "exclude_unexpected_values": True,
}
DATASOURCE = "publication_gate"

# everything a file context keeps under its root: removed before each run
_GENERATED = ("expectations", "checkpoints", "validation_definitions", "uncommitted", "plugins",
              "great_expectations.yml", ".gitignore")


@dataclass
class GxProject:
    root: Path
    context: gx.data_context.FileDataContext
    run_id: RunIdentifier

    @property
    def data_docs(self) -> Path:
        return self.root / DATA_DOCS_SITE


def open_project(gx_root: Path, run_name: str) -> GxProject:
    """A fresh file context at gx_root (previous runs' GX files removed first)."""
    gx_root.mkdir(parents=True, exist_ok=True)
    for name in _GENERATED:
        p = gx_root / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    context = gx.get_context(mode="file", context_root_dir=gx_root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    context.data_sources.add_or_update_pandas(DATASOURCE)
    return GxProject(gx_root, context, RunIdentifier(run_name=run_name))


def validate(
    project: GxProject, asset_name: str, suite: gx.ExpectationSuite, frame: pd.DataFrame
) -> gx.core.ExpectationSuiteValidationResult:
    """Run one suite over one dataframe through a checkpoint; GX stores the result."""
    ctx = project.context
    source = ctx.data_sources.get(DATASOURCE)
    asset = source.add_dataframe_asset(asset_name)
    batch = asset.add_batch_definition_whole_dataframe("whole")
    # `add`, not `add_or_update`: the project is fresh, and GX's update compares every
    # expectation with every other (quadratic, seconds for a few hundred).
    suite = ctx.suites.add(suite)
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
    )
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(name=suite.name, validation_definitions=[definition],
                      result_format=RESULT_FORMAT, actions=[])
    )
    with _no_fingerprint():
        result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=project.run_id)
    _forget_batches(ctx)
    return next(iter(result.run_results.values()))


def _forget_batches(context: gx.data_context.FileDataContext) -> None:
    """Drop the dataframes GX's pandas engine keeps after a validation.

    Why: the datasource's execution engine caches every batch it validated, and the context
    stays alive after the gate (GX registers it as the process's current project). At 1M
    contracts that kept the largest mart's pandas copy (0.47 GiB) through the next marts'
    validations and into the publish task of the same Airflow process.
    """
    manager = context.data_sources.get(DATASOURCE).get_execution_engine().batch_manager
    manager.reset_batch_cache()
    manager.batch_data_cache.clear()


@contextmanager
def _no_fingerprint() -> Iterator[None]:
    """Skip GX's MD5 fingerprint of every pandas batch: about 4 s per million rows, a marker we
    never use. GX has no setting for it, only this module threshold (1 GB by default)."""
    saved = pandas_execution_engine.HASH_THRESHOLD
    pandas_execution_engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        pandas_execution_engine.HASH_THRESHOLD = saved


def build_docs(project: GxProject) -> Path:
    project.context.build_data_docs()
    return project.data_docs / "index.html"


def _count(result: dict, success: bool) -> int:
    """The count of a result, never a value: unexpected rows, or an observed count."""
    if success:
        return 0
    if "unexpected_count" in result:
        return int(result["unexpected_count"] or 0)
    observed = result.get("observed_value")
    if isinstance(observed, bool | np.bool_) or observed is None:
        return 1
    # GX reports metrics computed by pandas as numpy scalars (numpy.int64 is no `int`)
    if isinstance(observed, int | float | np.integer | np.floating):
        return int(observed)
    return 1


def _raised(info: dict | None) -> bool:
    """GX nests exception info per metric when several metrics failed."""
    if not info:
        return False
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def checks_from(validation: gx.core.ExpectationSuiteValidationResult) -> list[Check]:
    """Read each expectation's result back as Checks, through the `meta` set in suites.py,
    each labelled with its suite, expectation type and rows evaluated (names and counts)."""
    checks: list[Check] = []
    for r in validation.results:
        found = _checks_of(r)
        evaluated = (r.result or {}).get("element_count")
        label = {"suite": validation.suite_name, "expectation": r.expectation_config.type,
                 "evaluated": None if evaluated is None else int(evaluated)}
        checks += [replace(c, **label) for c in found]
    return checks


def _checks_of(r: gx.core.ExpectationValidationResult) -> list[Check]:
    """The Checks of one expectation's result."""
    meta = r.expectation_config.meta or {}
    rule, table = str(meta.get("rule")), str(meta.get("table"))
    column, kind = meta.get("column"), meta.get("kind")
    if _raised(r.exception_info):
        # the exception text may quote data: record the rule and the type only
        log.error("gate: GX raised an error checking %s in %s.%s", rule, table, column)
        return [Check(str(Rule.GX_ERROR), table, column, rule, 1, False)]
    result = r.result or {}
    if rule == Rule.COLUMN_SET and not r.success:
        mismatched = (result.get("details") or {}).get("mismatched") or {}
        return [Check(rule, table, str(name), side, 1, False)
                for side in ("unexpected", "missing") for name in mismatched.get(side) or []]
    kinds = meta.get("kinds") or {}
    if kinds and not r.success:
        return [Check(rule, table, column, k, int(n), False) for k, n in kinds.items()]
    return [Check(rule, table, column, kind, _count(result, r.success), bool(r.success))]
