"""Render `templates/` and the matrix into `distributions/`, or check that it is up to date.

Convention, not configuration: every `templates/<variant>/*.j2` renders into each
(release, Python) build context of that variant under the same name without `.j2`;
`templates/partials/` only holds included pieces; `templates/reference/*.j2` render once
into `distributions/` (the tables users read); `templates/notes/*.j2` render once per
release into `distributions/<version>/` (its release notes, see `notes`).

Render is distributions/'s only writer, and it copies in what other stages keep in their
own homes, so a build context is complete and builds with a plain `docker build`: the lock
files of its release and Python from `locks/` (written by `build.py lock`) into
`<context>/locks/`; for a release with `patches:`, its patch files from `patches/` and the
applier (`runtime_builder/in_image/patching.py`) as `apply_patches.py`; for one with
`in_house:` packages, their sources from `inhouse/`; for one with the stripped-libraries change,
`runtime_builder/in_image/strip.py` as `strip_libraries.py`. It reads nothing a publication or a
benchmark wrote (bench/report.py turns what runs measured into docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import jinja2

from .. import contract, layout
from ..errors import RenderError
from ..headers import with_header
from ..in_image import entrypoint, patching, strip
from ..lock import inhouse
from ..matrix.model import Matrix, Platform, Release, Variant
from . import frozen, notes, venv_layers
from .frozen import RenderedFile
from .linebreaks import one_kind_of_line_break
from .specs import image_name
from .tables import reference_context

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
    slim: bool  # a slim image: Airflow and the line's slim_packages only
    bytecode: bool  # the image ships its venv's byte-code (a slim one does not, from slim-no-bytecode on)
    title: str  # the image's title label (contract.image_title)
    python_base_image: str  # the upstream image that works unchanged on the internet
    base_image: str  # the -base image an ONBUILD image starts from, by default (see its header)
    base_context: str  # the folder beside an ONBUILD context that builds that -base image
    onbuild_image: str  # the ONBUILD image's own name, as its header's plain build tags it
    uv_version: str
    patches: tuple[str, ...]  # file names in the -base context's patches/, in the order they apply
    in_house: tuple[str, ...]  # the in-house packages the builder stage builds and installs
    local_label: str | None  # the local version label patches give Airflow
    airflow_build_version: str  # what `airflow version` prints: airflow_version, or it with local_label
    constraints: tuple[tuple[str, str], ...]  # (requirement, reason) of the line's bounds on unpinned packages
    changes: frozenset[contract.Change]  # the image changes this release has that templates act on
    airflow_commands: tuple[str, ...]  # Airflow's sub-commands, which the entry point hands to airflow
    entrypoint: str  # the program after tini in the ENTRYPOINT
    instance_name_variable: str  # the variable that names the instance in the UI
    instance_name: str  # its value: "Airflow Runtime <version>"
    license: str
    vendor: str
    description: str
    platforms: tuple[tuple[str, str, str], ...]  # (Docker's TARGETARCH, uv's target triple, Debian's) of each


_TEMPLATE_CHANGES = {change.value for change in contract.Change}


def template_image(matrix: Matrix, release: Release, python: str, variant: Variant = Variant.BASE) -> TemplateImage:
    """What the templates of `variant` see (the base and ONBUILD forms of one kind see the same)."""
    changes = frozenset(contract.Change(c.name) for c in release.changes if c.name in _TEMPLATE_CHANGES)
    return TemplateImage(
        runtime_version=str(release.version),
        runtime_major=release.version.major,
        airflow_version=str(release.airflow),
        airflow_major=release.airflow.major,
        python=python,
        suite=release.suite.name,
        debian=release.suite.debian,
        packages=release.pins(variant),
        environment=release.environment_of(variant),
        slim=variant.is_slim,
        bytecode=release.ships_bytecode(variant),
        title=contract.image_title(onbuild=not variant.is_base, slim=variant.is_slim),
        python_base_image=f"python:{python}-slim-{release.suite.name}",
        base_image=f"{layout.DEFAULT_REPOSITORY}:{image_name(release, python, variant.base)}",
        base_context=variant.base.value,
        onbuild_image=f"{layout.DEFAULT_REPOSITORY}:{image_name(release, python, variant.onbuild)}",
        uv_version=matrix.uv_version,
        patches=tuple(backport.name for backport in release.patches),
        in_house=tuple(f"{package.name}=={package.version}" for package in release.in_house),
        local_label=release.local_label,
        airflow_build_version=release.airflow_build_version,
        constraints=tuple((c.requirement, c.reason) for c in release.constraints),
        changes=changes,
        airflow_commands=contract.airflow_commands_of(changes),
        entrypoint=contract.entrypoint_of(changes),
        instance_name_variable=contract.instance_name_variable(release.airflow.major),
        instance_name=contract.instance_name(str(release.version)),
        license=contract.LICENSE,
        vendor=contract.VENDOR,
        description=contract.description(release.airflow_build_version, python, release.suite.debian,
                                          slim=variant.is_slim),
        platforms=tuple((platform.arch, platform.uv_platform, platform.gnu_triple) for platform in Platform),
    )


# The in-image scripts a context holds, under these names.
PATCHER = Path(patching.__file__)
PATCHER_NAME = "apply_patches.py"
STRIPPER = Path(strip.__file__)
STRIPPER_NAME = "strip_libraries.py"
# The official image's entry point and log groomer (airflow-image-contract): in-image scripts that
# replace the entry point template.
ENTRYPOINT = Path(entrypoint.__file__)
ENTRYPOINT_NAME = "entrypoint.py"
CLEAN_LOGS = ENTRYPOINT.with_name("clean_logs.sh")
CLEAN_LOGS_NAME = "clean-logs.sh"
# Templates that a change replaces with a script of its own: not rendered for a release with it.
REPLACED = {"base/entrypoint.sh.j2": contract.Change.IMAGE_CONTRACT}

# The image contract's fixed values, for every template as `paths.*` (contract.py is their home).
PATHS = {"runtime": contract.RUNTIME_DIR, "venv": contract.VENV, "airflow_home": contract.AIRFLOW_HOME,
         "onbuild": contract.ONBUILD_DIR, "entrypoint": contract.ENTRYPOINT, "init": contract.INIT,
         "constraints": contract.CONSTRAINTS_FILE,
         "uid": contract.UID, "gid": contract.GID, "user": contract.USER, "context_locks": layout.CONTEXT_LOCKS,
         "monitoring_dag": contract.MONITORING_DAG_ID, "monitoring_schedule": contract.MONITORING_SCHEDULE,
         "monitoring_variable": contract.MONITORING_SCHEDULE_VARIABLE, "test_tools": contract.TEST_TOOLS,
         "layer_epoch": contract.LAYER_EPOCH, "layer_staging": contract.LAYER_STAGING,
         "bytecode_staging": contract.BYTECODE_STAGING, "pycache_prefix": contract.PYCACHE_PREFIX,
         "strip_tools": contract.STRIP_TOOLS, "stripper": STRIPPER_NAME,
         "official_entrypoint": contract.OFFICIAL_ENTRYPOINT, "clean_logs": contract.CLEAN_LOGS,
         "official_home": contract.OFFICIAL_HOME, "entrypoint_script": ENTRYPOINT_NAME,
         "clean_logs_script": CLEAN_LOGS_NAME, "fab_auth_manager": contract.FAB_AUTH_MANAGER,
         "official_programs": contract.OFFICIAL_PROGRAMS, "pycache_variable": contract.PYCACHE_PREFIX_VARIABLE,
         "monitoring_dags": contract.MONITORING_DAGS, "dag_bundles": contract.dag_bundles(),
         "build_uid": contract.BUILD_UID, "private_files": contract.PRIVATE_FILES}


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
    env.globals["paths"] = PATHS
    env.filters["dirname"] = lambda path: str(PurePosixPath(path).parent)
    return env


def _rendered(env: jinja2.Environment, template: str, path: PurePosixPath, context: dict) -> RenderedFile:
    try:
        text = env.get_template(template).render(**context)
    except jinja2.TemplateError as error:
        syntax = isinstance(error, jinja2.TemplateSyntaxError)
        where = f"{error.name}:{error.lineno}" if syntax else f"templates/{template}"
        raise RenderError(f"rendering failed in {where}: {error}; distributions/ was not changed") from error
    return RenderedFile(template_header(text, template, path.name).encode(), path.suffix == ".sh")


def render_tree(matrix: Matrix, templates: Path, locks: Mapping[PurePosixPath, str] | None = None,
                released: Mapping[str, Mapping[PurePosixPath, RenderedFile]] | None = None,
                moved: Collection[str] = ()) -> dict[PurePosixPath, RenderedFile]:
    """Every generated file, keyed by its path relative to the repository root. Pure.

    `locks`: every file under locks/ by its repository-relative path (`locks.read_locks`): the
    build contexts get copies, the release notes compare them. `released`: the frozen build
    contexts of released versions (`frozen.load`), taken as they are instead of rendered. `moved`: a
    bisection's moves, in a venv layer of their own (its probes' contexts; venv_layers). What
    real runs measured is not rendered here: bench/report.py writes docs/performance.md from it.
    """
    env = environment(templates)
    locks = locks or {}
    released = released or {}
    files: dict[PurePosixPath, RenderedFile] = {}

    def emit(path: PurePosixPath, template: str, context: dict) -> None:
        files[path] = _rendered(env, template, path, context)

    for release in matrix.releases:
        if str(release.version) in released:
            files.update(released[str(release.version)])
            continue
        for python in release.pythons:
            test_tools = layout.test_tools_file(str(release.version), python)
            for variant in release.variants:
                folder = _context(release, python, variant)
                lock_files, layers = copy_locks(release, python, folder, locks, slim=variant.is_slim, moved=moved)
                image = template_image(matrix, release, python, variant)
                # Each venv layer's byte-code from a stage of its own (slim-no-bytecode, layered only).
                apart = bool(layers) and contract.Change.SLIM_NO_BYTECODE in image.changes
                context = {"image": image, "layers": layers, "apart": apart,
                           "copies": venv_layers.copies(layers, bytecode=image.bytecode, apart=apart)}
                for template in _templates_in(templates, variant.templates):
                    if REPLACED.get(template) not in image.changes:
                        emit(folder / PurePosixPath(template).name.removesuffix(".j2"), template, context)
                if variant.is_base:
                    files.update(lock_files)
                    files.update(render_patches(release, folder))
                    files.update(render_stripper(release, folder))
                    files.update(render_contract_scripts(release, folder))
                    files.update(render_in_house(release, folder))
                elif test_tools in locks:  # pytest for projects' tests: the ONBUILD images carry it
                    files[folder / layout.TEST_TOOLS] = RenderedFile(locks[test_tools].encode(), False)
    reference = reference_context(matrix)
    for template in _templates_in(templates, "reference"):
        emit(PurePosixPath(layout.DISTRIBUTIONS, PurePosixPath(template).name.removesuffix(".j2")), template,
             reference)
    for release in matrix.releases:
        files.update(render_notes(templates, release, notes.default_since(matrix, release), locks, env))
    one_kind_of_line_break(files)
    return files



def _context(release: Release, python: str, variant: Variant) -> PurePosixPath:
    return layout.context_dir(str(release.version), python, variant.value)


def copy_locks(release: Release, python: str, context: PurePosixPath, locks: Mapping[PurePosixPath, str],
               *, slim: bool = False, moved: Collection[str] = ()
               ) -> tuple[dict[PurePosixPath, RenderedFile], tuple[venv_layers.Layer, ...]]:
    """A -base context's lock files, copied as `build.py lock` wrote them (a missing one is not
    copied: `build` refuses stale or missing locks before it starts); a slim context gets the
    slim locks under the same names, so one Dockerfile template builds both. With the
    `layered-venv` change, each architecture's lock is split into `<layer>/<arch>.txt` files
    (venv_layers); the layers are returned in install order (none without the change). Pure."""
    version = str(release.version)
    sources = {layout.build_tools_file(): layout.BUILD_TOOLS}
    for name in (layout.IN_HOUSE_PINS, layout.IN_HOUSE_MANIFEST):
        sources[layout.locks_dir(version) / name] = name
    folder = context / layout.CONTEXT_LOCKS
    files = {folder / name: RenderedFile(locks[source].encode(), False)
             for source, name in sources.items() if source in locks}
    arch_locks = {platform: locks.get(layout.lock_file(version, python, platform.arch, slim=slim))
                  for platform in release.platforms}
    if not release.has(contract.Change.LAYERED_VENV):
        files.update({folder / f"{platform.arch}.txt": RenderedFile(text.encode(), False)
                      for platform, text in arch_locks.items() if text is not None})
        return files, ()
    splits = {}
    for platform, text in arch_locks.items():
        if text is None:
            continue

        def header(layer: venv_layers.Layer, platform: Platform = platform) -> str:
            # No Runtime version: a later release whose part is unchanged has the same file, so
            # its build takes the layer from cache (and the layer has the same digest).
            return (f"# The `{layer.value}` layer of a Runtime lock for Python {python} on {platform.value}: "
                    f"{layer.summary}.\n# Written by `build.py render` from `build.py lock`'s lock; do not edit.\n")

        core = locks.get(layout.lock_file(version, python, platform.arch, slim=True))
        splits[platform] = (venv_layers.split(text, core, header, moved), header)
    layers = tuple(layer for layer in venv_layers.Layer if any(layer in s.parts for s, _ in splits.values()))
    for platform, (found, header) in splits.items():
        for layer in layers:  # a layer one architecture does not need: its file lists nothing
            text = found.parts.get(layer, header(layer))
            files[folder / layer.value / f"{platform.arch}.txt"] = RenderedFile(text.encode(), False)
    return files, layers


@cache
def _in_image_script(module: Path, name: str) -> RenderedFile:
    """A runtime_builder/in_image module as a context holds it, under `name` (read once per process)."""
    source = module.relative_to(Path(__file__).resolve().parents[2]).as_posix()
    return RenderedFile(with_header(module.read_text(encoding="utf-8"), name, source, source).encode(), False)


def _patcher() -> RenderedFile:
    """apply_patches.py as every patched context holds it."""
    return _in_image_script(PATCHER, PATCHER_NAME)


def render_stripper(release: Release, context: PurePosixPath) -> dict[PurePosixPath, RenderedFile]:
    """The script that strips the venv's shared libraries, in the -base contexts of the releases
    with the stripped-libraries change. Pure."""
    if not release.has(contract.Change.STRIPPED_LIBRARIES):
        return {}
    return {context / STRIPPER_NAME: _in_image_script(STRIPPER, STRIPPER_NAME)}


def render_contract_scripts(release: Release, context: PurePosixPath) -> dict[PurePosixPath, RenderedFile]:
    """The official image's /entrypoint and /clean-logs, in the -base contexts of the releases with
    the airflow-image-contract change. Pure."""
    if not release.has(contract.Change.IMAGE_CONTRACT):
        return {}
    return {context / ENTRYPOINT_NAME: _in_image_script(ENTRYPOINT, ENTRYPOINT_NAME),
            context / CLEAN_LOGS_NAME: _in_image_script(CLEAN_LOGS, CLEAN_LOGS_NAME)}


def render_patches(release: Release, context: PurePosixPath) -> dict[PurePosixPath, RenderedFile]:
    """A patched release's -base context: its patch files and the script that applies them. Pure."""
    if not release.patches:
        return {}
    files = {context / PATCHER_NAME: _patcher()}
    for backport in release.patches:
        origin = f"{layout.PATCHES}/{backport.file}"
        files[context / "patches" / backport.name] = RenderedFile(
            with_header(backport.text, backport.name, origin, origin).encode(), False)
    return files


