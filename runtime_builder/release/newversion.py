"""`build.py new-version`: cut the next Runtime patch, minor or major into versions.yaml.

`plan` decides everything and makes the new versions.yaml text (pure, apart from the two
package-index questions it is given as functions); `apply` writes it, the new version's
lock files, distributions/ and releases.json, and puts versions.yaml back if a step fails.

What a new release is cut from (`base`): the newest non-nightly release of a line; by
default the default release's line (patch, minor) or the newest line (major). The edit
follows versions.yaml's own conventions:

- patch / minor: one release entry in the base's line, stating only what a release must
  (version, airflow, released, channel). Its pins are the base's, or newer with
  `--upgrade-providers`. Pin convention: a line's `packages` are the pins of its newest
  non-nightly release, which the new release becomes; so when its pins differ, the line's
  pins move to them and every other release of the line gets overrides for what it had
  inherited, so that its resolved pins stay exactly what they were. The base's backport
  `patches` follow when the Airflow version stays; when it moves they are left behind and
  the report names them (a backport is made for one Airflow release).
- major: a new line after the last one, copying the base line's shared values (suite,
  Pythons, architectures, environment) with the new Airflow minor, the base's pins (or the
  newest compatible with `--upgrade-providers`), and one release entry.

The result is validated like any versions.yaml, and every existing release must resolve
exactly as before; otherwise nothing is written.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Protocol

from packaging.version import Version as Pep440

from .. import layout
from ..errors import BuilderError, MatrixError, NewVersionError
from ..generate import feed, frozen, render
from ..lock import pkgindex
from ..matrix.load import parse_text
from ..matrix.model import Channel, Matrix, Release, Version
from . import yamltext
from .edits import major_edits, release_edits

MATRIX_FILE = layout.VERSIONS_FILE


class Bump(Enum):
    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"

    def next(self, version: Version) -> Version:
        if self is Bump.PATCH:
            return Version(version.major, version.minor, version.patch + 1)
        if self is Bump.MINOR:
            return Version(version.major, version.minor + 1, 0)
        return Version(version.major + 1, 0, 0)


@dataclass(frozen=True)
class Request:
    bump: Bump
    released: date
    base: str | None = None  # --from
    airflow: str | None = None  # --airflow
    upgrade_providers: bool = False
    nightly: bool = False  # --nightly: built nightly until `--release` releases it (not frozen)

    @property
    def channel(self) -> Channel:
        return Channel.NIGHTLY if self.nightly else Channel.STABLE


# The package-index questions (pkgindex has the real ones, which need the network).
AirflowCheck = Callable[[Version, str, date], str | None]  # (airflow, python, released) -> why not, or None
Upgrader = Callable[[Version, Mapping[str, str], str, date], dict[str, str]]  # name -> specifier => name -> version
LockWriter = Callable[[Matrix, Path, str], list[str]]  # (matrix, root, version) -> lock files written


@dataclass(frozen=True)
class PinChange:
    name: str
    old: str | None
    new: str


@dataclass(frozen=True)
class Plan:
    request: Request
    base: Release
    release: Release  # the new one, resolved
    source: str  # versions.yaml before
    text: str  # versions.yaml after
    previous: Matrix
    matrix: Matrix
    changes: tuple[PinChange, ...]  # the new release's pins against the base's
    overridden: tuple[str, ...]  # releases that got overrides keeping their pins (the line's pins moved)

    @property
    def version(self) -> Version:
        return self.release.version


# --- planning -------------------------------------------------------------------------------


def plan(source: str, request: Request, airflow_check: AirflowCheck = pkgindex.airflow_unavailable,
         upgrader: Upgrader = pkgindex.newest_compatible, root: Path | None = None) -> Plan:
    """The new version and versions.yaml's new text, validated. Raises NewVersionError.

    `root`: the folder of versions.yaml, whose patches/ and inhouse/ the releases use.
    """
    previous = validate_text(source, root)  # an invalid file is reported as such (MatrixError)
    base = base_release(previous, request)
    version = request.bump.next(base.version)
    refuse_existing(previous, version)
    line = previous.line(version.major)  # none yet for a new major
    newest = max(line, key=lambda r: r.released) if line else None
    if newest is not None and request.released < newest.released:
        # Said first and alone: the rules it breaks would otherwise come as a page of other dates.
        raise NewVersionError(f"--date {request.released}: before Runtime {newest.version}'s release "
                              f"({newest.released}); a release of a line cannot come out before the ones it follows")
    airflow = choose_airflow(previous, base, request)
    if request.bump is Bump.MAJOR:
        check_pythons(previous, airflow, base)
    if airflow != base.airflow:
        reason = airflow_check(airflow, base.python, request.released)
        if reason:
            raise NewVersionError(f"--airflow {airflow}: apache-airflow=={airflow} cannot be installed for Python "
                                  f"{base.python} from the package index as of {request.released}:\n"
                                  + _indented(reason))
    packages = dict(base.packages)
    if request.upgrade_providers and packages:
        packages = upgraded(packages, request.bump, airflow, base, request.released, upgrader)
    # Backports are made for one Airflow release: they follow the new version only when it keeps it.
    carried = base.patches if airflow == base.airflow else ()
    try:
        if request.bump is Bump.MAJOR:
            edits, overridden = major_edits(source, base, version, airflow, packages, request.released,
                                            request.channel), ()
        else:
            edits, overridden = release_edits(source, previous, base, version, airflow, packages, request.released,
                                              carried, request.channel)
        text = yamltext.apply(source, edits)
    except yamltext.TextEditError as error:
        raise NewVersionError(f"cannot edit {MATRIX_FILE}: {error}") from error
    matrix = validate_edit(text, root, previous, version)
    changes = tuple(PinChange(name, base.package_version(name), new)
                    for name, new in sorted(packages.items()) if base.package_version(name) != new)
    return Plan(request, base, matrix.release(str(version)), source, text, previous, matrix, changes, overridden)


def read_source(root: Path) -> str:
    """versions.yaml's text, as the edit starts from it."""
    path = root / MATRIX_FILE
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise NewVersionError(f"cannot read {path}: {error.strerror}") from error


