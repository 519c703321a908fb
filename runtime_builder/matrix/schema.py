"""Read `versions.yaml` into a typed `Matrix`, reporting every structural problem at once.

The file's shape (see the comments in versions.yaml itself):

    schema, policy, build_tools, airflow_pythons, suites, airflow_majors, lines[].releases[]

Values shared by a line or an Airflow major are written once and inherited here, so the
rest of the code only ever sees fully resolved `Release` objects.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from ..contract import Change
from ..in_image import patching
from ..lock import inhouse
from .model import (
    Backport,
    Channel,
    Constraint,
    ImageChange,
    InHouse,
    Matrix,
    Platform,
    Policy,
    Release,
    Suite,
    Version,
)

SCHEMA_VERSION = 1
PYTHON_VERSION = re.compile(r"^3\.(0|[1-9]\d*)$")
AIRFLOW_MINOR = re.compile(r"^[1-9]\d*\.(0|[1-9]\d*)$")
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


class MatrixError(Exception):
    """versions.yaml is not valid; carries one problem per mistake."""

    def __init__(self, filename: str, problems: list[Problem]) -> None:
        self.filename = filename
        self.problems = problems
        super().__init__("\n".join(p.render(filename) for p in problems))


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Walks the raw document, collecting problems rather than stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem(where, field, message))

    def mapping(self, value: Any, where: str, field: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            self.problem(where, field, f"must be a mapping, got {_describe(value)}")
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
            self.problem(where, field, f"must be a string, got {_describe(value)}")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(where, field, f"{value!r} is not {what}")
            return None
        return value

    def integer(self, value: Any, where: str, field: str, minimum: int = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(where, field, f"must be an integer, got {_describe(value)}")
            return None
        if value < minimum:
            self.problem(where, field, f"{value} must be at least {minimum}")
            return None
        return value

    def boolean(self, value: Any, where: str, field: str) -> bool | None:
        if not isinstance(value, bool):
            self.problem(where, field, f"must be true or false, got {_describe(value)}")
            return None
        return value

    def day(self, value: Any, where: str, field: str) -> date | None:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        self.problem(where, field, f"must be a date written YYYY-MM-DD, got {_describe(value)}")
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
            self.problem(where, field, f"must be a non-empty list, got {_describe(value)}")
            return []
        items = [check(item, f"{field}[{index}]") for index, item in enumerate(value)]
        for item in {i for i in items if i is not None and items.count(i) > 1}:
            self.problem(where, field, f"{item!r} is listed twice")
        return [i for i in items if i is not None]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"


def load_matrix(path: Path) -> Matrix:
    """Parse and fully validate versions.yaml; raise MatrixError listing every problem."""
    from .rules import check_rules  # the rules need the typed matrix this module builds

    filename = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MatrixError(filename, [Problem("", "", f"cannot read the file: {error.strerror}")]) from error
    matrix, problems = parse_document(text, path.parent)
    if matrix is not None:
        problems += check_rules(matrix)
    if problems:
        raise MatrixError(filename, problems)
    assert matrix is not None
    return matrix


def parse_document(text: str, root: Path | None = None) -> tuple[Matrix | None, list[Problem]]:
    """The structural half of validation: types, keys, formats, inheritance.

    `root`: the folder versions.yaml sits in. The releases' `patches:` files are read from
    its patches/, their `in_house:` packages from its inhouse/; both are read and checked
    here, so a broken one never renders. Without a root, a release using either is a problem.
    """
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or str(error)
        return None, [Problem(where, "", f"YAML syntax error: {reason}")]
    except ValueError as error:  # PyYAML's own date parsing, e.g. 2026-02-30
        return None, [Problem("", "", f"invalid value: {error} (dates are YYYY-MM-DD and must exist)")]
    reader = _Reader()
    top = reader.mapping(
        raw, "", "(top level)",
        allowed={"schema", "policy", "build_tools", "airflow_pythons", "suites", "airflow_majors", "image_changes",
                 "lines"},
        required={"schema", "policy", "build_tools", "airflow_pythons", "suites", "airflow_majors", "lines"},
    )
    if reader.problems:
        return None, reader.problems
    if type(top["schema"]) is not int or top["schema"] != SCHEMA_VERSION:
        reader.problem("", "schema", f"{top['schema']!r} is not supported; this build.py reads schema {SCHEMA_VERSION}")
    policy = _policy(reader, top["policy"])
    uv_version, flit_core_version = _build_tools(reader, top["build_tools"])
    airflow_pythons = _airflow_pythons(reader, top["airflow_pythons"])
    suites = _suites(reader, top["suites"])
    major_env = _airflow_majors(reader, top["airflow_majors"])
    changes = _image_changes(reader, top.get("image_changes"))
    releases = list(_lines(reader, top["lines"], policy, suites, major_env, root))
    if reader.problems or policy is None or uv_version is None:
        return None, reader.problems
    releases = _with_changes(reader, releases, changes)
    if reader.problems:
        return None, reader.problems
    users = [str(r.version) for r in releases if r.in_house]
    if users and flit_core_version is None:
        return None, [Problem("build_tools", "flit_core", f"missing: Runtime {', '.join(users)} build in-house "
                                                          "packages, which needs an exact flit_core version")]
    matrix = Matrix(
        releases=tuple(sorted(releases, key=lambda r: r.version)),
        policy=policy,
        uv_version=uv_version,
        airflow_pythons=tuple(sorted(airflow_pythons.items())),
        flit_core_version=flit_core_version,
    )
    return matrix, []


def _policy(reader: _Reader, raw: Any) -> Policy | None:
    fields = {"maintenance_months", "basic_support_months", "maintenance_ends_at_month_end"}
    raw = reader.mapping(raw, "policy", "", fields, fields)
    months = reader.integer(raw.get("maintenance_months"), "policy", "maintenance_months", 1)
    basic = reader.integer(raw.get("basic_support_months"), "policy", "basic_support_months", 0)
    month_end = reader.boolean(raw.get("maintenance_ends_at_month_end"), "policy", "maintenance_ends_at_month_end")
    if months is None or basic is None or month_end is None:
        return None
    return Policy(months, basic, month_end)


def _build_tools(reader: _Reader, raw: Any) -> tuple[str | None, str | None]:
    """(uv, flit_core): the builder stage's tools; flit_core only where in-house packages are built."""
    raw = reader.mapping(raw, "build_tools", "", {"uv", "flit_core"}, {"uv"})
    exact = re.compile(r"^\d+\.\d+\.\d+$")
    uv = reader.string(raw.get("uv"), "build_tools", "uv", exact, "an exact uv version")
    flit = reader.string(raw["flit_core"], "build_tools", "flit_core", exact, "an exact flit_core version") \
        if "flit_core" in raw else None
    return uv, flit


