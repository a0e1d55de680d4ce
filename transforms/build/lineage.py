"""OpenLineage events for a dbt build, from dbt's own artifacts, and for each ingest, to the
project's file transport.

Why our own emitter and not openlineage-dbt: that integration wraps the dbt command line (a
subprocess, `dbt-ol`) while the pipeline runs dbt in-process (transforms/build/dbt_run.py), and it
puts each model's compiled SQL into its events. Here an event carries only what we choose: the
job (the dbt node), its state, its input and output datasets (warehouse relations, named by
schema and table), and on every dataset the `pseudonymisation` facet: the purpose (pseudonym
domain) the data serves and the key version its pseudonyms were made with. Never SQL, never a
key, never a value: dbt's artifacts are read for node names, dependencies and statuses only.

The purpose of a node is read from its upstream sources (`pseudo_<purpose>` and
`pseudo_<purpose>_rights` schemas): pseudonyms of two domains never meet in a model, so every
model has exactly one; a mart's purpose is also checked against config/classification.yml.
A node whose sources disagree stops the emission with a LineageError naming the node.

Events go to `<PIPELINE_DATA_DIR>/lineage/dbt/` and `lineage/ingest/` (one JSON file per
event, OpenLineage's file transport); the Airflow provider writes its own to
`lineage/airflow/` (scripts/pipeline_env.sh).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attr
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import job_type_job, parent_run
from openlineage.client.generated.base import DatasetFacet

from transforms import settings
from transforms.classification import Classification
from transforms.classification import load as load_classification

NAMESPACE = "claims-pseudo-pipeline"  # the jobs' namespace (Airflow's: scripts/pipeline_env.sh)
DATASET_NAMESPACE = "duckdb://warehouse"  # the DuckDB engine's tables (one file)
LANDING_NAMESPACE = "file://landing"  # the deliveries, raw (the ingest's inputs)
PRODUCER = "https://example.invalid/claims-pseudo-pipeline/transforms/build/lineage.py"
FACET_SCHEMA = ("https://example.invalid/claims-pseudo-pipeline/spec/"
                "PseudonymisationDatasetFacet.json")
SOURCE_SCHEMA = re.compile(r"pseudo_(?P<purpose>[a-z]+?)(_rights)?")
FAILED = frozenset({"error", "fail", "runtime error"})
LINEAGE_DIR = "lineage"


def dataset_namespace() -> str:
    """Where the pseudonymised tables and dbt's models live, as OpenLineage names a dataset's
    storage: `duckdb://warehouse` on the DuckDB engine; on Spark the warehouse's URI
    (`file:///...` for a local folder, `s3a://...` as configured), so that an auditor's
    lineage tool tells the two engines' tables apart. Names stay `<schema>.<table>`."""
    if settings.engine() == "spark":
        warehouse = settings.spark_warehouse()
        return warehouse if "://" in warehouse else Path(warehouse).as_uri()
    return DATASET_NAMESPACE


class LineageError(RuntimeError):
    """dbt's artifacts do not give a dataset one purpose (names the node, never a value)."""


@attr.define
class PseudonymisationDatasetFacet(DatasetFacet):
    """The custom dataset facet: the purpose (pseudonym domain) a dataset serves, the key
    version its pseudonyms were made with, and its dbt layer. Names only, never a value."""

    purpose: str
    keyVersion: str  # noqa: N815 - OpenLineage facets use camelCase
    layer: str

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMA


def pseudonymisation_facet(purpose: str, key_version: str, layer: str) -> DatasetFacet:
    return PseudonymisationDatasetFacet(purpose=purpose, keyVersion=key_version, layer=layer)


@dataclass(frozen=True)
class Node:
    unique_id: str
    schema: str
    name: str
    layer: str  # source, staging, intermediate, marts
    parents: tuple[str, ...]

    @property
    def dataset_name(self) -> str:
        return f"{self.schema}.{self.name}"