def validate_text(text: str, root: Path | None = None) -> Matrix:
    """`load_matrix` for a text not written to a file yet."""
    return parse_text(text, root, MATRIX_FILE)


def newest_released(matrix: Matrix, line: int) -> Release | None:
    released = [r for r in matrix.line(line) if r.channel is not Channel.NIGHTLY]
    return max(released, key=lambda r: r.version, default=None)


def base_release(matrix: Matrix, request: Request) -> Release:
    """The release the new one is cut from: --from, or the newest of the default (patch, minor) or last (major) line."""
    if request.base is not None:
        try:
            line = matrix.release(request.base).line
        except LookupError as error:
            raise NewVersionError(f"--from: {error}") from error
    else:
        line = max(matrix.lines) if request.bump is Bump.MAJOR else matrix.default_release().line
    base = newest_released(matrix, line)
    if base is None:
        raise NewVersionError(f"Runtime line {line} has no released (non-nightly) version to cut from")
    if request.base is not None and str(base.version) != request.base:
        given = matrix.release(request.base)
        what = "a nightly build" if given.channel is Channel.NIGHTLY else "not the newest release of its line"
        raise NewVersionError(f"--from {request.base} is {what}: a new version follows the newest released version "
                              f"of line {line}, {base.version}")
    if request.bump is Bump.MAJOR and line != max(matrix.lines):
        raise NewVersionError(f"--major --from {base.version}: a new Runtime major follows the newest line, "
                              f"{max(matrix.lines)}, not line {line}")
    return base


def refuse_existing(matrix: Matrix, version: Version) -> None:
    for release in matrix.releases:
        if release.version == version:
            hint = (f" (a nightly build: release it with `new-version --release {version}`)"
                    if release.channel is Channel.NIGHTLY else "")
            raise NewVersionError(f"Runtime {version} already exists in {MATRIX_FILE}, channel "
                                  f"{release.channel.value}{hint}; nothing was written")
    if version.minor == version.patch == 0 and version.major in matrix.lines:
        raise NewVersionError(f"Runtime line {version.major} already exists in {MATRIX_FILE}; nothing was written")


def choose_airflow(matrix: Matrix, base: Release, request: Request) -> Version:
    """The new release's Airflow: the base's unless --airflow, within what the versioning policy allows."""
    old = base.airflow
    if request.airflow is None:
        if request.bump is Bump.MAJOR:
            raise NewVersionError(f"a new Runtime major ships a new Airflow minor: give it with --airflow A.B.C "
                                  f"(newer than Airflow {old.minor_line} of line {base.line})")
        return old
    try:
        airflow = Version.parse(request.airflow)
    except ValueError as error:
        raise NewVersionError(f"--airflow: {error}") from error
    if request.bump is Bump.MAJOR:
        if (airflow.major, airflow.minor) <= (old.major, old.minor):
            raise NewVersionError(f"--airflow {airflow}: a new Runtime major ships a newer Airflow minor than "
                                  f"line {base.line}'s Airflow {old.minor_line}")
        return airflow
    if airflow.minor_line != old.minor_line:
        raise NewVersionError(f"--airflow {airflow}: a {request.bump.value} release may only move Airflow's patch "
                              f"(Airflow {old.minor_line}.x, now {old}); a new Airflow minor needs a new Runtime "
                              "major (--major)")
    if airflow < old:
        raise NewVersionError(f"--airflow {airflow}: Airflow may not go back from {old} (Runtime {base.version})")
    return airflow


