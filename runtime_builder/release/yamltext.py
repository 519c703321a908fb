"""Edit versions.yaml as text, so that every comment, blank line and key order survives.

PyYAML's composer tells where each node starts and ends (line and column); the edits here
only insert whole lines or replace one single-line scalar in place, and leave every other
byte of the file as it was. No YAML round trip: that would drop the comments. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from ..errors import TextEditError

Node = yaml.Node


def compose(text: str) -> yaml.MappingNode:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise TextEditError("the document is not a mapping")
    return node


def pairs(node: Node | None) -> list[tuple[str, Node]]:
    """A mapping node's (key, value node) pairs, in the file's order; [] for anything else."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(str(key.value), value) for key, value in node.value]


def get(node: Node | None, key: str) -> Node | None:
    return next((value for name, value in pairs(node) if name == key), None)


def key_node(node: yaml.MappingNode, key: str) -> Node:
    return next(k for k, _ in node.value if k.value == key)


def scalar_value(node: Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def last_line(node: Node) -> int:
    """The 0-based index of the last line holding the node's own text.

    A block collection's end mark lies past the comments and blank lines after it, so
    follow its last child instead; a scalar or flow collection ends where its text ends.
    """
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return last_line(node.value[-1])
    end = node.end_mark
    if end.column == 0 and end.line > node.start_mark.line:  # block scalars end on the next line
        return end.line - 1
    return end.line


def require_block(node: Node, what: str) -> None:
    if getattr(node, "flow_style", False):
        raise TextEditError(f"{what} is written in flow style ({{...}} or [...]); write it as a block to edit it")


def item_prefix(lines: list[str], item: yaml.MappingNode) -> str:
    """What comes before a sequence item's first key on its line, e.g. `      - `."""
    return lines[item.start_mark.line][: item.start_mark.column]


def column_of_keys(node: yaml.MappingNode) -> int:
    return node.value[0][0].start_mark.column


@dataclass(frozen=True)
class Insert:
    """Whole lines (without line ends) put before line `before` (0-based; len(lines) appends)."""

    before: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Replace:
    """One single-line scalar's text replaced."""

    node: yaml.ScalarNode
    text: str


Edit = Insert | Replace


def insert_after(node: Node, lines: Iterable[str]) -> Insert:
    return Insert(last_line(node) + 1, tuple(lines))


def apply(text: str, edits: Iterable[Edit]) -> str:
    """`text` with the edits made; inserts at one place keep the order they were given in."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    ordered = sorted(enumerate(edits), key=lambda pair: (*_position(pair[1]), pair[0]), reverse=True)
    for _, edit in ordered:
        if isinstance(edit, Replace):
            start, end = edit.node.start_mark, edit.node.end_mark
            if start.line != end.line:
                raise TextEditError(f"cannot replace {edit.node.value!r}: it spans several lines")
            line = lines[start.line]
            lines[start.line] = line[: start.column] + edit.text + line[end.column:]
        else:
            lines[edit.before:edit.before] = [line + newline for line in edit.lines]
    return "".join(lines)


def _position(edit: Edit) -> tuple[int, int, int]:
    # Made last to first: on one line, replacements right to left, then the lines put before it.
    if isinstance(edit, Replace):
        return (edit.node.start_mark.line, 1, edit.node.start_mark.column)
    return (edit.before, 0, 0)


def quoted(value: str) -> str:
    """A double-quoted YAML string (JSON's escaping is valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def plain(value: str) -> str:
    """`value` unquoted when YAML reads it back as the same string, else quoted."""
    safe = value and value.strip() == value and not value.startswith(tuple("!&*-?|>'\"%@`#,[]{}:"))
    if safe and ": " not in value and " #" not in value:
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return quoted(value)
