"""Fixtures of the fast unit tests: no Docker engine, no network, a few seconds in all."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime_builder.cli import main
from runtime_builder.images import trusted_bases
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Matrix

from .support import REPO_ROOT, copy_repository, fixture_text, load_text, write_matrix

# Templates the tests add to their copy of templates/, so that the render tests do not
# depend on what the real templates happen to contain today.
PROBE_SH = """#!/bin/sh
# probe written by the unit tests
echo "Runtime {{ image.runtime_version }} on Python {{ image.python }}"
{% for name, version in image.packages %}
echo "{{ name }}=={{ version }}"
{% endfor %}
"""
PROBE_TXT = "FROM {{ image.base_image }}\n"
PROBE_SH_NAME = "zz-probe.sh"
PROBE_TXT_NAME = "zz-probe.txt"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def private_bases_record(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fakes of the bootstrap record made-up digests: never in this host's real record of its bases."""
    monkeypatch.setenv(trusted_bases.RECORD_VARIABLE, str(tmp_path_factory.mktemp("state") / "bases.json"))


@pytest.fixture
def matrix(tmp_path: Path) -> Matrix:
    """The fixture matrix of tests/unit/data/versions.yaml."""
    return load_text(tmp_path, fixture_text())


@pytest.fixture(scope="session")
def committed_matrix() -> Matrix:
    """The repository's own versions.yaml (its content changes as real data arrives)."""
    return load_matrix(REPO_ROOT / "versions.yaml")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `build.py` in-process: cli("--root", root, "validate") -> CliResult."""

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def _make_repo(root: Path, all_templates: bool) -> Path:
    """versions.yaml from the fixture; templates/ copied whole, or only its reference/; the probes."""
    root.mkdir(parents=True)
    write_matrix(root, fixture_text())
    source = REPO_ROOT / "templates"
    if all_templates:
        shutil.copytree(source, root / "templates")
    else:
        shutil.copytree(source / "reference", root / "templates" / "reference")
    for variant, name, text in (("base", PROBE_SH_NAME, PROBE_SH), ("onbuild", PROBE_TXT_NAME, PROBE_TXT)):
        folder = root / "templates" / variant
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.j2").write_text(text, encoding="utf-8")
    return root


def _rendered_copy(source: Path, root: Path) -> Path:
    shutil.copytree(source, root)
    assert main(["--root", str(root), "render"]) == 0
    return root


@pytest.fixture(scope="session")
def pristine_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture versions.yaml, a copy of the whole templates/ and two probe templates. Read only."""
    return _make_repo(tmp_path_factory.mktemp("pristine") / "repo", all_templates=True)


@pytest.fixture(scope="session")
def pristine_rendered(pristine_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pristine_repo after `build.py render` (rendered once per session). Read only."""
    return _rendered_copy(pristine_repo, tmp_path_factory.mktemp("pristine-rendered") / "repo")


@pytest.fixture(scope="session")
def pristine_probe_rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like pristine_rendered with only the reference and probe templates: a small tree. Read only."""
    source = _make_repo(tmp_path_factory.mktemp("pristine-probe") / "repo", all_templates=False)
    return _rendered_copy(source, tmp_path_factory.mktemp("pristine-probe-rendered") / "repo")


@pytest.fixture(scope="session")
def pristine_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's own versions.yaml, locks/, distributions/, releases.json ... copied once. Read only."""
    return copy_repository(tmp_path_factory.mktemp("checkout") / "repo")


@pytest.fixture
def checkout(pristine_checkout: Path, tmp_path: Path) -> Path:
    """A copy of the repository's own data of one's own (support.COPIED)."""
    return Path(shutil.copytree(pristine_checkout, tmp_path / "checkout"))


@pytest.fixture
def repo(pristine_repo: Path, tmp_path: Path) -> Path:
    """A scratch repository of one's own (all templates), not rendered yet."""
    return Path(shutil.copytree(pristine_repo, tmp_path / "repo"))


@pytest.fixture
def rendered(pristine_rendered: Path, tmp_path: Path) -> Path:
    """A scratch repository of one's own (all templates), right after a successful `build.py render`."""
    return Path(shutil.copytree(pristine_rendered, tmp_path / "repo"))


@pytest.fixture
def probe_rendered(pristine_probe_rendered: Path, tmp_path: Path) -> Path:
    """A small rendered scratch repository of one's own (reference and probe templates only),
    for the tests of `render --check` and lock files, which do not depend on the templates."""
    return Path(shutil.copytree(pristine_probe_rendered, tmp_path / "repo"))
