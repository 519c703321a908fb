"""In-house packages: inhouse/<name>/ in versions.yaml, in the build contexts, in the locks and
in the image checks (runtime_builder/inhouse.py and its users)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from runtime_builder.generate import render
from runtime_builder.generate.specs import context_dir
from runtime_builder.layout import IN_HOUSE_MANIFEST, IN_HOUSE_PINS, locks_dir
from runtime_builder.lock import inhouse
from runtime_builder.lock.locks import LockCell, stale_locks
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform, Variant
from tests.image import checks

from .support import REPO_ROOT, edit, fixture_text, problems, release, write_matrix

PLUGIN = "airflow-runtime-plugin"
PYPROJECT = """\
[build-system]
requires = ["flit_core>=3.9,<5"]
build-backend = "flit_core.buildapi"

[project]
name = "{name}"
version = "{version}"
description = "A test package."
dependencies = ["apache-airflow>=2.10", "humanize>=4"]

[project.entry-points."airflow.plugins"]
test_plugin = "test_package:Plugin"
"""


@pytest.fixture(scope="module")
def committed():
    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    users = [r for r in matrix.releases if r.in_house]
    assert users, "the committed matrix has no release with in-house packages"
    return matrix, users[0]


def _package(root: Path, name: str = "test-package", version: str = "1.2.3", pyproject: str | None = None) -> None:
    folder = root / "inhouse" / name
    (folder / "test_package").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(pyproject or PYPROJECT.format(name=name, version=version))
    (folder / "test_package" / "__init__.py").write_text('"""A test package."""\n')
    (folder / "test_package" / "__pycache__").mkdir()
    (folder / "test_package" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0not source")


def _using(names, version: str = "14.1.0", tools: bool = True):
    def change(doc: dict) -> None:
        release(doc, version)["in_house"] = names
        if tools:
            doc["build_tools"]["flit_core"] = "4.2.0"
    return edit(change)


def test_the_committed_package_loads_with_its_metadata(committed):
    _, user = committed
    [package] = user.in_house
    assert package.name == PLUGIN and package.version == "1.0.0"
    assert package.plugins == ("airflow_runtime",)
    assert "apache-airflow>=2.10" in package.dependencies
    assert [path for path, _ in package.files] == ["airflow_runtime_plugin/__init__.py", "pyproject.toml"]


def test_a_release_lists_packages_read_from_inhouse(tmp_path):
    _package(tmp_path)
    matrix = load_matrix(write_matrix(tmp_path, _using(["test-package"])(fixture_text())))
    [package] = matrix.release("14.1.0").in_house
    assert (package.name, package.version, package.plugins) == ("test-package", "1.2.3", ("test_plugin",))
    assert [path for path, _ in package.files] == ["pyproject.toml", "test_package/__init__.py"]  # no byte-code
    assert matrix.release("14.0.2").in_house == ()
    assert matrix.flit_core_version == "4.2.0"
    cell = LockCell(matrix.release("14.1.0"), "3.13", Platform.AMD64)
    assert "humanize>=4" in cell.requirements().splitlines()  # its dependencies are resolved with the rest


@pytest.mark.parametrize(("setup", "names", "message"), [
    (lambda root: None, ["missing-package"], "'missing-package': cannot read inhouse/missing-package/pyproject.toml"),
    (lambda root: _package(root, pyproject=PYPROJECT.replace("flit_core.buildapi", "setuptools.build_meta")
                           .format(name="test-package", version="1")),
     ["test-package"], "build-backend is 'setuptools.build_meta'; the builder stage builds with 'flit_core.buildapi'"),
    (lambda root: _package(root, pyproject=PYPROJECT.format(name="other-name", version="1")),
     ["test-package"], "[project] name is 'other-name', not 'test-package'"),
    (lambda root: _package(root, pyproject=PYPROJECT.replace('version = "{version}"', 'dynamic = ["version"]')
                           .format(name="test-package")),
     ["test-package"], "[project] version must be a static version, got None"),
    (lambda root: _package(root, pyproject="[project\n"), ["test-package"], "is not valid TOML"),
    (lambda root: _package(root), ["test-package", "test-package"], "in_house[1]: 'test-package' is listed twice"),
    (lambda root: None, "test-package", "in_house: must be a list of package names under inhouse/"),
])
def test_bad_in_house_entries_are_named(tmp_path, setup, names, message):
    setup(tmp_path)
    found = problems(tmp_path, _using(names)(fixture_text()))
    assert any(message in problem for problem in found), found


def test_in_house_needs_flit_core_among_the_build_tools(tmp_path):
    _package(tmp_path)
    found = problems(tmp_path, _using(["test-package"], tools=False)(fixture_text()))
    assert any("build_tools" in p and "flit_core" in p and "14.1.0" in p for p in found), found


def test_a_patch_release_may_not_add_an_in_house_package(tmp_path):
    _package(tmp_path)
    found = problems(tmp_path, _using(["test-package"], version="14.0.2")(fixture_text()))
    assert any("14.0.1 -> 14.0.2 (patch release)" in p and "in_house > test-package" in p
               and "a patch release may not add packages" in p for p in found), found


def test_render_copies_the_sources_with_their_headers_into_the_base_contexts_only(committed):
    matrix, user = committed
    files = render.render_tree(matrix, REPO_ROOT / "templates")
    [package] = user.in_house
    for python in user.pythons:
        context = context_dir(user, python, Variant.BASE)
        for path, content in inhouse.context_files(package).items():
            assert files[context / path].content == content
        dockerfile = files[context / "Dockerfile"].content.decode()
        assert f"In-house packages ({PLUGIN}==1.0.0)" in dockerfile
        assert "sha256sum --check --strict --quiet locks/in-house.sha256" in dockerfile
        assert "-r locks/in-house.txt" in dockerfile and "--no-index" in dockerfile
    init = files[context_dir(user, user.python, Variant.BASE) / "inhouse" / PLUGIN / "airflow_runtime_plugin"
                 / "__init__.py"].content.decode()
    origin = f"inhouse/{PLUGIN}/airflow_runtime_plugin/__init__.py"
    assert init.startswith(f"# Generated by `build.py render` from {origin}.")
    elsewhere = {path.parts[1] for path in files if "inhouse" in path.parts}
    assert elsewhere == {str(r.version) for r in matrix.releases if r.in_house}


def test_the_lock_records_versions_and_the_digest_of_every_context_file(committed):
    _, user = committed
    files = inhouse.lock_files(user)
    assert files[IN_HOUSE_PINS].splitlines()[-1] == f"{PLUGIN}==1.0.0"
    lines = files[IN_HOUSE_MANIFEST].splitlines()
    contents = {str(path): content for p in user.in_house for path, content in inhouse.context_files(p).items()}
    assert [line[66:] for line in lines] == sorted(contents)  # the order `LC_ALL=C sort` gives
    for line in lines:
        assert re.fullmatch(r"[0-9a-f]{64}  \S+", line)
        assert line[:64] == hashlib.sha256(contents[line[66:]]).hexdigest()
    for name, text in files.items():  # committed as build.py lock writes them, and copied into every context
        assert (REPO_ROOT / locks_dir(str(user.version)) / name).read_text() == text
        for python in user.pythons:
            assert (REPO_ROOT / context_dir(user, python, Variant.BASE) / "locks" / name).read_text() == text


def test_a_source_change_without_a_new_lock_is_reported(committed, tmp_path):
    matrix, user = committed
    for name in ("versions.yaml", "patches", "inhouse", "locks"):
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    assert not [p for p in stale_locks(matrix, tmp_path) if "in-house" in p]
    module = tmp_path / "inhouse" / PLUGIN / "airflow_runtime_plugin" / "__init__.py"
    module.write_text(module.read_text() + "# changed\n")
    changed = load_matrix(tmp_path / "versions.yaml")
    stale = [p for p in stale_locks(changed, tmp_path) if "in-house" in p]
    users = {str(release.version) for release in changed.releases if release.in_house}
    assert user.in_house and str(user.version) in users
    # Each release that builds the package is named, with the command that mends it.
    assert {re.search(r"run `python build.py lock (\S+)`", p)[1] for p in stale} == users
    assert all("in-house.sha256: differs" in p for p in stale)


def _facts(found: dict[str, list[str]], plugins: list[dict]) -> dict:
    return {"distributions": {"distributions": {name: [{"version": v} for v in versions]
                                                for name, versions in found.items()}},
            "airflow": {"plugins": {"plugins": plugins, "import_errors": {}}}}


def test_check_in_house_passes_the_right_image_and_names_what_is_wrong(committed):
    _, user = committed
    lock = (REPO_ROOT / LockCell(user, user.python, Platform.AMD64).path).read_text()
    expected = checks.expected_for(user, user.python, Platform.AMD64, lock)
    assert expected.pins[PLUGIN] == "1.0.0"  # the venv-equals-lock check expects it too
    ours = {"name": "airflow_runtime", "source": f"{PLUGIN}==1.0.0: EntryPoint(name='airflow_runtime')"}
    assert checks.check_in_house(expected, _facts({PLUGIN: ["1.0.0"]}, [ours])) == []
    assert "expected 1.0.0" in checks.check_in_house(expected, _facts({}, [ours]))[0]
    assert "did not load its plugin 'airflow_runtime'" in checks.check_in_house(expected, _facts({PLUGIN: ["1.0.0"]},
                                                                                                  []))[0]
    impostor = {**ours, "source": "$PLUGINS_FOLDER/airflow_runtime.py"}
    assert "was loaded, but from" in checks.check_in_house(expected, _facts({PLUGIN: ["1.0.0"]}, [impostor]))[0]
