"""Hash-pinned lock files, one per (release, Python, architecture), resolved with uv.

A resolution keeps the pins of the cell's existing lock, or of the same cell of the release
before it in the line, wherever they still satisfy (`preferred_lock`; `--fresh` resolves
anew): a patch release moves what its pins and `constraints:` move, not everything.

uv resolves for a Python version and platform it does not have, so every cell of the
matrix is locked from this one host. Resolution only sees packages published by the day
after the release date (`--exclude-newer`), so re-locking an old release gives the same
answer it gave then instead of dragging in today's dependencies.

In-house packages (`in_house:`) are not resolved from an index: their dependencies join
the resolution, and `inhouse.lock_files` records their versions and source digests beside
the lock files (`locks/in-house.txt`, `locks/in-house.sha256`).

Sources are allowed in the resolution: Airflow 2 depends on python-nvd3, which publishes
no wheel. Such packages are pure Python, so the builder stage builds them natively into
`py3-none-any` wheels that are right for every target architecture.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from packaging.utils import canonicalize_name

from ..generate.specs import lock_path
from ..matrix.model import Matrix, Platform, Release
from . import inhouse

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
BUILD_TOOLS = "build-tools.txt"


class LockError(Exception):
    pass


@dataclass(frozen=True)
class LockCell:
    release: Release
    python: str
    platform: Platform

    @property
    def path(self) -> str:
        return str(lock_path(self.release, self.python, self.platform))

    def requirements(self) -> str:
        """What the lock must satisfy: Airflow, the pins, what the in-house packages depend on,
        and pip (so the venv has a pinned pip)."""
        lines = [f"apache-airflow=={self.release.airflow}"]
        lines += [f"{name}=={version}" for name, version in self.release.packages]
        lines += [requirement for package in self.release.in_house for requirement in package.dependencies]
        lines.append("pip")
        return "\n".join(lines) + "\n"

    def constraints(self) -> str:
        """The line's bounds on packages it does not pin (`constraints:`), for the resolver."""
        return "".join(f"{constraint.requirement}\n" for constraint in self.release.constraints)


def cells(matrix: Matrix, versions: tuple[str, ...] = (), pythons: tuple[str, ...] = (),
          platforms: tuple[Platform, ...] = ()) -> list[LockCell]:
    releases = [matrix.release(v) for v in versions] if versions else list(matrix.releases)
    return [
        LockCell(release, python, platform)
        for release in releases
        for python in release.pythons
        for platform in release.platforms
        if (not pythons or python in pythons) and (not platforms or platform in platforms)
    ]


def _uv() -> list[str]:
    return [sys.executable, "-m", "uv"]