def _layer(node: dict) -> str:
    if node["resource_type"] == "source":
        return "source"
    path = Path(node.get("original_file_path", "")).parts
    return path[1] if len(path) > 2 and path[0] == "models" else "model"


def read_nodes(manifest: dict) -> dict[str, Node]:
    """Sources and models of dbt's manifest: names, schemas and dependencies only."""
    nodes: dict[str, Node] = {}
    for uid, src in manifest.get("sources", {}).items():
        nodes[uid] = Node(uid, src["schema"], src.get("identifier") or src["name"], "source", ())
    for uid, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") != "model":
            continue
        nodes[uid] = Node(uid, node["schema"], node.get("alias") or node["name"], _layer(node),
                          tuple(node.get("depends_on", {}).get("nodes", [])))
    return nodes


def purposes(nodes: dict[str, Node], classification: Classification) -> dict[str, str]:
    """The one purpose of every source and model (see the module's docstring)."""
    known = set(classification.purposes)
    marts = {m.name: m for m in classification.marts}
    found: dict[str, str] = {}

    def purpose_of(uid: str, trail: tuple[str, ...] = ()) -> set[str]:
        if uid in found:
            return {found[uid]}
        node = nodes.get(uid)
        if node is None or uid in trail:
            return set()
        if node.layer == "source":
            match = SOURCE_SCHEMA.fullmatch(node.schema)
            if match is None or match["purpose"] not in known:
                raise LineageError(f"source {uid} is not in a pseudo_<purpose> schema")
            return {match["purpose"]}
        return set().union(*(purpose_of(p, (*trail, uid)) for p in node.parents)) \
            if node.parents else set()

    for uid, node in nodes.items():
        got = purpose_of(uid)
        if len(got) != 1:
            raise LineageError(f"{uid} has {len(got)} purposes upstream ({sorted(got)}), not one")
        purpose = got.pop()
        mart = marts.get(node.dataset_name)
        if node.layer == "marts" and mart is None:
            raise LineageError(f"{uid} is not a mart of config/classification.yml")
        if mart is not None and mart.purpose != purpose:
            raise LineageError(f"{uid}: its sources serve {purpose}, the classification says "
                               f"{mart.purpose}")
        found[uid] = purpose
    return found


def build_events(manifest: dict, run_results: dict, *, key_version: str,
                 classification: Classification | None = None,
                 parent: dict[str, str] | None = None) -> list[Any]:
    """RunEvents for one dbt invocation: START and COMPLETE/FAIL of the invocation, and one
    COMPLETE/FAIL per model dbt ran, with its inputs and output and their facets."""
    classification = classification or load_classification()
    nodes = read_nodes(manifest)
    purpose = purposes(nodes, classification)
    meta = run_results.get("metadata", {})
    invocation = str(meta.get("invocation_id") or uuid.uuid4())
    started = meta.get("invocation_started_at") or datetime.now(UTC).isoformat()
    ended = meta.get("generated_at") or datetime.now(UTC).isoformat()
    command = str(run_results.get("args", {}).get("which") or "build")
    job_name = f"dbt.{command}"
    namespace = dataset_namespace()

    def dataset(cls: type, uid: str) -> Any:
        node = nodes[uid]
        return cls(namespace=namespace, name=node.dataset_name, facets={
            "pseudonymisation": pseudonymisation_facet(purpose[uid], key_version, node.layer)})

    def job_facets() -> dict:
        return {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH",
                                                        integration="DBT", jobType="JOB")}

    run_facets: dict[str, Any] = {}
    if parent:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent["run_id"]),
            job=parent_run.Job(namespace=parent.get("namespace", NAMESPACE),
                               name=parent["job_name"]))
    results = [r for r in run_results.get("results", []) if r.get("unique_id") in nodes]
    failed_any = any(str(r.get("status", "")).lower() in FAILED
                     for r in run_results.get("results", []))
    events = [RunEvent(eventType=RunState.START, eventTime=started,
                       run=Run(runId=invocation, facets=run_facets),
                       job=Job(namespace=NAMESPACE, name=job_name, facets=job_facets()),
                       producer=PRODUCER)]
    invocation_parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=invocation),
        job=parent_run.Job(namespace=NAMESPACE, name=job_name))
    for r in results:
        uid = r["unique_id"]
        node = nodes[uid]
        state = RunState.FAIL if str(r.get("status", "")).lower() in FAILED else \
            RunState.COMPLETE
        events.append(RunEvent(
            eventType=state, eventTime=ended,
            run=Run(runId=str(uuid.uuid5(uuid.UUID(invocation), uid)),
                    facets={"parent": invocation_parent}),
            job=Job(namespace=NAMESPACE, name=f"dbt.{node.dataset_name}", facets=job_facets()),
            inputs=[dataset(InputDataset, p) for p in node.parents if p in nodes],
            outputs=[dataset(OutputDataset, uid)],
            producer=PRODUCER))
    events.append(RunEvent(eventType=RunState.FAIL if failed_any else RunState.COMPLETE,
                           eventTime=ended, run=Run(runId=invocation, facets=run_facets),
                           job=Job(namespace=NAMESPACE, name=job_name, facets=job_facets()),
                           producer=PRODUCER))
    return events


