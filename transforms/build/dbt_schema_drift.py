"""Whether the committed dbt yml still says what the classification says
(`python -m transforms.build.dbt_schema check`; the build_and_publish DAG checks it before dbt).

Each disagreement is named with its file and key path, so that a reviewer sees which column's
metadata drifted, rather than a bare "files differ".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transforms.build.dbt_schema import DBT_DIR, SchemaDriftError
from transforms.build.dbt_schema_files import _read_yaml, expected_files, marts_path
from transforms.classification import PROJECT_ROOT, Classification, load


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
