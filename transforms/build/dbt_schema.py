"""Generate the dbt yml that follows from the classification, and check it has not drifted.

The classification (`config/classification.yml`) is the one source of truth; this module writes
what dbt must know of it:

- the sources, one file per source system,
  `dbt_project/models/staging/<system>/_<system>__sources.yml`: one source per pseudonym
  domain (`pseudo_<purpose>`, the warehouse schema written by `transforms/load.py`), its
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transforms.classification import (
    PROJECT_ROOT,
    Classification,
    Column,
    Composite,
    Entity,
    Mart,
    Treatment,
    load,
)

DBT_DIR = "dbt_project"
HEADER = (
    "# Generated from config/classification.yml by `python -m transforms.dbt_schema write`.\n"
    "# Do not edit by hand: change the classification, then run write; "
    "`python -m transforms.dbt_schema check` fails on drift.\n"
)
MARTS_HEADER = (
    HEADER + "# Only the `data_tests` (of a model or of a column) are written by hand here: write "
    "keeps them.\n"
)

# The warehouse type of a kept column, by the classification's `type`.
WAREHOUSE_TYPES = {
    "string": "varchar",
    "date": "date",
    "decimal": "decimal(18,2)",
    "integer": "bigint",
    "boolean": "boolean",
}

# What each generalisation rule (transforms/generalise.py) produces.
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
    text = RULES.get(rule, "see transforms/generalise.py")
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
                    "tables written by transforms/load.py."
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


# ------------------------------------------------------------------------------------ rendering


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, multi-line strings as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        """Write a value used twice out twice: no `&id001` anchors in files people read."""
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def render(document: dict[str, Any], header: str) -> str:
    """The YAML text of a document: the header, `version: 2`, then the rest."""
    rest = {key: value for key, value in document.items() if key != "version"}
    body = yaml.dump(
        rest, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096,
        default_flow_style=False,
    )
    return f"{header}\nversion: {document.get('version', 2)}\n\n{body}"


# ------------------------------------------------------------------------------- files: write


def sources_path(system: str) -> Path:
    return Path(DBT_DIR, "models", "staging", system, f"_{system}__sources.yml")


def marts_path(purpose: str) -> Path:
    return Path(DBT_DIR, "models", "marts", purpose, f"_{purpose}__models.yml")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except yaml.YAMLError as exc:
        raise SchemaDriftError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None


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
        "{#- Generated by `python -m transforms.dbt_schema write` from config/classification.yml"
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


def expected_files(root: Path, classification: Classification) -> dict[Path, str]:
    """Relative path -> the text the classification gives that file."""
    files: dict[Path, str] = {DISCLOSURE_MACROS: disclosure_macros(classification)}
    for system in classification.systems:
        files[sources_path(system)] = render(sources_document(classification, system), HEADER)
    for purpose in sorted({m.purpose for m in classification.marts}):
        path = marts_path(purpose)
        existing = _read_yaml(root / path)
        files[path] = render(
            marts_document(classification, purpose, existing if isinstance(existing, dict)
                           else None),
            MARTS_HEADER,
        )
    return files


def write(root: Path = PROJECT_ROOT, classification: Classification | None = None) -> list[Path]:
    """(Re)write the generated files; returns those whose content changed."""
    classification = classification or load()
    changed = []
    for rel, text in expected_files(root, classification).items():
        path = root / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yml.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        changed.append(rel)
    return changed


# ------------------------------------------------------------------------------- files: check


@dataclass
class _Differ:
    file: Path
    found: list[str]

    def add(self, where: str, message: str) -> None:
        self.found.append(f"{self.file}: {where}: {message}")

    def compare(self, where: str, committed: Any, expected: Any) -> None:
        if isinstance(expected, dict) and isinstance(committed, dict):
            for key, value in expected.items():
                if key not in committed:
                    self.add(_join(where, key), f"missing (the classification gives {value!r})")
                else:
                    self.compare(_join(where, key), committed[key], value)
            for key in committed.keys() - expected.keys():
                self.add(_join(where, key), "not generated from the classification")
        elif _named_list(expected) and _named_list(committed):
            self._compare_named(where, committed, expected)
        elif committed != expected:
            self.add(where, f"the file has {committed!r}, the classification gives {expected!r}")

    def _compare_named(self, where: str, committed: list, expected: list) -> None:
        committed_by_name = {item["name"]: item for item in committed}
        expected_by_name = {item["name"]: item for item in expected}
        for name, item in expected_by_name.items():
            if name not in committed_by_name:
                self.add(f"{where}[{name}]", "missing (it is in the classification)")
            else:
                self.compare(f"{where}[{name}]", committed_by_name[name], item)
        for name in committed_by_name.keys() - expected_by_name.keys():
            self.add(f"{where}[{name}]", "not in the classification")
        common = [n for n in committed_by_name if n in expected_by_name]
        wanted = [n for n in expected_by_name if n in committed_by_name]
        if common != wanted:
            self.add(where, f"order {common} differs from the classification's {wanted}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in value
    )


def _generated_files(root: Path) -> Iterable[Path]:
    models = root / DBT_DIR / "models"
    yield from models.glob("staging/*/_*__sources.yml")
    yield from models.glob("marts/*/_*__models.yml")


def _docs_blocks(folder: Path) -> set[str]:
    names = set()
    for md in folder.glob("*.md"):
        for line in md.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.startswith("{% docs ") and line.endswith("%}"):
                names.add(line[len("{% docs "):-2].strip())
    return names


def check(root: Path = PROJECT_ROOT, classification: Classification | None = None) -> list[str]:
    """Every way the committed dbt yml disagrees with the classification (empty: none)."""
    classification = classification or load()
    found: list[str] = []
    try:
        expected = expected_files(root, classification)
    except SchemaDriftError as exc:
        return [str(exc)]
    for rel, text in expected.items():
        path = root / rel
        if not path.exists():
            found.append(f"{rel}: missing (run `python -m transforms.build.dbt_schema write`)")
            continue
        committed_text = path.read_text(encoding="utf-8")
        if committed_text == text:
            continue
        if rel.suffix != ".yml":
            found.append(f"{rel}: differs from the classification (run write)")
            continue
        before = len(found)
        try:
            committed = _read_yaml(path)
        except SchemaDriftError as exc:
            found.append(str(exc))
            continue
        _Differ(rel, found).compare("", committed, yaml.safe_load(text))
        if len(found) == before:
            found.append(f"{rel}: not in its generated form (run write to normalise it)")
    for path in sorted(_generated_files(root)):
        rel = path.relative_to(root)
        if rel not in expected:
            found.append(f"{rel}: generated file for nothing in the classification (stale)")
    for mart in classification.marts:
        folder = root / marts_path(mart.purpose).parent
        if not (folder / f"{mart.table}.sql").exists():
            found.append(f"mart {mart.name}: no model {folder.relative_to(root)}/{mart.table}.sql")
        if mart.table not in _docs_blocks(folder):
            found.append(
                f"mart {mart.name}: no {{% docs {mart.table} %}} block in "
                f"{folder.relative_to(root)}/*.md"
            )
    return found


def main(argv: list[str]) -> int:
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
