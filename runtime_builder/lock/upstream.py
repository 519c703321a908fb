"""`build.py upstream`: what moved on the package index since a Runtime line was locked.

Two questions for each line, asked of the index the host's own clients use (its simple API's
PEP 691 JSON, with PEP 592's yanks):

- what the index has that is newer than what the line's newest release and its nightly lock:
  Airflow patches of the line's minor, provider releases, every other locked package (final
  releases only, unless the lock pins a pre-release itself): what the next nightly would move;
- which version a *released* lock ships that the index now marks yanked, and why: images
  that install what their publisher withdrew, the one finding that fails the command.

The comparison is pure (functions over the locks' pins and `Project`s, the index's answers);
`SimpleIndex` is the one adapter over the network, and asks about each package once.
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from .. import log
from ..errors import PackageIndexError, UsageError
from ..matrix.model import Channel, Matrix, Release
from .locks import LockCell, read_locks
from .resolver import pins

ACCEPT = "application/vnd.pypi.simple.v1+json"  # PEP 691's JSON form of the simple API
TIMEOUT = 30.0  # seconds for one project page (a page of boto3's runs to megabytes)
WORKERS = 8  # pages asked for at once
# A page asked again after a passing failure (a reset connection, a timeout, 429 or a 5xx answer),
# as pip and uv do: one blip among hundreds of pages must not fail the report.
ATTEMPTS, RETRY_SECONDS = 3, 1.0
TRANSIENT = (429, 500, 502, 503, 504)
PROVIDER_PREFIX = "apache-airflow-providers-"


class Kind(Enum):
    """What a locked package is to the line, in the order the report lists them."""

    AIRFLOW = "airflow"  # apache-airflow and the distribution that installs the `airflow` package
    PROVIDER = "provider"
    PACKAGE = "package"


@dataclass(frozen=True)
class Project:
    """What the index says of one package: every version it lists, and those it marks yanked."""

    name: str
    versions: tuple[str, ...]  # normalized (PEP 440), oldest first
    yanked: tuple[tuple[str, str], ...] = ()  # (version, reason or ""): every file of the version is yanked

    def yank_reason(self, version: str) -> str | None:
        """Why the index yanked `version` ("" when it gave no reason); None when it did not."""
        return dict(self.yanked).get(_normal(version) or version)


@dataclass(frozen=True)
class Move:
    """A package the index has newer versions of than a release's locks pin."""

    name: str
    kind: Kind
    locked: str  # the highest version the release's lock files pin (Pythons may differ)
    newer: tuple[str, ...]  # the index's versions above it, oldest first
    held: str | None = None  # the line's constraint that excludes the newest (`constraints:`, e.g. celery<5.7)

    @property
    def newest(self) -> str:
        return self.newer[-1]


@dataclass(frozen=True)
class Behind:
    """One release the line builds from (its newest release, or its nightly) and what moved since its locks."""

    version: str
    channel: Channel
    moves: tuple[Move, ...]


@dataclass(frozen=True)
class Yank:
    """A version released lock files ship that the index marks yanked."""

    name: str
    version: str
    reason: str
    locks: tuple[str, ...]  # the lock files that pin it


@dataclass(frozen=True)
class LineReport:
    line: int
    releases: tuple[Behind, ...]
    yanked: tuple[Yank, ...]
    unlocked: tuple[str, ...]  # lock files of the line's releases that are not written


@dataclass(frozen=True)
class Report:
    index: str  # as shown: without credentials
    lines: tuple[LineReport, ...]
    missing: tuple[str, ...]  # locked packages the index has no page for
    asked: int  # packages asked about

    @property
    def yanked(self) -> tuple[Yank, ...]:
        return tuple(yank for line in self.lines for yank in line.yanked)


# -- the index's answers ---------------------------------------------------------------------------


def _normal(text: str) -> str | None:
    try:
        return str(Version(text))
    except ValueError:  # InvalidVersion: a legacy version no installer accepts any more
        return None


