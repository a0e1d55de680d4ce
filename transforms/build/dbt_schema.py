"""What dbt must know of the classification, generated from it: the documents of the dbt yml
and the disclosure macros. Written by `dbt_schema_files`, checked by `dbt_schema_drift`.

The classification (`config/classification.yml`) is the one source of truth; the generated
files are:

- the sources, one file per source system,
  `dbt_project/models/staging/<system>/_<system>__sources.yml`: one source per pseudonym
  domain (`pseudo_<purpose>`, the warehouse schema written by `transforms/ingest/load.py`), its
  tables and their columns with description, data type and `meta` (classification, category,
  treatment);
- the marts' column lists, `dbt_project/models/marts/<purpose>/_<purpose>__models.yml`: description,
  data type and `meta.classification` of every column, in the classification's order, with the
  model contract enforced. The `data_tests` written by hand in that file (on a model or a column)
  are kept by `write`; everything else in it is generated.

    python -m transforms.build.dbt_schema write   # (re)write the files
    python -m transforms.build.dbt_schema check   # exit 1, naming each drift, when they disagree
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from transforms.classification import (
    Classification,
    Column,
    Composite,
    Entity,
    Mart,
    Treatment,
)

DBT_DIR = "dbt_project"
# The warehouse type of a kept column, by the classification's `type`.
WAREHOUSE_TYPES = {
    "string": "varchar",
    "date": "date",
    "decimal": "decimal(18,2)",
    "integer": "bigint",
    "boolean": "boolean",
}

# What each generalisation rule (transforms/privacy/generalise.py) produces.
RULES = {
    "age_band": "age in whole years at {reference}, banded 18-24, 25-34, 35-44, 45-54, 55-64, "
    "65-74, 75+",
    "vehicle_age_band": "vehicle age in whole years at {reference}, banded 00-01, 02-03, 04-05, "
    "06-07, 08-10, 11+",
    "mileage_band": "banded 000-020k, 020-040k, 040-060k, 060-080k, 080-100k, 100-150k, 150k+",
    "make_group": "lower-case make; rare makes pooled as 'other'",
    "postcode_region": "UK postcode area or French departement, prefixed by the {country} "
    "(e.g. GB-SW, FR-69)",
    "month": "first day of the month",
}

LOADER_COLUMNS = (
    ("_delivery_date", "date", "Date of the delivery the row came from (snapshots: staging "
     "keeps, per key, the row of the latest delivery)."),
    ("_key_version", "varchar", "Identifier of the master-key version the row's pseudonyms were "
     "made with."),
)


class SchemaDriftError(RuntimeError):
    """The dbt yml disagrees with the classification; the message names each drift."""


# ------------------------------------------------------------------------------------- sources


def warehouse_type(item: Column | Composite, treatment: Treatment) -> str:
    """The DuckDB type the loader gives a treatment's output column."""
    if treatment.verb == "hash":
        return "varchar"
    if treatment.verb == "generalise":
        return "date" if treatment.rule == "month" else "varchar"
    assert isinstance(item, Column)
    return WAREHOUSE_TYPES[item.type]


def column_description(item: Column | Composite, treatment: Treatment) -> str:
    if isinstance(item, Composite):
        what = f"the {item.name} ({', '.join(item.sources)})"
    else:
        what = item.name
    if treatment.verb == "hash":
        return (
            f"Pseudonym of {what} in the {treatment.purpose} domain: keyed HMAC-SHA-256 under "
            "that domain's key, 64 lowercase hex characters."
        )
    if treatment.verb == "keep":
        return f"{what} as delivered."
    rule = treatment.rule or ""
    text = RULES.get(rule, "see transforms/privacy/generalise.py")
    with contextlib.suppress(KeyError):  # a rule text naming a parameter the rule lacks
        text = text.format(**{k: str(v) for k, v in treatment.params.items()})
    return f"{what} generalised by the rule {rule}: {text}."


