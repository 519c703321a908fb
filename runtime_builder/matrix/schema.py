"""Read `versions.yaml` into a typed `Matrix`, reporting every structural problem at once.

The file's shape (see the comments in versions.yaml itself):

    schema, policy, build_tools, airflow_pythons, suites, airflow_majors, lines[].releases[]

Values shared by a line or an Airflow major are written once and inherited here, so the
rest of the code only ever sees fully resolved `Release` objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from ..contract import Change
from ..errors import MatrixError
from ..layout import PATCHES
from . import evolution, lifecycle, sources
from .model import Channel, Matrix, Platform, Policy, Release, Suite
from .reader import PACKAGE_NAME, Problem, Reader, StrictLoader, describe, refusal, unprintable_strings

__all__ = ["MatrixError", "Problem", "parse_document"]  # read through `load`, raised from `reader`

SCHEMA_VERSION = 1
PYTHON_VERSION = re.compile(r"^3\.(0|[1-9]\d*)$")
SUITE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")  # it names image tags and apt sources
AIRFLOW_MINOR = re.compile(r"^[1-9]\d*\.(0|[1-9]\d*)$")


def parse_document(text: str, root: Path | None = None) -> tuple[Matrix | None, list[Problem]]:
    """The structural half of validation: types, keys, formats, inheritance.

    `root`: the folder versions.yaml sits in. The releases' `patches:` files are read from
    its patches/, their `in_house:` packages from its inhouse/; both are read and checked
    here, so a broken one never renders. Without a root, a release using either is a problem.
    """
    try:
        raw = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or str(error)
        return None, [Problem(where, "", f"YAML syntax error: {reason}")]
    except ValueError as error:  # PyYAML's own date parsing, e.g. 2026-02-30
        return None, [Problem("", "", f"invalid value: {error} (dates are YYYY-MM-DD and must exist)")]
    reader = Reader()
    # Every string first, wherever it sits: one that is not one line of printable text never
    # reaches a field's reader (a constraint's reason with U+2028 was a pip option in every image).
    for path, value, position, character in unprintable_strings(raw):
        reader.problem(path, "", refusal(value, position, character))
    if reader.problems:
        return None, reader.problems
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
    uv_version, flit_core_version, pytest_version = _build_tools(reader, top["build_tools"])
    airflow_pythons = _airflow_pythons(reader, top["airflow_pythons"])
    suites = _suites(reader, top["suites"])
    major_env = _airflow_majors(reader, top["airflow_majors"])
    changes = evolution.image_changes(reader, top.get("image_changes"))
    slim: dict[int, tuple[str, tuple[str, ...]]] = {}
    releases = list(_lines(reader, top["lines"], policy, suites, major_env, root, slim))
    if reader.problems or policy is None or uv_version is None:
        return None, reader.problems
    releases = evolution.with_changes(reader, releases, changes)
    releases = evolution.with_slim(reader, releases, slim)
    if reader.problems:
        return None, reader.problems
    users = [str(r.version) for r in releases if r.in_house]
    if users and flit_core_version is None:
        return None, [Problem("build_tools", "flit_core", f"missing: Runtime {', '.join(users)} build in-house "
                                                          "packages, which needs an exact flit_core version")]
    testers = [str(r.version) for r in releases if r.has(Change.PROJECT_TESTS)]
    if testers and pytest_version is None:
        return None, [Problem("build_tools", "pytest", f"missing: Runtime {', '.join(testers)} run projects' tests "
                                                       "(project-tests), which needs an exact pytest version")]
    matrix = Matrix(
        releases=tuple(sorted(releases, key=lambda r: r.version)),
        policy=policy,
        uv_version=uv_version,
        airflow_pythons=tuple(sorted(airflow_pythons.items())),
        flit_core_version=flit_core_version,
        pytest_version=pytest_version,
    )
    return matrix, []


def _policy(reader: Reader, raw: Any) -> Policy | None:
    fields = {"maintenance_months", "basic_support_months", "maintenance_ends_at_month_end"}
    raw = reader.mapping(raw, "policy", "", fields, fields)
    months = reader.integer(raw.get("maintenance_months"), "policy", "maintenance_months", 1)
    basic = reader.integer(raw.get("basic_support_months"), "policy", "basic_support_months", 0)
    month_end = reader.boolean(raw.get("maintenance_ends_at_month_end"), "policy", "maintenance_ends_at_month_end")
    if months is None or basic is None or month_end is None:
        return None
    return Policy(months, basic, month_end)


def _build_tools(reader: Reader, raw: Any) -> tuple[str | None, str | None, str | None]:
    """(uv, flit_core, pytest): the builder stage's tools (flit_core only where in-house packages are
    built), and the pytest a project's tests run with (only where releases have `project-tests`)."""
    raw = reader.mapping(raw, "build_tools", "", {"uv", "flit_core", "pytest"}, {"uv"})
    exact = re.compile(r"^\d+\.\d+\.\d+$")
    uv = reader.string(raw.get("uv"), "build_tools", "uv", exact, "an exact uv version")
    flit = reader.string(raw["flit_core"], "build_tools", "flit_core", exact, "an exact flit_core version") \
        if "flit_core" in raw else None
    pytest = reader.string(raw["pytest"], "build_tools", "pytest", exact, "an exact pytest version") \
        if "pytest" in raw else None
    return uv, flit, pytest


