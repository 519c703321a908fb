"""What versions.yaml names in the repository beside it: backport patches under patches/ and
in-house packages under inhouse/. Each is read and checked when the matrix is read, so a
broken one is a problem of versions.yaml, never a surprise in a build.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from ..in_image import patching
from ..layout import INHOUSE
from ..layout import PATCHES as PATCHES_DIR
from .model import Backport, InHouse
from .reader import PACKAGE_NAME, Reader, describe

FLIT_BACKEND = "flit_core.buildapi"  # the one build backend the builder stage has
PATCH_KEYS = {"file", "summary"}
PATCH_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*\.patch$")


def patches(reader: Reader, raw: Any, where: str, folder: Path | None) -> tuple[Backport, ...]:
    """Optional: the release's patches to Airflow, each read from `folder`, parsed and checked."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        reader.problem(where, "patches", f"must be a non-empty list of {{file, summary}}, got {describe(raw)}")
        return ()
    found: list[Backport] = []
    for index, item in enumerate(raw):
        field = f"patches[{index}]"
        item = reader.mapping(item, where, field, PATCH_KEYS, PATCH_KEYS)
        if not set(item) >= PATCH_KEYS:
            continue
        file = reader.string(item["file"], where, f"{field}.file", PATCH_FILE,
                             "a relative path under patches/ ending in .patch, e.g. airflow-3.3.2/0001-fix.patch")
        summary = reader.string(item["summary"], where, f"{field}.summary")
        if summary is not None and not summary.strip():
            reader.problem(where, f"{field}.summary", "a patch needs its summary (a non-empty string)")
        if file is None or summary is None:
            continue
        text = _patch_text(reader, where, f"{field}.file", file, folder)
        if text is None:
            continue
        backport = Backport(file, summary.strip(), text)
        if backport.name in {b.name for b in found}:
            reader.problem(where, f"{field}.file", f"{file!r}: another patch of this release has the file name "
                                                   f"{backport.name!r}; names must be unique in a release")
            continue
        found.append(backport)
    return tuple(found)


def _patch_text(reader: Reader, where: str, field: str, file: str, folder: Path | None) -> str | None:
    if folder is None:
        reader.problem(where, field, f"{file!r}: no {PATCHES_DIR}/ folder to read it from")
        return None
    try:
        with (folder / file).open(encoding="utf-8", newline="") as handle:  # line endings as committed
            text = handle.read()
    except OSError as error:
        reader.problem(where, field, f"{file!r} cannot be read under {PATCHES_DIR}/: {error.strerror}")
        return None
    try:
        changes = patching.parse(text, file)
    except patching.PatchError as error:
        reader.problem(where, field, f"is not a usable patch: {error}")
        return None
    for change in changes:
        if not change.path.startswith("airflow/") or change.path.startswith("airflow/providers/"):
            reader.problem(where, field, f"{file!r} changes {change.path!r}: a Runtime patch may only change "
                                         "Airflow's own package (airflow/, not airflow/providers/)")
            return None
    return text


def in_house(reader: Reader, raw: Any, where: str, root: Path | None) -> tuple[InHouse, ...]:
    """A list of package names, each read from inhouse/<name>/ (an empty list: none)."""
    if not isinstance(raw, list):
        reader.problem(where, "in_house", f"must be a list of package names under {INHOUSE}/, got {describe(raw)}")
        return ()
    found: list[InHouse] = []
    for index, name in enumerate(raw):
        field = f"in_house[{index}]"
        name = reader.string(name, where, field, PACKAGE_NAME, "a package name")
        if name is None:
            continue
        if name in {package.name for package in found}:
            reader.problem(where, field, f"{name!r} is listed twice")
            continue
        package = _load_in_house(name, root / INHOUSE / name if root else None)
        if isinstance(package, str):
            reader.problem(where, field, f"{name!r}: {package}")
        else:
            found.append(package)
    return tuple(found)


def _load_in_house(name: str, folder: Path | None) -> InHouse | str:
    """The package in `folder`, or why it cannot be built."""
    if folder is None:
        return f"no {INHOUSE}/ folder to read it from"
    pyproject = folder / "pyproject.toml"
    try:
        meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except OSError as error:
        return f"cannot read {INHOUSE}/{name}/pyproject.toml: {error.strerror}"
    except tomllib.TOMLDecodeError as error:
        return f"{INHOUSE}/{name}/pyproject.toml is not valid TOML: {error}"
    project, backend = meta.get("project", {}), meta.get("build-system", {}).get("build-backend")
    if backend != FLIT_BACKEND:
        return (f"{INHOUSE}/{name}/pyproject.toml: build-backend is {backend!r}; "
                f"the builder stage builds with {FLIT_BACKEND!r}")
    if canonicalize_name(str(project.get("name", ""))) != canonicalize_name(name):
        return f"{INHOUSE}/{name}/pyproject.toml: [project] name is {project.get('name')!r}, not {name!r}"
    version = project.get("version")
    try:
        Pep440(str(version))
    except InvalidVersion:
        return f"{INHOUSE}/{name}/pyproject.toml: [project] version must be a static version, got {version!r}"
    dependencies = project.get("dependencies", [])
    try:
        for requirement in dependencies:
            Requirement(requirement)
    except (InvalidRequirement, TypeError) as error:
        return f"{INHOUSE}/{name}/pyproject.toml: a dependency is not a requirement: {error}"
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if "__pycache__" in relative.split("/") or path.suffix == ".pyc" or relative.startswith(("dist/", "build/")):
            continue
        try:
            files.append((relative, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            return f"{INHOUSE}/{name}/{relative} cannot be read as UTF-8 text: {error}"
    plugins = tuple(sorted(project.get("entry-points", {}).get("airflow.plugins", {})))
    return InHouse(name, str(version), str(project.get("description", "")), tuple(dependencies), tuple(files), plugins)
