"""Python and Airflow: the versions the matrix promises, and an Airflow that cannot be swapped."""

from __future__ import annotations

import pytest

from . import checks
from .support import Result, Target, assert_ok

pytestmark = pytest.mark.image


def test_python_version_and_machine(target: Target, facts: dict) -> None:
    assert_ok(checks.check_python(target.expected, facts))


def test_airflow_version(target: Target, facts: dict) -> None:
    assert_ok(checks.check_airflow_version(target.expected, facts))


def test_docker_run_version_runs_airflow_version(target: Target, cli_version: Result) -> None:
    assert_ok(checks.check_airflow_cli_version(target.expected, cli_version.returncode,
                                               cli_version.stdout + cli_version.stderr))


def test_pip_cannot_change_airflow(target: Target, facts: dict) -> None:
    assert_ok(checks.check_constraint(target.expected, facts))
