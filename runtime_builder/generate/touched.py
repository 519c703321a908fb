"""Which matrix cells a change touches, so that a pull request builds those and no more.

`affected` is a pure function of the matrix before and after the change and of the paths
the change touches; `affected_since` reads those three from git.

- versions.yaml: every release whose resolved entry differs (a line's or an Airflow major's
  value reaches every release that inherits it); a new uv builds the default cells.
- locks/<version>/python-<X>/<arch>.txt: that version and Python; locks/<version>/in-house.*:
  that version; locks/build-tools.txt (uv itself, the same in every context): the default cells.
- distributions/<version>/python-<X>/ (a build context): that version and Python, unless
  templates changed too (the rendered files follow from them); the version's
  RELEASE_NOTES.md builds nothing.
- patches/<file>: every release whose `patches:` names it (its rendered copy follows).
- inhouse/<name>/: every release whose `in_house:` lists that package.
- templates/ (except reference/ and notes/), the builder's code, the image tests, the workflows: the
  default cells, one base and one ONBUILD image of the default release, Python and amd64.
- anything else (documentation, unit tests) builds nothing.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .. import layout
from ..errors import UsageError
from ..layout import PATCHES as PATCHES_DIR
from ..matrix.model import Matrix, Platform, Release
from ..matrix.schema import parse_document
from .specs import ImageSpec, all_specs

# Paths whose change can alter how every image is built or tested.
BUILDER_PATHS = ("runtime_builder/", "build.py", "requirements.lock", "tests/image/", ".github/")
# Templates of documents (reference tables, release notes), not of build contexts.
DOCS_TEMPLATES = ("templates/reference/", "templates/notes/")


def default_specs(matrix: Matrix) -> set[ImageSpec]:
    """One cell per template kind: the default release and Python, on amd64 where it is built."""
    release = matrix.default_release()
    platform = Platform.AMD64 if Platform.AMD64 in release.platforms else release.platforms[0]
    return {ImageSpec(release, release.python, variant, platform) for variant in release.variants}


def changed_versions(base: Matrix | None, head: Matrix) -> set[str]:
    """Versions of `head` that are new or whose resolved release differs from `base`'s.

    Known issues are release notes, not image content: editing them alone builds nothing.
    """
    before = {str(r.version): _image_facts(r) for r in base.releases} if base else {}
    return {str(r.version) for r in head.releases if before.get(str(r.version)) != _image_facts(r)}


def _image_facts(release: Release) -> Release:
    return dataclasses.replace(release, known_issues=())


def affected(base: Matrix | None, head: Matrix, paths: Iterable[str]) -> list[ImageSpec]:
    """The cells of `head` that a change of `paths` (repository-relative) touches, in matrix order."""
    paths = list(paths)
    templates_changed = any(_is_image_template(p) for p in paths)
    wanted: set[ImageSpec] = set()
    cells = all_specs(head)
    for path in paths:
        parts = PurePosixPath(path).parts
        if path == "versions.yaml":
            versions = changed_versions(base, head)
            wanted.update(s for s in cells if str(s.release.version) in versions)
            if base is None or base.uv_version != head.uv_version:
                wanted |= default_specs(head)
        elif parts[0] == layout.LOCKS:
            if path == str(layout.build_tools_file()):
                wanted |= default_specs(head)  # uv itself: the same in every context
            elif len(parts) > 2 and parts[2].startswith("python-"):
                python = parts[2].removeprefix("python-")
                slim_only = len(parts) > 3 and parts[3].startswith("slim-")  # a slim lock: the slim images
                wanted.update(s for s in cells if str(s.release.version) == parts[1] and s.python == python
                              and (s.variant.is_slim or not slim_only))
            elif len(parts) > 2:  # the release's in-house lock files
                wanted.update(s for s in cells if str(s.release.version) == parts[1])
        elif parts[0] == layout.DISTRIBUTIONS and len(parts) > 3 and parts[2].startswith("python-"):
            if not templates_changed:
                python = parts[2].removeprefix("python-")
                wanted.update(s for s in cells if str(s.release.version) == parts[1] and s.python == python)
        elif parts[0] == layout.INHOUSE and len(parts) > 1:
            wanted.update(s for s in cells if any(p.name == parts[1] for p in s.release.in_house))
        elif parts[0] == PATCHES_DIR:
            file = PurePosixPath(*parts[1:]).as_posix()
            wanted.update(s for s in cells if any(b.file == file for b in s.release.patches))
        elif _is_image_template(path) or path.startswith(BUILDER_PATHS):
            wanted |= default_specs(head)
    return [s for s in cells if s in wanted]


def affected_since(root: Path, revision: str, head: Matrix) -> list[ImageSpec]:
    """`affected` for the change from the merge base of `revision` and HEAD to the working tree."""
    base_commit = _git(root, "merge-base", revision, "HEAD")
    paths = _git(root, "diff", "--name-only", "--no-renames", base_commit).splitlines()
    try:
        base_text = _git(root, "show", f"{base_commit}:versions.yaml")
    except LookupError:  # versions.yaml is new: every release in it is too
        base_text = ""
    base, _ = parse_document(base_text, root) if base_text else (None, [])
    return affected(base, head, paths)


def _is_image_template(path: str) -> bool:
    return path.startswith("templates/") and not path.startswith(DOCS_TEMPLATES)


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UsageError(f"git {' '.join(args)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result.stdout.strip()
