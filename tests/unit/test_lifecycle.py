"""Lifecycle dates: computed from the policy unless a line sets them explicitly."""

from __future__ import annotations

from datetime import date

import pytest

from runtime_builder.matrix.lifecycle import add_months, maintenance_end
from runtime_builder.matrix.model import Policy

from .support import edit, fixture_text, line, load_text


@pytest.mark.parametrize(
    ("start", "months", "month_end", "expected"),
    [
        pytest.param(date(2023, 1, 31), 1, False, date(2023, 2, 28), id="jan-31-plus-1-clamps-to-feb-28"),
        pytest.param(date(2024, 1, 31), 1, False, date(2024, 2, 29), id="jan-31-plus-1-leap-year-feb-29"),
        pytest.param(date(2024, 2, 29), 12, False, date(2025, 2, 28), id="leap-day-plus-a-year"),
        pytest.param(date(2024, 2, 29), 48, False, date(2028, 2, 29), id="leap-day-plus-four-years"),
        pytest.param(date(2024, 3, 31), 1, False, date(2024, 4, 30), id="31st-into-a-30-day-month"),
        pytest.param(date(2024, 1, 15), 1, False, date(2024, 2, 15), id="mid-month-keeps-its-day"),
        pytest.param(date(2024, 11, 30), 2, False, date(2025, 1, 30), id="crosses-the-year"),
        pytest.param(date(2024, 12, 31), 1, False, date(2025, 1, 31), id="december-plus-1"),
        pytest.param(date(2024, 9, 25), 24, False, date(2026, 9, 25), id="two-years"),
        pytest.param(date(2024, 9, 25), 0, False, date(2024, 9, 25), id="zero-months"),
        pytest.param(date(2024, 1, 15), 1, True, date(2024, 2, 29), id="month-end-leap-february"),
        pytest.param(date(2023, 1, 15), 1, True, date(2023, 2, 28), id="month-end-february"),
        pytest.param(date(2024, 9, 1), 24, True, date(2026, 9, 30), id="month-end-two-years"),
        pytest.param(date(2024, 9, 25), 0, True, date(2024, 9, 30), id="month-end-zero-months-is-this-month"),
        pytest.param(date(2024, 12, 5), 1, True, date(2025, 1, 31), id="month-end-crosses-the-year"),
    ],
)
def test_add_months(start, months, month_end, expected):
    assert add_months(start, months, month_end) == expected


def test_maintenance_end_adds_the_policy_months():
    assert maintenance_end(date(2024, 9, 25), Policy(24, 6, True)) == date(2026, 9, 30)
    assert maintenance_end(date(2024, 9, 25), Policy(24, 6, False)) == date(2026, 9, 25)
    assert maintenance_end(date(2024, 1, 31), Policy(1, 0, False)) == date(2024, 2, 29)


def test_line_dates_follow_the_policy_from_its_first_release(matrix):
    # Line 11 first released 2024-09-25: 24 months to the end of the month, then 6 more.
    for version in ("11.0.0", "11.1.0"):
        assert matrix.release(version).end_of_maintenance == date(2026, 9, 30)
        assert matrix.release(version).end_of_basic_support == date(2027, 3, 31)
    for version in ("14.0.0", "14.0.1", "14.0.2", "14.1.0"):
        assert matrix.release(version).end_of_maintenance == date(2028, 9, 30)
        assert matrix.release(version).end_of_basic_support == date(2029, 3, 31)


def test_policy_without_month_end_keeps_the_day(tmp_path):
    def no_month_end(doc):
        doc["policy"]["maintenance_ends_at_month_end"] = False

    matrix = load_text(tmp_path, edit(no_month_end)(fixture_text()))
    assert matrix.release("11.1.0").end_of_maintenance == date(2026, 9, 25)
    assert matrix.release("11.1.0").end_of_basic_support == date(2027, 3, 25)


def test_policy_months_come_from_the_file(tmp_path):
    def shorter(doc):
        doc["policy"]["maintenance_months"] = 12
        doc["policy"]["basic_support_months"] = 0

    matrix = load_text(tmp_path, edit(shorter)(fixture_text()))
    assert matrix.release("14.0.0").end_of_maintenance == date(2027, 9, 30)
    assert matrix.release("14.0.0").end_of_basic_support == date(2027, 9, 30)


def test_explicit_end_of_maintenance_overrides_the_policy(tmp_path):
    def extend(doc):
        line(doc, 11)["end_of_maintenance"] = date(2027, 1, 15)

    matrix = load_text(tmp_path, edit(extend)(fixture_text()))
    release = matrix.release("11.0.0")
    assert release.end_of_maintenance == date(2027, 1, 15)
    # basic support still follows the policy, counted from the explicit date
    assert release.end_of_basic_support == date(2027, 7, 31)
    assert matrix.release("14.0.0").end_of_maintenance == date(2028, 9, 30)


def test_explicit_end_of_basic_support_overrides_the_policy(tmp_path):
    def extend(doc):
        line(doc, 14)["end_of_basic_support"] = date(2030, 6, 1)

    matrix = load_text(tmp_path, edit(extend)(fixture_text()))
    assert matrix.release("14.0.0").end_of_maintenance == date(2028, 9, 30)
    assert matrix.release("14.0.0").end_of_basic_support == date(2030, 6, 1)


def test_the_first_release_of_a_line_is_its_earliest_even_if_listed_later(tmp_path):
    def reorder(doc):
        line(doc, 11)["releases"].reverse()

    matrix = load_text(tmp_path, edit(reorder)(fixture_text()))
    assert matrix.release("11.1.0").end_of_maintenance == date(2026, 9, 30)
