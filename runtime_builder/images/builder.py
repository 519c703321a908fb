"""Build the images of selected matrix cells: base images first, then ONBUILD images on them.

Each image is one titled step in the log, with its duration; a failure names the image and
the build step that failed (the engine adapter carries the tail of the build log).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import log
from ..generate.specs import DEFAULT_REPOSITORY, ImageSpec
from ..lock.locks import BUILD_TOOLS, LockCell, verify
from ..matrix.model import Matrix, Platform, Variant
from . import bootstrap
from .engine import Engine

PROJECT_SOURCE = "https://github.com/airflow-runtime/airflow-runtime"


class BuildPlanError(Exception):
    """A build cannot start: something it needs is missing. The message says what to do."""


@dataclass(frozen=True)
class BuildOptions:
    repository: str = DEFAULT_REPOSITORY
    registry: str = "127.0.0.1:5000"
    python_base: str | None = None  # an upstream base such as python:3.12-slim-bookworm
    secrets: dict[str, Path] = field(default_factory=dict)
    log_dir: Path = Path("build/logs")
    record_dir: Path = Path("build/records")


@dataclass(frozen=True)
class BuiltImage:
    spec: ImageSpec
    reference: str
    image_id: str
    python_base: str
    seconds: float


def git_metadata(root: Path) -> tuple[str, str]:
    """(revision, created): the commit and its time, so a rebuild of one commit is identical."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    revision = git("rev-parse", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "distributions", "templates", "versions.yaml"):
        revision += "-dirty"
    created = git("log", "-1", "--format=%cI") or datetime.now(UTC).replace(microsecond=0).isoformat()
    return revision, created


def check_locks(root: Path, specs: Iterable[ImageSpec]) -> None:
    problems = []
    for spec in {s.base_spec() for s in specs}:
        cell = LockCell(spec.release, spec.python, spec.platform)
        path = root / cell.path
        if not path.exists():
            problems.append(f"{cell.path} is missing")
        else:
            problems += verify(cell, path.read_text())
        if not (root / spec.context / "locks" / BUILD_TOOLS).exists():
            problems.append(f"{spec.context}/locks/{BUILD_TOOLS} is missing")
    if problems:
        versions = " ".join(sorted({str(s.release.version) for s in specs}))
        raise BuildPlanError("the lock files do not match versions.yaml:\n  " + "\n  ".join(sorted(problems))
                             + f"\nrun `python build.py lock {versions}` and commit the result")


def python_bases(matrix: Matrix, specs: list[ImageSpec], engine: Engine, options: BuildOptions,
                 workdir: Path) -> dict[tuple[str, str], str]:
    """(suite, python) -> a digest-pinned base reference for every spec, bootstrapping as needed."""
    if options.python_base:
        return {(s.release.suite.name, s.python): options.python_base for s in specs}
    wanted: dict[str, str] = {}
    platforms: set[str] = set()
    for spec in specs:
        suite = spec.release.suite
        if spec.python != suite.python:
            raise BuildPlanError(
                f"Runtime {spec.release.version} on Python {spec.python}: Debian {suite.name} packages only "
                f"Python {suite.python}, so there is no offline base for Python {spec.python} on this host. "
                f"Name an upstream base from a registry you can reach, e.g. "
                f"`--python-base python:{spec.python}-slim-{suite.name}` (or a mirror of it)."
            )
        wanted[suite.name] = suite.python
        platforms.add(spec.platform.value)
    # The builder stage runs on the build host's platform (FROM --platform=$BUILDPLATFORM).
    platforms.add(bootstrap.native_platform())
    with log.step(f"base images for {', '.join(f'{s}/python {p}' for s, p in sorted(wanted.items()))}"):
        digests = bootstrap.bootstrap(suites=wanted, platforms=sorted(platforms), registry=options.registry,
                                      engine=engine, workdir=workdir, debian=False)
    result = {}
    for suite, python in wanted.items():
        ref = bootstrap.BaseImage(options.registry, suite, python).ref
        result[(suite, python)] = f"{ref}@{digests[ref]}"
    return result


def _order(specs: list[ImageSpec]) -> list[ImageSpec]:
    """Every base before the ONBUILD images that start from it; ONBUILD pulls in its base."""
    wanted = set(specs) | {s.base_spec() for s in specs}
    return sorted(wanted, key=lambda s: (str(s.release.version), s.python, s.platform.value,
                                         s.variant is Variant.ONBUILD))


def build(matrix: Matrix, root: Path, specs: list[ImageSpec], engine: Engine,
          options: BuildOptions) -> list[BuiltImage]:
    ordered = _order(specs)
    check_locks(root, ordered)
    bases = python_bases(matrix, ordered, engine, options, root / "build" / "bases")
    revision, created = git_metadata(root)
    built: dict[ImageSpec, BuiltImage] = {}
    for spec in ordered:
        python_base = bases[(spec.release.suite.name, spec.python)]
        args = {
            "PYTHON_BASE": python_base,
            "BASE_DIGEST": python_base.rpartition("@")[2],
            "REVISION": revision,
            "CREATED": created,
            "SOURCE": PROJECT_SOURCE,
        }
        if spec.variant is Variant.ONBUILD:
            args["BASE_IMAGE"] = built[spec.base_spec()].reference
        reference = spec.reference(options.repository)
        log_path = root / options.log_dir / f"{reference.replace(':', '_').replace('/', '_')}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC)
        with log.step(f"build {spec.name} -> {reference}"):
            image_id = engine.build(context=root / spec.context, tag=reference, platform=spec.platform.value,
                                    build_args=args, secrets=options.secrets, log_path=log_path)
        seconds = (datetime.now(UTC) - started).total_seconds()
        built[spec] = BuiltImage(spec, reference, image_id, python_base, seconds)
        _record(root / options.record_dir, built[spec], args)
    return [built[s] for s in ordered]


def _record(directory: Path, image: BuiltImage, args: dict[str, str]) -> None:
    """What was built from what: read by publish and by people investigating an image."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = LockCell(image.spec.release, image.spec.python, image.spec.platform).path
    record = {
        "reference": image.reference,
        "image_id": image.image_id,
        "platform": image.spec.platform.value,
        "python_base": image.python_base,
        "build_args": args,
        "lock": lock,
        "seconds": round(image.seconds, 1),
    }
    name = hashlib.sha256(image.reference.encode()).hexdigest()[:16]
    (directory / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")


def native_platform() -> Platform:
    return Platform.parse(bootstrap.native_platform())