def check_pythons(matrix: Matrix, airflow: Version, base: Release) -> None:
    """The new line keeps the base line's Pythons: the new Airflow minor must support every one."""
    allowed = dict(matrix.airflow_pythons).get(airflow.minor_line)
    if allowed is None:
        raise NewVersionError(f"--airflow {airflow}: Airflow {airflow.minor_line} has no entry under airflow_pythons "
                              f"in {MATRIX_FILE}; add the Pythons every {airflow.minor_line} patch supports first")
    missing = [python for python in base.pythons if python not in allowed]
    if missing:
        raise NewVersionError(f"--airflow {airflow}: Airflow {airflow.minor_line} does not support Python "
                              f"{', '.join(missing)} of line {base.line} (airflow_pythons allows "
                              f"{', '.join(allowed)}); drop those Pythons from the line first")


def allowed_range(version: str, bump: Bump) -> str:
    """The versions a package pinned at `version` may move to (a PEP 440 specifier; "" for any)."""
    release = Pep440(version).release
    major, minor = release[0], release[1] if len(release) > 1 else 0
    if bump is Bump.PATCH:
        return f">={version},<{major}.{minor + 1}"
    if bump is Bump.MINOR:
        return f">={version},<{major + 1}"
    return ""


def lowest_python(pythons: tuple[str, ...]) -> str:
    return min(pythons, key=lambda p: tuple(int(part) for part in p.split(".")))


def upgraded(packages: Mapping[str, str], bump: Bump, airflow: Version, base: Release, released: date,
             upgrader: Upgrader) -> dict[str, str]:
    """Each pin at the newest version the policy allows that resolves with `airflow`.

    Resolved for the line's lowest Python (uv takes it as the minimum), so that no pin
    drops a Python the line supports.
    """
    wanted = {name: allowed_range(version, bump) for name, version in packages.items()}
    try:
        return upgrader(airflow, wanted, lowest_python(base.pythons), released)
    except pkgindex.ResolutionError as error:
        raise NewVersionError(f"--upgrade-providers: cannot resolve the newest pins for Airflow {airflow}:\n"
                              + _indented(str(error))) from error


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def check_unchanged(before: Matrix, after: Matrix) -> None:
    for release in before.releases:
        if after.release(str(release.version)) != release:
            raise NewVersionError(f"internal error: the edit would change Runtime {release.version}; "
                                  "nothing was written")


def validate_edit(text: str, root: Path, previous: Matrix, version: Version, doing: str = "") -> Matrix:
    """versions.yaml's edited text for Runtime `version` (cut, or `doing`: "releasing", "refreshing"):
    valid, and every other release as it was in `previous`; NewVersionError names what is wrong."""
    try:
        matrix = validate_text(text, root)
    except MatrixError as error:
        problems = "\n".join(f"  {problem.render(MATRIX_FILE)}" for problem in error.problems)
        raise NewVersionError(f"{doing + ' ' if doing else ''}Runtime {version} would make {MATRIX_FILE} invalid; "
                              f"nothing was written:\n{problems}") from error
    check_unchanged(replace(previous, releases=tuple(r for r in previous.releases if r.version != version)), matrix)
    return matrix


# --- writing --------------------------------------------------------------------------------


def write_locks_of(matrix: Matrix, root: Path, version: str) -> list[str]:
    """The new version's lock files, as `build.py lock VERSION` writes them (needs the index)."""
    from ..lock.locks import cells, write_locks

    return write_locks(matrix, root, cells(matrix, (version,)))


class Edit(Protocol):
    """What `apply` writes: versions.yaml's text before and after, and the matrix of each (a Plan,
    or a nightly's release, `promote.Promotion`)."""

    source: str
    text: str
    previous: Matrix
    matrix: Matrix

    @property
    def version(self) -> Version: ...


@dataclass(frozen=True)
class Written:
    locks: tuple[str, ...]
    rendered: int  # files generated into distributions/


