"""The edits `new-version` makes to versions.yaml's text: a release entry in a line (with overrides
that keep the other releases' pins when the line's pins move), or a new line. Pure: each
function returns `yamltext` edits; nothing here decides what the new version is (`newversion`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

import yaml
from packaging.utils import canonicalize_name

from ..matrix.model import Backport, Channel, Matrix, Release, Version
from . import yamltext


def _line_node(doc: yaml.MappingNode, runtime: int) -> yaml.MappingNode:
    lines = yamltext.get(doc, "lines")
    yamltext.require_block(lines, "lines")
    return next(item for item in lines.value if yamltext.scalar_value(yamltext.get(item, "runtime")) == str(runtime))


def _release_nodes(line: yaml.MappingNode) -> list[tuple[Version, yaml.MappingNode]]:
    releases = yamltext.get(line, "releases")
    yamltext.require_block(releases, "a line's releases")
    return [(Version.parse(yamltext.scalar_value(yamltext.get(item, "version")) or ""), item)
            for item in releases.value]


def release_node(doc: yaml.MappingNode, runtime: int, version: Version) -> yaml.MappingNode:
    """The entry of one release in versions.yaml's composed document."""
    return next(node for found, node in _release_nodes(_line_node(doc, runtime)) if found == version)


def _block_pins(node: yaml.Node | None, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """canonical name -> (key node, value node) of a `packages:` block (empty when absent)."""
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise yamltext.TextEditError(f"the packages of {what} are not a mapping of pins")
    yamltext.require_block(node, f"the packages of {what}")
    return {canonicalize_name(str(key.value)): (key, value) for key, value in node.value}


def _step(line: yaml.MappingNode) -> int:
    """How far the file indents a mapping's children (from the line's `packages:`)."""
    packages = yamltext.get(line, "packages")
    if isinstance(packages, yaml.MappingNode) and packages.value and not packages.flow_style:
        return yamltext.column_of_keys(packages) - yamltext.key_node(line, "packages").start_mark.column
    return 2


def _pin_lines(indent: int, packages: Mapping[str, str], spelled: Mapping[str, str]) -> list[str]:
    return [f"{' ' * indent}{spelled.get(name, name)}: {yamltext.quoted(version)}"
            for name, version in sorted(packages.items())]


def _prefix(lines: list[str], item: yaml.MappingNode) -> str:
    prefix = yamltext.item_prefix(lines, item)
    column = item.start_mark.column
    return prefix if prefix.strip() == "-" else " " * max(column - 2, 0) + "- "


def release_lines(prefix: str, column: int, step: int, version: Version, airflow: Version, released: date,
                  packages: Mapping[str, str], spelled: Mapping[str, str],
                  patches: tuple[Backport, ...] = (), in_house: tuple[str, ...] = (),
                  channel: Channel = Channel.STABLE) -> list[str]:
    pad = " " * column
    entry = [f"{prefix}version: {version}", f"{pad}airflow: {airflow}", f"{pad}released: {released.isoformat()}",
             f"{pad}channel: {channel.value}"]
    if packages:
        entry += [f"{pad}packages:", *_pin_lines(column + step, packages, spelled)]
    if in_house:
        entry.append(f"{pad}in_house: [{', '.join(in_house)}]")
    if patches:
        item = " " * (column + step)
        entry.append(f"{pad}patches:")
        for backport in patches:  # JSON strings are YAML double-quoted scalars
            entry += [f"{item}- file: {json.dumps(backport.file)}", f"{item}  summary: {json.dumps(backport.summary)}"]
    return entry


def release_edits(source: str, matrix: Matrix, base: Release, version: Version, airflow: Version,
                  packages: Mapping[str, str], released: date, patches: tuple[Backport, ...] = (),
                  channel: Channel = Channel.STABLE) -> tuple[list[yamltext.Edit], tuple[str, ...]]:
    """A new release entry in the base's line; the line's pins follow a release, not a nightly (see
    the module's docstring), whose entry states the pins that differ.

    The base's in-house packages are written into the entry (a release-level list overrides
    the line's, so the new release has exactly the base's)."""
    lines = source.splitlines()
    line = _line_node(yamltext.compose(source), base.line)
    step = _step(line)
    line_pins = _block_pins(yamltext.get(line, "packages"), f"line {base.line}")
    spelled = {name: str(key.value) for name, (key, _) in line_pins.items()}
    pinned = {name: str(value.value) for name, (_, value) in line_pins.items()}
    differ = {name: v for name, v in packages.items() if pinned.get(name) != v}
    # Pins the line does not have (a package a minor added, pinned by its releases) stay the entry's own.
    added = {name: v for name, v in packages.items() if name not in pinned}
    moved = {name: v for name, v in differ.items() if name in pinned}
    edits: list[yamltext.Edit] = []
    overridden: list[str] = []
    if moved and set(pinned) <= set(packages) and channel is not Channel.NIGHTLY:
        # The line's pins become the new release's; the others keep what they inherited.
        edits += [yamltext.Replace(line_pins[name][1], yamltext.quoted(v)) for name, v in sorted(moved.items())]
        nodes = dict(_release_nodes(line))
        for release in matrix.line(base.line):
            node = nodes[release.version]
            own = _block_pins(yamltext.get(node, "packages"), f"Runtime {release.version}")
            keep = {name: pinned[name] for name in moved if name not in own}
            if keep:
                edits += override_edits(node, own, keep, step, spelled)
                overridden.append(str(release.version))
        differ = added
    nodes = _release_nodes(line)
    anchor = max(((v, n) for v, n in nodes if v < version), key=lambda pair: pair[0], default=nodes[-1])[1]
    entry = release_lines(_prefix(lines, anchor), anchor.start_mark.column, step, version, airflow, released,
                          differ, spelled, patches, tuple(package.name for package in base.in_house), channel)
    edits.append(yamltext.insert_after(anchor, entry))
    return edits, tuple(overridden)


def override_edits(node: yaml.MappingNode, own: Mapping[str, tuple[yaml.Node, yaml.Node]], keep: Mapping[str, str],
                   step: int, spelled: Mapping[str, str]) -> list[yamltext.Edit]:
    """Pins added to a release's `packages:` (made if it has none), each at its place by name."""
    if not own:
        column = yamltext.column_of_keys(node)
        return [yamltext.insert_after(node, [f"{' ' * column}packages:", *_pin_lines(column + step, keep, spelled)])]
    column = next(iter(own.values()))[0].start_mark.column
    edits: list[yamltext.Edit] = []
    for name, version in sorted(keep.items()):
        text = _pin_lines(column, {name: version}, spelled)
        following = [key for other, (key, _) in own.items() if other > name]
        if following:
            edits.append(yamltext.Insert(min(key.start_mark.line for key in following), tuple(text)))
        else:
            edits.append(yamltext.insert_after(yamltext.get(node, "packages"), text))
    return edits


def _copied(lines: list[str], node: yaml.Node) -> str:
    """A one-line value as written in the file, or written afresh (flow style)."""
    start, end = node.start_mark, node.end_mark
    if start.line == end.line and (isinstance(node, yaml.ScalarNode) or node.flow_style):
        return lines[start.line][start.column:end.column]
    if isinstance(node, yaml.SequenceNode):
        return "[" + ", ".join(yamltext.plain(str(item.value)) for item in node.value) + "]"
    raise yamltext.TextEditError(f"cannot copy the value at line {start.line + 1}")


def major_edits(source: str, base: Release, version: Version, airflow: Version, packages: Mapping[str, str],
                released: date, channel: Channel = Channel.STABLE) -> list[yamltext.Edit]:
    """A new line after the last one, sharing the base line's values, with one release."""
    lines = source.splitlines()
    doc = yamltext.compose(source)
    line = _line_node(doc, base.line)
    step = _step(line)
    column = yamltext.column_of_keys(line)
    pad, inner = " " * column, " " * (column + step)
    line_pins = _block_pins(yamltext.get(line, "packages"), f"line {base.line}")
    spelled = {name: str(key.value) for name, (key, _) in line_pins.items()}
    text = ["", f"{_prefix(lines, line)}runtime: {version.major}",
            f"{pad}airflow: {yamltext.quoted(airflow.minor_line)}"]
    for key in ("suite", "python", "pythons", "architectures"):
        text.append(f"{pad}{key}: {_copied(lines, yamltext.get(line, key))}")
    if packages:
        text += [f"{pad}packages:", *_pin_lines(column + step, packages, spelled)]
    if base.has_slim:  # the slim-variant change carries to newer lines: so do the slim packages
        kept = [name for name, _ in base.slim_packages if name in packages]
        text += [f"{pad}slim_packages:", *(f"{inner}- {spelled.get(name, name)}" for name in kept)]
    environment = yamltext.get(line, "environment")
    if isinstance(environment, yaml.MappingNode) and environment.value:
        text.append(f"{pad}environment:")
        text += [f"{inner}{name}: {yamltext.quoted(str(value.value))}" for name, value in yamltext.pairs(environment)]
    first = _release_nodes(line)[0][1]  # where the file puts a release entry
    text.append(f"{pad}releases:")
    text += release_lines(_prefix(lines, first), first.start_mark.column, step, version, airflow, released, {},
                          spelled, (), tuple(package.name for package in base.in_house), channel)
    last = yamltext.get(doc, "lines").value[-1]
    return [yamltext.insert_after(last, text)]


def refresh_edits(source: str, runtime: int, version: Version, airflow: Version, released: date,
                  packages: Mapping[str, str]) -> list[yamltext.Edit]:
    """A nightly's entry moved in place: its `airflow:`, `released:` and the pins that differ from the
    line's (its own `packages:`, made if it has none); the line and every other release stay as they are."""
    doc = yamltext.compose(source)
    line = _line_node(doc, runtime)
    node = release_node(doc, runtime, version)
    step = _step(line)
    line_pins = _block_pins(yamltext.get(line, "packages"), f"line {runtime}")
    spelled = {name: str(key.value) for name, (key, _) in line_pins.items()}
    inherited = {name: str(value.value) for name, (_, value) in line_pins.items()}
    own = _block_pins(yamltext.get(node, "packages"), f"Runtime {version}")
    edits: list[yamltext.Edit] = []
    for key, text in (("airflow", str(airflow)), ("released", released.isoformat())):
        value = yamltext.get(node, key)
        if not isinstance(value, yaml.ScalarNode) or value.start_mark.line != value.end_mark.line:
            raise yamltext.TextEditError(f"Runtime {version} has no one-line `{key}:`")
        edits.append(yamltext.Replace(value, text))
    wanted = {canonicalize_name(name): pinned for name, pinned in packages.items()}
    edits += [yamltext.Replace(own[name][1], yamltext.quoted(pinned)) for name, pinned in sorted(wanted.items())
              if name in own and str(own[name][1].value) != pinned]
    keep = {name: pinned for name, pinned in wanted.items() if name not in own and inherited.get(name) != pinned}
    if keep:
        edits += override_edits(node, own, keep, step, spelled)
    return edits


def without_key(text: str, runtime: int, version: Version, key: str) -> str:
    """`text` without one key of a release's entry (its block too): a nightly's backports when its Airflow moves."""
    node = release_node(yamltext.compose(text), runtime, version)
    if yamltext.get(node, key) is None:
        return text
    lines = text.splitlines(keepends=True)
    del lines[yamltext.key_node(node, key).start_mark.line:yamltext.last_line(yamltext.get(node, key)) + 1]
    return "".join(lines)