def _airflow_pythons(reader: _Reader, raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict) or not raw:
        reader.problem("airflow_pythons", "", f"must map Airflow minors to Python lists, got {_describe(raw)}")
        return {}
    result = {}
    for minor, pythons in raw.items():
        key = reader.string(minor, "airflow_pythons", str(minor), AIRFLOW_MINOR, "an Airflow minor such as '3.3'")
        values = reader.string_list(pythons, "airflow_pythons", str(minor), _python_check(reader, "airflow_pythons"))
        if key is not None:
            result[key] = tuple(values)
    return result


def _python_check(reader: _Reader, where: str) -> Callable[[Any, str], str | None]:
    return lambda value, field: reader.string(value, where, field, PYTHON_VERSION, "a Python version such as '3.13'")


def _suites(reader: _Reader, raw: Any) -> dict[str, Suite]:
    if not isinstance(raw, dict) or not raw:
        reader.problem("suites", "", f"must map Debian suite names to their data, got {_describe(raw)}")
        return {}
    result = {}
    for name, data in raw.items():
        where = f"suites > {name}"
        data = reader.mapping(data, where, "", {"debian", "python"}, {"debian", "python"})
        debian = reader.string(data.get("debian"), where, "debian", re.compile(r"^\d+$"), "a Debian major version")
        python = reader.string(data.get("python"), where, "python", PYTHON_VERSION, "a Python version")
        if debian and python:
            result[name] = Suite(name, debian, python)
    return result


