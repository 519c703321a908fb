"""Render `templates/` and the matrix into `distributions/`, or check that it is up to date.

Convention, not configuration: every `templates/<variant>/*.j2` renders into each
(release, Python) build context of that variant under the same name without `.j2`;
`templates/partials/` only holds included pieces; `templates/reference/*.j2` render once
into `distributions/` (the tables users read); `templates/notes/*.j2` render once per
release into `distributions/<version>/` (its release notes, see `notes`). Lock files under
`<context>/locks/` are written by `build.py lock`, not by render, and are carried over
untouched; the release notes read them, so render after locking. A release with
`patches:` also gets, in each of its -base contexts, `patches/<name>` (copies of the files
under patches/) and `apply_patches.py` (a copy of runtime_builder/patching.py) that its
builder stage runs; one with `in_house:` packages gets their sources under `inhouse/`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import jinja2

from .. import contract
from ..in_image import patching
from ..lock import inhouse
from ..matrix.model import Matrix, Release, Variant
from . import feed, notes
from .headers import with_header
from .specs import DEFAULT_REPOSITORY, context_dir
from .tables import reference_context

LOCKS_DIR = "locks"
NOTES_DIR = "notes"


@dataclass(frozen=True)
class TemplateImage:
    """What a Dockerfile template may use about the image it describes."""

    runtime_version: str
    runtime_major: int
    airflow_version: str
    airflow_major: int
    python: str
    suite: str
    debian: str
    packages: tuple[tuple[str, str], ...]
    environment: tuple[tuple[str, str], ...]
    python_base_image: str  # the upstream image that works unchanged on the internet
    base_image: str  # the -base image an ONBUILD image starts from, by default
    uv_version: str
    patches: tuple[str, ...]  # file names in the -base context's patches/, in the order they apply
    in_house: tuple[str, ...]  # the in-house packages the builder stage builds and installs
    local_label: str | None  # the local version label patches give Airflow
    airflow_build_version: str  # what `airflow version` prints: airflow_version, or it with local_label
    constraints: tuple[tuple[str, str], ...]  # (requirement, reason) of the line's bounds on unpinned packages
    changes: frozenset[contract.Change]  # the image changes this release has that templates act on
    airflow_commands: tuple[str, ...]  # Airflow's sub-commands, which the entry point hands to airflow


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    executable: bool


_TEMPLATE_CHANGES = {change.value for change in contract.Change}


def template_image(matrix: Matrix, release: Release, python: str) -> TemplateImage:
    return TemplateImage(
        runtime_version=str(release.version),
        runtime_major=release.version.major,
        airflow_version=str(release.airflow),
        airflow_major=release.airflow.major,
        python=python,
        suite=release.suite.name,
        debian=release.suite.debian,
        packages=release.packages,
        environment=release.environment,
        python_base_image=f"python:{python}-slim-{release.suite.name}",
        base_image=f"{DEFAULT_REPOSITORY}:{release.version}-python-{python}-base",
        uv_version=matrix.uv_version,
        patches=tuple(backport.name for backport in release.patches),
        in_house=tuple(f"{package.name}=={package.version}" for package in release.in_house),
        local_label=release.local_label,
        airflow_build_version=release.airflow_build_version,
        constraints=tuple((c.requirement, c.reason) for c in release.constraints),
        changes=frozenset(contract.Change(c.name) for c in release.changes if c.name in _TEMPLATE_CHANGES),
        airflow_commands=contract.AIRFLOW_COMMANDS,
    )


def template_header(text: str, template: str, filename: str) -> str:
    """`text` rendered from `template`, with its do-not-edit header."""
    return with_header(text, filename, f"templates/{template} and versions.yaml", "the template or versions.yaml")


def environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Dockerfiles and shell scripts, not HTML  # noqa: S701
    )
    env.globals["Change"] = contract.Change  # `{% if Change.MONITORING_DAG_ON in image.changes %}`
    return env


def _rendered(env: jinja2.Environment, template: str, path: PurePosixPath, context: dict) -> RenderedFile:
    text = env.get_template(template).render(**context)
    return RenderedFile(template_header(text, template, path.name).encode(), path.suffix == ".sh")


def render_tree(matrix: Matrix, templates: Path, locks: Mapping[PurePosixPath, str] | None = None,
                published: Mapping | None = None) -> dict[PurePosixPath, RenderedFile]:
    """Every generated file, keyed by its path relative to the repository root. Pure.

    `locks`: the committed lock files the release notes compare (`notes.read_locks`);
    `published`: the committed feed, releases.json (the base digests of published images).
    """
    env = environment(templates)
    files: dict[PurePosixPath, RenderedFile] = {}

    def emit(path: PurePosixPath, template: str, context: dict) -> None:
        files[path] = _rendered(env, template, path, context)

    for release in matrix.releases:
        for python in release.pythons:
            context = {"image": template_image(matrix, release, python)}
            for variant in Variant:
                for template in _templates_in(templates, variant.value):
                    name = PurePosixPath(template).name.removesuffix(".j2")
                    emit(context_dir(release, python, variant) / name, template, context)
            files.update(render_patches(release, context_dir(release, python, Variant.BASE)))
            files.update(render_in_house(release, context_dir(release, python, Variant.BASE)))
    reference = reference_context(matrix)
    for template in _templates_in(templates, "reference"):
        emit(PurePosixPath("distributions", PurePosixPath(template).name.removesuffix(".j2")), template, reference)
    for release in matrix.releases:
        files.update(render_notes(templates, release, notes.default_since(matrix, release), locks or {}, env,
                                  published))
    return files


PATCHER = Path(patching.__file__)
PATCHER_NAME = "apply_patches.py"


@cache
def _patcher() -> RenderedFile:
    """apply_patches.py as every patched context holds it (read once per process)."""
    source = f"runtime_builder/{PATCHER.name}"
    return RenderedFile(with_header(PATCHER.read_text(encoding="utf-8"), PATCHER_NAME, source, source).encode(), False)


def render_patches(release: Release, context: PurePosixPath) -> dict[PurePosixPath, RenderedFile]:
    """A patched release's -base context: its patch files and the script that applies them. Pure."""
    if not release.patches:
        return {}
    files = {context / PATCHER_NAME: _patcher()}
    for backport in release.patches:
        origin = f"patches/{backport.file}"
        files[context / "patches" / backport.name] = RenderedFile(
            with_header(backport.text, backport.name, origin, origin).encode(), False)
    return files


