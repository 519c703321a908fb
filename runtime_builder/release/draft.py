"""`build.py new-version --from-upstream`: a line's nightly drafted from what the package index has.

`upstream` says what the index has newer than a line's newest release and its nightly; this
module turns that report into the nightly (pure, apart from the package-index questions it is
given as functions, as `newversion.plan` is):

- the line has no nightly: one is cut, the next patch of its newest release (`newversion.plan`,
  `--patch --nightly --upgrade-providers`), with the newest Airflow patch of the line's minor the
  report lists;
- it has one (its newest, if several): that entry is moved in place: its Airflow to the newest
  patch the report lists, each pin to the newest version the pin policy allows against the line's
  newest release (`newversion.upgraded`), its date to the draft's day; the backports it lists stay
  only while its Airflow does. The line's pins and every other release stay exactly as they are.

Either way the nightly is then locked as of its new date (`moving_locks`: the old lock's pins kept
but for every package the report lists newer, so each move the pins and constraints allow comes in
and nothing else moves), rendered, and releases.json follows, by `newversion.apply` (everything put back on failure). A
report whose only moves are held back by the line's `constraints:` (or that has none) drafts
nothing. The report is read, not trusted for versions: a yanked version is never in it
(`upstream.newer`), and the pins are resolved by uv, which skips yanked versions too.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from packaging.version import Version as Pep440

from ..errors import NewVersionError, NothingToDraft
from ..lock import pkgindex, upstream
from ..lock.upstream import Move
from ..matrix.model import Backport, Channel, Matrix, Release, Version
from . import newversion, yamltext
from .edits import refresh_edits, without_key
from .newversion import MATRIX_FILE, AirflowCheck, Bump, PinChange, Request, Upgrader


@dataclass(frozen=True)
class Refresh:
    """A nightly moved in place: what `newversion.apply` writes (versions.yaml before and after)."""

    before: Release
    release: Release
    source: str
    text: str
    previous: Matrix
    matrix: Matrix
    changes: tuple[PinChange, ...]  # Airflow and the pins, old -> new
    dropped: tuple[Backport, ...]  # backports left behind: made for the Airflow it moved from

    @property
    def version(self) -> Version:
        return self.release.version


@dataclass(frozen=True)
class Draft:
    line: int
    edit: newversion.Plan | Refresh
    moves: tuple[Move, ...]  # what the report lists newer for the release drafted from (none held back)
    held: tuple[Move, ...]  # what the line's constraints hold back
    compared: str  # the release whose locks the draft's are compared with: the nightly, or the newest release

    @property
    def cut(self) -> bool:
        return isinstance(self.edit, newversion.Plan)


@dataclass(frozen=True)
class Nothing:
    """Nothing to draft: the index has nothing newer for `compared` that the line's constraints allow."""

    line: int
    compared: str
    held: tuple[Move, ...]


def line_of(matrix: Matrix, line: int | None) -> int:
    """The line asked for (UnknownVersion naming the known ones), else the default release's."""
    if line is None:
        return matrix.default_release().line
    matrix.refuse_unknown(lines=[line])
    return line


def nightly_of(matrix: Matrix, line: int) -> Release | None:
    return max((r for r in matrix.line(line) if r.channel is Channel.NIGHTLY), key=lambda r: r.version, default=None)


