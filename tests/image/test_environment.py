"""Environment: versions.yaml's defaults are set, and Airflow reads them as current options."""

from __future__ import annotations

import pytest

from . import checks
from .support import OVERRIDE_VALUE, Target, assert_ok, override_variable

pytestmark = pytest.mark.image


def test_default_environment(target: Target, facts: dict) -> None:
    assert_ok(checks.check_environment(target.expected, facts))


def test_airflow_configuration_matches_environment(target: Target, facts: dict) -> None:
    assert_ok(checks.check_config(target.expected, facts))


def test_airflow_configuration_follows_the_environment(target: Target, facts: dict) -> None:
    assert_ok(checks.check_config_override(facts))


def test_docker_run_e_overrides_a_default(target: Target, env_override_facts: dict) -> None:
    assert_ok(checks.check_environment_override(override_variable(target), OVERRIDE_VALUE, env_override_facts))
