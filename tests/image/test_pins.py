"""Pins: the venv is exactly the lock file, and Airflow sees every locked provider."""

from __future__ import annotations

import pytest

from . import checks
from .support import Target, assert_ok

pytestmark = pytest.mark.image


def test_venv_is_exactly_the_lock(target: Target, facts: dict) -> None:
    assert_ok(checks.check_pins(target.expected, facts))


def test_locked_providers_are_registered_and_import(target: Target, facts: dict) -> None:
    assert target.expected.providers, "the lock pins no provider: nothing to check"
    assert_ok(checks.check_providers(target.expected, facts))


def test_provider_modules_import(facts: dict) -> None:
    """Executors, hooks, operators, sensors and triggers of every provider import (celery 5.7.0 broke the
    Celery executor's modules in 14.0.3: this is the check that would have caught it)."""
    assert_ok(checks.check_provider_modules(facts))


def test_pip_check(target: Target, facts: dict) -> None:
    assert_ok(checks.check_pip_check(facts))
