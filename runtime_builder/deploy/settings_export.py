"""A project's `airflow_settings.yaml` from what a running deployment holds: settings.py the other
way round, for the local loop's `export` command (as `astro dev object export`). Pure: the caller
runs EXPORT_COMMAND in one of the deployment's Airflow containers and hands its output here.

    exported = from_export(output, "airflow-abc123")
    before = settings.parse(text, path)              # AirflowSettings() when there is no file
    after = merge(before, exported, {"connections", "pools", "variables"})
    new_text = to_yaml(after, text)                  # text: None when there is no file
    changes(before, after)                           # ["connection my_db added", ...]
    dropped(output, "airflow-abc123")                # ["connection my_db: description", ...]

What Airflow's export commands write, read from their source (`airflow/cli/commands/` of 2.10.5
and 2.11.2, `airflow-core`'s of 3.1.8 and 3.3.2):

- `connections export FILE --file-format json`: {conn_id: {conn_type, description, login,
  password, host, port, schema, extra}} by conn_id; `extra` is the connection's JSON text or null.
- `pools export FILE` (a path: it never writes to stdout): {name: {description, include_deferred,
  slots}}; 3.3 adds `team_name` to a pool of a team (multi-team deployments).
- `variables export FILE`: {key: value}, the value decoded when it is JSON (`{"a": 1}` comes as an
  object, `3` as a number, `"x"` as x). 3.1 writes a Variable with a description as {"description",
  "value"}; 3.3 also wraps a value that is an object with a "value" key, and keeps a value that
  decodes to text as it is stored (`"x"` stays `"x"`).

Decisions:
- `default_pool` is exported like any pool. Every deployment has it and its slots are a setting
  users change; importing it unchanged changes nothing (`pools import` updates it in place), while
  leaving it out whenever it looks untouched would keep a changed entry in the file after someone
  set it back.
- What the file has no field for is left out: the descriptions of connections and Variables, a
  pool's `include_deferred` and team. `dropped` names what an export loses that way.
- A Variable's value that is not text is taken as its JSON text, as the loader takes a mapping.
  Airflow's export has decoded it, so a Variable stored as `1.10` comes back as 1.1, and before 3.3
  one stored as `"x"` comes back as x. An object of exactly "description" and "value" is read as
  3.x's wrapper, from Airflow 2 too (where it would be the Variable's own value, rare enough).
- Connections set by environment variables or a secrets backend are not in the metadata database
  and not exported.
- A merge adds and replaces entries; it never removes one the deployment no longer has.
- `to_yaml` rewrites the file with PyYAML: the comments at its top stay, the others are lost; an
  entry that already says what the export says stays as it was written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

import yaml

from ..errors import UsageError
from ..matrix.reader import UntrustedLoader
from . import settings  # its private checks too: an export is what the loader makes of the file written
from .settings import SETTINGS_FILE, AirflowSettings

SECTIONS = ("connections", "pools", "variables")
# Written to a private mktemp directory, not to `-`: `pools export` takes only a path. Their messages
# go to stderr, so that stdout is the one JSON document.
EXPORT_COMMAND: tuple[str, ...] = ("bash", "-c", "; ".join((
    "set -euo pipefail",
    'dir="$(mktemp -d)"',
    "trap 'rm -rf \"$dir\"' EXIT",  # the files hold passwords
    'airflow connections export "$dir/connections.json" --file-format json >&2',
    'airflow pools export "$dir/pools.json" >&2',
    'airflow variables export "$dir/variables.json" >&2',
    "printf '{\"connections\": '", 'cat "$dir/connections.json"',
    "printf ', \"pools\": '", 'cat "$dir/pools.json"',
    "printf ', \"variables\": '", 'cat "$dir/variables.json"',
    "printf '}\\n'",
)))
# Airflow's connection export -> the file's fields (settings.py reads those).
_EXPORTED_CONNECTION = {"conn_type": "conn_type", "host": "conn_host", "schema": "conn_schema", "login": "conn_login",
                        "password": "conn_password", "port": "conn_port", "extra": "conn_extra"}
_NAME_KEYS = {"connections": "conn_id", "pools": "pool_name", "variables": "variable_name"}
# 3.x's form of a Variable with a description (variables_export).
_WRAPPER = {"description", "value"}


def from_export(document: str, source: str) -> AirflowSettings:
    """The settings of EXPORT_COMMAND's output, as the loader makes them from the file `to_yaml`
    writes; UsageError naming `source`, the entry and the field of what the file cannot hold
    (never a value)."""
    found = _read(document, source)
    return AirflowSettings(
        connections={conn_id: _connection(f"{source}: connection {conn_id}", conn_id, fields)
                     for conn_id, fields in found["connections"].items()},
        pools={name: _pool(f"{source}: pool {name}", fields) for name, fields in found["pools"].items()},
        variables={key: _variable(value) for key, value in found["variables"].items()},
    )


def dropped(document: str, source: str) -> list[str]:
    """What EXPORT_COMMAND's output holds that the file has no field for, by entry and field."""
    found = _read(document, source)
    lost = [f"connection {conn_id}: {name}" for conn_id, fields in found["connections"].items()
            for name, value in fields.items()
            if name not in _EXPORTED_CONNECTION and value not in (None, "")]
    lost += [f"pool {name}: {field}" for name, fields in found["pools"].items() for field, value in fields.items()
             if field not in ("slots", "description") and value not in (None, False, "")]
    lost += [f"variable {key}: description" for key, value in found["variables"].items()
             if _wrapped(value) and value["description"] not in (None, "")]
    return lost


