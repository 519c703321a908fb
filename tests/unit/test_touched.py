"""Which matrix cells a change touches (runtime_builder/changes.py, `matrix --changed-since`).

On the fixture matrix the default cells are Runtime 14.0.1 (the newest stable, non-yanked
release), Python 3.13, amd64: one base and one ONBUILD image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from runtime_builder.generate.specs import all_specs
from runtime_builder.generate.touched import affected
from runtime_builder.matrix.model import Matrix

from .support import edit, fixture_text, line, load_text, release, write_matrix

DEFAULT = ["14.0.1-python-3.13-base linux/amd64", "14.0.1-python-3.13 linux/amd64"]


def names(specs) -> list[str]:
    return [spec.name for spec in specs]


def cells(version: str, pythons: tuple[str, ...], platforms: tuple[str, ...] = ("linux/amd64",)) -> list[str]:
    """Every cell of `version` on these Pythons and platforms, in matrix order."""
    return [f"{version}-python-{python}{suffix} {platform}"
            for python in pythons for suffix in ("-base", "") for platform in platforms]


def changed(tmp_path: Path, change: Callable[[dict], object]) -> Matrix:
    folder = tmp_path / "head"
    folder.mkdir(exist_ok=True)
    return load_text(folder, edit(change)(fixture_text()))


@pytest.mark.parametrize("paths", [
    ["README.md"],
    ["tests/unit/test_tags.py", "bench/README.md"],
    ["templates/reference/README.md.j2", "distributions/README.md"],
    [],
])
def test_documentation_and_unit_tests_build_nothing(matrix, paths):
    assert affected(matrix, matrix, paths) == []


@pytest.mark.parametrize("path", [
    "templates/base/Dockerfile.j2", "templates/onbuild/onbuild-install.sh.j2", "templates/partials/_labels.j2",
])
def test_a_template_builds_one_cell_per_kind(matrix, path):
    assert names(affected(matrix, matrix, [path])) == DEFAULT


def test_a_template_builds_one_cell_per_kind_however_many_contexts_it_re_renders(matrix):
    paths = ["templates/base/Dockerfile.j2", "distributions/11.0.0/python-3.9/base/Dockerfile",
             "distributions/14.0.0/python-3.11/base/Dockerfile", "distributions/14.0.2/python-3.13/onbuild/Dockerfile"]
    assert names(affected(matrix, matrix, paths)) == DEFAULT


@pytest.mark.parametrize("path", [
    "runtime_builder/builder.py", "build.py", "requirements.lock", "tests/image/test_contract.py",
    ".github/workflows/pull-request.yml", ".github/actions/build-cell/action.yml",
])
def test_the_builder_its_image_tests_and_the_workflows_build_the_default_cells(matrix, path):
    assert names(affected(matrix, matrix, [path])) == DEFAULT


def test_one_release_entry_builds_every_cell_of_that_version(matrix, tmp_path):
    head = changed(tmp_path, lambda doc: release(doc, "14.0.0").__setitem__("environment", {"AIRFLOW__X__Y": "1"}))
    assert names(affected(matrix, head, ["versions.yaml"])) == cells("14.0.0", ("3.11", "3.12", "3.13"))


def test_a_line_value_builds_the_releases_that_inherit_it(matrix, tmp_path):
    # 11.1.0 pins its own celery, so only 11.0.0 inherits the line's.
    head = changed(tmp_path, lambda doc: line(doc, 11)["packages"].__setitem__(
        "apache-airflow-providers-celery", "3.8.4"))
    assert names(affected(matrix, head, ["versions.yaml"])) == cells(
        "11.0.0", ("3.9", "3.11"), ("linux/amd64", "linux/arm64"))


def add_14_0_3(doc: dict) -> None:
    line(doc, 14)["releases"].insert(3, {
        "version": "14.0.3", "airflow": "3.3.2", "released": date(2026, 11, 15), "channel": "stable",
        "packages": {"apache-airflow-providers-celery": "3.14.1"},
    })


def test_a_new_release_builds_that_version(matrix, tmp_path):
    head = changed(tmp_path, add_14_0_3)
    assert names(affected(matrix, head, ["versions.yaml"])) == cells("14.0.3", ("3.11", "3.12", "3.13"))


def test_a_removed_release_builds_nothing(matrix, tmp_path):
    assert affected(changed(tmp_path, add_14_0_3), matrix, ["versions.yaml"]) == []


def test_with_no_versions_yaml_before_every_cell_is_new(matrix):
    assert affected(None, matrix, ["versions.yaml"]) == all_specs(matrix)


def test_a_new_uv_builds_the_default_cells(matrix, tmp_path):
    head = changed(tmp_path, lambda doc: doc["build_tools"].__setitem__("uv", "0.14.0"))
    assert names(affected(matrix, head, ["versions.yaml"])) == DEFAULT


def test_a_lock_file_builds_its_version_and_python(matrix):
    path = "locks/11.1.0/python-3.9/arm64.txt"
    expected = cells("11.1.0", ("3.9",), ("linux/amd64", "linux/arm64"))
    assert names(affected(matrix, matrix, [path])) == expected
    # A lock file is not rendered from templates, so it counts next to a template change too.
    assert names(affected(matrix, matrix, [path, "templates/base/Dockerfile.j2"])) == expected + DEFAULT


def test_the_build_tools_lock_builds_the_default_cells(matrix):
    path = "locks/build-tools.txt"
    assert names(affected(matrix, matrix, [path])) == DEFAULT


def test_a_build_context_alone_builds_its_version_and_python(matrix):
    assert names(affected(matrix, matrix, ["distributions/14.0.0/python-3.12/onbuild/Dockerfile"])) == cells(
        "14.0.0", ("3.12",))


def test_a_context_of_a_version_no_longer_in_the_matrix_builds_nothing(matrix):
    assert affected(matrix, matrix, ["distributions/9.9.9/python-3.9/base/Dockerfile"]) == []


# -- `build.py matrix --changed-since`: the same, read from git ----------------------------


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), "-c", "user.name=test", "-c", "user.email=test@example.com",
                             *args], capture_output=True, text=True, check=True)
    return result.stdout


@pytest.fixture
def committed(repo: Path) -> Path:
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def rows(result) -> list[tuple[str, str, str, str]]:
    assert result.code == 0, result.err
    return [(r["version"], r["python"], r["variant"], r["platform"]) for r in json.loads(result.out)["include"]]


def test_cli_builds_what_changed_since_a_revision(cli, committed):
    write_matrix(committed, edit(lambda doc: release(doc, "14.0.0").__setitem__(
        "environment", {"AIRFLOW__X__Y": "1"}))(fixture_text()))
    git(committed, "commit", "-q", "-am", "change 14.0.0")
    result = cli("--root", committed, "matrix", "--json", "--changed-since", "HEAD~1", "--variant", "base")
    assert rows(result) == [("14.0.0", python, "base", "linux/amd64") for python in ("3.11", "3.12", "3.13")]


def test_cli_counts_uncommitted_changes(cli, committed):
    (committed / "templates" / "base" / "Dockerfile.j2").write_text("FROM scratch\n")
    result = cli("--root", committed, "matrix", "--json", "--changed-since", "HEAD")
    assert rows(result) == [("14.0.1", "3.13", "base", "linux/amd64"), ("14.0.1", "3.13", "onbuild", "linux/amd64")]


def test_cli_documentation_change_is_an_empty_matrix(cli, committed):
    (committed / "NOTES.md").write_text("docs\n")
    git(committed, "add", "NOTES.md")
    result = cli("--root", committed, "matrix", "--json", "--changed-since", "HEAD")
    assert rows(result) == []
    assert result.err == "no matrix cell matches these filters\n"


def test_cli_unknown_revision_exits_2(cli, committed):
    result = cli("--root", committed, "matrix", "--json", "--changed-since", "no-such-branch")
    assert result.code == 2
    assert result.err.startswith("error: git merge-base no-such-branch HEAD: ")


def test_release_notes_and_their_template_build_nothing() -> None:
    from runtime_builder.generate.touched import affected
    from runtime_builder.matrix.load import load_matrix

    from .support import REPO_ROOT

    head = load_matrix(REPO_ROOT / "versions.yaml")
    assert affected(head, head, ["distributions/14.0.2/RELEASE_NOTES.md", "templates/notes/RELEASE_NOTES.md.j2"]) == []
    touched = affected(head, head, ["locks/14.0.2/python-3.13/amd64.txt"])
    assert touched and {(str(s.release.version), s.python) for s in touched} == {("14.0.2", "3.13")}


def test_editing_known_issues_alone_builds_nothing() -> None:
    import dataclasses

    from runtime_builder.generate.touched import changed_versions
    from runtime_builder.matrix.load import load_matrix

    from .support import REPO_ROOT

    head = load_matrix(REPO_ROOT / "versions.yaml")
    release = head.release("14.0.2")
    edited = dataclasses.replace(release, known_issues=("a newly found issue",))
    other = dataclasses.replace(head, releases=tuple(edited if r is release else r for r in head.releases))
    assert changed_versions(head, other) == set()
    moved = dataclasses.replace(release, python="3.12")
    assert changed_versions(head, dataclasses.replace(
        head, releases=tuple(moved if r is release else r for r in head.releases))) == {"14.0.2"}


def test_a_patch_file_builds_every_cell_of_the_releases_that_name_it(tmp_path):
    folder = tmp_path / "head"
    (folder / "patches" / "airflow-3.3.2").mkdir(parents=True)
    patch = (Path(__file__).resolve().parents[2] / "patches").rglob("*.patch")
    (folder / "patches" / "airflow-3.3.2" / "0001-fix.patch").write_text(next(patch).read_text())
    entry = [{"file": "airflow-3.3.2/0001-fix.patch", "summary": "A fix."}]
    head = load_text(folder, edit(lambda doc: release(doc, "14.0.2").__setitem__("patches", entry))(fixture_text()))
    release_cells = [s.name for s in all_specs(head) if str(s.release.version) == "14.0.2"]
    assert names(affected(head, head, ["patches/airflow-3.3.2/0001-fix.patch"])) == release_cells
    assert affected(head, head, ["patches/airflow-3.3.2/0002-unused.patch"]) == []


def test_an_in_house_source_builds_every_cell_of_the_releases_that_ship_it(tmp_path):
    folder = tmp_path / "head"
    shutil.copytree(Path(__file__).resolve().parents[2] / "inhouse", folder / "inhouse")

    def ship(doc: dict) -> None:
        release(doc, "14.1.0")["in_house"] = ["airflow-runtime-plugin"]
        doc["build_tools"]["flit_core"] = "4.2.0"

    head = load_text(folder, edit(ship)(fixture_text()))
    shipped = [s.name for s in all_specs(head) if str(s.release.version) == "14.1.0"]
    changed_file = "inhouse/airflow-runtime-plugin/airflow_runtime_plugin/__init__.py"
    assert names(affected(head, head, [changed_file])) == shipped
    assert affected(head, head, ["inhouse/another-package/pyproject.toml"]) == []
