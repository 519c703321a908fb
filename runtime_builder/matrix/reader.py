"""Reading versions.yaml's raw YAML: every problem found is collected, none stops the reading.

`Reader` checks types, keys and formats and records a `Problem` (entry, field, message) for
each mistake; `MatrixError` carries them all, so a user fixes a file in one go.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml

from .model import Version

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Problem:
    where: str  # e.g. "lines[3] (Runtime 14) > releases[1] (14.0.1)"
    field: str
    message: str

    def render(self, filename: str) -> str:
        location = " > ".join(part for part in (self.where, self.field) if part)
        return f"{filename}: {location}: {self.message}" if location else f"{filename}: {self.message}"


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


class UntrustedLoader(StrictLoader):
    """A StrictLoader for files that come with a project (airflow_settings.yaml), not with this
    repository: it also refuses aliases (`*name`). A file of a few hundred bytes whose aliases
    nest expands to gigabytes (583 bytes, 1.17 GB), and `&a [*a]` is a list that holds itself.
    Anchors alone are harmless and read as plain values."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"an alias (*{event.anchor}) is not read here: write the "
                                                          "value out", event.start_mark)
        return super().compose_node(parent, index)


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class Reader:
    """Walks the raw document, collecting problems rather than stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem(where, field, message))

    def mapping(self, value: Any, where: str, field: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            self.problem(where, field, f"must be a mapping, got {describe(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.problem(where, field, f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
        for key in sorted(required - set(value)):
            self.problem(where, field, f"missing required key {key!r}")
        return value

    def string(self, value: Any, where: str, field: str, pattern: re.Pattern | None = None,
               what: str = "") -> str | None:
        if isinstance(value, float):
            self.problem(where, field, f"{value!r} must be a quoted string (YAML reads 3.10 as the number 3.1)")
            return None
        if not isinstance(value, str):
            self.problem(where, field, f"must be a string, got {describe(value)}")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(where, field, f"{value!r} is not {what}")
            return None
        return value

    def integer(self, value: Any, where: str, field: str, minimum: int = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(where, field, f"must be an integer, got {describe(value)}")
            return None
        if value < minimum:
            self.problem(where, field, f"{value} must be at least {minimum}")
            return None
        return value

    def boolean(self, value: Any, where: str, field: str) -> bool | None:
        if not isinstance(value, bool):
            self.problem(where, field, f"must be true or false, got {describe(value)}")
            return None
        return value

    def day(self, value: Any, where: str, field: str) -> date | None:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        self.problem(where, field, f"must be a date written YYYY-MM-DD, got {describe(value)}")
        return None

    def version(self, value: Any, where: str, field: str) -> Version | None:
        text = self.string(value, where, field)
        if text is None:
            return None
        try:
            return Version.parse(text)
        except ValueError as error:
            self.problem(where, field, f"{error} (semantic versioning, e.g. 14.0.2)")
            return None

    def string_list(self, value: Any, where: str, field: str, check: Callable[[Any, str], Any]) -> list:
        if not isinstance(value, list) or not value:
            self.problem(where, field, f"must be a non-empty list, got {describe(value)}")
            return []
        items = [check(item, f"{field}[{index}]") for index, item in enumerate(value)]
        for item in {i for i in items if i is not None and items.count(i) > 1}:
            self.problem(where, field, f"{item!r} is listed twice")
        return [i for i in items if i is not None]

    def environment(self, raw: Any, where: str) -> dict[str, str]:
        """Optional: a mapping of variable name to (quoted) value."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(where, "environment", f"must be a mapping of variable to value, got {describe(raw)}")
            return {}
        result = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not ENV_NAME.match(name):
                self.problem(where, "environment", f"{name!r} is not a valid variable name (A-Z, 0-9, _)")
            elif not isinstance(value, str):
                self.problem(where, f"environment > {name}", f"must be a quoted string, got {describe(value)}")
            else:
                result[name] = value
        return result



def unprintable(text: str) -> tuple[int, str] | None:
    """The first character that is not printable text, with its position, or None.

    Python's `str.isprintable` rule: control characters, line and paragraph separators (U+2028,
    U+2029, U+0085: `str.splitlines`, and so pip, breaks lines at them), format characters
    (zero-width, bidirectional overrides) and every space but U+0020 are refused. A value that
    passes is one line to every reader of the files it is rendered into, and shows as written.
    """
    for position, character in enumerate(text):
        if not character.isprintable():
            return position, character
    return None


def refusal(value: str, position: int, character: str) -> str:
    name = unicodedata.name(character, "a control character")
    return (f"{value!r} contains U+{ord(character):04X} ({name}) at position {position}; values are rendered "
            "into Dockerfiles, scripts and constraint files, so they must be one line of printable text")


def unprintable_strings(document: Any, path: str = "") -> Iterator[tuple[str, str, int, str]]:
    """Every string in a loaded YAML document, keys included, that `unprintable` refuses:
    (path, string, position, character), the path written like `lines[0] > constraints[1] > reason`."""
    if isinstance(document, str):
        found = unprintable(document)
        if found is not None:
            yield path, document, *found
    elif isinstance(document, dict):
        for key, value in document.items():
            shown = key if isinstance(key, str) and unprintable(key) is None else repr(key)
            inner = f"{path} > {shown}" if path else shown
            yield from unprintable_strings(key, inner)
            yield from unprintable_strings(value, inner)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from unprintable_strings(item, f"{path}[{index}]")


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"