def _environment(reader: _Reader, raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.problem(where, "environment", f"must be a mapping of variable to value, got {_describe(raw)}")
        return {}
    result = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            reader.problem(where, "environment", f"{name!r} is not a valid variable name (A-Z, 0-9, _)")
        elif not isinstance(value, str):
            reader.problem(where, f"environment > {name}", f"must be a quoted string, got {_describe(value)}")
        else:
            result[name] = value
    return result


def _airflow_majors(reader: _Reader, raw: Any) -> dict[int, dict[str, str]]:
    if not isinstance(raw, dict) or not raw:
        reader.problem("airflow_majors", "", f"must map Airflow majors to their defaults, got {_describe(raw)}")
        return {}
    result = {}
    for major, data in raw.items():
        where = f"airflow_majors > {major}"
        if not (isinstance(major, str) and major.isdigit()):
            reader.problem(where, "", f"{major!r} must be a quoted Airflow major such as '3'")
            continue
        data = reader.mapping(data, where, "", {"environment"}, {"environment"})
        result[int(major)] = _environment(reader, data.get("environment"), where)
    return result


def _packages(reader: _Reader, raw: Any, where: str) -> dict[str, str]:
    """Pins keyed by canonical name, so `Foo_Bar` and `foo-bar` count as the same package."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.problem(where, "packages", f"must be a mapping of PyPI name to exact version, got {_describe(raw)}")
        return {}
    result: dict[str, str] = {}
    spelled: dict[str, str] = {}  # canonical name -> the spelling written first
    for name, version in raw.items():
        field = f"packages > {name}"
        if not isinstance(name, str) or not PACKAGE_NAME.match(name):
            reader.problem(where, "packages", f"{name!r} is not a valid package name")
            continue
        canonical = canonicalize_name(name)
        if canonical == "apache-airflow":
            reader.problem(where, field, "apache-airflow is set by the 'airflow' field, not pinned as a package")
            continue
        if canonical in spelled:
            reader.problem(where, field, f"pinned twice (as {spelled[canonical]!r} and {name!r})")
            continue
        spelled[canonical] = name
        text = reader.string(version, where, field)
        if text is None:
            continue
        try:
            if str(Pep440(text)) != text:
                raise InvalidVersion(text)
        except InvalidVersion:
            reader.problem(where, field, f"{text!r} is not an exact, normalized version (PEP 440, e.g. 3.10.2)")
            continue
        result[canonical] = text
    return result


LINE_KEYS = {
    "runtime", "airflow", "suite", "python", "pythons", "architectures", "packages", "environment",
    "end_of_maintenance", "end_of_basic_support", "releases", "in_house", "constraints",
}
CONSTRAINT_KEYS = {"requirement", "reason", "since"}
CHANGE_KEYS = {"name", "summary", "since", "environment"}
CHANGE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RELEASE_KEYS = {"version", "airflow", "released", "channel", "packages", "environment", "known_issues", "yanked",
                "patches", "in_house"}
FLIT_BACKEND = "flit_core.buildapi"  # the one build backend the builder stage has
PATCH_KEYS = {"file", "summary"}
PATCHES_DIR = "patches"
PATCH_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*\.patch$")


def _lines(reader: _Reader, raw: Any, policy: Policy | None, suites: dict[str, Suite],
           major_env: dict[int, dict[str, str]], root: Path | None) -> Iterator[Release]:
    if not isinstance(raw, list) or not raw:
        reader.problem("lines", "", f"must be a non-empty list of Runtime lines, got {_describe(raw)}")
        return
    first_index: dict[Any, int] = {}
    for index, line in enumerate(raw):
        runtime = line.get("runtime") if isinstance(line, dict) else None
        where = f"lines[{index}]" + (f" (Runtime {runtime})" if runtime is not None else "")
        if isinstance(runtime, int) and runtime in first_index:
            reader.problem(where, "runtime", f"line {runtime} is already defined at lines[{first_index[runtime]}]; "
                                             "put all its releases under one entry")
            continue
        if isinstance(runtime, int):
            first_index[runtime] = index
        line = reader.mapping(line, where, "", LINE_KEYS, {"runtime", "airflow", "suite", "python", "pythons",
                                                          "architectures", "releases"})
        if not line:
            continue
        yield from _line(reader, line, where, policy, suites, major_env, root)


def _line(reader: _Reader, line: dict, where: str, policy: Policy | None, suites: dict[str, Suite],
          major_env: dict[int, dict[str, str]], root: Path | None) -> Iterator[Release]:
    runtime = reader.integer(line.get("runtime"), where, "runtime", 1)
    airflow_minor = reader.string(line.get("airflow"), where, "airflow", AIRFLOW_MINOR,
                                  "an Airflow minor such as '3.3'")
    suite_name = reader.string(line.get("suite"), where, "suite")
    suite = suites.get(suite_name) if suite_name else None
    if suite_name and suite is None:
        reader.problem(where, "suite", f"unknown suite {suite_name!r}; allowed: {', '.join(sorted(suites))}")
    python = reader.string(line.get("python"), where, "python", PYTHON_VERSION, "a Python version such as '3.13'")
    pythons = reader.string_list(line.get("pythons"), where, "pythons", _python_check(reader, where))
    platforms = reader.string_list(line.get("architectures"), where, "architectures", _platform_check(reader, where))
    packages = _packages(reader, line.get("packages"), where)
    environment = _environment(reader, line.get("environment"), where)
    in_house = _in_house(reader, line.get("in_house"), where, root) if "in_house" in line else ()
    constraints = _constraints(reader, line.get("constraints"), where, runtime)
    end_of_maintenance = reader.day(line["end_of_maintenance"], where, "end_of_maintenance") \
        if "end_of_maintenance" in line else None
    end_of_basic = reader.day(line["end_of_basic_support"], where, "end_of_basic_support") \
        if "end_of_basic_support" in line else None
    raw_releases = line.get("releases")
    if not isinstance(raw_releases, list) or not raw_releases:
        reader.problem(where, "releases", f"must be a non-empty list of releases, got {_describe(raw_releases)}")
        return
    parsed = [_release_fields(reader, raw, f"{where} > releases[{i}]", root) for i, raw in enumerate(raw_releases)]
    complete = [p for p in parsed if p is not None]
    if None in (runtime, airflow_minor, suite, python, policy) or len(complete) != len(parsed):
        return
    assert runtime is not None and airflow_minor is not None and suite is not None and python is not None
    assert policy is not None
    first_release = min(p["released"] for p in complete)
    end_of_maintenance = end_of_maintenance or maintenance_end(first_release, policy)
    end_of_basic = end_of_basic or add_months(end_of_maintenance, policy.basic_support_months,
                                              policy.maintenance_ends_at_month_end)
    airflow_major = int(airflow_minor.split(".")[0])
    if airflow_major not in major_env:
        reader.problem(where, "airflow", f"no defaults for Airflow major {airflow_major} under airflow_majors")
        return
    for fields in complete:
        if fields["version"].major != runtime:
            reader.problem(fields["where"], "version",
                           f"{fields['version']} is not in Runtime line {runtime} (its major must be {runtime})")
            continue
        if fields["airflow"].minor_line != airflow_minor:
            reader.problem(fields["where"], "airflow",
                           f"Airflow {fields['airflow']} is not in this line's Airflow {airflow_minor}; "
                           "a new Airflow minor needs a new Runtime major")
            continue
        yield Release(
            version=fields["version"],
            airflow=fields["airflow"],
            suite=suite,
            python=python,
            pythons=tuple(pythons),
            platforms=tuple(platforms),
            packages=tuple(sorted((packages | fields["packages"]).items())),
            environment=tuple(sorted((major_env[airflow_major] | environment | fields["environment"]).items())),
            released=fields["released"],
            channel=fields["channel"],
            end_of_maintenance=end_of_maintenance,
            end_of_basic_support=end_of_basic,
            known_issues=fields["known_issues"],
            yanked=fields["yanked"],
            patches=fields["patches"],
            in_house=fields["in_house"] if fields["in_house"] is not None else in_house,
            constraints=tuple(c for c in constraints if c.since is None or c.since <= fields["version"]),
        )


def _constraints(reader: _Reader, raw: Any, where: str, runtime: int | None) -> tuple[Constraint, ...]:
    """Optional: bounds on packages the line installs without pinning them, each with its reason."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        reader.problem(where, "constraints",
                       f"must be a non-empty list of {{requirement, reason}}, got {_describe(raw)}")
        return ()
    found: list[Constraint] = []
    for index, item in enumerate(raw):
        field = f"constraints[{index}]"
        item = reader.mapping(item, where, field, CONSTRAINT_KEYS, {"requirement", "reason"})
        if not {"requirement", "reason"} <= set(item):
            continue
        text = reader.string(item["requirement"], where, f"{field}.requirement")
        reason = reader.string(item["reason"], where, f"{field}.reason")
        since = reader.version(item["since"], where, f"{field}.since") if "since" in item else None
        if reason is not None and not reason.strip():
            reader.problem(where, f"{field}.reason", "a constraint needs its reason (a non-empty string)")
            continue
        if text is None or reason is None or ("since" in item and since is None):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            reader.problem(where, f"{field}.requirement", f"{text!r} is not a requirement: {error}")
            continue
        if requirement.marker or requirement.url or requirement.extras or not requirement.specifier:
            reader.problem(where, f"{field}.requirement", f"{text!r}: a constraint is a package name and version "
                                                          "bounds only, e.g. 'celery<5.7'")
            continue
        if canonicalize_name(requirement.name) == "apache-airflow":
            reader.problem(where, f"{field}.requirement", "apache-airflow is set by the 'airflow' field")
            continue
        if since is not None and runtime is not None and since.major != runtime:
            reader.problem(where, f"{field}.since", f"{since} is not a release of line {runtime}")
            continue
        found.append(Constraint(str(requirement), reason.strip(), since))
    return tuple(found)