def plan(source: str, report: upstream.Report, line: int, released: date,
         airflow_check: AirflowCheck = pkgindex.airflow_unavailable, upgrader: Upgrader = pkgindex.newest_compatible,
         root: Path | None = None) -> Draft | Nothing:
    """The draft of line `line`'s nightly from `report` (as `upstream.check` makes it), or Nothing."""
    matrix = newversion.validate_text(source, root)
    base = newversion.newest_released(matrix, line)
    if base is None:
        raise NewVersionError(f"--from-upstream: Runtime line {line} has no released (non-nightly) version to draft "
                              "a nightly from")
    nightly = nightly_of(matrix, line)
    if nightly is not None and nightly.version < base.version:
        raise NewVersionError(f"--from-upstream: Runtime {nightly.version}, line {line}'s nightly, is older than its "
                              f"release {base.version}; release it (`new-version --release`) or remove it first")
    found = next((r for r in report.lines if r.line == line), None)
    behind = None if found is None else next(
        (b for b in found.releases
         if (b.version == str(nightly.version) if nightly else b.channel is not Channel.NIGHTLY)), None)
    if behind is None:
        raise NewVersionError(f"--from-upstream: the upstream report has nothing of line {line}'s "
                              f"{'nightly ' + str(nightly.version) if nightly else 'newest release'}")
    moves = tuple(m for m in behind.moves if m.held is None)
    held = tuple(m for m in behind.moves if m.held is not None)
    if not moves:
        return Nothing(line, behind.version, held)
    current = nightly or base
    airflow = next((m.newest for m in moves if m.name == "apache-airflow"), None)
    try:
        target = Version.parse(airflow) if airflow else current.airflow
    except ValueError as error:
        raise NewVersionError(f"--from-upstream: apache-airflow {airflow} on the index is not a Runtime's Airflow "
                              f"version: {error}") from error
    if nightly is None:
        request = Request(Bump.PATCH, released, base=str(base.version),
                          airflow=str(target) if target != base.airflow else None, upgrade_providers=True,
                          nightly=True)
        edit: newversion.Plan | Refresh = newversion.plan(source, request, airflow_check, upgrader, root)
    else:
        edit = refresh(source, matrix, base, nightly, target, released, airflow_check, upgrader, root)
    return Draft(line, edit, moves, held, behind.version)


def refresh(source: str, previous: Matrix, base: Release, nightly: Release, airflow: Version, released: date,
            airflow_check: AirflowCheck, upgrader: Upgrader, root: Path | None) -> Refresh:
    """`nightly` moved to `airflow` and the newest pins the policy allows after `base`, dated `released`."""
    if released < nightly.released:
        raise NewVersionError(f"--date {released}: before Runtime {nightly.version}'s last build ({nightly.released})")
    if airflow != nightly.airflow:
        reason = airflow_check(airflow, nightly.python, released)
        if reason:
            raise NewVersionError(f"--from-upstream: apache-airflow=={airflow} cannot be installed for Python "
                                  f"{nightly.python} from the package index as of {released}:\n"
                                  + "\n".join(f"  {line}" for line in reason.splitlines()))
    bump = Bump.PATCH if nightly.version.minor == base.version.minor else Bump.MINOR
    packages = dict(nightly.packages)
    if packages:
        packages = newversion.upgraded(packages, bump, airflow, nightly, released, upgrader)
        packages = {name: max(version, dict(nightly.packages)[name], key=Pep440) for name, version in packages.items()}
    dropped = nightly.patches if airflow != nightly.airflow else ()
    try:
        text = yamltext.apply(source, refresh_edits(source, nightly.line, nightly.version, airflow, released, packages))
        if dropped:
            text = without_key(text, nightly.line, nightly.version, "patches")
    except yamltext.TextEditError as error:
        raise NewVersionError(f"cannot edit {MATRIX_FILE}: {error}") from error
    matrix = newversion.validate_edit(text, root, previous, nightly.version, "refreshing")
    after = matrix.release(str(nightly.version))
    if after.airflow != airflow or dict(after.packages) != packages:
        raise NewVersionError(f"internal error: the edit does not give Runtime {nightly.version} Airflow {airflow} "
                              "and the resolved pins; nothing was written")
    changes = [PinChange("apache-airflow", str(nightly.airflow), str(airflow))] if airflow != nightly.airflow else []
    changes += [PinChange(name, nightly.package_version(name), version) for name, version in sorted(packages.items())
                if nightly.package_version(name) != version]
    return Refresh(nightly, after, source, text, previous, matrix, tuple(changes), dropped)


