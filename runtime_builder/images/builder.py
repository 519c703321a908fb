"""Build the images of selected matrix cells: base images first, then ONBUILD images on them.

Each image is one titled step in the log, with its duration; a failure names the image and
the build step that failed (the engine adapter carries the tail of the build log). Before
the engine is touched, the locks and the rendered build contexts of what is about to be
built must be current (`refuse_stale`), so an image is always what versions.yaml says.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import layout, log
from ..contract import Change
from ..errors import BuilderError, BuildPlanError, UsageError
from ..generate import render
from ..generate.specs import DEFAULT_REPOSITORY, ImageSpec
from ..lock.locks import LockCell
from ..lock.locks import refuse_stale as refuse_stale_locks
from ..matrix.model import Matrix, Platform, Release, Variant
from . import bootstrap, sbom
from .engine import Engine

PROJECT_SOURCE = "https://github.com/airflow-runtime/airflow-runtime"


@dataclass(frozen=True)
class BuildOptions:
    repository: str = DEFAULT_REPOSITORY
    registry: str = layout.LOCAL_REGISTRY  # where the bootstrapped bases live
    python_base: str | None = None  # an upstream base such as python:3.12-slim-bookworm
    secrets: dict[str, Path] = field(default_factory=dict)


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


def select(matrix: Matrix, versions: Sequence[str] = (), variants: Sequence[Variant] = (),
           pythons: Sequence[str] = (), platforms: Sequence[Platform] = ()) -> list[ImageSpec]:
    """What `build` builds: by default the default release, its default Python, the build host's
    platform, base and ONBUILD (what `test` tests by default too)."""
    releases = [matrix.release(v) for v in versions] if versions else [matrix.default_release()]
    specs = []
    for release in releases:
        for python in pythons or [release.python]:
            if python not in release.pythons:
                raise UsageError(f"Runtime {release.version} does not support Python {python}; "
                                 f"supported: {', '.join(release.pythons)}")
            for platform in platforms or [Platform.native()]:
                if platform not in release.platforms:
                    raise UsageError(f"Runtime {release.version} is not built for {platform.value}")
                if why := release.lacking(variants):
                    raise UsageError(why)
                specs += [ImageSpec(release, python, variant, platform) for variant in variants or release.variants]
    return specs


def refuse_stale(matrix: Matrix, root: Path, specs: Sequence[ImageSpec]) -> None:
    """Refuse, before any engine work, to build from stale locks or stale build contexts."""
    refuse_stale_locks(matrix, root, {(spec.release, spec.python) for spec in specs})
    folders = tuple(sorted({spec.context for spec in specs} | {spec.base_spec().context for spec in specs}))
    drift = render.check(root, render.repository_tree(root, matrix), under=folders)
    if not drift.clean:
        raise BuildPlanError("the build contexts of what would be built do not match templates/, versions.yaml "
                             f"and locks/:\n{drift.report()}\nrun `python build.py render` and commit the result")


def build_args(spec: ImageSpec, python_base: str, revision: str, created: str,
               repository: str = DEFAULT_REPOSITORY, base_image_id: str | None = None) -> dict[str, str]:
    """The build arguments of one image: what a build passes, and what publish compares records with.

    `base_image_id`: for an ONBUILD image, the id (config digest) of the -base image it is built
    on, which releases with `oci-labels` record as `org.opencontainers.image.base.digest`.
    """
    args = {
        "PYTHON_BASE": python_base,
        "BASE_DIGEST": python_base.rpartition("@")[2],
        "REVISION": revision,
        "CREATED": created,
        "SOURCE": PROJECT_SOURCE,
    }
    if not spec.variant.is_base:
        args["BASE_IMAGE"] = spec.base_spec().reference(repository)
        if spec.release.has(Change.OCI_LABELS) and base_image_id:
            args["BASE_IMAGE_ID"] = base_image_id
    return args


def record_path(root: Path, reference: str) -> Path:
    """build/records/<first 16 hex digits of the reference's sha256>.json: what an image was built from."""
    return layout.Layout(root).records / f"{_record_name(reference)}.json"


def sbom_path(root: Path, reference: str) -> Path:
    """build/sbom/<the record's name>.cdx.json: the image's SBOM."""
    return layout.Layout(root).sboms / f"{_record_name(reference)}.cdx.json"


def _record_name(reference: str) -> str:
    return hashlib.sha256(reference.encode()).hexdigest()[:16]


def log_path(root: Path, reference: str) -> Path:
    return layout.Layout(root).logs / f"{reference.replace(':', '_').replace('/', '_')}.log"


