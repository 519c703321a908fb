"""Hash-pinned lock files, one per (release, Python, architecture), resolved with uv, in their own
home: `locks/<version>/python-<X.Y>/<arch>.txt`. `build.py lock` is their only writer; `render`
copies them into the build contexts.

A resolution keeps the pins of the cell's existing lock, or of the same cell of the release
before it in the line, wherever they still satisfy (`preferred_lock`; `--fresh` resolves
anew): a patch release moves what its pins and `constraints:` move, not everything.

uv resolves for a Python version and platform it does not have, so every cell of the
matrix is locked from this one host. Resolution only sees packages published by the day
after the release date (`--exclude-newer`), so re-locking an old release gives the same
answer it gave then instead of dragging in today's dependencies.

In-house packages (`in_house:`) are not resolved from an index: their dependencies join
the resolution, and `inhouse.lock_files` records their versions and source digests beside
the release's lock files (`locks/<version>/in-house.txt`, `in-house.sha256`). The builder
stage's own tools are locked once for every context (`locks/build-tools.txt`).

Sources are allowed in the resolution: Airflow 2 depends on python-nvd3, which publishes
no wheel. Such packages are pure Python, so the builder stage builds them natively into
`py3-none-any` wheels that are right for every target architecture.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import layout, log
from ..contract import Change
from ..errors import LockError, StaleLocks, UsageError
from ..matrix.model import Matrix, Platform, Release
from . import inhouse
from .resolver import ResolutionError, exclude_newer, pins, resolve

BUILD_TOOLS_PYTHON = "3.11"  # the tools are pure Python wheels; any Python resolves them alike


@dataclass(frozen=True)
class LockCell:
    release: Release
    python: str
    platform: Platform
    slim: bool = False  # the slim images' lock (Airflow and the slim_packages), a subset of the full one

    @property
    def path(self) -> str:
        return str(layout.lock_file(str(self.release.version), self.python, self.platform.arch, slim=self.slim))

    def requirements(self) -> str:
        """What the lock must satisfy: Airflow, the pins, what the in-house packages depend on,
        and pip (so the venv has a pinned pip)."""
        lines = [f"apache-airflow=={self.release.airflow}"]
        lines += [f"{name}=={version}" for name, version in self.pinned]
        lines += [requirement for package in self.release.in_house for requirement in package.dependencies]
        lines.append("pip")
        return "\n".join(lines) + "\n"

    @property
    def pinned(self) -> tuple[tuple[str, str], ...]:
        """The packages versions.yaml pins for this lock (the slim subset for a slim one)."""
        return self.release.slim_packages if self.slim else self.release.packages

    def slim_cell(self) -> LockCell:
        """The lock of the same cell's slim images."""
        return LockCell(self.release, self.python, self.platform, slim=True)

    def constraints(self) -> str:
        """The line's bounds on packages it does not pin (`constraints:`), for the resolver."""
        return "".join(f"{constraint.requirement}\n" for constraint in self.release.constraints)


def cells(matrix: Matrix, versions: tuple[str, ...] = (), pythons: tuple[str, ...] = (),
          platforms: tuple[Platform, ...] = ()) -> list[LockCell]:
    matrix.refuse_unknown(versions, pythons)
    releases = [matrix.release(v) for v in versions] if versions else list(matrix.releases)
    found = [
        LockCell(release, python, platform)
        for release in releases
        for python in release.pythons
        for platform in release.platforms
        if (not pythons or python in pythons) and (not platforms or platform in platforms)
    ]
    if not found:  # each filter names something the matrix has, but not together (issue 31)
        asked = ", ".join([*versions, *(f"Python {p}" for p in pythons), *(p.value for p in platforms)])
        raise UsageError(f"no lock cell matches {asked}: "
                         + "; ".join(f"Runtime {r.version} has Python {', '.join(r.pythons)} on "
                                     f"{', '.join(p.value for p in r.platforms)}" for r in releases[:3])
                         + ("; ..." if len(releases) > 3 else ""))
    return found


