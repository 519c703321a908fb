"""One `build.py publish` (or `push`) run, from what was asked to what was recorded.

What to publish is decided and checked first (versions, end of life, registry, images, the
locks of what it would build); then either this host builds, tests, pushes and tags
(`publish.publish`), or, for CI's merge job, the cells' pushed images are promoted from the
staging repository they were pushed to (`staging`), listed and tagged (`publish.publish_results`);
then the publication is recorded (`record`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .. import layout
from ..errors import UsageError
from ..generate.specs import ImageSpec, nightly_releases
from ..images import host
from ..images.builder import BuildOptions, git_metadata
from ..images.builder import refuse_stale as refuse_stale_builds
from ..images.engine import Engine
from ..images.secrets import for_build
from ..matrix.lifecycle import refuse_end_of_life
from ..matrix.model import Matrix, Platform, Release, Variant
from . import pull
from .plan import select_images
from .publish import DEFAULT_TEST_COMMAND, PublishOptions, PublishReport, publish, publish_results, push_cell
from .record import Recorded, record
from .registry import Registry, Target
from .signing import Signer


@dataclass(frozen=True)
class Request:
    registry: str  # host[/repository]
    versions: tuple[str, ...] = ()
    nightly: date | None = None  # the nightly date: publish nightly tags only
    newest_of_each_line: bool = False  # with nightly: each line's newest release as well
    pythons: tuple[str, ...] = ()
    default_python: bool = False
    platforms: tuple[Platform, ...] = ()
    variants: tuple[Variant, ...] = ()
    repository: str = layout.DEFAULT_REPOSITORY
    force: bool = False
    force_eol: bool = False
    write_feed: bool = False
    from_results: Path | None = None
    retest: bool = False
    test_command: str = DEFAULT_TEST_COMMAND
    base_registry: str = layout.LOCAL_REGISTRY
    python_base: str | None = None
    secrets: bool = True
    cacert: Path | None = None
    index_url: str | None = None
    signer: Signer | None = None  # signs the images, lists and feed (`--signing-key`, RUNTIME_SIGNING_KEY)
    unsigned: bool = False  # publish to a registry other than loopback without a key, on purpose


@dataclass(frozen=True)
class Outcome:
    target: Target
    report: PublishReport
    recorded: Recorded
    seconds: float
    upgrades: list[pull.Upgrade] = field(default_factory=list)  # what a host with the previous release fetches


def releases_of(matrix: Matrix, request: Request) -> list[Release]:
    if request.versions:
        return [matrix.release(v) for v in request.versions]
    if request.nightly:
        return nightly_releases(matrix, newest_of_each_line=request.newest_of_each_line)
    raise UsageError("name the Runtime versions to publish, or give --nightly")


def run(root: Path, matrix: Matrix, request: Request) -> Outcome:
    releases = releases_of(matrix, request)
    refuse_end_of_life(releases, date.today(), request.force_eol)
    try:
        target = Target.parse(request.registry, request.repository)
        images = select_images(matrix, releases, pythons=request.pythons, default_python=request.default_python,
                               platforms=request.platforms, variants=request.variants, nightly=request.nightly)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if target.secure and not request.from_results and git_metadata(root)[0].endswith("-dirty"):
        raise UsageError(f"publishing to {target} from a tree whose distributions/, templates/ or versions.yaml "
                         "have uncommitted changes: commit them first (the provenance names the commit users can "
                         "check out)")
    if request.signer is None and not request.unsigned and target.secure:
        raise UsageError(f"publishing to {target} needs a signing key (--signing-key FILE, or RUNTIME_SIGNING_KEY "
                         "holding one), so that users can check what they pull with `build.py verify`; --unsigned "
                         "publishes without signatures")
    with exclusive(root, target):
        return _run(root, matrix, request, images, target)


def lock_path(root: Path, target: Target) -> Path:
    """The file a publish to `target` holds locked while it runs (its pid inside)."""
    return layout.Layout(root).build / "publish" / (re.sub(r"[^A-Za-z0-9.-]+", "_", str(target)) + ".lock")


@contextmanager
def exclusive(root: Path, target: Target) -> Iterator[None]:
    """One publish to a repository at a time from this host: a second one waits for the first
    (tags are read, planned and written as one step; two interleaved runs could each plan from
    a state the other is changing). CI runs every job that writes a repository's tags or feed in one
    `concurrency:` group per repository, on other machines: the feed's write is checked (record.py)."""
    path = lock_path(root, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            print(f"another publish to {target} is running ({handle.read().strip() or 'pid unknown'}); waiting for it",
                  file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield


def _run(root: Path, matrix: Matrix, request: Request, images: list, target: Target) -> Outcome:
    started = time.monotonic()
    if request.from_results:
        # The merge job of a CI run: the cell jobs built, tested and pushed; only list and tag.
        results = read_results(request.from_results)
        options = PublishOptions(target, BuildOptions(repository=request.repository), force=request.force,
                                 signer=request.signer)
        report = publish_results(images, results, Registry(target), options)
    else:
        refuse_stale_builds(matrix, root, [spec for image in images for spec in image.specs()])
        engine = host.require(arm64=any(Platform.ARM64 in image.platforms for image in images))
        with for_build(layout.Layout(root).secrets, request.cacert, request.index_url, request.secrets) as secrets:
            build_options = BuildOptions(request.repository, request.base_registry, request.python_base, secrets)
            options = PublishOptions(target, build_options, force=request.force, retest=request.retest,
                                     test_command=request.test_command, signer=request.signer)
            report = publish(matrix, root, images, engine, Registry(target), options)
    recorded = record(root, matrix, target, report, write_committed=request.write_feed, signer=request.signer)
    costs = pull.upgrades(matrix, Registry(target), [pull.Published(p.image.release, p.image.python, p.image.variant,
                                                                    p.platforms) for p in report.images])
    return Outcome(target, report, recorded, time.monotonic() - started, costs)


def read_results(directory: Path) -> list[dict]:
    """The cell jobs' result records (`build.py push --result`), one JSON file per cell."""
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        raise UsageError(f"--from-results {directory}: no result files (*.json) there")
    results = []
    for path in files:
        record = _result_record(path, "--from-results")
        wrong = [key for key in RESULT_KEYS if not isinstance(record.get(key), str)]
        wrong += [key for key in ("test", "digest") if record.get(key) is not None and not isinstance(record[key], str)]
        if wrong:
            raise UsageError(f"--from-results {path}: {', '.join(wrong)}: a string is expected in a cell's result "
                             f"({', '.join(RESULT_KEYS)}, test, digest: what `build.py push --result` writes)")
        results.append(record)
    return results


RESULT_KEYS = ("version", "python", "variant", "platform")  # what names the cell a result is of


def push(root: Path, matrix: Matrix, engine: Callable[[], Engine], version: str, python: str | None,
         variant: Variant, platform: str, registry: str, repository: str, result: Path | None) -> dict:
    """Push one built and tested cell by digest (under its staging tag), for a CI merge job; its record.
    `engine` is asked for once the input is known to be good: the root cause first (issue 31)."""
    release = matrix.release(version)
    python = python or release.python
    try:
        cell_platform = Platform.parse(platform)
        target = Target.parse(registry, repository)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if python not in release.pythons or cell_platform not in release.platforms:
        raise UsageError(f"Runtime {release.version} has no cell python {python} {cell_platform.value}")
    if why := release.lacking([variant]):
        raise UsageError(why)
    spec = ImageSpec(release, python, variant, cell_platform)
    previous = _result_file(result) if result else {}
    found = push_cell(root, spec, engine(), Registry(target),
                      PublishOptions(target, BuildOptions(repository=repository)))
    if result:
        # Merge into the cell's result file (the CI step that records build and test outcomes).
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps({**previous, **found}, indent=2) + "\n")
    return found


def _result_file(path: Path) -> dict:
    """What a cell's result file holds so far (none yet: {}), read before pushing: a file push could
    not merge into is refused before the push, not after it as a JSONDecodeError."""
    return _result_record(path, "--result") if path.exists() else {}


def _result_record(path: Path, option: str) -> dict:
    """A cell's result file: a JSON object, else UsageError naming the option and the file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not JSON"
        raise UsageError(f"{option} {path}: cannot be read as a cell's result ({why})") from None
    if not isinstance(record, dict):
        raise UsageError(f"{option} {path}: a JSON object of the cell's results is expected, "
                         f"not {type(record).__name__}")
    return record