def _airflow_pythons(reader: Reader, raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict) or not raw:
        reader.problem("airflow_pythons", "", f"must map Airflow minors to Python lists, got {describe(raw)}")
        return {}
    result = {}
    for minor, pythons in raw.items():
        key = reader.string(minor, "airflow_pythons", str(minor), AIRFLOW_MINOR, "an Airflow minor such as '3.3'")
        values = reader.string_list(pythons, "airflow_pythons", str(minor), _python_check(reader, "airflow_pythons"))
        if key is not None:
            result[key] = tuple(values)
    return result


def _python_check(reader: Reader, where: str) -> Callable[[Any, str], str | None]:
    return lambda value, field: reader.string(value, where, field, PYTHON_VERSION, "a Python version such as '3.13'")


def _suites(reader: Reader, raw: Any) -> dict[str, Suite]:
    if not isinstance(raw, dict) or not raw:
        reader.problem("suites", "", f"must map Debian suite names to their data, got {describe(raw)}")
        return {}
    result = {}
    for name, data in raw.items():
        where = f"suites > {name}"
        if reader.string(name, "suites", repr(name), SUITE_NAME, "a Debian suite name such as 'trixie'") is None:
            continue
        data = reader.mapping(data, where, "", {"debian", "python"}, {"debian", "python"})
        debian = reader.string(data.get("debian"), where, "debian", re.compile(r"^\d+$"), "a Debian major version")
        python = reader.string(data.get("python"), where, "python", PYTHON_VERSION, "a Python version")
        if debian and python:
            result[name] = Suite(name, debian, python)
    return result


def _airflow_majors(reader: Reader, raw: Any) -> dict[int, dict[str, str]]:
    if not isinstance(raw, dict) or not raw:
        reader.problem("airflow_majors", "", f"must map Airflow majors to their defaults, got {describe(raw)}")
        return {}
    result = {}
    for major, data in raw.items():
        where = f"airflow_majors > {major}"
        if not (isinstance(major, str) and major.isdigit()):
            reader.problem(where, "", f"{major!r} must be a quoted Airflow major such as '3'")
            continue
        data = reader.mapping(data, where, "", {"environment"}, {"environment"})
        result[int(major)] = reader.environment(data.get("environment"), where)
    return result


def _packages(reader: Reader, raw: Any, where: str) -> dict[str, str]:
    """Pins keyed by canonical name, so `Foo_Bar` and `foo-bar` count as the same package."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.problem(where, "packages", f"must be a mapping of PyPI name to exact version, got {describe(raw)}")
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
    "end_of_maintenance", "end_of_basic_support", "releases", "in_house", "constraints", "slim_packages",
}
CONSTRAINT_KEYS = {"requirement", "reason", "since"}
CHANGE_KEYS = {"name", "summary", "since", "environment"}
CHANGE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RELEASE_KEYS = {"version", "airflow", "released", "channel", "packages", "environment", "known_issues", "yanked",
                "patches", "in_house"}



def _lines(reader: Reader, raw: Any, policy: Policy | None, suites: dict[str, Suite],
           major_env: dict[int, dict[str, str]], root: Path | None,
           slim: dict[int, tuple[str, tuple[str, ...]]]) -> Iterator[Release]:
    """The releases of every line; each line's `slim_packages` go into `slim` (runtime -> (where, names))."""
    if not isinstance(raw, list) or not raw:
        reader.problem("lines", "", f"must be a non-empty list of Runtime lines, got {describe(raw)}")
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
        if "slim_packages" in line and isinstance(line.get("runtime"), int):
            names = reader.string_list(line["slim_packages"], where, "slim_packages", _package_name(reader, where))
            slim[line["runtime"]] = (where, tuple(names))
        yield from _line(reader, line, where, policy, suites, major_env, root)


