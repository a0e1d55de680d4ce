"""The dbt yml generated from the classification: committed files in sync, drift detected."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from transforms.build import dbt_schema_drift, dbt_schema_files
from transforms.classification import CLASSIFICATION_PATH, PROJECT_ROOT, load, parse


def classification_doc() -> dict:
    return yaml.safe_load(CLASSIFICATION_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the dbt models and macros (where the generated files live) under a tmp project
    root."""
    for folder in ("models", "macros"):
        shutil.copytree(PROJECT_ROOT / "dbt_project" / folder, tmp_path / "dbt_project" / folder)
    return tmp_path


def test_committed_yml_matches_classification() -> None:
    assert dbt_schema_drift.check() == []


def test_check_command_exits_zero_on_committed_files() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "transforms.build.dbt_schema", "check"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_mart_data_type_drift_is_named() -> None:
    doc = classification_doc()
    doc["marts"]["marketing.segments"]["columns"]["customers"]["data_type"] = "integer"
    drift = dbt_schema_drift.check(classification=parse(doc))
    assert any("segments" in d and "customers" in d and "data_type" in d for d in drift), drift


def test_mart_class_and_column_order_drift_are_named() -> None:
    doc = classification_doc()
    columns = doc["marts"]["actuarial.claims_development"]["columns"]
    columns["reported_claims"]["class"] = "count"
    reordered = dict(reversed(list(columns.items())))
    doc["marts"]["actuarial.claims_development"]["columns"] = reordered
    drift = dbt_schema_drift.check(classification=parse(doc))
    assert any("reported_claims" in d and "classification" in d for d in drift), drift
    assert any("claims_development" in d and "order" in d for d in drift), drift


def test_new_source_column_is_named() -> None:
    doc = classification_doc()
    contracts = doc["sources"]["policy_admin"]["contracts"]["columns"]
    contracts["fuel_type"]["treatment"]["marketing"] = {"keep": "fuel_type"}
    drift = dbt_schema_drift.check(classification=parse(doc))
    assert any(
        "_policy_admin__sources.yml" in d and "pseudo_marketing" in d and "fuel_type" in d
        for d in drift
    ), drift


def test_hand_edited_yml_is_named(project_copy: Path) -> None:
    path = project_copy / dbt_schema_files.marts_path("actuarial")
    text = path.read_text(encoding="utf-8")
    edited = text.replace("data_type: double", "data_type: float", 1)
    assert edited != text
    path.write_text(edited, encoding="utf-8")
    drift = dbt_schema_drift.check(root=project_copy)
    assert any("frequency" in d and "data_type" in d for d in drift), drift


def test_missing_and_stale_files_are_named(project_copy: Path) -> None:
    (project_copy / dbt_schema_files.sources_path("claims")).unlink()
    stale = project_copy / "dbt_project/models/staging/legacy/_legacy__sources.yml"
    stale.parent.mkdir(parents=True)
    stale.write_text("version: 2\n", encoding="utf-8")
    drift = dbt_schema_drift.check(root=project_copy)
    assert any("_claims__sources.yml" in d and "missing" in d for d in drift), drift
    assert any("_legacy__sources.yml" in d and "stale" in d for d in drift), drift


def test_write_keeps_hand_written_tests_and_is_idempotent(project_copy: Path) -> None:
    path = project_copy / dbt_schema_files.marts_path("marketing")
    before = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc = classification_doc()
    doc["marts"]["marketing.segments"]["columns"]["customers"]["description"] = "Changed."
    classification = parse(doc)

    assert dbt_schema_files.write(root=project_copy, classification=classification) == [
        dbt_schema_files.marts_path("marketing")
    ]
    assert dbt_schema_files.write(root=project_copy, classification=classification) == []
    assert dbt_schema_drift.check(root=project_copy, classification=classification) == []

    after = yaml.safe_load(path.read_text(encoding="utf-8"))
    segments = {m["name"]: m for m in after["models"]}["segments"]
    customers = {c["name"]: c for c in segments["columns"]}["customers"]
    assert customers["description"] == "Changed."
    assert "at_least_min_cell_size" in customers["data_tests"]
    old_segments = {m["name"]: m for m in before["models"]}["segments"]
    assert segments["data_tests"] == old_segments["data_tests"]


def test_every_mart_column_carries_its_classification() -> None:
    classification = load()
    for mart in classification.marts:
        doc = yaml.safe_load((PROJECT_ROOT / dbt_schema_files.marts_path(mart.purpose)).read_text())
        model = {m["name"]: m for m in doc["models"]}[mart.table]
        assert model["config"]["contract"] == {"enforced": True}
        assert [c["name"] for c in model["columns"]] == mart.column_names
        for column, spec in zip(model["columns"], mart.columns, strict=True):
            assert column["config"]["meta"]["classification"] == spec.cls
            assert column["data_type"] == spec.data_type
            assert column["description"]


def test_every_mart_with_money_has_a_currency_dimension() -> None:
    """GBP and EUR amounts are never added: a mart that carries money carries its currency,
    as a dimension, and its hand-written key test includes it."""
    with_money = [m for m in load().marts
                  if any(c.data_type.startswith("decimal") for c in m.columns)]
    assert {m.name for m in with_money} == {
        "actuarial.policy_exposure", "actuarial.frequency_severity",
        "actuarial.claims_development", "marketing.segments"}
    for mart in with_money:
        currency = {c.name: c for c in mart.columns}.get("currency")
        assert currency is not None and currency.cls == "dimension", mart.name
        doc = yaml.safe_load((PROJECT_ROOT / dbt_schema_files.marts_path(mart.purpose)).read_text())
        model = {m["name"]: m for m in doc["models"]}[mart.table]
        tested = {c["name"]: c for c in model["columns"]}["currency"]["data_tests"]
        assert "not_null" in tested, mart.name
        if mart.aggregated:
            keys = [t["unique_combination"]["arguments"]["columns"]
                    for t in model["data_tests"] if "unique_combination" in t]
            assert keys and "currency" in keys[0], mart.name


def test_generated_yml_has_no_yaml_anchors() -> None:
    for purpose in ("actuarial", "marketing"):
        text = (PROJECT_ROOT / dbt_schema_files.marts_path(purpose)).read_text(encoding="utf-8")
        assert "&id" not in text and "*id" not in text