def lock_text(cell: LockCell, preferred: str = "", upgrade: tuple[str, ...] = ()) -> str:
    """`upgrade`: packages moved to their newest version that resolves, however `preferred` pins them; then
    no package goes below `preferred`'s pin either (uv's backtracking for the upgrades can otherwise take
    another package back: drafting 14.3.0 on 2026-12-07 took kombu 5.7.0 -> 5.6.2 and redis 8.1.0 -> 6.4.0)."""
    release = cell.release
    newer_than = exclude_newer(release.released)
    floors = "".join(f"{name}>={version}\n" for name, version in sorted(pins(preferred).items())) if upgrade else ""
    try:
        body = resolve(cell.requirements(), cell.python, cell.platform, newer_than,
                       constraints=cell.constraints() + floors, preferred=preferred,
                       extra=tuple(f"--upgrade-package={name}" for name in upgrade))
    except ResolutionError as error:
        raise LockError(f"cannot lock Runtime {release.version}, Python {cell.python}, {cell.platform.value}:\n"
                        f"{error}") from error
    head = (f"# Lock of Runtime {release.version} for Python {cell.python} on {cell.platform.value}.\n"
            f"# Written by `build.py lock` (uv, packages published before {newer_than}); do not edit.\n")
    return head + body


def slim_lock_text(cell: LockCell, full: str) -> str:
    """The slim images' lock of `cell`: Airflow and the slim packages resolved with every version
    fixed by the full lock `full`, so the slim images install a subset of the full images' pins,
    at the same versions and hashes (a patch release moves both alike)."""
    release = cell.release
    slim = cell.slim_cell()
    constraints = slim.constraints() + _exactly(full)
    try:
        body = resolve(slim.requirements(), cell.python, cell.platform, exclude_newer(release.released),
                       constraints=constraints)
    except ResolutionError as error:
        raise LockError(f"cannot lock the slim images of Runtime {release.version}, Python {cell.python}, "
                        f"{cell.platform.value} within {cell.path}:\n{error}") from error
    return (f"# Lock of the slim images of Runtime {release.version} for Python {cell.python} on "
            f"{cell.platform.value}: a subset of {PurePosixPath(cell.path).name}, at its versions.\n"
            "# Written by `build.py lock`; do not edit.\n" + body)


def slim_problems(cell: LockCell, slim_text: str | None, full_text: str | None) -> list[str]:
    """Why the slim lock of `cell` (a full-image cell) no longer matches versions.yaml and the full lock."""
    slim = cell.slim_cell()
    if slim_text is None:
        return [f"{slim.path}: missing; run `python build.py lock {cell.release.version}`"]
    problems = verify(slim, slim_text)
    if full_text is not None:
        full = pins(full_text)
        problems += [f"{slim.path}: {name} is locked at {version}, the full lock {cell.path} at "
                     f"{full.get(name, 'nothing')}; run `python build.py lock {cell.release.version}`"
                     for name, version in sorted(pins(slim_text).items()) if full.get(name) != version]
    return problems


def _exactly(lock: str) -> str:
    """Constraints that hold every package at the version `lock` pins (a resolution within it)."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins(lock).items()))


def build_tools_text(matrix: Matrix) -> str:
    """uv (and flit_core, for in-house packages), hash-pinned, for the builder stage (the same
    file in every build context)."""
    tools = f"uv=={matrix.uv_version}\n"
    if matrix.flit_core_version:
        tools += f"flit_core=={matrix.flit_core_version}\n"
    try:
        body = resolve(tools, BUILD_TOOLS_PYTHON, Platform.AMD64, "2100-01-01")
    except ResolutionError as error:
        raise LockError(f"cannot lock the builder stage's tools:\n{error}") from error
    return "# The builder stage's tools. Written by `build.py lock`; do not edit.\n" + body


def test_tools_text(matrix: Matrix, cell: LockCell, lock: str) -> str:
    """pytest for a project's tests on this release and Python, hash-locked, with every package it
    shares with the image at the image's own version (the lock's pins are its constraints), so
    installing it beside the venv while the tests run changes nothing the project's code sees."""
    try:
        body = resolve(f"pytest=={matrix.pytest_version}\n", cell.python, cell.platform,
                       exclude_newer(cell.release.released), constraints=_exactly(lock))
    except ResolutionError as error:
        raise LockError(f"cannot lock pytest {matrix.pytest_version} for Runtime {cell.release.version}, Python "
                        f"{cell.python}:\n{error}") from error
    return (f"# pytest for the tests of projects built on Runtime {cell.release.version}, Python {cell.python}.\n"
            "# Written by `build.py lock`; do not edit.\n" + body)