def column_meta(item: Column | Composite, treatment: Treatment) -> dict[str, Any]:
    meta: dict[str, Any] = {"classification": item.cls, "category": item.category}
    meta["treatment"] = treatment.verb
    if treatment.rule:
        meta["rule"] = treatment.rule
        meta.update({k: v for k, v in sorted(treatment.params.items())})
    if isinstance(item, Composite):
        meta["from"] = list(item.sources)
    else:
        meta["from"] = item.name
    return meta


def output_name(entity: Entity, purpose: str, source_column: str) -> str:
    treatment = entity.column(source_column).treatment_for(purpose)
    return treatment.output if treatment else source_column


def source_table(entity: Entity, purpose: str) -> dict[str, Any]:
    columns = []
    for item in (*entity.columns, *entity.composites):
        treatment = item.treatment_for(purpose)
        if treatment is None:
            continue
        columns.append(
            {
                "name": treatment.output,
                "description": column_description(item, treatment),
                "data_type": warehouse_type(item, treatment),
                "config": {"meta": column_meta(item, treatment)},
            }
        )
    for name, data_type, description in LOADER_COLUMNS:
        columns.append(
            {
                "name": name,
                "description": description,
                "data_type": data_type,
                "config": {"meta": {"classification": "non_personal", "treatment": "loader"}},
            }
        )
    key = [output_name(entity, purpose, k) for k in entity.key]
    return {
        "name": f"{entity.system}__{entity.name}",
        "description": entity.description.strip(),
        "config": {
            "meta": {"system": entity.system, "entity": entity.name, "purpose": purpose,
                     "key": key},
        },
        "columns": columns,
    }


def sources_document(classification: Classification, system: str) -> dict[str, Any]:
    sources = []
    for purpose in sorted(classification.purposes):
        tables = [
            source_table(entity, purpose)
            for entity in classification.entities_of(system)
            if purpose in entity.purposes()
        ]
        if not tables:
            continue
        title = classification.purposes[purpose].get("title", purpose)
        sources.append(
            {
                "name": f"pseudo_{purpose}",
                "description": (
                    f"The {purpose} pseudonym domain ({title}): pseudonymised, generalised "
                    "tables written by transforms/ingest/load.py."
                ),
                "schema": f"pseudo_{purpose}",
                "tables": tables,
            }
        )
    return {"version": 2, "sources": sources}


# --------------------------------------------------------------------------------------- marts


def column_text(description: str, name: str, bands: dict[str, dict[str, Any]]) -> str:
    """A mart column's description, with its band edges when the classification declares them."""
    band = bands.get(name)
    if not band:
        return description
    pairs = ", ".join(f"{label} from {edge:,}" for edge, label in
                      zip(band["edges"], band["labels"], strict=True))
    return (f"{description} Bands of the {band['measure']} (label from its lower edge, each up "
            f"to the next edge): {pairs}. Labels sort as text in band order.")


def mart_model(mart: Mart, kept: dict[str, Any] | None,
               bands: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    kept = kept or {}
    kept_columns = {c.get("name"): c for c in kept.get("columns") or [] if isinstance(c, dict)}
    model: dict[str, Any] = {
        "name": mart.table,
        "description": f"{mart.grain.strip()}\n\n{{{{ doc('{mart.table}') }}}}",
        "config": {
            "contract": {"enforced": True},
            "meta": {
                "purpose": mart.purpose,
                "aggregated": mart.aggregated,
                "count_column": mart.count_column,
                "extract": mart.extract,
                "retention": mart.retention,
                "disclosure": _disclosure_meta(mart),
            },
        },
    }
    if kept.get("data_tests"):
        model["data_tests"] = kept["data_tests"]
    columns = []
    for column in mart.columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "description": column_text(column.description, column.name, bands or {}),
            "data_type": column.data_type,
            "config": {"meta": {"classification": column.cls}},
        }
        tests = (kept_columns.get(column.name) or {}).get("data_tests")
        if tests:
            entry["data_tests"] = tests
        columns.append(entry)
    model["columns"] = columns
    return model


