"""Shared fixtures. Keys used by tests are made at run time, never stored in git."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from expectations.main_module import mark_main_module  # noqa: E402  (after the path is set)


@pytest.fixture
def master_key_hex(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh random master key in the environment, as the pipeline expects it."""
    key = os.urandom(32).hex()
    monkeypatch.setenv("PIPELINE_MASTER_KEY", key)
    monkeypatch.delenv("PIPELINE_MASTER_KEY_FILE", raising=False)
    return key


def _separate_dbt_target_per_worker() -> None:
    """Under pytest-xdist, each worker builds with dbt at the same time as the other: give each
    its own dbt target (compiled SQL, manifest, partial-parse cache), or their files collide.
    Set at import, before any test module imports transforms.build.dbt_run, and inherited by
    the Airflow and pipeline subprocesses the tests start."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "PIPELINE_DBT_TARGET_DIR" not in os.environ:
        os.environ["PIPELINE_DBT_TARGET_DIR"] = str(ROOT / "dbt_project" / "target" / worker)


_separate_dbt_target_per_worker()


# An xdist worker's `__main__` (execnet's) has neither `__spec__` nor `__file__`: pyspark's
# Spark Connect package, imported by GX, would exit at import (expectations/main_module.py).
mark_main_module()


# The modules that run Airflow, dbt or Spark over a whole book, longest first. pytest-xdist
# (`make test` runs two workers, one module per worker at a time: --dist loadfile) hands out
# modules in collection order, so the long ones start first and the short ones fill the gaps.
# Only with --no-loadscope-reorder (the Makefile passes it): by default xdist re-sorts the
# modules by their number of tests, and the 8-minute Spark-through-Celery module, with 10
# tests, started ten minutes into a CI run that then took 18 minutes instead of 15.
LONG_FIRST = (
    "test_distributed.py", "test_incremental.py", "test_spark_engine.py", "test_end_to_end.py",
    "test_policy_admin_postgres.py", "test_rights.py", "test_dbt_build.py",
    "test_retention.py", "test_red_team.py", "test_reconciliation.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept within
