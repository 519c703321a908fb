"""The repository is a Python project pip can install (`pip install -e .` of a clone gives the
`airflow-runtime` command, the same as `python3 build.py`): issue 31."""

from __future__ import annotations

import importlib
import tomllib

from .support import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_it_has_a_build_backend_and_finds_its_package():
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["runtime_builder*"]


def test_the_command_is_the_cli():
    module, _, function = PYPROJECT["project"]["scripts"]["airflow-runtime"].partition(":")
    assert getattr(importlib.import_module(module), function) is importlib.import_module("runtime_builder.cli").main


def test_the_package_data_is_what_the_images_copy():
    """The shell scripts render.py copies into build contexts ship with the package."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["runtime_builder"]
    scripts = sorted(p.name for p in (REPO_ROOT / "runtime_builder" / "in_image").glob("*.sh"))
    assert patterns == ["in_image/*.sh"] and scripts