def needs_test_tools(cell: LockCell) -> bool:
    """One test-tools lock per release and Python (pure-Python wheels), from its amd64 cell."""
    return cell.release.has(Change.PROJECT_TESTS) and cell.platform is Platform.AMD64


def verify(cell: LockCell, text: str) -> list[str]:
    """Why a lock no longer matches versions.yaml (empty when it does)."""
    locked = pins(text)
    wanted = {"apache-airflow": str(cell.release.airflow), **dict(cell.pinned)}
    problems = [
        f"{cell.path}: {name} is {'missing' if name not in locked else f'locked at {locked[name]}'}, "
        f"versions.yaml pins {version}"
        for name, version in sorted(wanted.items())
        if locked.get(name) != version
    ]
    problems += [
        f"{cell.path}: {constraint.name} is locked at {locked[constraint.name]}, which the constraint "
        f"{constraint.requirement!r} excludes ({constraint.reason})"
        for constraint in cell.release.constraints
        if constraint.name in locked and not constraint.allows(locked[constraint.name])
    ]
    return problems


def stale_locks(matrix: Matrix, root: Path, selected: list[LockCell] | None = None) -> list[str]:
    """Every lock file of `selected` (default: every cell) that is missing or disagrees with
    versions.yaml and inhouse/: the one staleness check, for `lock --stale`, `build` and `publish`."""
    selected = cells(matrix) if selected is None else selected
    problems = [problem for cell in selected for problem in _cell_problems(matrix, root, cell)]
    if selected and not (root / layout.build_tools_file()).exists():
        problems.append(f"{layout.build_tools_file()}: missing; run `python build.py lock`")
    for release in _releases(selected):
        problems += _in_house_drift(release, root)
    return problems


def refuse_stale(matrix: Matrix, root: Path, contexts: Iterable[tuple[Release, str]]) -> None:
    """Before any engine work: the locks of the (release, Python) contexts about to be built
    match versions.yaml and inhouse/, or LockError naming each stale file."""
    wanted = set(contexts)
    stale = stale_locks(matrix, root, [cell for cell in cells(matrix) if (cell.release, cell.python) in wanted])
    if stale:
        versions = " ".join(sorted({str(release.version) for release, _ in wanted}))
        raise StaleLocks("the lock files of what would be built are out of date:\n"
                        + "\n".join(f"  {problem}" for problem in stale)
                        + f"\nrun `python build.py lock {versions}`, then `python build.py render`, and commit both")


def _cell_problems(matrix: Matrix, root: Path, cell: LockCell) -> list[str]:
    """Why the lock files of one cell are stale: its lock, its slim lock, its test-tools lock."""
    full = _read(root / cell.path)
    problems = [f"{cell.path}: missing; run `python build.py lock {cell.release.version}`"] if full is None \
        else verify(cell, full)
    if cell.release.has_slim:
        problems += slim_problems(cell, _read(root / cell.slim_cell().path), full)
    if needs_test_tools(cell):
        path = layout.test_tools_file(str(cell.release.version), cell.python)
        tools = _read(root / path)
        if tools is None or f"pytest=={matrix.pytest_version} " not in tools:
            problems.append(f"{path}: missing or not pytest {matrix.pytest_version}; run "
                            f"`python build.py lock {cell.release.version}`")
    return problems


def _read(path: Path) -> str | None:
    return read_lock_file(path) if path.exists() else None


def _releases(selected: list[LockCell]) -> list[Release]:
    return sorted({cell.release for cell in selected}, key=lambda r: r.version)


def _in_house_drift(release: Release, root: Path) -> list[str]:
    """Why a release's in-house lock files disagree with versions.yaml and inhouse/."""
    wanted = inhouse.lock_files(release)
    folder = layout.locks_dir(str(release.version))
    problems = []
    for name in (layout.IN_HOUSE_PINS, layout.IN_HOUSE_MANIFEST):
        path = root / folder / name
        if name not in wanted:
            if path.exists():
                problems.append(f"{folder / name}: Runtime {release.version} has no in-house packages; "
                                f"run `python build.py lock {release.version}`")
        elif not path.exists():
            problems.append(f"{folder / name}: missing; run `python build.py lock {release.version}`")
        elif read_lock_file(path) != wanted[name]:
            problems.append(f"{folder / name}: differs from versions.yaml and {layout.INHOUSE}/ (an in-house "
                            f"package changed); run `python build.py lock {release.version}`")
    return problems