def render_in_house(release: Release, context: PurePosixPath) -> dict[PurePosixPath, RenderedFile]:
    """The release's in-house package sources, copied into a -base context. Pure."""
    return {context / path: RenderedFile(content, False)
            for package in release.in_house for path, content in inhouse.context_files(package).items()}


def repository_tree(root: Path, matrix: Matrix) -> dict[PurePosixPath, RenderedFile]:
    """`render_tree` with its inputs read from the repository at `root`: its templates, its
    committed lock files and its committed feed."""
    return render_tree(matrix, root / "templates", notes.read_locks(root, matrix), feed.load(root / feed.FEED_FILE))


def render_notes(templates: Path, release: Release, since: Release | None,
                 locks: Mapping[PurePosixPath, str], env: jinja2.Environment | None = None,
                 published: Mapping | None = None) -> dict[PurePosixPath, RenderedFile]:
    """The release notes of one release compared with `since`, from `templates/notes/*.j2`. Pure."""
    env = env or environment(templates)
    context = notes.context(release, since, locks, published)
    files = {}
    for template in _templates_in(templates, NOTES_DIR):
        path = PurePosixPath("distributions", str(release.version), PurePosixPath(template).name.removesuffix(".j2"))
        files[path] = _rendered(env, template, path, context)
    return files


def _templates_in(templates: Path, folder: str) -> list[str]:
    return sorted(f"{folder}/{p.name}" for p in (templates / folder).glob("*.j2"))


def _is_lock(path: PurePosixPath) -> bool:
    return path.parent.name == LOCKS_DIR


def _existing(root: Path) -> dict[PurePosixPath, Path]:
    dist = root / "distributions"
    if not dist.exists():
        return {}
    return {PurePosixPath(p.relative_to(root).as_posix()): p for p in sorted(dist.rglob("*")) if p.is_file()}


def _kept_locks(files: dict[PurePosixPath, RenderedFile], existing: dict[PurePosixPath, Path]) -> list[PurePosixPath]:
    """Locks whose build context still exists: render carries them over as they are."""
    contexts = {path.parent for path in files}
    return [path for path in existing if _is_lock(path) and path.parent.parent in contexts]


@dataclass(frozen=True)
class Drift:
    changed: list[PurePosixPath]
    missing: list[PurePosixPath]
    extra: list[PurePosixPath]

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def report(self) -> str:
        lines = [f"  changed: {p}" for p in self.changed]
        lines += [f"  missing: {p}" for p in self.missing]
        lines += [f"  not generated (stale): {p}" for p in self.extra]
        return "\n".join(lines)


def check(root: Path, files: dict[PurePosixPath, RenderedFile]) -> Drift:
    existing = _existing(root)
    kept = set(_kept_locks(files, existing))
    changed, missing = [], []
    for path, rendered in sorted(files.items()):
        on_disk = existing.get(path)
        if on_disk is None:
            missing.append(path)
        elif on_disk.read_bytes() != rendered.content or _executable(on_disk) != rendered.executable:
            changed.append(path)
    extra = sorted(p for p in existing if p not in files and p not in kept)
    return Drift(changed, missing, extra)


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o100)


def write(root: Path, files: dict[PurePosixPath, RenderedFile]) -> list[PurePosixPath]:
    """Replace distributions/ as a whole: build the new tree aside, then swap it in.

    A failure before the swap leaves distributions/ exactly as it was. Returns the lock
    files that were dropped because their release or Python left the matrix.
    """
    dest = root / "distributions"
    existing = _existing(root)
    kept = _kept_locks(files, existing)
    staging = Path(tempfile.mkdtemp(prefix=".distributions.new-", dir=root))
    try:
        for path, rendered in files.items():
            target = staging / Path(*path.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.content)
            target.chmod(0o755 if rendered.executable else 0o644)
        for path in kept:
            target = staging / Path(*path.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(existing[path], target)
        staging.chmod(0o755)
        if dest.exists():
            retired = Path(tempfile.mkdtemp(prefix=".distributions.old-", dir=root))
            os.rename(dest, retired / "distributions")
            try:
                os.rename(staging, dest)
            except BaseException:
                # Put the old tree back: a failed swap must not leave distributions/ missing.
                os.rename(retired / "distributions", dest)
                shutil.rmtree(retired)
                raise
            shutil.rmtree(retired)
        else:
            os.rename(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return sorted(p for p in existing if _is_lock(p) and p not in kept)