def _package_name(reader: Reader, where: str) -> Callable[[Any, str], str | None]:
    def check(value: Any, field: str) -> str | None:
        text = reader.string(value, where, field, PACKAGE_NAME, "a PyPI package name")
        return canonicalize_name(text) if text is not None else None

    return check


def _line(reader: Reader, line: dict, where: str, policy: Policy | None, suites: dict[str, Suite],
          major_env: dict[int, dict[str, str]], root: Path | None) -> Iterator[Release]:
    runtime = reader.integer(line.get("runtime"), where, "runtime", 1)
    airflow_minor = reader.string(line.get("airflow"), where, "airflow", AIRFLOW_MINOR,
                                  "an Airflow minor such as '3.3'")
    suite_name = reader.string(line.get("suite"), where, "suite")
    suite = suites.get(suite_name) if suite_name else None
    if suite_name is not None and suite is None:  # "" too: a line without a suite would vanish silently
        reader.problem(where, "suite", f"unknown suite {suite_name!r}; allowed: {', '.join(sorted(suites))}")
    python = reader.string(line.get("python"), where, "python", PYTHON_VERSION, "a Python version such as '3.13'")
    pythons = reader.string_list(line.get("pythons"), where, "pythons", _python_check(reader, where))
    platforms = reader.string_list(line.get("architectures"), where, "architectures", _platform_check(reader, where))
    packages = _packages(reader, line.get("packages"), where)
    environment = reader.environment(line.get("environment"), where)
    in_house = sources.in_house(reader, line.get("in_house"), where, root) if "in_house" in line else ()
    constraints = evolution.constraints(reader, line.get("constraints"), where, runtime)
    end_of_maintenance = reader.day(line["end_of_maintenance"], where, "end_of_maintenance") \
        if "end_of_maintenance" in line else None
    end_of_basic = reader.day(line["end_of_basic_support"], where, "end_of_basic_support") \
        if "end_of_basic_support" in line else None
    raw_releases = line.get("releases")
    if not isinstance(raw_releases, list) or not raw_releases:
        reader.problem(where, "releases", f"must be a non-empty list of releases, got {describe(raw_releases)}")
        return
    parsed = [_release_fields(reader, raw, f"{where} > releases[{i}]", root) for i, raw in enumerate(raw_releases)]
    complete = [p for p in parsed if p is not None]
    if None in (runtime, airflow_minor, suite, python, policy) or len(complete) != len(parsed):
        return
    assert runtime is not None and airflow_minor is not None and suite is not None and python is not None
    assert policy is not None
    first_release = min(p["released"] for p in complete)
    try:  # a date past the year 9999 is date()'s ValueError or OverflowError, not words for a user (issue 31)
        field = "end_of_maintenance"
        end_of_maintenance = end_of_maintenance or lifecycle.maintenance_end(first_release, policy)
        field = "end_of_basic_support"
        end_of_basic = end_of_basic or lifecycle.add_months(end_of_maintenance, policy.basic_support_months,
                                                  policy.maintenance_ends_at_month_end)
    except (ValueError, OverflowError):
        reader.problem(where, field, f"would fall after the year 9999 (first release {first_release}, policy: "
                                     f"{policy.maintenance_months} months of maintenance, then "
                                     f"{policy.basic_support_months} of basic support); check them")
        return
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


def _platform_check(reader: Reader, where: str) -> Callable[[Any, str], Platform | None]:
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


def _release_fields(reader: Reader, raw: Any, where: str, root: Path | None) -> dict | None:
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
        "environment": reader.environment(raw.get("environment"), where),
        "known_issues": known_issues, "yanked": yanked,
        "patches": sources.patches(reader, raw.get("patches"), where, root / PATCHES if root else None),
        "in_house": sources.in_house(reader, raw["in_house"], where, root) if "in_house" in raw else None,
    }
    return fields if len(reader.problems) == before else None


def _known_issues(reader: Reader, raw: Any, where: str) -> tuple[str, ...]:
    """Optional: one issue as a string, or a list of them; each must say something."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        reader.problem(where, "known_issues", f"must be a string or a non-empty list of strings, got {describe(raw)}")
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