def render_in_house(release: Release, context: PurePosixPath) -> dict[PurePosixPath, RenderedFile]:
    """The release's in-house package sources, copied into a -base context. Pure."""
    return {context / path: RenderedFile(content, False)
            for package in release.in_house for path, content in inhouse.context_files(package).items()}


def repository_tree(root: Path, matrix: Matrix) -> dict[PurePosixPath, RenderedFile]:
    """`render_tree` with its inputs read from the repository at `root`: templates, lock files and the
    released versions' frozen build contexts."""
    from ..lock.locks import read_locks

    return render_tree(matrix, layout.Layout(root).templates, read_locks(root), frozen.load(root, matrix))


def render_notes(templates: Path, release: Release, since: Release | None,
                 locks: Mapping[PurePosixPath, str], env: jinja2.Environment | None = None
                 ) -> dict[PurePosixPath, RenderedFile]:
    """The release notes of one release compared with `since`, from `templates/notes/*.j2`. Pure."""
    env = env or environment(templates)
    context = notes.context(release, since, locks)
    files = {}
    for template in _templates_in(templates, NOTES_DIR):
        path = layout.release_dir(str(release.version)) / PurePosixPath(template).name.removesuffix(".j2")
        files[path] = _rendered(env, template, path, context)
    return files


def _templates_in(templates: Path, folder: str) -> list[str]:
    return sorted(f"{folder}/{p.name}" for p in (templates / folder).glob("*.j2"))


