"""`build.py bisect GOOD BAD -- SELECTION` for real (issue 32): each probe of the search
(`lock/bisect.py`) is a candidate lock (`lock/candidates.py`), a build context rendered for it, an
image built from it and the test selection run on it.

The context is BAD's `-base` context as `render` renders it, with the candidate in place of BAD's
lock of the cell (`render.render_tree` with that one lock replaced: the templates and everything
else are render's own), written to a temporary folder; the layered venv's split puts every moved
package in a last layer of its own (venv_layers.Layer.MOVED). It is built with the build's own
arguments (`builder.build_args`: the same base, revision and date for every probe), so BuildKit
reuses every layer below: the first probe lays the venv out (a cold build), each later one
rebuilds only the moved packages' layer, whichever of them it applies. The image is tagged
`<repository>-bisect:probe-<N>`; the selection is pytest's, run with `--image` that tag (as
`build.py test --image` runs it). A selection of deployment tests (DEPLOYING: the modules whose
deployments build the project on an ONBUILD image) gets BAD's ONBUILD image built on the probe
image too (`...:probe-<N>-onbuild`, BAD's rendered ONBUILD context, BASE_IMAGE the probe's) and
runs with `--deploy-version BAD --deploy-onbuild-image` that tag: each probe deploys the fixture
project on it. Every probe image is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from .. import layout, log
from ..errors import BisectError, BuilderError, UsageError
from ..generate import render
from ..generate.specs import ImageSpec
from ..lock import candidates
from ..lock.bisect import Move, Outcome, moves, search
from ..lock.locks import read_locks
from ..lock.resolver import pins
from ..matrix.model import Matrix, Platform, Variant
from . import builder
from .engine import Engine

# pytest's exit codes: 0 every selected test passed, 1 some failed; anything else (interrupted,
# an internal or usage error, nothing collected) means the selection did not run.
PASSED, FAILED = 0, 1

# The deployment tests that take a probe's image: their deployments build the fixture project on
# `--deploy-onbuild-image` (tests/deploy/conftest.py's `deployed`); the other modules of
# tests/deploy deploy a release's own images by its version, which a probe cannot stand in for.
DEPLOYING = ("tests/deploy/test_deployment.py", "tests/deploy/test_browser.py")


@dataclass(frozen=True)
class Options:
    selection: tuple[str, ...]  # pytest arguments: paths under tests/, -k, -m ...
    python: str | None = None
    platform: Platform = field(default_factory=Platform.native)
    reruns: int = 1
    repository: str = layout.DEFAULT_REPOSITORY
    build: builder.BuildOptions = field(default_factory=builder.BuildOptions)


@dataclass
class Build:
    """One image a probe built: for the report's figures (a warm rebuild against the first, cold one)."""

    tag: str
    seconds: float
    applied: int