def preferred_lock(matrix: Matrix, root: Path, cell: LockCell) -> str:
    """The pins a resolution of `cell` keeps where it can: its own lock, else its predecessor's.

    So re-locking a release changes nothing that versions.yaml did not change, and a new patch
    release moves only what its pins and constraints make move, not every transitive package
    published since the release before it.
    """
    own = root / cell.path
    if own.exists():
        return read_lock_file(own)
    earlier = [r for r in matrix.line(cell.release.line) if r.version < cell.release.version]
    for release in sorted(earlier, key=lambda r: r.version, reverse=True):
        path = root / LockCell(release, cell.python, cell.platform).path
        if path.exists():
            return read_lock_file(path)
    return ""


def _progress(resolve_cell: Callable[[LockCell, str], str], total: int) -> Callable[[LockCell, str], str]:
    """`resolve_cell`, saying each cell it finished: `lock` of a whole matrix takes many minutes."""
    started, finished, guard = time.monotonic(), itertools.count(1), threading.Lock()

    def resolved(cell: LockCell, preferred: str) -> str:
        text = resolve_cell(cell, preferred)
        with guard:
            log.info(f"    locked {next(finished)} of {total}: {cell.path} ({time.monotonic() - started:.0f} s)")
        return text

    return resolved


def write_locks(matrix: Matrix, root: Path, selected: list[LockCell], jobs: int = 4,
                only_stale: bool = False, fresh: bool = False, upgrade: tuple[str, ...] = ()) -> list[str]:
    """Resolve and write the selected locks in parallel; return the paths written.

    Each resolution keeps the pins of `preferred_lock` where it can, unless `fresh`, but for the
    packages named in `upgrade` (`new-version --from-upstream`: what the index has newer). All
    resolutions finish before anything is written, so a failure writes nothing.
    """
    if only_stale:
        drifted = {release for release in _releases(selected) if _in_house_drift(release, root)}
        selected = [c for c in selected if c.release in drifted or _cell_problems(matrix, root, c)]
    preferred = ["" if fresh else preferred_lock(matrix, root, cell) for cell in selected]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        texts = list(pool.map(_progress(lambda cell, pins: lock_text(cell, pins, upgrade), len(selected)), selected,
                              preferred))
    tools = build_tools_text(matrix)
    test_tools = {cell: test_tools_text(matrix, cell, text) for cell, text in zip(selected, texts, strict=True)
                  if needs_test_tools(cell)}
    slim_cells = [(cell, text) for cell, text in zip(selected, texts, strict=True) if cell.release.has_slim]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        slim_texts = list(pool.map(lambda pair: slim_lock_text(*pair), slim_cells))
    written = []
    for cell, text in zip(selected, texts, strict=True):
        path = root / cell.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(cell.path)
    for (cell, _), text in zip(slim_cells, slim_texts, strict=True):
        (root / cell.slim_cell().path).write_text(text)
        written.append(cell.slim_cell().path)
    (root / layout.build_tools_file()).write_text(tools)
    for cell, text in test_tools.items():
        path = layout.test_tools_file(str(cell.release.version), cell.python)
        (root / path).write_text(text)
        written.append(str(path))
    for release in _releases(selected):
        wanted = inhouse.lock_files(release)
        for name in (layout.IN_HOUSE_PINS, layout.IN_HOUSE_MANIFEST):
            path = root / layout.locks_dir(str(release.version)) / name
            if name in wanted:
                path.write_text(wanted[name])
                written.append(str(PurePosixPath(layout.locks_dir(str(release.version)), name)))
            elif path.exists():
                path.unlink()
    return written


def read_locks(root: Path) -> dict[PurePosixPath, str]:
    """Every file under locks/, by its repository-relative path: what render and the notes read."""
    folder = root / layout.LOCKS
    if not folder.is_dir():
        return {}
    return {PurePosixPath(path.relative_to(root).as_posix()): read_lock_file(path)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def read_lock_file(path: Path) -> str:
    """A file under locks/: UsageError naming it when it is not UTF-8 (not the codec's words, issue 31)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; lock files are written by `build.py lock` only: restore it "
                         "(`git checkout`) or lock the release again") from None