def _compile(requirements: str, python: str, platform: Platform, exclude_newer: str, constraints: str = "",
             preferred: str = "") -> str:
    """uv's resolution; `preferred`: a lock whose pins uv keeps wherever they still satisfy."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text(requirements)
        bounds = Path(tmp) / "constraints.txt"
        bounds.write_text(constraints)
        output = Path(tmp) / "lock.txt"  # uv prefers the versions an existing output file pins
        output.write_text(preferred)
        result = subprocess.run(
            [*_uv(), "pip", "compile", str(source), "--quiet", "--no-header", "--generate-hashes",
             "--python-version", python, "--python-platform", platform.uv_platform,
             "--exclude-newer", exclude_newer, "--no-annotate", "--constraint", str(bounds),
             "--output-file", str(output)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise LockError(result.stderr.strip() or result.stdout.strip())
        return output.read_text()


def lock_text(cell: LockCell, preferred: str = "") -> str:
    release = cell.release
    exclude_newer = (release.released + timedelta(days=1)).isoformat()
    try:
        body = _compile(cell.requirements(), cell.python, cell.platform, exclude_newer, cell.constraints(), preferred)
    except LockError as error:
        raise LockError(f"cannot lock Runtime {release.version}, Python {cell.python}, {cell.platform.value}:\n"
                        f"{error}") from error
    head = (f"# Lock of Runtime {release.version} for Python {cell.python} on {cell.platform.value}.\n"
            f"# Written by `build.py lock` (uv, packages published before {exclude_newer}); do not edit.\n")
    return head + body


def build_tools_text(matrix: Matrix) -> str:
    """uv (and flit_core, for in-house packages), hash-pinned, for the builder stage (same file
    in every build context)."""
    tools = f"uv=={matrix.uv_version}\n"
    if matrix.flit_core_version:
        tools += f"flit_core=={matrix.flit_core_version}\n"
    body = _compile(tools, "3.11", Platform.AMD64, "2100-01-01")
    return "# The builder stage's tools. Written by `build.py lock`; do not edit.\n" + body


def pins(text: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def verify(cell: LockCell, text: str) -> list[str]:
    """Why a lock no longer matches versions.yaml (empty when it does)."""
    locked = pins(text)
    wanted = {"apache-airflow": str(cell.release.airflow), **dict(cell.release.packages)}
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
    """Every lock of `selected` (default: every cell) that is missing or disagrees with versions.yaml."""
    selected = cells(matrix) if selected is None else selected
    problems = []
    for cell in selected:
        path = root / cell.path
        if not path.exists():
            problems.append(f"{cell.path}: missing; run `python build.py lock {cell.release.version}`")
        else:
            problems += verify(cell, path.read_text())
    for release, context in _contexts(selected):
        if not (root / context / BUILD_TOOLS).exists():
            problems.append(f"{context / BUILD_TOOLS}: missing; run `python build.py lock`")
        problems += _in_house_drift(release, root / context, context)
    return problems


def _contexts(selected: list[LockCell]) -> list[tuple[Release, Path]]:
    """Each (release, locks/ folder) the cells belong to, once."""
    seen = {Path(cell.path).parent: cell.release for cell in selected}
    return [(seen[context], context) for context in sorted(seen)]


def _in_house_drift(release: Release, folder: Path, shown: Path) -> list[str]:
    """Why the in-house lock files of one context disagree with versions.yaml and inhouse/."""
    wanted = inhouse.lock_files(release)
    problems = []
    for name in (inhouse.PINS, inhouse.MANIFEST):
        path = folder / name
        if name not in wanted:
            if path.exists():
                problems.append(f"{shown / name}: Runtime {release.version} has no in-house packages; "
                                f"run `python build.py lock {release.version}`")
        elif not path.exists():
            problems.append(f"{shown / name}: missing; run `python build.py lock {release.version}`")
        elif path.read_text() != wanted[name]:
            problems.append(f"{shown / name}: differs from versions.yaml and {inhouse.DIR}/ (an in-house package "
                            f"changed); run `python build.py lock {release.version}`")
    return problems


def preferred_lock(matrix: Matrix, root: Path, cell: LockCell) -> str:
    """The pins a resolution of `cell` keeps where it can: its own lock, else its predecessor's.

    So re-locking a release changes nothing that versions.yaml did not change, and a new patch
    release moves only what its pins and constraints make move, not every transitive package
    published since the release before it.
    """
    own = root / cell.path
    if own.exists():
        return own.read_text()
    earlier = [r for r in matrix.line(cell.release.line) if r.version < cell.release.version]
    for release in sorted(earlier, key=lambda r: r.version, reverse=True):
        path = root / LockCell(release, cell.python, cell.platform).path
        if path.exists():
            return path.read_text()
    return ""


def write_locks(matrix: Matrix, root: Path, selected: list[LockCell], jobs: int = 4,
                only_stale: bool = False, fresh: bool = False) -> list[str]:
    """Resolve and write the selected locks in parallel; return the paths written.

    Each resolution keeps the pins of `preferred_lock` where it can, unless `fresh`. All
    resolutions finish before anything is written, so a failure writes nothing.
    """
    if only_stale:
        drifted = {context for release, context in _contexts(selected) if _in_house_drift(release, root / context,
                                                                                        context)}
        selected = [c for c in selected if not (root / c.path).exists() or verify(c, (root / c.path).read_text())
                    or Path(c.path).parent in drifted]
    preferred = ["" if fresh else preferred_lock(matrix, root, cell) for cell in selected]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        texts = list(pool.map(lock_text, selected, preferred))
    tools = build_tools_text(matrix)
    written = []
    for cell, text in zip(selected, texts, strict=True):
        path = root / cell.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(cell.path)
    for context in sorted({Path(cell.path).parent for cell in cells(matrix)}):
        if (root / context).parent.exists():
            (root / context).mkdir(exist_ok=True)
            (root / context / BUILD_TOOLS).write_text(tools)
    for release, context in _contexts(selected):
        wanted = inhouse.lock_files(release)
        for name in (inhouse.PINS, inhouse.MANIFEST):
            path = root / context / name
            if name in wanted:
                path.write_text(wanted[name])
                written.append(str(context / name))
            elif path.exists():
                path.unlink()
    return written
