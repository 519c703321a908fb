"""The rules a structurally valid matrix must also obey, including the versioning policy.

Versioning policy between consecutive releases of one Runtime line (a Runtime major):
- a patch release (x.y.Z) changes only patch versions, of Airflow and of pinned packages,
  and neither adds nor removes a package (pinned or in-house);
- a minor release (x.Y.0) may move package minors and add packages, but not move a package
  major, remove a package or move the Airflow minor;
- a new Airflow major or minor needs a new Runtime major (one Airflow minor per line, and
  newer lines ship newer Airflow minors).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from packaging.version import Version as Pep440

from .model import Channel, Matrix, Release
from .reader import Problem


def check_rules(matrix: Matrix) -> list[Problem]:
    return [
        *_unique_versions(matrix),
        *_pythons(matrix),
        *_lifecycle(matrix),
        *_lines_and_airflow(matrix),
        *_versioning_policy(matrix),
    ]


def _where(release: Release) -> str:
    return f"Runtime {release.version}"


def _unique_versions(matrix: Matrix) -> Iterator[Problem]:
    for earlier, later in pairwise(matrix.releases):
        if earlier.version == later.version:
            yield Problem(_where(later), "version", "is defined twice; every Runtime version must be unique")


def _pythons(matrix: Matrix) -> Iterator[Problem]:
    supported_by_airflow = dict(matrix.airflow_pythons)
    for release in matrix.releases:
        if release.python not in release.pythons:
            yield Problem(_where(release), "python",
                          f"default Python {release.python} is not among the supported {', '.join(release.pythons)}")
        allowed = supported_by_airflow.get(release.airflow.minor_line)
        if allowed is None:
            yield Problem(_where(release), "airflow",
                          f"Airflow {release.airflow.minor_line} has no entry under airflow_pythons; "
                          f"known: {', '.join(supported_by_airflow)}")
            continue
        for python in release.pythons:
            if python not in allowed:
                yield Problem(_where(release), "pythons",
                              f"Python {python} is not supported by Airflow {release.airflow}; "
                              f"allowed: {', '.join(allowed)}")


def _lifecycle(matrix: Matrix) -> Iterator[Problem]:
    for release in matrix.releases:
        if not release.released <= release.end_of_maintenance <= release.end_of_basic_support:
            yield Problem(_where(release), "released/end_of_maintenance/end_of_basic_support",
                          f"dates out of order: released {release.released}, end of maintenance "
                          f"{release.end_of_maintenance}, end of basic support {release.end_of_basic_support}")
    for line in matrix.lines:
        # A nightly's date is that of its newest build, not a release date: it takes no part in
        # the release order, or a nightly ahead in a line would block every later patch of it.
        released = [r for r in matrix.line(line) if r.channel is not Channel.NIGHTLY]
        for earlier, later in pairwise(released):
            if later.released < earlier.released:
                yield Problem(_where(later), "released",
                              f"{later.released} is before {earlier.version}'s release date {earlier.released}")


def _lines_and_airflow(matrix: Matrix) -> Iterator[Problem]:
    minor_of_line = {line: matrix.line(line)[0].airflow for line in matrix.lines}
    for earlier, later in pairwise(matrix.lines):
        old, new = minor_of_line[earlier], minor_of_line[later]
        if (new.major, new.minor) <= (old.major, old.minor):
            yield Problem(f"Runtime line {later}", "airflow",
                          f"ships Airflow {new.minor_line}, which is not newer than line {earlier}'s "
                          f"Airflow {old.minor_line}; each new Airflow minor needs a new, higher Runtime major")


def _versioning_policy(matrix: Matrix) -> Iterator[Problem]:
    for line in matrix.lines:
        for earlier, later in pairwise(matrix.line(line)):
            yield from _compare(earlier, later)


def _compare(earlier: Release, later: Release) -> Iterator[Problem]:
    patch_release = later.version.minor == earlier.version.minor
    kind = "patch release" if patch_release else "minor release"
    where = f"Runtime {earlier.version} -> {later.version} ({kind})"
    if earlier.airflow.minor_line != later.airflow.minor_line:
        yield Problem(where, "airflow", f"Airflow moved {earlier.airflow} -> {later.airflow}; "
                                        "a new Airflow minor needs a new Runtime major")
    elif later.airflow < earlier.airflow:
        yield Problem(where, "airflow", f"Airflow went back {earlier.airflow} -> {later.airflow}")
    own_before, own_after = {p.name for p in earlier.in_house}, {p.name for p in later.in_house}
    for name in sorted(own_before - own_after):
        yield Problem(where, f"in_house > {name}", "removed; only a Runtime major may remove a package")
    if patch_release:
        for name in sorted(own_after - own_before):
            yield Problem(where, f"in_house > {name}", "added; a patch release may not add packages")
    old, new = dict(earlier.packages), dict(later.packages)
    for name in sorted(old.keys() - new.keys()):
        yield Problem(where, f"packages > {name}",
                      f"removed (was {old[name]}); only a Runtime major may remove a package")
    if patch_release:
        for name in sorted(new.keys() - old.keys()):
            yield Problem(where, f"packages > {name}", f"added at {new[name]}; a patch release may not add packages")
    for name in sorted(old.keys() & new.keys()):
        before, after = Pep440(old[name]), Pep440(new[name])
        if after < before:
            yield Problem(where, f"packages > {name}",
                          f"downgraded {before} -> {after}; a later release may not go back on a pin")
        elif before.major != after.major:
            yield Problem(where, f"packages > {name}",
                          f"major moved {before} -> {after}; only a Runtime major may move a package major")
        elif patch_release and before.minor != after.minor:
            yield Problem(where, f"packages > {name}",
                          f"minor moved {before} -> {after}; a patch release may change only patch versions")
