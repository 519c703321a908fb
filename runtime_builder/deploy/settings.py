"""A project's `airflow_settings.yaml`: the connections, pools and Variables a local deployment
starts with, in the file the Astro CLI reads for `astro dev start`. Pure, but for `load`.

    airflow:
      connections:
        - conn_id: my_db
          conn_type: postgres
          conn_host: db.example.com     # also conn_schema, conn_login, conn_password, conn_port,
          conn_extra: {sslmode: require}  # conn_extra: a mapping, or JSON object text
        - conn_id: my_api
          conn_uri: https://user:secret@api.example.com   # a URI instead of the separate fields
      pools:
        - pool_name: warehouse
          pool_slot: 4                  # -1: no limit
          pool_description: one warehouse, four sessions
      variables:
        - variable_name: environment
          variable_value: local         # a mapping or a list is stored as JSON text

An entry whose fields are all empty (the placeholders of the Astro CLI's template) is skipped.
Anything else that Airflow would not take as it is written is refused before anything starts,
naming the file, the entry and the field, never a value: the file holds passwords. The
deployment imports what remains with Airflow's own `connections`, `pools` and `variables
import` commands, once, after migrating its database and before its components start.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from .. import contract
from ..errors import UsageError
from ..matrix.reader import UntrustedLoader

SETTINGS_FILE = contract.SETTINGS_FILE
# Where the deployment's one-shot container finds the files `import_files` makes.
IMPORT_DIRECTORY = "/tmp/runtime-settings"
# The connection ids Airflow's import takes (airflow.utils.helpers.validate_key, max_length=200).
_ID = re.compile(r"[\w.-]{1,200}")
# What Airflow's import commands print for an entry they did not import (and exit 0).
SKIPPED = ("Could not import", "failed to be updated")
_CONNECTION_FIELDS = {  # the file's names -> the names of Airflow's connection import file
    "conn_type": "conn_type", "conn_host": "host", "conn_schema": "schema", "conn_login": "login",
    "conn_password": "password", "conn_port": "port", "conn_extra": "extra_dejson", "conn_uri": "uri",
}
_SECTIONS: dict[str, tuple[str, ...]] = {
    "connections": ("conn_id", *_CONNECTION_FIELDS),
    "pools": ("pool_name", "pool_slot", "pool_description"),
    "variables": ("variable_name", "variable_value"),
}


@dataclass(frozen=True)
class AirflowSettings:
    """What a deployment imports: each section in the form of Airflow's own import files."""

    connections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # conn_id -> fields
    pools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> slots, description
    variables: Mapping[str, str] = field(default_factory=dict)  # key -> value

    def __bool__(self) -> bool:
        return bool(self.connections or self.pools or self.variables)

    def summary(self) -> str:
        """What will be imported, by name (names are not secrets; values may be)."""
        parts = [f"{len(entries)} {section if len(entries) > 1 else section[:-1]} ({', '.join(entries)})"
                 for section, entries in (("connections", self.connections), ("pools", self.pools),
                                          ("variables", self.variables)) if entries]
        return ", ".join(parts)

    def import_files(self) -> dict[str, str]:
        """The JSON files Airflow's import commands read, by name, for the sections that have entries."""
        sections = {"connections": self.connections, "pools": self.pools, "variables": self.variables}
        return {f"{section}.json": json.dumps(entries, indent=2, sort_keys=True) + "\n"
                for section, entries in sections.items() if entries}

    def import_archive(self) -> bytes:
        """`import_files` in IMPORT_DIRECTORY, as a tar to unpack at / in the container that imports
        them, readable by any user: it runs as the image's user or an arbitrary uid, and is the
        deployment's own, removed once it is done."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            folder = tarfile.TarInfo(IMPORT_DIRECTORY.lstrip("/"))
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(folder)
            for name, text in sorted(self.import_files().items()):
                data = text.encode()
                member = tarfile.TarInfo(f"{folder.name}/{name}")
                member.size, member.mode = len(data), 0o644
                archive.addfile(member, io.BytesIO(data))
        return buffer.getvalue()

    def import_command(self) -> tuple[str, ...]:
        """One command that imports every file of `import_files` from IMPORT_DIRECTORY and fails
        when any entry is not imported: Airflow's commands exit 0 after printing that they skipped
        one (SKIPPED), so their output is read too. Existing connections are replaced: Airflow 2's
        `db migrate` creates default ones (`postgres_default`, ...) a project may define otherwise."""
        steps = {
            "connections.json": "airflow connections import --overwrite",
            "pools.json": "airflow pools import",
            "variables.json": "airflow variables import",
        }
        imports = "".join(f'{steps[name]} {IMPORT_DIRECTORY}/{name} 2>&1 | tee -a "$log"; '
                          for name in self.import_files())
        skipped = " ".join(f"-e {shlex.quote(phrase)}" for phrase in SKIPPED)
        return ("bash", "-c", f'set -eo pipefail; log="$(mktemp)"; {imports}'
                              f'if grep -q {skipped} "$log"; then echo "not every entry was imported"; exit 1; fi')

    def environment_names(self) -> dict[str, str]:
        """The variables that would hide an entry from Airflow, which reads them before its
        database (`AIRFLOW_CONN_<ID>`, `AIRFLOW_VAR_<KEY>`), to what they would hide."""
        found = {f"AIRFLOW_CONN_{conn_id.upper()}": f"connection {conn_id}" for conn_id in self.connections}
        found |= {f"AIRFLOW_VAR_{key.upper()}": f"variable {key}" for key in self.variables}
        return found


def parse(text: str, source: str) -> AirflowSettings:
    """The settings of an `airflow_settings.yaml` text; UsageError naming `source`, the entry and
    the field of anything Airflow would not take (never a value)."""
    try:
        document = yaml.load(text, Loader=UntrustedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        # Not str(error): PyYAML quotes the offending line, which may hold a password.
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not YAML"
        raise UsageError(f"{source}{where}: {problem}") from None
    if document is None:
        return AirflowSettings()
    _keys(document, ("airflow",), source)
    airflow = document.get("airflow")
    if airflow is None:
        return AirflowSettings()
    _keys(airflow, tuple(_SECTIONS), f"{source}: airflow")
    entries = {section: _entries(airflow.get(section), f"{source}: airflow.{section}", fields)
               for section, fields in _SECTIONS.items()}
    return AirflowSettings(
        connections=_named(entries["connections"], "conn_id", _connection),
        pools=_named(entries["pools"], "pool_name", _pool),
        variables=_named(entries["variables"], "variable_name", _variable),
    )


def load(folder: Path) -> AirflowSettings:
    """The project's settings; none when it has no `airflow_settings.yaml`."""
    return load_file(folder / SETTINGS_FILE)