def _image_changes(reader: _Reader, raw: Any) -> list[ImageChange]:
    """Optional: the image changes and the releases that made them (see model.ImageChange)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        reader.problem("image_changes", "", f"must be a non-empty list of changes, got {_describe(raw)}")
        return []
    known = {change.value for change in Change}
    found: list[ImageChange] = []
    for index, item in enumerate(raw):
        where = f"image_changes[{index}]"
        item = reader.mapping(item, where, "", CHANGE_KEYS, {"name", "summary", "since"})
        if not {"name", "summary", "since"} <= set(item):
            continue
        name = reader.string(item["name"], where, "name", CHANGE_NAME, "a lower-case name such as 'examples-off'")
        summary = reader.string(item["summary"], where, "summary")
        since = reader.string_list(item["since"], where, "since",
                                   lambda value, field, at=where: reader.version(value, at, field))
        environment = _environment(reader, item.get("environment"), where)
        if name is None or summary is None or not since:
            continue
        if not summary.strip():
            reader.problem(where, "summary", "a change needs its summary (a non-empty string)")
        elif name in {change.name for change in found}:
            reader.problem(where, "name", f"{name!r} is listed twice")
        elif name not in known and not environment:
            reader.problem(where, "name", f"{name!r} is not a change the templates know and sets no environment; "
                                          f"known: {', '.join(sorted(known))}")
        elif len({v.major for v in since}) != len(since):
            reader.problem(where, "since", "names two releases of one line; a change starts once per line")
        else:
            found.append(ImageChange(name, summary.strip(), tuple(sorted(since)), tuple(sorted(environment.items()))))
    return found


def _with_changes(reader: _Reader, releases: list[Release], changes: list[ImageChange]) -> list[Release]:
    """Each release with the image changes it has, and their default variables under its own."""
    versions = {release.version for release in releases}
    for index, change in enumerate(changes):
        for version in change.since:
            if version not in versions:
                reader.problem(f"image_changes[{index}] ({change.name})", "since",
                               f"{version} is not a release in versions.yaml")
    resolved = []
    for release in releases:
        has = tuple(change for change in changes if change.applies_to(release.version))
        environment = {}
        for change in has:
            environment.update(change.environment)
        environment.update(release.environment)
        resolved.append(replace(release, changes=has, environment=tuple(sorted(environment.items()))))
    return resolved


def _platform_check(reader: _Reader, where: str) -> Callable[[Any, str], Platform | None]:
    def check(value: Any, field: str) -> Platform | None:
        text = reader.string(value, where, field)
        if text is None:
            return None
        try:
            return Platform.parse(text)
        except ValueError as error:
            reader.problem(where, field, str(error))
            return None

    return check


def _release_fields(reader: _Reader, raw: Any, where: str, root: Path | None) -> dict | None:
    version_text = raw.get("version") if isinstance(raw, dict) else None
    if isinstance(version_text, str):
        where = f"{where} ({version_text})"
    raw = reader.mapping(raw, where, "", RELEASE_KEYS, {"version", "airflow", "released", "channel"})
    if not raw:
        return None
    before = len(reader.problems)
    version = reader.version(raw.get("version"), where, "version")
    airflow = reader.version(raw.get("airflow"), where, "airflow")
    released = reader.day(raw.get("released"), where, "released")
    channel_text = reader.string(raw.get("channel"), where, "channel")
    channel = None
    if channel_text is not None:
        try:
            channel = Channel(channel_text)
        except ValueError:
            allowed = ", ".join(c.value for c in Channel)
            reader.problem(where, "channel", f"{channel_text!r} is not a channel; allowed: {allowed}")
    yanked = None
    if "yanked" in raw:
        yanked = reader.string(raw["yanked"], where, "yanked")
        if yanked is not None and not yanked.strip():
            reader.problem(where, "yanked", "a yanked release needs its reason (a non-empty string)")
    known_issues = _known_issues(reader, raw.get("known_issues"), where)
    fields = {
        "where": where, "version": version, "airflow": airflow, "released": released, "channel": channel,
        "packages": _packages(reader, raw.get("packages"), where),
        "environment": _environment(reader, raw.get("environment"), where),
        "known_issues": known_issues, "yanked": yanked,
        "patches": _patches(reader, raw.get("patches"), where, root / PATCHES_DIR if root else None),
        "in_house": _in_house(reader, raw["in_house"], where, root) if "in_house" in raw else None,
    }
    return fields if len(reader.problems) == before else None


def _known_issues(reader: _Reader, raw: Any, where: str) -> tuple[str, ...]:
    """Optional: one issue as a string, or a list of them; each must say something."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        reader.problem(where, "known_issues", f"must be a string or a non-empty list of strings, got {_describe(raw)}")
        return ()
    issues = []
    for index, item in enumerate(items):
        field = "known_issues" if isinstance(raw, str) else f"known_issues[{index}]"
        text = reader.string(item, where, field)
        if text is not None and not text.strip():
            reader.problem(where, field, "a known issue needs its text (a non-empty string)")
        elif text is not None:
            issues.append(text.strip())
    return tuple(issues)