def _disclosure_meta(mart: Mart) -> dict[str, Any] | None:
    rule = mart.disclosure
    if rule is None:
        return None
    meta: dict[str, Any] = {"unit": rule.unit, "k": rule.k,
                            "quasi_identifiers": list(rule.quasi_identifiers)}
    if mart.aggregated:
        meta.update(count_column=rule.count_column, pooling=list(rule.pooling),
                    ledger=rule.ledger)
    else:
        meta.update(unit_key=rule.unit_key, max_unique_share=rule.max_unique_share)
    return meta


def marts_document(
    classification: Classification, purpose: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    kept = {
        m.get("name"): m
        for m in (existing or {}).get("models") or []
        if isinstance(m, dict)
    }
    models = [
        mart_model(mart, kept.get(mart.table), classification.bands)
        for mart in classification.marts
        if mart.purpose == purpose
    ]
    return {"version": 2, "models": models}


DISCLOSURE_MACROS = Path(DBT_DIR, "macros", "_disclosure__generated.sql")


def disclosure_macros(classification: Classification) -> str:
    """A dbt macro file holding the classification's disclosure defaults and hierarchies, so that
    the models pool cells up exactly the hierarchies the gate checks against (JSON literals are
    valid Jinja)."""
    k = int((classification.disclosure_defaults or {}).get("k", 10))
    hierarchies = json.dumps(classification.hierarchies, sort_keys=True)
    rules = json.dumps({
        m.name: {"unit_key": m.disclosure.unit_key, "order_by": list(m.disclosure.order_by),
                 "quasi_identifiers": list(m.disclosure.quasi_identifiers),
                 "max_unique_share": m.disclosure.max_unique_share}
        for m in classification.marts if m.disclosure and not m.aggregated
    }, sort_keys=True)
    bands = json.dumps(classification.bands, sort_keys=True)
    return (
        "{#- Generated by `python -m transforms.build.dbt_schema write`"
        " from config/classification.yml"
        " (hierarchies, bands, disclosure). Do not edit. -#}\n\n"
        "{#- k: the smallest number of distinct units a published cell may count. -#}\n"
        "{% macro disclosure_k() -%}\n"
        f"    {{{{- var('min_cell_size', {k}) | int -}}}}\n"
        "{%- endmacro %}\n\n"
        "{#- A pooling hierarchy: {column, band, pool: [level: {coarser: [finer, ...]}]}. -#}\n"
        "{% macro disclosure_hierarchy(name) -%}\n"
        f"    {{%- set hierarchies = {hierarchies} -%}}\n"
        "    {{- return(hierarchies[name]) -}}\n"
        "{%- endmacro %}\n\n"
        "{#- A row-level mart's rule: {unit_key, order_by, quasi_identifiers, max_unique_share};"
        " the var max_unique_share overrides the share (tests on tiny books). -#}\n"
        "{% macro row_level_rule(mart) -%}\n"
        f"    {{%- set rules = {rules} -%}}\n"
        "    {%- set rule = rules[mart] -%}\n"
        "    {%- do rule.update({'max_unique_share': var('max_unique_share',"
        " rule['max_unique_share']) | float}) -%}\n"
        "    {{- return(rule) -}}\n"
        "{%- endmacro %}\n\n"
        "{#- A band: {measure, edges, labels}. -#}\n"
        "{% macro declared_band(name) -%}\n"
        f"    {{%- set bands = {bands} -%}}\n"
        "    {{- return(bands[name]) -}}\n"
        "{%- endmacro %}\n"
    )


def main(argv: list[str]) -> int:
    # the writer and the drift check build on this module: imported here, not at the top
    from transforms.build.dbt_schema_drift import check
    from transforms.build.dbt_schema_files import write

    if len(argv) != 1 or argv[0] not in ("write", "check"):
        print("usage: python -m transforms.build.dbt_schema write|check", file=sys.stderr)
        return 2
    if argv[0] == "write":
        for rel in write():
            print(f"wrote {rel}")
        return 0
    drift = check()
    if drift:
        print("The dbt yml disagrees with config/classification.yml:", file=sys.stderr)
        for line in drift:
            print(f"  {line}", file=sys.stderr)
        print("Run `python -m transforms.build.dbt_schema write` after changing the "
              "classification.", file=sys.stderr)
        return 1
    print("dbt yml matches config/classification.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