def load_file(path: Path) -> AirflowSettings:
    """The settings of a file in this format; none when there is no such file."""
    if not path.is_file():
        return AirflowSettings()
    return parse(path.read_text(encoding="utf-8-sig", errors="replace"), str(path))


# -- the parts ---------------------------------------------------------------------------------


def _keys(value: object, allowed: tuple[str, ...], where: str) -> None:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: a mapping of {', '.join(allowed)} is expected, not {_kind(value)}")
    unknown = [str(key) for key in value if key not in allowed]
    if unknown:
        raise UsageError(f"{where}: {', '.join(unknown)}: not a field here (the fields are {', '.join(allowed)})")


def _entries(value: object, where: str, fields: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(where, entry) of each entry that is not all placeholders."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"{where}: a list of entries is expected, not {_kind(value)}")
    found = []
    for number, entry in enumerate(value, start=1):
        at = f"{where} entry {number}"
        if entry is None:
            continue
        _keys(entry, fields, at)
        if all(item in (None, "") for item in entry.values()):
            continue  # the template's placeholders
        found.append((at, entry))
    return found


def _named(entries: list[tuple[str, dict[str, Any]]], key: str,
           make: Callable[[str, dict[str, Any]], Any]) -> dict[str, Any]:
    named: dict[str, Any] = {}
    first: dict[str, str] = {}
    for at, entry in entries:
        name = _text(entry, key, at, required=True)
        if key == "conn_id" and not _ID.fullmatch(name):
            raise UsageError(f"{at}: {key} {name!r}: Airflow's import takes letters, digits, `_`, `.` and `-` "
                             "(at most 200)")
        if name in named:
            raise UsageError(f"{at}: {key} {name!r} again (first in {first[name]})")
        named[name], first[name] = make(at, entry), at
    return named


def _connection(at: str, entry: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, name in _CONNECTION_FIELDS.items():
        if entry.get(key) in (None, ""):
            continue
        if key == "conn_port":
            found[name] = _integer(entry, key, at, 1, 65535)
        elif key == "conn_extra":
            found[name] = _extra(entry[key], at)
        else:
            found[name] = _text(entry, key, at)
    if "uri" in found and len(found) > 1:
        others = ", ".join(key for key, name in _CONNECTION_FIELDS.items() if name in found and name != "uri")
        raise UsageError(f"{at}: conn_uri and {others}: a connection is a URI or separate fields, not both")
    if "uri" not in found and "conn_type" not in found:
        raise UsageError(f"{at}: conn_type (or conn_uri) is missing: Airflow needs a connection's type")
    return found


def _pool(at: str, entry: dict[str, Any]) -> dict[str, Any]:
    if entry.get("pool_slot") in (None, ""):
        raise UsageError(f"{at}: pool_slot is missing: how many tasks the pool runs at once (-1: no limit)")
    return {"slots": _integer(entry, "pool_slot", at, -1, None),
            "description": _text(entry, "pool_description", at) if entry.get("pool_description") else "",
            "include_deferred": False}


def _variable(at: str, entry: dict[str, Any]) -> str:
    value = entry.get("variable_value")
    if isinstance(value, (dict, list)):
        return json.dumps(_json(value, at, "variable_value"))
    return "" if value is None else _text(entry, "variable_value", at)


def _text(entry: dict[str, Any], key: str, at: str, required: bool = False) -> str:
    value = entry.get(key)
    if value in (None, ""):
        if required:
            raise UsageError(f"{at}: {key} is missing")
        return ""
    # YAML reads yes/no/on/off as booleans and 1.10 as the number 1.1: what the user wrote is lost.
    if isinstance(value, (bool, float, date)):
        raise UsageError(f"{at}: {key}: YAML reads this value as {_kind(value)}, not as the text written; "
                         "put it in quotes")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise UsageError(f"{at}: {key}: text is expected, not {_kind(value)}")
    return value


def _integer(entry: dict[str, Any], key: str, at: str, lowest: int, highest: int | None) -> int:
    value = entry[key]
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{at}: {key}: a whole number is expected, not {_kind(value)}")
    if value < lowest or (highest is not None and value > highest):
        bounds = f"from {lowest} to {highest}" if highest is not None else f"{lowest} or more"
        raise UsageError(f"{at}: {key} {value}: {bounds} is expected")
    return value


def _extra(value: object, at: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UsageError(f"{at}: conn_extra: text that is not JSON (a mapping, or a JSON object in "
                             "quotes, is expected)") from None
    if not isinstance(value, dict):
        raise UsageError(f"{at}: conn_extra: a mapping is expected, not {_kind(value)}")
    return _json(value, at, "conn_extra")


def _json(value: Any, at: str, key: str) -> Any:
    """A mapping or list going into Airflow's JSON import as it is: YAML reads `2026-01-01` as a date and
    `!!binary` as bytes, which JSON has no form for (json.dumps raised TypeError when the files were written)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        _json(item, at, key)
    if not isinstance(value, (dict, list, str, int, float, bool, type(None))):
        raise UsageError(f"{at}: {key}: YAML reads a value in it as {_kind(value)}, which JSON has no form for; "
                         "put it in quotes")
    return value


def _kind(value: object) -> str:
    """What a YAML value is, in words, without the value itself."""
    kinds = {bool: "a true/false value", int: "a number", float: "a number", str: "text", list: "a list",
             dict: "a mapping", type(None): "nothing", date: "a date", datetime: "a date and time",
             bytes: "binary data"}
    return next((word for kind, word in kinds.items() if type(value) is kind), type(value).__name__)
