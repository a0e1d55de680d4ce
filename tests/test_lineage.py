"""The dbt lineage emitter (transforms/build/lineage.py) on small manifests: one purpose per
dataset from its sources, the facet on every dataset, refusal of a model that mixes domains.
The ingest's events: from the delivery to each purpose's table. The events of a real run are
read in tests/test_end_to_end.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transforms.build.lineage import (
    LineageError,
    emit_dbt_lineage,
    emit_events,
    ingest_events,
    purposes,
    read_nodes,
)
from transforms.classification import load


def _source(schema: str, name: str) -> dict:
    return {"schema": schema, "name": name, "resource_type": "source"}


def _model(schema: str, name: str, layer: str, parents: list[str]) -> dict:
    return {"resource_type": "model", "schema": schema, "name": name,
            "original_file_path": f"models/{layer}/{name}.sql",
            "depends_on": {"nodes": parents}}


def manifest(mart_parents: list[str] | None = None) -> dict:
    return {
        "sources": {
            "source.p.pseudo_actuarial.claims__claims": _source("pseudo_actuarial",
                                                                "claims__claims"),
            "source.p.pseudo_actuarial_rights.dpo__r": _source("pseudo_actuarial_rights",
                                                               "dpo__r"),
            "source.p.pseudo_marketing.policy_admin__contracts": _source(
                "pseudo_marketing", "policy_admin__contracts"),
        },
        "nodes": {
            "model.p.stg_claims__actuarial_claims": _model(
                "staging", "stg_claims__actuarial_claims", "staging",
                ["source.p.pseudo_actuarial.claims__claims",
                 "source.p.pseudo_actuarial_rights.dpo__r"]),
            "model.p.stg_policy_admin__marketing_contracts": _model(
                "staging", "stg_policy_admin__marketing_contracts", "staging",
                ["source.p.pseudo_marketing.policy_admin__contracts"]),
            "model.p.claims_development": _model(
                "actuarial", "claims_development", "marts",
                mart_parents or ["model.p.stg_claims__actuarial_claims"]),
            "test.p.not_null": {"resource_type": "test", "schema": "x", "name": "t"},
        },
    }


def test_every_dataset_has_the_one_purpose_of_its_sources() -> None:
    nodes = read_nodes(manifest())
    assert "test.p.not_null" not in nodes
    assert nodes["model.p.claims_development"].layer == "marts"
    assert purposes(nodes, load()) == {
        "source.p.pseudo_actuarial.claims__claims": "actuarial",
        "source.p.pseudo_actuarial_rights.dpo__r": "actuarial",
        "source.p.pseudo_marketing.policy_admin__contracts": "marketing",
        "model.p.stg_claims__actuarial_claims": "actuarial",
        "model.p.stg_policy_admin__marketing_contracts": "marketing",
        "model.p.claims_development": "actuarial",
    }


def test_a_model_mixing_two_domains_is_refused() -> None:
    mixed = manifest(["model.p.stg_claims__actuarial_claims",
                      "model.p.stg_policy_admin__marketing_contracts"])
    with pytest.raises(LineageError, match="claims_development has 2 purposes"):
        purposes(read_nodes(mixed), load())


def test_a_mart_whose_sources_disagree_with_the_classification_is_refused() -> None:
    wrong = manifest(["model.p.stg_policy_admin__marketing_contracts"])
    with pytest.raises(LineageError, match="the classification says actuarial"):
        purposes(read_nodes(wrong), load())


def test_events_are_written_one_file_each_with_the_facet(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps(manifest()))
    (target / "run_results.json").write_text(json.dumps({
        "metadata": {"invocation_id": "665a1754-ff37-4d1a-bddf-7f665ecc3832",
                     "invocation_started_at": "2026-11-30T02:35:44Z",
                     "generated_at": "2026-11-30T02:38:19Z"},
        "args": {"which": "build"},
        "results": [
            {"unique_id": "model.p.stg_claims__actuarial_claims", "status": "success"},
            {"unique_id": "model.p.claims_development", "status": "error"},
            {"unique_id": "test.p.not_null", "status": "skipped"},
        ]}))
    assert emit_dbt_lineage(target, tmp_path / "lineage", key_version="kv-0123456789ab") == 4
    events = [json.loads(p.read_text()) for p in sorted((tmp_path / "lineage" / "dbt").iterdir())]
    kinds = sorted((e["eventType"], e["job"]["name"]) for e in events)
    assert kinds == [("COMPLETE", "dbt.staging.stg_claims__actuarial_claims"),
                     ("FAIL", "dbt.actuarial.claims_development"), ("FAIL", "dbt.build"),
                     ("START", "dbt.build")]
    mart = next(e for e in events if e["job"]["name"] == "dbt.actuarial.claims_development")
    facet = mart["outputs"][0]["facets"]["pseudonymisation"]
    assert (facet["purpose"], facet["keyVersion"], facet["layer"]) == (
        "actuarial", "kv-0123456789ab", "marts")
    assert [d["name"] for d in mart["inputs"]] == ["staging.stg_claims__actuarial_claims"]
    assert mart["run"]["facets"]["parent"]["job"]["name"] == "dbt.build"


def test_nothing_is_emitted_when_dbt_ran_nothing(tmp_path: Path) -> None:
    assert emit_dbt_lineage(tmp_path, tmp_path / "lineage", key_version="kv-x") == 0


def test_ingest_events_lead_from_the_delivery_to_each_purposes_table(tmp_path: Path) -> None:
    classification = load()
    entity = classification.entity("policy_admin", "contracts")
    written = emit_events(ingest_events("policy_admin", key_version="kv-test",
                                        classification=classification), tmp_path, "ingest")
    events = [json.loads(p.read_text()) for p in sorted((tmp_path / "ingest").glob("*.json"))]
    assert written == len(events) == len(classification.entities_of("policy_admin"))
    (event,) = [e for e in events if e["job"]["name"] == "ingest.policy_admin.contracts"]
    assert event["eventType"] == "COMPLETE"
    assert [d["name"] for d in event["inputs"]] == ["policy_admin/contracts"]
    assert "facets" not in event["inputs"][0] or not event["inputs"][0]["facets"]
    outputs = {d["name"]: {k: v for k, v in d["facets"]["pseudonymisation"].items()
                           if not k.startswith("_")} for d in event["outputs"]}
    assert outputs == {entity.table_name(p): {"purpose": p, "keyVersion": "kv-test",
                                              "layer": "source"}
                       for p in entity.purposes()}
    assert len(outputs) >= 2, "contracts serve more than one purpose"


def test_datasets_are_named_in_the_engines_storage(tmp_path: Path) -> None:
    """The same tables on the two engines are different datasets to a lineage tool: DuckDB's
    in `duckdb://warehouse`, Spark's in the warehouse's URI (a local folder as file://); the
    ingest's outputs and dbt's inputs share the namespace, so the edges still meet."""
    from transforms import settings

    def namespaces() -> set[str]:
        events = ingest_events("claims", key_version="kv-test")
        return {d.namespace for e in events for d in e.outputs}

    with settings.environment(PIPELINE_ENGINE="duckdb"):
        assert namespaces() == {"duckdb://warehouse"}
    with settings.environment(PIPELINE_ENGINE="spark",
                              PIPELINE_SPARK_WAREHOUSE=str(tmp_path / "wh")):
        assert namespaces() == {(tmp_path / "wh").resolve().as_uri()}
        manifest_file = tmp_path / "manifest.json"
        manifest_file.write_text(json.dumps(manifest()))
        (tmp_path / "run_results.json").write_text(json.dumps({"results": [
            {"unique_id": "model.p.claims_development", "status": "success"}]}))
        emit_dbt_lineage(tmp_path, tmp_path / "out", key_version="kv-test")
        events = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("*.json")]
        names = {d["namespace"] for e in events for d in e.get("inputs", []) + e.get("outputs", [])}
        assert names == {(tmp_path / "wh").resolve().as_uri()}
    with settings.environment(PIPELINE_ENGINE="spark",
                              PIPELINE_SPARK_WAREHOUSE="s3a://bucket/warehouse"):
        assert namespaces() == {"s3a://bucket/warehouse"}