@dataclass
class ImageProbe:
    """The probe of the search: candidate lock, context, image, test run (one log per probe)."""

    root: Path
    matrix: Matrix
    good: candidates.Side
    bad: candidates.Side
    moves: tuple[Move, ...]
    options: Options
    engine: Engine
    python_base: str = ""
    builds: list[Build] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # candidate lock digest -> the image its tests take
    tags: list[str] = field(default_factory=list)  # every image built, in order
    _locks: dict[PurePosixPath, str] | None = None

    @property
    def spec(self) -> ImageSpec:
        return ImageSpec(self.bad.release, self.bad.python, Variant.BASE, self.bad.platform)

    @property
    def deploys(self) -> bool:
        """The selection deploys (bisect refuses one that mixes deployments and image tests)."""
        return bool(deploying(self.options.selection))

    def __call__(self, asked: frozenset[str]) -> Outcome:
        number = len(self.builds) + 1
        with log.step(f"bisect probe {number}: {len(asked)} of {len(self.moves)} moves applied"):
            lock = self._candidate(asked)
            applied = candidates.applied(self.good.pins, pins(lock), self.moves)
            tag = self._image(lock, number, len(applied))
            red = self._test(tag, number)
        log.info(f"    probe {number}: {'red' if red else 'green'}"
                 + (f"; the resolver also moved {', '.join(sorted(applied - asked))}" if applied - asked else ""))
        return Outcome(red, applied)

    def _candidate(self, asked: frozenset[str]) -> str:
        if asked == {m.name for m in self.moves}:  # every move: BAD's own lock, installable as it is
            return self.bad.lock
        if not asked:
            return self.good.lock
        try:
            return candidates.candidate_lock(self.good, self.bad, asked)
        except BuilderError as error:
            raise BisectError(f"the candidate lock with {', '.join(sorted(asked))} moved does not resolve:\n"
                              f"{error}") from error

    def _image(self, lock: str, number: int, applied: int) -> str:
        digest = hashlib.sha256(lock.encode()).hexdigest()
        if digest in self.images:  # the same candidate again (a rerun): the same image
            return self.images[digest]
        tag = f"{self.options.repository}-bisect:probe-{number}"
        if self._locks is None:
            self._locks = read_locks(self.root)
        cell = layout.lock_file(str(self.bad.release.version), self.bad.python, self.bad.platform.arch)
        files = render.render_tree(self.matrix, layout.Layout(self.root).templates, {**self._locks, cell: lock},
                                   moved=[move.name for move in self.moves])
        started = time.monotonic()
        self._build(files, self.spec, tag, {})
        tested = tag
        if self.deploys:  # BAD's ONBUILD image on the probe's, for the project the deployment builds
            tested = f"{tag}-onbuild"
            self._build(files, replace(self.spec, variant=Variant.ONBUILD), tested, {"BASE_IMAGE": tag})
        self.builds.append(Build(tested, time.monotonic() - started, applied))
        self.images[digest] = tested
        return tested

    def _build(self, files: dict[PurePosixPath, render.RenderedFile], spec: ImageSpec, tag: str,
               overrides: dict[str, str]) -> None:
        """Build `spec`'s context of the rendered `files` as `tag` (removed by cleanup)."""
        self.tags.append(tag)
        with tempfile.TemporaryDirectory(prefix="runtime-bisect-") as tmp:
            context = _write_context(files, spec.context, Path(tmp))
            log_file = builder.log_path(self.root, tag)
            log_file.parent.mkdir(parents=True, exist_ok=True)
            revision, created = builder.git_metadata(self.root)
            args = builder.build_args(spec, self.python_base, revision, created, self.options.repository)
            self.engine.build(context=context, tag=tag, platform=self.bad.platform.value,
                              build_args={**args, **overrides}, secrets=self.options.build.secrets,
                              log_path=log_file)

    def _test(self, tag: str, number: int) -> bool:
        taking = (["--deploy-version", str(self.bad.release.version), "--deploy-platform", self.bad.platform.value,
                   "--deploy-onbuild-image", tag] if self.deploys else ["--image", tag])
        argv = [sys.executable, "-m", "pytest", *self.options.selection, "-p", "no:cacheprovider", *taking]
        log_file = layout.Layout(self.root).logs / f"bisect-probe-{number}-tests.log"
        with log_file.open("w") as handle:
            code = subprocess.run(argv, cwd=self.root, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
        if code not in (PASSED, FAILED):
            raise BisectError(f"the test selection did not run on {tag} (pytest exited {code}): see {log_file}")
        return code == FAILED

    def cleanup(self) -> None:
        for tag in reversed(self.tags):  # an ONBUILD image before the probe image it is built on
            self.engine.remove_image(tag)


def _write_context(files: dict[PurePosixPath, render.RenderedFile], context: PurePosixPath, folder: Path) -> Path:
    """The files of build context `context` (a path under distributions/) written under `folder`."""
    for path, rendered in files.items():
        if context in path.parents:
            target = folder.joinpath(*path.relative_to(context).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.content)
            target.chmod(0o755 if rendered.executable else 0o644)
    if not (folder / "Dockerfile").is_file():
        raise BisectError(f"render made no build context {context} for the candidate")
    return folder


def sides(root: Path, matrix: Matrix, good: str, bad: str, options: Options
          ) -> tuple[candidates.Side, candidates.Side, tuple[Move, ...]]:
    """GOOD's and BAD's locks of one cell, and the moves between them (none is a usage error)."""
    found_bad = candidates.side(matrix, root, bad, options.python, options.platform)
    found_good = candidates.side(matrix, root, good, found_bad.python, found_bad.platform)
    candidates.refuse_unrelated(found_good, found_bad)
    found = moves(found_good.pins, found_bad.pins)
    if not found:
        raise UsageError(f"{found_good.source} and {found_bad.source} pin the same versions: nothing to bisect")
    return found_good, found_bad, found


def deploying(selection: tuple[str, ...]) -> list[str]:
    """The arguments of `selection` naming deployment tests (a path under tests/deploy)."""
    return [arg for arg in selection if PurePosixPath(arg.split("::")[0]).parts[:2] == ("tests", "deploy")]


def refuse_deployments(selection: tuple[str, ...]) -> None:
    """Only DEPLOYING's deployment tests take a probe's image; the others deploy a release's own
    images (by its version): every probe would test the same image and the verdict would blame
    nothing, or GOOD. Refused, as is a selection mixing deployments and image tests."""
    deployed = deploying(selection)
    others = [arg for arg in deployed if PurePosixPath(arg.split("::")[0]).as_posix() not in DEPLOYING]
    if others:
        raise UsageError(f"{', '.join(others)}: these deployment tests deploy the images of a release by its "
                         f"version, not a probe image, so bisect cannot probe them; of tests/deploy, "
                         f"{' and '.join(DEPLOYING)} take a probe's ONBUILD image, or give a selection of "
                         "tests/image (which takes each probe image as --image)")
    paths = [arg for arg in selection if arg.startswith("tests") or arg.split("::")[0].endswith(".py")]
    if deployed and len(deployed) != len(paths):
        raise UsageError(f"{', '.join(sorted(set(paths) - set(deployed)))} with {', '.join(deployed)}: a probe "
                         "runs deployment tests or image tests, not both; bisect with one selection of either")


def image_probe(root: Path, matrix: Matrix, good: candidates.Side, bad: candidates.Side, found: tuple[Move, ...],
                options: Options, engine: Engine) -> ImageProbe:
    """The probe of a search from `good` to `bad`, its Python base made or found (bootstrap)."""
    probe = ImageProbe(root, matrix, good, bad, found, options, engine)
    bases = builder.python_bases(matrix, [probe.spec], engine, options.build, layout.Layout(root).bases)
    probe.python_base = bases[(bad.release.suite.name, bad.python)]
    return probe


@dataclass(frozen=True)
class Run:
    report: candidates.Report
    builds: tuple[Build, ...]  # the images the probes built, in order (the first one the coldest)


def run(root: Path, matrix: Matrix, good: str, bad: str, options: Options, engine: Engine) -> Run:
    """The search, with images: the report (culprits, probes, seconds) and the probes' builds."""
    if not options.selection:
        raise UsageError("bisect needs the test selection that is red on BAD, after `--` "
                         "(e.g. `-- tests/image/test_airflow_runs.py -k version`)")
    refuse_deployments(options.selection)
    good_side, bad_side, found = sides(root, matrix, good, bad, options)
    started = time.monotonic()
    probe = image_probe(root, matrix, good_side, bad_side, found, options, engine)
    try:
        result = search([m.name for m in found], probe, reruns=options.reruns)
    finally:
        probe.cleanup()
    report = candidates.Report(good_side, bad_side, found, options.selection, result, time.monotonic() - started)
    for number, built in enumerate(probe.builds, 1):
        log.info(f"    build {number}: {built.seconds:.0f} s ({built.applied} moves applied)")
    return Run(report, tuple(probe.builds))


def command(args: argparse.Namespace, matrix: Matrix) -> int:
    """`build.py bisect`: 0 when it names the culprits, 1 when nothing reproduces or GOOD is red too."""
    from . import host
    from .secrets import for_build

    platform = Platform.parse(args.platform) if args.platform else Platform.native()
    options = Options(tuple(args.selection), args.python, platform, args.reruns, args.repository)
    if args.moves:
        good, bad, found = sides(args.root, matrix, args.good, args.bad, options)
        print(f"{len(found)} moves from {good.source} to {bad.source}:")
        print("".join(f"  {move}\n" for move in found), end="")
        return 0
    engine = host.require(arm64=platform is Platform.ARM64, registry=not args.python_base)
    with for_build(layout.Layout(args.root).secrets, args.cacert, args.index_url, not args.no_secrets) as secrets:
        build = builder.BuildOptions(args.repository, args.registry, args.python_base, secrets)
        report = run(args.root, matrix, args.good, args.bad, replace(options, build=build), engine).report
    print(json.dumps(candidates.as_json(report), indent=2) if args.json else candidates.as_text(report), end="")
    return 0 if report.result.culprits else 1