def python_bases(matrix: Matrix, specs: list[ImageSpec], engine: Engine, options: BuildOptions,
                 workdir: Path) -> dict[tuple[str, str], str]:
    """(suite, python) -> a digest-pinned base reference for every spec, bootstrapping as needed.

    An upstream base named by tag (`--python-base python:3.12-slim-bookworm`) is resolved to its
    digest first: what is built FROM, labelled and recorded is always `name@sha256:...`.
    """
    if options.python_base:
        pinned = engine.resolve(options.python_base)
        if pinned != options.python_base:
            log.info(f"base {options.python_base} resolved to {pinned}")
        return {(s.release.suite.name, s.python): pinned for s in specs}
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
    platforms.add(Platform.native().value)
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
                                         not s.variant.is_base, s.variant.is_slim))


def build(matrix: Matrix, root: Path, specs: list[ImageSpec], engine: Engine,
          options: BuildOptions) -> list[BuiltImage]:
    ordered = _order(specs)
    refuse_stale(matrix, root, ordered)
    bases = python_bases(matrix, ordered, engine, options, layout.Layout(root).bases)
    revision, created = git_metadata(root)
    built: dict[ImageSpec, BuiltImage] = {}
    for spec in ordered:
        python_base = bases[(spec.release.suite.name, spec.python)]
        base = built.get(spec.base_spec())
        args = build_args(spec, python_base, revision, created, options.repository, base.image_id if base else None)
        reference = spec.reference(options.repository)
        log_file = log_path(root, reference)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC)
        with log.step(f"build {spec.name} -> {reference} ({len(built) + 1} of {len(ordered)}; BuildKit's output: "
                      f"{log_file.relative_to(root) if log_file.is_relative_to(root) else log_file})"):
            image_id = engine.build(context=root / spec.context, tag=reference, platform=spec.platform.value,
                                    build_args=args, secrets=options.secrets, log_path=log_file)
        seconds = (datetime.now(UTC) - started).total_seconds()
        built[spec] = BuiltImage(spec, reference, image_id, python_base, seconds)
        write_sbom(root, engine, built[spec], created)
        _record(root, built[spec], args)
    return [built[s] for s in ordered]


def write_sbom(root: Path, engine: Engine, image: BuiltImage, created: str) -> Path:
    """The image's SBOM, from what is in it and what its lock knows (see images/sbom.py)."""
    spec = image.spec
    lock = (root / LockCell(spec.release, spec.python, spec.platform).path).read_text()
    facts = {"name": image.reference, "version": str(spec.release.version), "python": spec.python,
             "platform": spec.platform.value, "variant": spec.variant.value, "image-id": image.image_id,
             "airflow": spec.release.airflow_build_version, "base": image.python_base}
    with log.step(f"SBOM of {image.reference}"):
        bom = sbom.document(sbom.collect(engine, image.reference, spec.platform.value), lock, facts, created)
    path = sbom_path(root, image.reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sbom.dumps(bom))
    return path


def _record(root: Path, image: BuiltImage, args: dict[str, str]) -> None:
    """What was built from what: read by publish and by people investigating an image."""
    path = record_path(root, image.reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "reference": image.reference,
        "image_id": image.image_id,
        "platform": image.spec.platform.value,
        "python_base": image.python_base,
        "build_args": args,
        "lock": LockCell(image.spec.release, image.spec.python, image.spec.platform, image.spec.variant.is_slim).path,
        "sbom": str(sbom_path(root, image.reference).relative_to(root)),
        "seconds": round(image.seconds, 1),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")


def smoke(engine: Engine, built: Sequence[BuiltImage]) -> str:
    """Run `airflow version` in the first -base image built, as a user would; what it printed."""
    image = next(b for b in built if b.spec.variant.is_base)
    result = engine.oneshot(image.reference, ["airflow", "version"], platform=image.spec.platform.value)
    printed = result.stdout.strip()
    expected = image.spec.release.airflow_build_version
    if result.returncode != 0 or printed != expected:
        raise BuilderError(f"`airflow version` in {image.reference} printed {printed!r} (exit {result.returncode}), "
                           f"expected {expected}\n{result.stderr[-2000:]}")
    return f"`docker run --rm {image.reference} airflow version` -> {printed}"


def require_built(engine: Engine, references: Sequence[str]) -> None:
    """Refuse up front to test images that do not exist, naming them all and the command that builds them."""
    missing = [ref for ref in references if engine.image_id(ref) is None]
    if missing:
        raise UsageError(f"no such image{'s' if len(missing) > 1 else ''}: {', '.join(missing)}\n"
                         "build them first with `python build.py build` and the same version, --python, "
                         "--variant and --platform filters")


def releases_of(specs: Sequence[ImageSpec]) -> list[Release]:
    return sorted({spec.release for spec in specs}, key=lambda r: r.version)