def merge(base: AirflowSettings, exported: AirflowSettings,
          sections: Collection[str] = SECTIONS) -> AirflowSettings:
    """`base` with, in each of `sections`, the exported entries in place of its entries of the same
    name and the new ones after them; its other entries and sections as they are."""
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: not a section of {SETTINGS_FILE} (the sections are "
                         f"{', '.join(SECTIONS)})")
    return AirflowSettings(**{
        section: {**getattr(base, section), **(getattr(exported, section) if section in sections else {})}
        for section in SECTIONS})


def to_yaml(found: AirflowSettings, existing: str | None = None) -> str:
    """The `airflow_settings.yaml` text of `found`. With `existing` (the file's text) the entries of
    `found` are written into it: one with the id or name of one of the file's replaces it where it is
    (unless it says the same already), a new one goes at the end of its section; the file's other
    entries (the template's placeholders too), sections and the comments at its top stay, its other
    comments are lost. `settings.parse` of the text gives `merge(settings.parse(existing), found)`."""
    existing = (existing or "").removeprefix("\ufeff")
    before = settings.parse(existing, SETTINGS_FILE)
    document = yaml.load(existing, Loader=UntrustedLoader) or {}  # noqa: S506 - a SafeLoader subclass
    airflow = document.get("airflow") or {}
    for section in SECTIONS:
        entries: Mapping[str, Any] = getattr(found, section)
        if not entries:
            continue
        key, render, written = _NAME_KEYS[section], _RENDER[section], list(airflow.get(section) or [])
        where = {str(entry[key]): number for number, entry in enumerate(written)
                 if isinstance(entry, dict) and entry.get(key) not in (None, "")}
        for name, value in entries.items():
            if name not in where:
                written.append(render(name, value))
            elif getattr(before, section)[name] != value:
                written[where[name]] = render(name, value)
        airflow[section] = written
    document["airflow"] = airflow
    return _header(existing) + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                                         width=1 << 20)


def changes(before: AirflowSettings, after: AirflowSettings) -> list[str]:
    """Each entry of either, by name, as added, changed, unchanged or removed (never a value)."""
    found = []
    for section in SECTIONS:
        old, new = getattr(before, section), getattr(after, section)
        for name in [*new, *(name for name in old if name not in new)]:
            state = ("added" if name not in old else "removed" if name not in new
                     else "unchanged" if old[name] == new[name] else "changed")
            found.append(f"{section[:-1]} {name} {state}")
    return found


# -- reading the export ------------------------------------------------------------------------


