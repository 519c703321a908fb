"""The monitoring DAG: imports cleanly, every five minutes unless the variable says otherwise."""

from __future__ import annotations

import pytest

from . import checks
from .support import Target, assert_ok

pytestmark = pytest.mark.image


def test_monitoring_dag_parses_with_default_schedule(target: Target, facts: dict) -> None:
    assert_ok(checks.check_monitoring_dag(target.expected, facts))


def test_monitoring_schedule_follows_variable(target: Target, facts: dict) -> None:
    assert_ok(checks.check_monitoring_schedule_override(checks.SCHEDULE_OVERRIDE, facts))
