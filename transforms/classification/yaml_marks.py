"""Read a YAML file of ours keeping where each key is, so that errors can say `file:line:column`.

Why: PyYAML's `safe_load` returns plain dicts and forgets positions, and silently keeps the
last of two equal keys (a column declared twice would lose its first declaration). Composing the
node tree with the SafeLoader keeps every node's mark; the document is constructed from that same
tree, so a key path into the document is a key path into the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Position:
    """1-based line and column, as editors count them."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class YamlShapeError(ValueError):
    """The text is not well-formed YAML, or repeats a key; carries the position."""

    def __init__(self, message: str, position: Position | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _position(mark: yaml.Mark | None) -> Position | None:
    return None if mark is None else Position(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class MarkedDocument:
    """A YAML document and the node tree it was constructed from."""

    data: Any
    root: yaml.Node | None

    def locate(self, path: Sequence[Any]) -> tuple[list[Any], Position | None]:
        """The parts of `path` found in the document, and the position of the deepest one.

        For a mapping entry the position is its key's (where a reader looks for it); for a
        sequence item, the item's. Parts that name nothing in the document (a schema library's
        own labels in an error location, or a key that is missing) are skipped, so the position
        is that of the nearest enclosing block that exists.
        """
        if self.root is None:
            return _walk_data(self.data, path), None
        node, found = self.root, []
        position = _position(node.start_mark) if node is not None else None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                entry = next(((k, v) for k, v in node.value
                              if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
                if entry is None:
                    continue
                position, node = _position(entry[0].start_mark), entry[1]
            elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
                  and not isinstance(part, bool) and 0 <= part < len(node.value)):
                node = node.value[part]
                position = _position(node.start_mark)
            else:
                continue
            found.append(part)
        return found, position


def _walk_data(data: Any, path: Sequence[Any]) -> list[Any]:
    """The parts of `path` found in a plain document (one built without positions)."""
    found = []
    for part in path:
        in_list = (isinstance(data, list) and isinstance(part, int)
                   and not isinstance(part, bool) and 0 <= part < len(data))
        if not (in_list or (isinstance(data, dict) and part in data)):
            continue
        data = data[part]
        found.append(part)
    return found


def _refuse_repeated_keys(node: yaml.Node) -> None:
    """A key written twice in one mapping is an error (PyYAML would keep the last silently)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise YamlShapeError(f"key {key.value!r} is repeated in this mapping",
                                             _position(key.start_mark))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def load_marked(text: str) -> MarkedDocument:
    """Parse YAML text with the SafeLoader, keeping node positions; refuse repeated keys."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _refuse_repeated_keys(root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlShapeError(f"not valid YAML: {exc.problem or exc.context}",
                             _position(mark)) from None
    finally:
        loader.dispose()
    return MarkedDocument(data, root)


def read_marked(path: Path) -> MarkedDocument:
    return load_marked(path.read_text(encoding="utf-8"))
