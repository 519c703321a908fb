"""Released build contexts, frozen: once a version is released, `distributions/<version>/python-*/`
is what it was built from, and never changes. `released-contexts.sha256` records each released
version's context digest when it is released (`build.py freeze`, which `new-version` runs for the
version it releases); from then on `render` takes that context as it is on disk instead of rendering
it again, after checking it against the digest, so a template or an in-image script may change for
the versions still to come without touching a released one. A released version that is not frozen
yet renders from the templates (and `render --check` says so); a frozen context that differs from
its digest is an error, whatever changed it.

Only the build contexts are frozen: the release notes are written again (a release can be yanked
after it shipped, and the notes say so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import layout
from ..errors import FrozenContextError, UsageError
from ..matrix.model import Channel, Matrix, Release

HEADER = ("# The build context each released Runtime version was released with: the digest of its\n"
          "# distributions/<version>/python-*/ folders. Written by `build.py freeze` (new-version runs it);\n"
          "# `build.py render` keeps those folders as they are and checks them against it. Do not edit.\n")


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    executable: bool


def is_context(path: PurePosixPath, version: str) -> bool:
    """Whether a repository path is part of `version`'s build contexts (not its release notes)."""
    folder = layout.release_dir(version)
    return folder in path.parents and path.relative_to(folder).parts[0].startswith("python-")


def digest(files: Mapping[PurePosixPath, RenderedFile]) -> str:
    """One digest over every file's path, mode and content, in path order. Pure."""
    total = hashlib.sha256()
    for path in sorted(files):
        rendered = files[path]
        line = f"{path}\0{int(rendered.executable)}\0{hashlib.sha256(rendered.content).hexdigest()}\n"
        total.update(line.encode())
    return f"sha256:{total.hexdigest()}"


def parse(text: str, where: str = layout.RELEASED_CONTEXTS) -> dict[str, str]:
    """version -> digest of a record's text; FrozenContextError naming the line that is not one. Pure."""
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith("sha256:") or len(parts[0]) != 71:
            raise FrozenContextError(f"{where} line {number}: {line!r} is not `sha256:<64 hex digits>  <version>`")
        found[parts[1]] = parts[0]
    return found


def text_of(record: Mapping[str, str], matrix: Matrix) -> str:
    """A record's text: one line per version, in the matrix's version order. Pure."""
    order = [str(release.version) for release in matrix.releases]
    versions = sorted(record, key=lambda version: order.index(version) if version in order else len(order))
    return HEADER + "".join(f"{record[version]}  {version}\n" for version in versions)


def read(root: Path) -> dict[str, str]:
    path = root / layout.RELEASED_CONTEXTS
    return parse(path.read_text()) if path.exists() else {}


def on_disk(root: Path, version: str) -> dict[PurePosixPath, RenderedFile]:
    """A version's build context files as distributions/ holds them."""
    folder = root / layout.release_dir(version)
    files = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if path.is_file() and is_context(relative, version):
            files[relative] = RenderedFile(path.read_bytes(), bool(path.stat().st_mode & 0o100))
    return files


def load(root: Path, matrix: Matrix) -> dict[str, dict[PurePosixPath, RenderedFile]]:
    """Every frozen version's build context from disk, checked against its digest."""
    record = read(root)
    known = {str(release.version): release for release in matrix.releases}
    unknown = sorted(set(record) - set(known))
    if unknown:
        raise FrozenContextError(f"{layout.RELEASED_CONTEXTS} names {', '.join(unknown)}, which versions.yaml does "
                                 "not have; a released version stays in versions.yaml (yank it instead)")
    found = {}
    for version, wanted in record.items():
        if known[version].channel is Channel.NIGHTLY:
            raise FrozenContextError(f"{layout.RELEASED_CONTEXTS} freezes Runtime {version}, a nightly build: only "
                                     "a released version is frozen")
        files = on_disk(root, version)
        if not files:
            raise FrozenContextError(f"{layout.release_dir(version)}/python-*/ is missing: Runtime {version} is "
                                     f"released and its build context frozen; restore it "
                                     f"(`git checkout -- {layout.release_dir(version)}`)")
        if digest(files) != wanted:
            raise FrozenContextError(
                f"{layout.release_dir(version)}/python-*/ is not the build context Runtime {version} was released "
                f"with ({layout.RELEASED_CONTEXTS}): a released context never changes. See what changed with "
                f"`git diff -- {layout.release_dir(version)}` and put it back; a change for the releases to come "
                "belongs in templates/ (and a new release)")
        found[version] = files
    return found


def unfrozen(matrix: Matrix, record: Mapping[str, str]) -> list[str]:
    """Released versions without a recorded context (render still renders them from templates)."""
    return [str(release.version) for release in matrix.releases
            if release.channel is not Channel.NIGHTLY and str(release.version) not in record]


def released(matrix: Matrix, version: str) -> Release:
    """The release `version` names, one that can be frozen: UsageError for a version the matrix does not
    have or a nightly build (bad input, said before anything is rendered)."""
    release = matrix.release(version)
    if release.channel is Channel.NIGHTLY:
        raise UsageError(f"Runtime {version} is a nightly build: only a released version is frozen "
                         "(`new-version --release` releases a nightly)")
    return release


def freeze(root: Path, matrix: Matrix, versions: Iterable[str],
           rendered: Mapping[PurePosixPath, RenderedFile]) -> dict[str, str]:
    """The record with `versions` frozen as `rendered` (render's tree, which distributions/ must equal
    for them); written atomically. Returns the new record."""
    record = read(root)
    for version in versions:
        released(matrix, version)
        files = {path: file for path, file in rendered.items() if is_context(path, version)}
        if on_disk(root, version) != files:
            raise FrozenContextError(f"{layout.release_dir(version)}/ is not what render makes of it: run "
                                     "`python build.py render` first, then freeze what it wrote")
        record[version] = digest(files)
    path = root / layout.RELEASED_CONTEXTS
    staged = path.with_suffix(".new")
    staged.write_text(text_of(record, matrix))
    staged.replace(path)
    return record
