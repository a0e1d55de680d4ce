"""Replaced rows must not stay readable in the bytes of the warehouse file.

A corrected redelivery replaces a delivery's rows (delete, then insert); DuckDB keeps the deleted
rows' bytes until the file is rewritten. The ingest marks a compaction due, and the run's one
compaction (transforms/compaction.py) rewrites the file. Real generator, real ingest, the real
DuckDB file on disk; the test first checks that the old values were readable before the
compaction (so that it can fail), then that they are gone after it.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms.compaction import compact_if_due, compaction_due, mark_compaction_due
from transforms.ingest.run import ingest
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)


def rewrite(path: Path, frame: pl.DataFrame) -> None:
    """Replace a delivery file and its manifest entry, as a source system's redelivery does."""
    frame.write_csv(path, line_terminator="\n")
    manifest_path = path.parent / "_manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][path.name] = {"rows": frame.height,
                                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def pseudonyms(keys: DomainKeys, values: list[str]) -> set[str]:
    out: set[str] = set()
    for domain in ("actuarial", "marketing", "dpo"):
        out |= set(pl.DataFrame({"v": values}).select(
            pseudonymise(pl.col("v"), keys, domain)).to_series().to_list())
    return out


def readable(path: Path, values: set[str]) -> set[str]:
    data = path.read_bytes()
    return {v for v in values if v.encode() in data}


@pytest.fixture(scope="module")
def redelivered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("compaction")
    landing, warehouse, quarantine = tmp / "landing", tmp / "warehouse.duckdb", tmp / "q"
    generate_book(landing, 300, 2, AS_OF, 11, truth_dir=tmp / "truth")
    keys = DomainKeys.derive(os.urandom(32))
    ingest(landing, warehouse, quarantine, keys)
    # the first delivery again, corrected: two contracts renumbered (a typo fixed), one made
    # invalid (its row now goes to the quarantine instead of the warehouse)
    path = sorted((landing / "policy_admin").glob("*/contracts.csv"))[0]
    frame = pl.read_csv(path, infer_schema=False)
    claimed = set(pl.concat([pl.read_csv(p, infer_schema=False) for p in
                             (landing / "claims").glob("*/claims.csv")])["contract_number"])
    free = frame.filter(~pl.col("contract_number").is_in(sorted(claimed))
                        & pl.col("vin").is_not_null())["contract_number"].to_list()
    renumbered, invalid = free[:2], free[2]
    corrected = frame.with_columns(
        pl.when(pl.col("contract_number").is_in(renumbered))
        .then(pl.col("contract_number").str.replace(r"-\d", "-9"))
        .otherwise(pl.col("contract_number")).alias("contract_number"),
        pl.when(pl.col("contract_number") == invalid).then(pl.lit("NOT-A-VIN"))
        .otherwise(pl.col("vin")).alias("vin"),
    )
    rewrite(path, corrected)
    old = pseudonyms(keys, [*renumbered, invalid])
    reports = ingest(landing, warehouse, quarantine, keys)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        due = compaction_due(con)
        in_tables = sum(con.execute(
            f"select count(*) from {t} where list_contains(?, contract_key)", [sorted(old)]
        ).fetchall()[0][0] for t in ("pseudo_actuarial.policy_admin__contracts",
                                     "pseudo_marketing.policy_admin__contracts"))
    finally:
        con.close()
    before = readable(warehouse, old)
    result = compact_if_due(warehouse)
    return {"reports": reports, "due": due, "in_tables": in_tables, "before": before,
            "after": readable(warehouse, old), "result": result, "old": old,
            "warehouse": warehouse}


def test_the_redelivery_replaced_the_rows(redelivered: dict) -> None:
    assert [r.status for r in redelivered["reports"]].count("loaded") == 1
    assert redelivered["in_tables"] == 0, "no table holds the replaced rows"
    assert redelivered["due"] > 0, "the replacement marked a compaction due"


def test_replaced_values_were_readable_in_the_file_before_compaction(redelivered: dict) -> None:
    assert redelivered["before"], "otherwise this test could not fail"


def test_replaced_values_are_gone_from_the_file_after_the_compaction(redelivered: dict) -> None:
    assert redelivered["result"]["compacted"] == 1
    assert redelivered["after"] == set()
    con = duckdb.connect(str(redelivered["warehouse"]), read_only=True)
    try:
        assert compaction_due(con) == 0, "one compaction clears the marks"
    finally:
        con.close()
    assert compact_if_due(redelivered["warehouse"]) == {"compacted": 0, "rows_due": 0}


def test_derived_schemas_are_not_copied_and_the_rest_is_copied_whole(tmp_path: Path) -> None:
    """The schemas a build makes again (dbt's) are left out of the compacted file, with the
    pre-removal rows they hold; every other table arrives with the same rows, and views and
    macros outside them survive."""
    warehouse = tmp_path / "warehouse.duckdb"
    kept_value, derived_value = "kept-7f3a9c1e", "derived-only-5b2d8e40"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema pseudo_actuarial")
        con.execute("create table pseudo_actuarial.t as select i, 'v' || i as v, ? as tag "
                    "from range(50000) r(i)", [kept_value])
        con.execute("create view pseudo_actuarial.t_view as select count(*) n "
                    "from pseudo_actuarial.t")
        con.execute("create schema staging")
        con.execute("create table staging.s as select ? as tag from range(1000)",
                    [derived_value])
        con.execute("create view staging.s_view as select * from staging.s")
        mark_compaction_due(con, "test", 1)
        before = con.execute("select count(*), sum(hash(i, v, tag)) "
                             "from pseudo_actuarial.t").fetchall()
    finally:
        con.close()
    assert derived_value.encode() in warehouse.read_bytes(), "otherwise this could not fail"
    assert compact_if_due(warehouse, derived=("staging", "marts_never_built")) == {
        "compacted": 1, "rows_due": 1}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*), sum(hash(i, v, tag)) "
                           "from pseudo_actuarial.t").fetchall() == before
        assert con.execute("select n from pseudo_actuarial.t_view").fetchall() == [(50000,)]
        assert con.execute("select count(*) from duckdb_schemas() "
                           "where schema_name = 'staging'").fetchall() == [(0,)]
        assert compaction_due(con) == 0
    finally:
        con.close()
    data = warehouse.read_bytes()
    assert kept_value.encode() in data and derived_value.encode() not in data


def test_the_schemas_dbt_builds_are_the_intermediate_layers_and_every_mart_schema() -> None:
    """What the pipeline's compaction leaves out: dbt_project.yml's schemas, which hold every
    mart of the classification and none of the warehouse's own (sources, audit, rights)."""
    from transforms.build.dbt_run import built_schemas
    from transforms.classification import load

    built = set(built_schemas())
    assert {"staging", "intermediate"} <= built
    assert {m.name.split(".")[0] for m in load().marts} <= built
    assert not {s for s in built if s.startswith("pseudo_")
                or s in ("audit", "rights", "gate_fingerprints", "main")}