def _patches(reader: _Reader, raw: Any, where: str, folder: Path | None) -> tuple[Backport, ...]:
    """Optional: the release's patches to Airflow, each read from `folder`, parsed and checked."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        reader.problem(where, "patches", f"must be a non-empty list of {{file, summary}}, got {_describe(raw)}")
        return ()
    found: list[Backport] = []
    for index, item in enumerate(raw):
        field = f"patches[{index}]"
        item = reader.mapping(item, where, field, PATCH_KEYS, PATCH_KEYS)
        if not set(item) >= PATCH_KEYS:
            continue
        file = reader.string(item["file"], where, f"{field}.file", PATCH_FILE,
                             "a relative path under patches/ ending in .patch, e.g. airflow-3.3.2/0001-fix.patch")
        summary = reader.string(item["summary"], where, f"{field}.summary")
        if summary is not None and not summary.strip():
            reader.problem(where, f"{field}.summary", "a patch needs its summary (a non-empty string)")
        if file is None or summary is None:
            continue
        text = _patch_text(reader, where, f"{field}.file", file, folder)
        if text is None:
            continue
        backport = Backport(file, summary.strip(), text)
        if backport.name in {b.name for b in found}:
            reader.problem(where, f"{field}.file", f"{file!r}: another patch of this release has the file name "
                                                   f"{backport.name!r}; names must be unique in a release")
            continue
        found.append(backport)
    return tuple(found)


def _patch_text(reader: _Reader, where: str, field: str, file: str, folder: Path | None) -> str | None:
    if folder is None:
        reader.problem(where, field, f"{file!r}: no {PATCHES_DIR}/ folder to read it from")
        return None
    try:
        with (folder / file).open(encoding="utf-8", newline="") as handle:  # line endings as committed
            text = handle.read()
    except OSError as error:
        reader.problem(where, field, f"{file!r} cannot be read under {PATCHES_DIR}/: {error.strerror}")
        return None
    try:
        changes = patching.parse(text, file)
    except patching.PatchError as error:
        reader.problem(where, field, f"is not a usable patch: {error}")
        return None
    for change in changes:
        if not change.path.startswith("airflow/") or change.path.startswith("airflow/providers/"):
            reader.problem(where, field, f"{file!r} changes {change.path!r}: a Runtime patch may only change "
                                         "Airflow's own package (airflow/, not airflow/providers/)")
            return None
    return text


def _in_house(reader: _Reader, raw: Any, where: str, root: Path | None) -> tuple[InHouse, ...]:
    """A list of package names, each read from inhouse/<name>/ (an empty list: none)."""
    if not isinstance(raw, list):
        reader.problem(where, "in_house", f"must be a list of package names under {inhouse.DIR}/, got {_describe(raw)}")
        return ()
    found: list[InHouse] = []
    for index, name in enumerate(raw):
        field = f"in_house[{index}]"
        name = reader.string(name, where, field, PACKAGE_NAME, "a package name")
        if name is None:
            continue
        if name in {package.name for package in found}:
            reader.problem(where, field, f"{name!r} is listed twice")
            continue
        package = _load_in_house(name, root / inhouse.DIR / name if root else None)
        if isinstance(package, str):
            reader.problem(where, field, f"{name!r}: {package}")
        else:
            found.append(package)
    return tuple(found)


def _load_in_house(name: str, folder: Path | None) -> InHouse | str:
    """The package in `folder`, or why it cannot be built."""
    if folder is None:
        return f"no {inhouse.DIR}/ folder to read it from"
    pyproject = folder / "pyproject.toml"
    try:
        meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except OSError as error:
        return f"cannot read {inhouse.DIR}/{name}/pyproject.toml: {error.strerror}"
    except tomllib.TOMLDecodeError as error:
        return f"{inhouse.DIR}/{name}/pyproject.toml is not valid TOML: {error}"
    project, backend = meta.get("project", {}), meta.get("build-system", {}).get("build-backend")
    if backend != FLIT_BACKEND:
        return (f"{inhouse.DIR}/{name}/pyproject.toml: build-backend is {backend!r}; "
                f"the builder stage builds with {FLIT_BACKEND!r}")
    if canonicalize_name(str(project.get("name", ""))) != canonicalize_name(name):
        return f"{inhouse.DIR}/{name}/pyproject.toml: [project] name is {project.get('name')!r}, not {name!r}"
    version = project.get("version")
    try:
        Pep440(str(version))
    except InvalidVersion:
        return f"{inhouse.DIR}/{name}/pyproject.toml: [project] version must be a static version, got {version!r}"
    dependencies = project.get("dependencies", [])
    try:
        for requirement in dependencies:
            Requirement(requirement)
    except (InvalidRequirement, TypeError) as error:
        return f"{inhouse.DIR}/{name}/pyproject.toml: a dependency is not a requirement: {error}"
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if "__pycache__" in relative.split("/") or path.suffix == ".pyc" or relative.startswith(("dist/", "build/")):
            continue
        try:
            files.append((relative, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            return f"{inhouse.DIR}/{name}/{relative} cannot be read as UTF-8 text: {error}"
    plugins = tuple(sorted(project.get("entry-points", {}).get("airflow.plugins", {})))
    return InHouse(name, str(version), str(project.get("description", "")), tuple(dependencies), tuple(files), plugins)


def add_months(day: date, months: int, month_end: bool) -> date:
    """`day` moved by whole months; clamped to the month's length, or its last day if month_end."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if month_end else min(day.day, last))


def maintenance_end(first_release: date, policy: Policy) -> date:
    return add_months(first_release, policy.maintenance_months, policy.maintenance_ends_at_month_end)