def ingest_events(system: str, *, key_version: str,
                  classification: Classification | None = None) -> list[Any]:
    """One COMPLETE RunEvent per entity of a system whose deliveries were just loaded: the
    landing entity in (raw, in the landing zone: no purpose, no key), and out its pseudonymised
    tables, one per purpose, with the `pseudonymisation` facet (layer "source", as dbt's events
    name the same tables). Why: the ingest is where a purpose's data is made, so an auditor
    following lineage from a mart back must reach the delivery. Names come from the
    classification only, never from a delivery (a file name is data)."""
    classification = classification or load_classification()
    now = datetime.now(UTC).isoformat()
    namespace = dataset_namespace()
    events = []
    for entity in classification.entities_of(system):
        outputs = [OutputDataset(namespace=namespace, name=entity.table_name(purpose),
                                 facets={"pseudonymisation": pseudonymisation_facet(
                                     purpose, key_version, "source")})
                   for purpose in entity.purposes()]
        events.append(RunEvent(
            eventType=RunState.COMPLETE, eventTime=now, run=Run(runId=str(uuid.uuid4())),
            job=Job(namespace=NAMESPACE, name=f"ingest.{system}.{entity.name}", facets={
                "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH",
                                                        integration="PIPELINE",
                                                        jobType="JOB")}),
            inputs=[InputDataset(namespace=LANDING_NAMESPACE, name=f"{system}/{entity.name}")],
            outputs=outputs, producer=PRODUCER))
    return events


def emit_events(events: list[Any], out_dir: Path, kind: str) -> int:
    """Write events to `out_dir/kind/` through OpenLineage's file transport (one file per
    event: <kind>/event-<timestamp>.json); returns how many."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport

    (out_dir / kind).mkdir(parents=True, exist_ok=True)
    client = OpenLineageClient(transport=FileTransport(
        FileConfig(log_file_path=str(out_dir / kind / "event"), append=False)))
    for event in events:
        client.emit(event)
    return len(events)


def emit_dbt_lineage(target_path: Path, out_dir: Path, *, key_version: str,
                     parent: dict[str, str] | None = None) -> int:
    """Emit the events of the last dbt invocation (its manifest and run_results in
    `target_path`) to `out_dir` through OpenLineage's file transport; returns how many."""
    run_results_path = target_path / "run_results.json"
    if not run_results_path.exists():  # dbt stopped before running anything: nothing ran
        return 0
    manifest = json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))
    run_results = json.loads(run_results_path.read_text(encoding="utf-8"))
    events = build_events(manifest, run_results, key_version=key_version, parent=parent)
    return emit_events(events, out_dir, "dbt")