def _read(document: str, source: str) -> dict[str, dict[str, Any]]:
    try:
        found = json.loads(document)
    except json.JSONDecodeError as error:  # its msg quotes nothing of the document
        raise UsageError(f"{source}: not the JSON document of the export ({error.msg}: line {error.lineno}, "
                         f"column {error.colno})") from None
    if not isinstance(found, dict) or sorted(found) != sorted(SECTIONS):
        what = f"the keys {', '.join(map(str, found))}" if isinstance(found, dict) else settings._kind(found)
        raise UsageError(f"{source}: a JSON object of {', '.join(SECTIONS)} is expected, not {what}")
    for section, entries in found.items():
        if not isinstance(entries, dict):
            raise UsageError(f"{source}: {section}: a JSON object is expected, not {settings._kind(entries)}")
        if "" in entries:
            raise UsageError(f"{source}: {section}: one without a name, which {SETTINGS_FILE} cannot hold")
        for name, entry in entries.items():
            if section != "variables" and not isinstance(entry, dict):
                kind = settings._kind(entry)
                raise UsageError(f"{source}: {section[:-1]} {name}: a JSON object is expected, not {kind}")
    return found


def _connection(at: str, conn_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    if not settings._ID.fullmatch(conn_id):
        raise UsageError(f"{at}: Airflow's import takes ids of letters, digits, `_`, `.` and `-` (at most 200); "
                         "rename the connection to export it")
    entry: dict[str, Any] = {"conn_id": conn_id}
    for name, key in _EXPORTED_CONNECTION.items():
        value = fields.get(name)
        if name == "port":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise UsageError(f"{at}: port: a whole number is expected, not {settings._kind(value)}")
        elif value is not None and not isinstance(value, str):
            raise UsageError(f"{at}: {name}: text is expected, not {settings._kind(value)}")
        entry[key] = value
    if entry["conn_extra"]:
        try:
            extra = json.loads(entry["conn_extra"])
        except json.JSONDecodeError:
            extra = None
        if not isinstance(extra, dict):
            raise UsageError(f"{at}: extra: not a JSON object, which {SETTINGS_FILE} takes")
        entry["conn_extra"] = extra or None  # {} is no extra
    return settings._connection(at, entry)


def _pool(at: str, fields: dict[str, Any]) -> dict[str, Any]:
    description = fields.get("description")
    if description is not None and not isinstance(description, str):
        raise UsageError(f"{at}: description: text is expected, not {settings._kind(description)}")
    return settings._pool(at, {"pool_slot": fields.get("slots"), "pool_description": description})


def _variable(value: Any) -> str:
    if _wrapped(value):
        value = value["value"]
    # What the loader makes of a mapping or list, and Airflow's import of anything but text.
    return value if isinstance(value, str) else json.dumps(value)


def _wrapped(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == _WRAPPER


# -- writing the file --------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """As the Astro CLI's template is written: lists indented under their key, nothing (not `null`)
    for no value; no anchors; text of several lines as a block (PyYAML quotes it instead where a
    block would not read back the same)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", ""))


def _connection_entry(conn_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"conn_id": conn_id}
    for key, name in settings._CONNECTION_FIELDS.items():
        if fields.get(name) not in (None, ""):
            entry[key] = _readable(fields[name]) if name == "extra_dejson" else fields[name]
    return entry


def _pool_entry(name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    entry = {"pool_name": name, "pool_slot": fields["slots"]}
    if fields.get("description"):
        entry["pool_description"] = fields["description"]
    return entry


def _variable_entry(key: str, text: str) -> dict[str, Any]:
    """A JSON object or list as YAML where the loader makes the same text of it again, else the text."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    readable = isinstance(value, (dict, list)) and json.dumps(_reread(value)) == text
    return {"variable_name": key, "variable_value": value if readable else text}


def _readable(extra: dict[str, Any]) -> Any:
    """An extra as a mapping where YAML reads it back the same, else as its JSON text (the loader takes both)."""
    return extra if _reread(extra) == extra else json.dumps(extra)


def _reread(value: Any) -> Any:
    return yaml.safe_load(yaml.dump(value, Dumper=_Dumper, allow_unicode=True, width=1 << 20))


_RENDER: dict[str, Callable[[str, Any], dict[str, Any]]] = {
    "connections": _connection_entry, "pools": _pool_entry, "variables": _variable_entry}


def _header(existing: str) -> str:
    """The comments at the top of the file (the Astro CLI's template has its explanations there)."""
    lines = []
    for line in existing.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        lines.append(line)
    header = "\n".join(lines).strip("\n")
    return f"{header}\n" if header else ""