def _file_version(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except ValueError:  # an .egg, an .exe, a name packaging cannot read
        return None


def project_of(name: str, page: Mapping[str, Any]) -> Project:
    """A PEP 691 project page as a Project. A version is yanked when every file of it is (PEP 592:
    `yanked` is false, true, or the reason); a page of API 1.0 has no `versions`, its files say them."""
    marks: dict[str, list[bool | str]] = {}
    for file in page.get("files", ()):
        version = _file_version(str(file.get("filename", "")))
        if version is not None:
            marks.setdefault(version, []).append(file.get("yanked") or False)
    listed = {normal for normal in map(_normal, page.get("versions") or marks) if normal}
    yanked = tuple((version, next((mark for mark in found if isinstance(mark, str)), ""))
                   for version, found in sorted(marks.items(), key=lambda item: Version(item[0]))
                   if all(mark is not False for mark in found))
    return Project(name, tuple(sorted(listed, key=Version)), yanked)


def newer(locked: str, project: Project, same_minor: bool = False) -> tuple[str, ...]:
    """The versions `project` has above `locked`, oldest first, none of them yanked: final releases only
    unless `locked` is a pre- or dev release; with `same_minor`, only `locked`'s own major.minor (patches)."""
    base = Version(locked)
    yanked = {version for version, _ in project.yanked}
    found = []
    for text in project.versions:
        version = Version(text)
        if version <= base or text in yanked or (version.is_prerelease and not base.is_prerelease):
            continue
        if same_minor and version.release[:2] != base.release[:2]:
            continue
        found.append(text)
    return tuple(found)


# -- the line's locks ------------------------------------------------------------------------------


def compared(matrix: Matrix, line: int) -> tuple[Release, ...]:
    """The releases of `line` whose locks are compared with the index: its newest release (neither a
    nightly nor yanked: what users pull) and its nightly builds (what the next release becomes)."""
    releases = matrix.line(line)
    released = [r for r in releases if r.channel is not Channel.NIGHTLY and not r.is_yanked]
    newest = [max(released, key=lambda r: r.version)] if released else []
    return (*newest, *(r for r in releases if r.channel is Channel.NIGHTLY))


def released(matrix: Matrix, line: int) -> tuple[Release, ...]:
    """The releases of `line` whose images are out (every channel but nightly): their locks are checked for yanks."""
    return tuple(r for r in matrix.line(line) if r.channel is not Channel.NIGHTLY)


def lock_paths(release: Release) -> list[str]:
    """The full images' lock file of every cell of `release` (a slim lock pins a subset at the same versions)."""
    return [LockCell(release, python, platform).path for python in release.pythons for platform in release.platforms]


def lock_pins(release: Release, locks: Mapping[PurePosixPath, str]) -> dict[str, dict[str, str]]:
    """Each lock file of `release` that is written, by path: its pins (canonical name -> version)."""
    return {path: pins(locks[PurePosixPath(path)]) for path in lock_paths(release) if PurePosixPath(path) in locks}


def kind_of(release: Release, name: str) -> Kind:
    if name in ("apache-airflow", canonicalize_name(release.airflow_distribution)):
        return Kind.AIRFLOW
    return Kind.PROVIDER if name.startswith(PROVIDER_PREFIX) else Kind.PACKAGE


def moves(release: Release, pinned: Mapping[str, Mapping[str, str]],
          projects: Mapping[str, Project]) -> tuple[Move, ...]:
    """What the index has above the highest version any of the release's lock files pins, package by package
    (Airflow: patches of its minor only), with the constraint that holds it back if one does; a package the
    index has no page for is left out (Report.missing)."""
    highest: dict[str, str] = {}
    for found in pinned.values():
        for name, version in found.items():
            if name not in highest or Version(version) > Version(highest[name]):
                highest[name] = version
    result = []
    for name, version in highest.items():
        kind = kind_of(release, name)
        ahead = newer(version, projects[name], same_minor=kind is Kind.AIRFLOW) if name in projects else ()
        if ahead:
            held = next((c.requirement for c in release.constraints if c.name == name and not c.allows(ahead[-1])),
                        None)
            result.append(Move(name, kind, version, ahead, held))
    return tuple(sorted(result, key=lambda move: (list(Kind).index(move.kind), move.name)))


def yanks(pinned: Mapping[str, Mapping[str, str]], projects: Mapping[str, Project]) -> tuple[Yank, ...]:
    """Every version the lock files `pinned` (path -> pins) ship that the index marks yanked, with the files."""
    shipped: dict[tuple[str, str], list[str]] = {}
    for path, found in pinned.items():
        for name, version in found.items():
            if name in projects and projects[name].yank_reason(version) is not None:
                shipped.setdefault((name, version), []).append(path)
    return tuple(Yank(name, version, projects[name].yank_reason(version) or "", tuple(paths))
                 for (name, version), paths in sorted(shipped.items()))


def selected_lines(matrix: Matrix, line: int | None) -> tuple[int, ...]:
    """Every line, or the one asked for (UnknownVersion naming the known ones)."""
    if line is None:
        return matrix.lines
    matrix.refuse_unknown(lines=[line])
    return (line,)


def package_names(matrix: Matrix, lines: Sequence[int], locks: Mapping[PurePosixPath, str]) -> set[str]:
    """Every package the report asks the index about: what the lines' compared and released locks pin."""
    return {name for line in lines for release in {*compared(matrix, line), *released(matrix, line)}
            for found in lock_pins(release, locks).values() for name in found}


def compare(matrix: Matrix, lines: Sequence[int], locks: Mapping[PurePosixPath, str],
            projects: Mapping[str, Project], index: str) -> Report:
    """The report, from the locks (path -> text, as `read_locks` gives them) and the index's answers."""
    reports = []
    for line in lines:
        behind = tuple(Behind(str(r.version), r.channel, moves(r, lock_pins(r, locks), projects))
                       for r in compared(matrix, line))
        shipped = {path: found for r in released(matrix, line) for path, found in lock_pins(r, locks).items()}
        unlocked = tuple(path for r in sorted({*compared(matrix, line), *released(matrix, line)},
                                                key=lambda r: r.version)
                         for path in lock_paths(r) if PurePosixPath(path) not in locks)
        reports.append(LineReport(line, behind, yanks(shipped, projects), unlocked))
    names = package_names(matrix, lines, locks)
    return Report(index, tuple(reports), tuple(sorted(names - set(projects))), len(names))


# -- the index -------------------------------------------------------------------------------------


def default_index(configured: str | None) -> str:
    """The index the host's clients are configured with (`configured`: images.secrets.host_index_url),
    else pip's own default, asked of pip rather than written here."""
    if configured:
        return configured
    try:
        from pip._internal.models.index import PyPI
    except ImportError as error:
        raise UsageError("no package index is configured (UV_INDEX_URL, UV_DEFAULT_INDEX, PIP_INDEX_URL or pip's "
                         "index-url) and pip is not installed to name its default: give --index-url") from error
    return PyPI.simple_url


class SimpleIndex:
    """The one adapter over a package index: the PEP 691 JSON page of each project, asked once.

    Credentials in the URL go in an Authorization header that urllib never sends past a
    redirect; the URL the messages show has none.
    """

    def __init__(self, url: str, cacert: Path | None = None, timeout: float = TIMEOUT, workers: int = WORKERS) -> None:
        parts = urlsplit(url)
        credentials, _, host = parts.netloc.rpartition("@")
        self.url = urlunsplit(parts._replace(netloc=host)).rstrip("/")
        self.authorization = None
        if credentials:
            user, _, password = credentials.partition(":")
            token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
            self.authorization = f"Basic {token}"
        self.context = ssl.create_default_context(cafile=str(cacert) if cacert else None)
        self.timeout, self.workers = timeout, workers

    def project(self, name: str) -> Project | None:
        """The index's page of `name`; None when it has none (404 or 410). A passing failure is
        tried again (ATTEMPTS in all)."""
        for attempt in itertools.count(1):
            try:
                kind, body = self._get(name)
                break
            except PackageIndexError as error:
                if attempt >= ATTEMPTS or not error.transient:
                    raise
                time.sleep(RETRY_SECONDS * attempt)
        if kind is None:
            return None
        if not (kind.startswith("application/vnd.pypi.simple.") and kind.endswith("+json")):
            raise PackageIndexError(f"the package index {self.url} answered {kind} for {name}, not the JSON of "
                                    f"PEP 691 ({ACCEPT}); use an index that serves it (--index-url)")
        try:
            return project_of(name, json.loads(body))
        except (ValueError, AttributeError, TypeError) as error:
            raise PackageIndexError(f"the package index {self.url} sent a broken page for {name}: {error}") from error

    def _get(self, name: str) -> tuple[str | None, bytes]:
        """(content type, body) of `name`'s page, (None, b"") when the index has none."""
        request = urllib.request.Request(f"{self.url}/{name}/", headers={"Accept": ACCEPT})
        if self.authorization:
            request.add_unredirected_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return response.headers.get_content_type(), response.read()
        except urllib.error.HTTPError as error:
            if error.code in (404, 410):
                return None, b""
            raise PackageIndexError(f"the package index {self.url} answered {error.code} {error.reason} for "
                                    f"{name}", transient=error.code in TRANSIENT) from error
        except OSError as error:  # URLError, a timeout, a reset connection
            raise PackageIndexError(f"cannot ask the package index {self.url} about {name}: "
                                    f"{getattr(error, 'reason', None) or error}", transient=True) from error

    def projects(self, names: Iterable[str]) -> dict[str, Project]:
        """The pages of `names`, a few at a time; a package the index has no page for is left out. The first
        failure stops the questions not asked yet."""
        ordered = sorted(set(names))
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            pages = list(pool.map(self.project, ordered))
        finally:
            pool.shutdown(cancel_futures=True)
        return {name: page for name, page in zip(ordered, pages, strict=True) if page is not None}


def check(root: Path, matrix: Matrix, line: int | None, index: SimpleIndex) -> Report:
    """Every selected line's report, the index asked about each locked package once."""
    lines = selected_lines(matrix, line)
    locks = read_locks(root)
    names = package_names(matrix, lines, locks)
    with log.step(f"ask {index.url} about the {len(names)} packages the locks of Runtime "
                  f"{', '.join(map(str, lines))} pin"):
        projects = index.projects(names)
    if names and not projects:
        raise PackageIndexError(f"the package index {index.url} has no page for any of the {len(names)} locked "
                                "packages: is it a simple index (PEP 503)? Give its /simple URL with --index-url")
    return compare(matrix, lines, locks, projects, index.url)


# -- the report, as text and JSON ------------------------------------------------------------------


def as_text(report: Report) -> str:
    out = [f"package index: {report.index} ({report.asked} packages)"]
    for line in report.lines:
        out.append(f"\nRuntime {line.line}")
        for behind in line.releases:
            role = "nightly" if behind.channel is Channel.NIGHTLY else f"{behind.channel.value}, the newest release"
            counts = ", ".join(f"{sum(m.kind is kind for m in behind.moves)} {kind.value}"
                               for kind in Kind if any(m.kind is kind for m in behind.moves))
            out.append(f"  {behind.version} ({role}): "
                       + (f"newer on the index: {counts}" if behind.moves else "nothing newer on the index"))
            width = max((len(move.name) for move in behind.moves), default=0)
            out += [f"    {move.kind.value:<8}  {move.name:<{width}}  {move.locked} -> {move.newest}"
                    + (f" ({len(move.newer)} newer)" if len(move.newer) > 1 else "")
                    + (f", held back by {move.held}" if move.held else "") for move in behind.moves]
        if not line.yanked:
            out.append("  no version a released lock ships is yanked on the index")
        for yank in line.yanked:
            out.append(f"  YANKED: {yank.name} {yank.version} ({yank.reason or 'no reason given'}), shipped in "
                       f"{len(yank.locks)} released lock files:")
            out += [f"    {path}" for path in yank.locks]
        if line.unlocked:
            out.append(f"  not locked, not compared: {', '.join(line.unlocked)}")
    if report.missing:
        out.append(f"\nnot on the index (no page), not compared: {', '.join(report.missing)}")
    if report.yanked:
        out.append(f"\n{len(report.yanked)} yanked versions shipped in released locks: a patch release moves them")
    return "\n".join(out) + "\n"


def as_json(report: Report) -> dict[str, Any]:
    return {
        "index": report.index,
        "asked": report.asked,
        "missing": list(report.missing),
        "lines": [{
            "line": line.line,
            "releases": [{
                "version": behind.version, "channel": behind.channel.value,
                "moves": [{"package": m.name, "kind": m.kind.value, "locked": m.locked, "newest": m.newest,
                           "newer": list(m.newer), "held": m.held} for m in behind.moves],
            } for behind in line.releases],
            "yanked": [{"package": y.name, "version": y.version, "reason": y.reason, "locks": list(y.locks)}
                       for y in line.yanked],
            "unlocked": list(line.unlocked),
        } for line in report.lines],
    }