def moving_locks(draft: Draft, before: Mapping[str, str]) -> newversion.LockWriter:
    """The drafted nightly's lock writer: its lock files resolved as of its date, keeping the pins of its
    own lock (a cut: of the release it follows) but for the packages the report lists newer, which move
    as far as the pins and constraints let them. (A resolution anew, `lock --fresh`, would also move
    packages the report does not list, backwards too: uv's choice without preferences is another one.)

    When the draft changes neither Airflow nor a pin and the locks pin what `before` (the compared
    release's locks) did, it raises NothingToDraft, and `newversion.apply` puts every file back: the index's
    newer versions are all outside the pins, the policy or what resolves, and a nightly moved only in
    its date is not drafted."""
    from ..lock.locks import cells, read_locks, write_locks

    names = tuple(sorted(move.name for move in draft.moves))

    def write(matrix: Matrix, root: Path, version: str) -> list[str]:
        written = write_locks(matrix, root, cells(matrix, (version,)), upgrade=names)
        if not changes_of(draft) and locked(matrix.release(version), read_locks(root)) == dict(before):
            raise NothingToDraft(f"nothing to draft: the package index's newer versions for line {draft.line}'s "
                                 f"Runtime {draft.compared} are outside its pins, the pin policy or what resolves; "
                                 "its locks stay as they are")
        return written

    return write


def changes_of(draft: Draft) -> tuple[PinChange, ...]:
    """What the draft moves in versions.yaml besides the date: Airflow, pins (a cut: its pins against the
    release it follows)."""
    edit = draft.edit
    if isinstance(edit, Refresh):
        return edit.changes
    airflow = ((PinChange("apache-airflow", str(edit.base.airflow), str(edit.release.airflow)),)
               if edit.release.airflow != edit.base.airflow else ())
    return airflow + edit.changes


# --- what to tell ---------------------------------------------------------------------------


def locked(release: Release, locks: Mapping[PurePosixPath, str]) -> dict[str, str]:
    """The highest version any of `release`'s full lock files pins, by package (Pythons may differ)."""
    highest: dict[str, str] = {}
    for found in upstream.lock_pins(release, locks).values():
        for name, version in found.items():
            if name not in highest or Pep440(version) > Pep440(highest[name]):
                highest[name] = version
    return highest


def lock_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """`package old -> new` for each package the locks moved, added or removed, by name."""
    return [f"  {name}: {before.get(name, '(none)')} -> {after.get(name, '(none)')}"
            for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]


def nothing_text(nothing: Nothing) -> str:
    out = [f"nothing to draft: the package index has nothing newer for line {nothing.line}'s Runtime "
           f"{nothing.compared}" + (" that its constraints allow" if nothing.held else "")]
    out += [f"  held back: {m.name} {m.locked} -> {m.newest} by {m.held}" for m in nothing.held]
    return "\n".join(out) + "\n"


def report(draft: Draft) -> str:
    """What the draft does to versions.yaml, and the index's moves it takes."""
    edit = draft.edit
    if isinstance(edit, newversion.Plan):
        head = [f"line {draft.line} has no nightly: cut Runtime {edit.version} (nightly) from {edit.base.version}",
                newversion.report(edit).rstrip("\n")]
    else:
        head = [f"refresh line {draft.line}'s nightly Runtime {edit.version} in place: built "
                f"{edit.before.released} -> {edit.release.released}, channel nightly"]
        head += [f"  {c.name}: {c.old or '(none)'} -> {c.new}" for c in edit.changes] or [
            "  Airflow and pins stay as they are (the moves are third-party packages')"]
        diff = difflib.unified_diff(edit.source.splitlines(keepends=True), edit.text.splitlines(keepends=True),
                                    f"{MATRIX_FILE} (before)", f"{MATRIX_FILE} (after)", n=1)
        head += [text for text in ["".join(diff).rstrip("\n")] if text]
        if edit.dropped:
            head.append(f"backports NOT carried over (made for Airflow {edit.before.airflow}): "
                        f"{', '.join(b.name for b in edit.dropped)}; check each is upstream in "
                        f"{edit.release.airflow}, or port it under patches/")
    head.append(f"the package index has newer for Runtime {draft.compared}: {len(draft.moves)} packages "
                f"(locked as of {edit.release.released}, they move as far as the pins and constraints let "
                "them)" + (f"; {len(draft.held)} held back by the line's constraints" if draft.held else ""))
    return "\n".join(head) + "\n"