def _existing(root: Path) -> dict[PurePosixPath, Path]:
    dist = root / layout.DISTRIBUTIONS
    if not dist.exists():
        return {}
    return {PurePosixPath(p.relative_to(root).as_posix()): p for p in sorted(dist.rglob("*")) if p.is_file()}


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


def check(root: Path, files: dict[PurePosixPath, RenderedFile], under: tuple[PurePosixPath, ...] = ()) -> Drift:
    """What differs between `files` and distributions/ (only below the folders `under`, if given)."""
    def wanted(path: PurePosixPath) -> bool:
        return not under or any(folder in path.parents for folder in under)

    existing = {path: real for path, real in _existing(root).items() if wanted(path)}
    files = {path: rendered for path, rendered in files.items() if wanted(path)}
    differing = stale(root, files)
    missing = [path for path in differing if path not in existing]
    changed = [path for path in differing if path in existing]
    extra = sorted(p for p in existing if p not in files)
    return Drift(changed, missing, extra)


def stale(root: Path, files: Mapping[PurePosixPath, RenderedFile]) -> list[PurePosixPath]:
    """The files of `files` that the repository lacks or holds otherwise (content or mode)."""
    found = []
    for path, rendered in sorted(files.items()):
        on_disk = root / path
        if (not on_disk.is_file() or on_disk.read_bytes() != rendered.content
                or _executable(on_disk) != rendered.executable):
            found.append(path)
    return found


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o100)


def write(root: Path, files: dict[PurePosixPath, RenderedFile]) -> None:
    """Replace distributions/ as a whole: build the new tree aside, then swap it in.

    A failure before the swap leaves distributions/ exactly as it was.
    """
    dest = root / layout.DISTRIBUTIONS
    staging = Path(tempfile.mkdtemp(prefix=".distributions.new-", dir=root))
    try:
        for path, rendered in files.items():
            target = staging / Path(*path.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.content)
            target.chmod(0o755 if rendered.executable else 0o644)
        staging.chmod(0o755)
        if dest.exists():
            retired = Path(tempfile.mkdtemp(prefix=".distributions.old-", dir=root))
            os.rename(dest, retired / layout.DISTRIBUTIONS)
            try:
                os.rename(staging, dest)
            except BaseException:
                # Put the old tree back: a failed swap must not leave distributions/ missing.
                os.rename(retired / layout.DISTRIBUTIONS, dest)
                shutil.rmtree(retired)
                raise
            shutil.rmtree(retired)
        else:
            os.rename(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
