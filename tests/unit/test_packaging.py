"""The repository is a Python project pip can install (`pip install .` of a clone gives the
`runtime-builder` command, the same as `python3 build.py`), and CI's planning jobs need only the
few MB of requirements-matrix.lock: issue 31."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from runtime_builder.layout import find_root

from .support import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_it_has_a_build_backend_and_finds_its_package():
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["runtime_builder*"]


@pytest.mark.parametrize("script", ["runtime-builder", "airflow-runtime"])
def test_the_command_is_the_cli(script):
    module, _, function = PYPROJECT["project"]["scripts"][script].partition(":")
    assert getattr(importlib.import_module(module), function) is importlib.import_module("runtime_builder.cli").main


def test_the_package_data_is_what_the_images_copy():
    """The shell scripts render.py copies into build contexts ship with the package."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["runtime_builder"]
    scripts = sorted(p.name for p in (REPO_ROOT / "runtime_builder" / "in_image").glob("*.sh"))
    assert patterns == ["in_image/*.sh"] and scripts


def _pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", path.read_text(), re.MULTILINE))


def test_the_matrix_lock_is_the_matrix_group_at_the_full_locks_versions():
    """requirements-matrix.lock holds the `matrix` group and what it needs, pinned as
    requirements.lock pins them (scripts/lock-requirements writes both), each with hashes."""
    matrix, full = _pins(REPO_ROOT / "requirements-matrix.lock"), _pins(REPO_ROOT / "requirements.lock")
    group = {re.split(r"[<>=!~\[ ]", requirement)[0].lower()
             for requirement in PYPROJECT["dependency-groups"]["matrix"]}
    assert group <= set(matrix), group - set(matrix)
    assert {name: full.get(name) for name in matrix} == matrix
    text = (REPO_ROOT / "requirements-matrix.lock").read_text()
    assert text.count("--hash=sha256:") >= len(matrix) and "# via" not in text  # no temporary paths


# The interpreter the planning jobs have: the standard library and requirements-matrix.lock only.
BLOCKER = """
import importlib.abc, sys
ALLOWED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED or top == "runtime_builder":
            return None
        raise ImportError(f"{name} is not in requirements-matrix.lock")
sys.meta_path.insert(0, Block())
sys.argv = ["runtime_builder", *sys.argv[2:]]
from runtime_builder.cli import main
sys.exit(main())
"""
# Import names of the matrix lock's distributions.
IMPORT_NAMES = {"jinja2": ["jinja2"], "markupsafe": ["markupsafe"], "packaging": ["packaging"],
                "pyyaml": ["yaml", "_yaml"]}


def _workflow_commands() -> list[list[str]]:
    """Every `python -m runtime_builder ...` a workflow runs (with placeholders for its variables)."""
    found = []
    for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                for command in re.findall(r"python -m runtime_builder ([^)\n]*)", step.get("run", "")):
                    found.append(command.replace("\\", "").split())
    return found


def test_the_planning_jobs_run_on_the_matrix_lock_alone():
    """Each command a workflow runs with `python -m runtime_builder` works with nothing but the
    standard library and the matrix lock importable (a Docker SDK import would fail it)."""
    commands = _workflow_commands()
    assert len(commands) >= 5, commands
    allowed = ",".join(name for names in IMPORT_NAMES.values() for name in names)
    assert set(IMPORT_NAMES) == set(_pins(REPO_ROOT / "requirements-matrix.lock"))
    values = {'"$VERSION"': "14.2.1", '"$BEFORE"': "HEAD", '"$BASE_SHA"': "HEAD"}
    for command in commands:
        argv = [values.get(word, word) for word in command]
        done = subprocess.run([sys.executable, "-c", BLOCKER, allowed, *argv], cwd=REPO_ROOT, capture_output=True,
                              text=True, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, (argv, done.stderr[-2000:])


def test_the_repository_is_found_from_the_package_or_the_folder():
    package = REPO_ROOT / "runtime_builder"
    assert find_root(package, Path("/")) == REPO_ROOT
    installed = Path("/nonexistent/site-packages/runtime_builder")
    assert find_root(installed, REPO_ROOT / "docs" / "architecture") == REPO_ROOT
    assert find_root(installed, Path("/proc")) is None