def apply(root: Path, plan: Edit, lock_writer: LockWriter | None = write_locks_of) -> Written:
    """Write versions.yaml, the locks (unless lock_writer is None), distributions/ and releases.json,
    and freeze the new release's build context (released-contexts.sha256).

    If any step fails, versions.yaml, releases.json, released-contexts.sha256 and the version's lock
    files (a nightly's, re-locked) get their previous bytes back, a new version's lock folder goes, and
    distributions/ is left (or put back) as it was rendered from them.
    """
    path, feed_path, frozen_path = root / MATRIX_FILE, layout.Layout(root).feed_file, root / layout.RELEASED_CONTEXTS
    before = path.read_bytes()
    frozen_before = frozen_path.read_bytes() if frozen_path.exists() else None
    if before.decode("utf-8") != plan.source:
        raise NewVersionError(f"{MATRIX_FILE} changed since the new version was planned; nothing was written")
    feed_before = feed_path.read_bytes() if feed_path.exists() else None
    new_folders = [folder for folder in (root / layout.release_dir(str(plan.version)),
                                         root / layout.locks_dir(str(plan.version))) if not folder.exists()]
    locks_before = _lock_files(root, str(plan.version))  # a nightly re-locked: its lock files as they were
    rendering = False
    try:
        path.write_bytes(plan.text.encode("utf-8"))
        locks = lock_writer(plan.matrix, root, str(plan.version)) if lock_writer else []
        files = render.repository_tree(root, plan.matrix)
        feed.committed(root, plan.matrix)  # fails here, before anything is rendered, if it cannot be made
        rendering = True  # from here on, distributions/ may hold the new tree
        render.write(root, files)
        feed.write(root, plan.matrix)
        if plan.matrix.release(str(plan.version)).channel is not Channel.NIGHTLY:
            frozen.freeze(root, plan.matrix, [str(plan.version)], files)  # released: its context stays as it is
    except BaseException as error:
        if isinstance(error, BuilderError):
            error.args = (f"{error}\nversions.yaml, locks/, distributions/ and releases.json were put back as they "
                          "were; nothing was written",)
        path.write_bytes(before)
        for restored, previous in ((feed_path, feed_before), (frozen_path, frozen_before)):
            if previous is None:
                restored.unlink(missing_ok=True)
            else:
                restored.write_bytes(previous)
        for folder in new_folders:  # the new version's lock files, and its rendered folder
            if folder.exists():
                shutil.rmtree(folder)
        if locks_before:
            for found in set(_lock_files(root, str(plan.version))) - set(locks_before):
                found.unlink()
            for found, content in locks_before.items():
                found.parent.mkdir(parents=True, exist_ok=True)
                found.write_bytes(content)
        if rendering:
            render.write(root, render.repository_tree(root, plan.previous))
        raise
    return Written(tuple(locks), len(files))


def _lock_files(root: Path, version: str) -> dict[Path, bytes]:
    """The lock files of `version` that exist, and the builder stage's (written by every lock run)."""
    folder, tools = root / layout.locks_dir(version), root / layout.build_tools_file()
    found = sorted(folder.rglob("*")) if folder.is_dir() else []
    return {path: path.read_bytes() for path in [*found, tools] if path.is_file()}


# --- what to tell ---------------------------------------------------------------------------


def report(plan: Plan) -> str:
    """What the new version is and the change to versions.yaml (a unified diff)."""
    new = plan.release
    kind = {Bump.PATCH: "patch release", Bump.MINOR: "minor release", Bump.MAJOR: "new Runtime major"}
    airflow = f"Airflow {new.airflow}" + (f" (was {plan.base.airflow})" if new.airflow != plan.base.airflow else "")
    out = [f"Runtime {new.version}: {kind[plan.request.bump]} after {plan.base.version}, {airflow}, "
           f"released {new.released}, channel {new.channel.value}"]
    if plan.changes:
        out.append(f"pins changed ({plan.base.version} -> {new.version}):")
        out += [f"  {c.name}: {c.old or '(none)'} -> {c.new}" for c in plan.changes]
    else:
        out.append(f"pins: as in {plan.base.version} ({len(new.packages)} packages)")
    if new.patches:
        out.append(f"backports carried over from {plan.base.version} (Airflow stays {new.airflow}; images report "
                   f"{new.airflow_build_version}): {', '.join(b.name for b in new.patches)}")
    elif plan.base.patches:
        out.append(f"backports of {plan.base.version} NOT carried over (made for Airflow {plan.base.airflow}, the new "
                   f"version ships {new.airflow}): {', '.join(b.name for b in plan.base.patches)}; check each is "
                   "upstream in it, or port it under patches/ and list it in versions.yaml")
    if plan.overridden:
        out.append(f"line {new.line}'s packages now pin {new.version}'s versions; the other releases "
                   f"({', '.join(plan.overridden)}) keep their pins as overrides")
    diff = difflib.unified_diff(plan.source.splitlines(keepends=True), plan.text.splitlines(keepends=True),
                                f"{MATRIX_FILE} (before)", f"{MATRIX_FILE} (after)", n=1)
    out.append("".join(diff).rstrip("\n"))
    return "\n".join(out) + "\n"
