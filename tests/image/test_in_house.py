"""In-house packages: built from this repository in the image build, installed at the locked
version, and their Airflow plugins load (the venv-equals-lock check in test_pins covers them too)."""

from __future__ import annotations

import pytest

from . import checks
from .support import Target, assert_ok

pytestmark = pytest.mark.image


def test_in_house_packages_are_installed_and_their_plugins_load(target: Target, facts: dict) -> None:
    if not target.expected.in_house:
        pytest.skip(f"Runtime {target.expected.runtime_version} has no in-house packages")
    assert_ok(checks.check_in_house(target.expected, facts))
