"""What changes over a line's releases without being a pin: constraints (`constraints:` of a line,
bounds on unpinned packages from a release on) and image changes (`image_changes:`, what a
release changed in what its images do, kept by its successors).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import contract
from ..contract import Change
from .model import Constraint, ImageChange, Matrix, Release, Version
from .reader import Reader, describe

CONSTRAINT_KEYS = {"requirement", "reason", "since"}
CHANGE_KEYS = {"name", "summary", "since", "environment"}
CHANGE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def constraints(reader: Reader, raw: Any, where: str, runtime: int | None) -> tuple[Constraint, ...]:
    """Optional: bounds on packages the line installs without pinning them, each with its reason."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        reader.problem(where, "constraints",
                       f"must be a non-empty list of {{requirement, reason}}, got {describe(raw)}")
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


def image_changes(reader: Reader, raw: Any) -> list[ImageChange]:
    """Optional: the image changes and the releases that made them (see model.ImageChange)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        reader.problem("image_changes", "", f"must be a non-empty list of changes, got {describe(raw)}")
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
        environment = reader.environment(item.get("environment"), where)
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


def with_changes(reader: Reader, releases: list[Release], changes: list[ImageChange]) -> list[Release]:
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
        names = {change.name for change in has}
        for change, needed in contract.REQUIRES.items():
            if change.value in names and needed.value not in names:
                index = next(i for i, c in enumerate(changes) if c.name == change.value)
                reader.problem(f"image_changes[{index}] ({change.value})", "since",
                               f"Runtime {release.version} would have it without {needed.value}, which it needs")
        for change, package in contract.PACKAGES.items():
            if change.value in names and package not in dict(release.packages):
                index = next(i for i, c in enumerate(changes) if c.name == change.value)
                reader.problem(f"image_changes[{index}] ({change.value})", "since",
                               f"Runtime {release.version} would have it without pinning {package}, "
                               "which it configures")
        environment = {}
        for change in has:
            environment.update(change.environment)
        environment.update(release.environment)
        resolved.append(replace(release, changes=has, environment=tuple(sorted(environment.items()))))
    return resolved


def with_slim(reader: Reader, releases: list[Release], slim: dict[int, tuple[str, tuple[str, ...]]]) -> list[Release]:
    """Each release with the slim-variant change with the pins its slim images keep: those of its
    line's `slim_packages` (`slim`: runtime -> (where, names)) it pins, at its versions. A name no
    release of the line pins is an error (a typo would otherwise keep nothing); a package added
    to the line later (a minor may add one) is kept from the release that pins it on."""
    resolved = []
    pinned_in_line: dict[int, set[str]] = {}
    for release in releases:
        pinned_in_line.setdefault(release.line, set()).update(name for name, _ in release.packages)
    for line, (where, names) in sorted(slim.items()):
        unknown = [name for name in names if name not in pinned_in_line.get(line, set())]
        if unknown:
            reader.problem(where, "slim_packages", f"{', '.join(unknown)} pinned by no release of Runtime {line}; "
                                                   "a slim image keeps a subset of the pins")
    for release in releases:
        if not release.has_slim:
            resolved.append(release)
            continue
        if release.line not in slim:
            reader.problem(f"Runtime {release.line}", "slim_packages",
                           f"missing: Runtime {release.version} has the {Change.SLIM.value} change, so its line "
                           "must list the packages its slim images keep")
            continue
        where, names = slim[release.line]
        pinned = dict(release.packages)
        for change, package in contract.PACKAGES.items():
            if release.has(change) and package not in names:
                reader.problem(where, "slim_packages", f"must list {package}: Runtime {release.version}'s "
                                                       f"{change.value} change configures it in every image")
        resolved.append(replace(release, slim_packages=tuple(sorted((name, pinned[name]) for name in names
                                                                    if name in pinned))))
    return resolved


def branches_needed(matrix: Matrix, on: date) -> set[Change]:
    """The image changes the templates must still branch on, on a day: those on which the next
    releases of the lines still supported then (until the end of their basic support) differ.
    Released contexts are frozen (generate/frozen.py), so only releases still to come count."""
    changes = {change.name: change for release in matrix.releases for change in release.changes}
    following = []
    for line in matrix.lines:
        releases = matrix.line(line)
        if max(release.end_of_basic_support for release in releases) < on:
            continue
        newest = max(release.version for release in releases)
        following.append(Version(newest.major, newest.minor, newest.patch + 1))
    return {change for change in Change if change.value in changes
            and len({changes[change.value].applies_to(version) for version in following}) > 1}
