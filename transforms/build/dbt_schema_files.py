"""The dbt yml files generated from the classification: their paths, their YAML text, and
writing them (`python -m transforms.build.dbt_schema write`).

Why a writer of its own: the YAML must read like a hand-written dbt file (block style, no
anchors, multi-line descriptions as literal blocks), and the hand-written `data_tests` of the
marts' files are kept across rewrites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from transforms.build.dbt_schema import (
    DBT_DIR,
    DISCLOSURE_MACROS,
    SchemaDriftError,
    disclosure_macros,
    marts_document,
    sources_document,
)
from transforms.classification import PROJECT_ROOT, Classification, load
from transforms.files import write_text_atomic

HEADER = (
    "# Generated from config/classification.yml by `python -m transforms.build.dbt_schema write`.\n"
    "# Do not edit by hand: change the classification, then run write; "
    "`python -m transforms.build.dbt_schema check` fails on drift.\n"
)
MARTS_HEADER = (
    HEADER + "# Only the `data_tests` (of a model or of a column) are written by hand here: write "
    "keeps them.\n"
)


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
        write_text_atomic(path, text, suffix=".tmp")
        changed.append(rel)
    return changed
