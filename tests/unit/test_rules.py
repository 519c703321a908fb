"""The rules a structurally valid matrix must also obey (validate.py), including the
versioning policy between consecutive releases of one Runtime line."""

from __future__ import annotations

from datetime import date

import pytest

from .support import edit, fixture_text, line, load_text, problems, release


def _releases_of_line_14(doc):
    return line(doc, 14)["releases"]


def _duplicate_in_line(doc):
    _releases_of_line_14(doc)[1]["version"] = "14.0.0"


def _default_python_unsupported(doc):
    line(doc, 14)["python"] = "3.10"


def _python_not_allowed_by_airflow(doc):
    line(doc, 11)["pythons"] = ["3.9", "3.11", "3.13"]


def _airflow_minor_without_pythons(doc):
    del doc["airflow_pythons"]["3.3"]


def _maintenance_before_release(doc):
    line(doc, 11)["end_of_maintenance"] = date(2024, 1, 1)


def _basic_support_before_maintenance(doc):
    line(doc, 14)["end_of_basic_support"] = date(2028, 1, 31)


def _released_goes_backwards(doc):
    release(doc, "14.0.1")["released"] = date(2026, 8, 1)


def _later_line_same_airflow_minor(doc):
    entry = line(doc, 14)
    entry["airflow"] = "2.10"
    entry["pythons"] = ["3.11", "3.12"]
    entry["python"] = "3.12"
    for number, raw in enumerate(entry["releases"]):
        raw["airflow"] = f"2.10.{6 + number}"


def _later_line_older_airflow_minor(doc):
    doc["airflow_pythons"]["2.9"] = ["3.11", "3.12"]
    entry = line(doc, 14)
    entry["airflow"] = "2.9"
    entry["pythons"] = ["3.11", "3.12"]
    entry["python"] = "3.12"
    for number, raw in enumerate(entry["releases"]):
        raw["airflow"] = f"2.9.{number}"


RULE_VIOLATIONS = [
    pytest.param(
        edit(_duplicate_in_line),
        "versions.yaml: Runtime 14.0.0 > version: is defined twice; every Runtime version must be unique",
        id="duplicate-version-in-one-line",
    ),
    pytest.param(
        edit(_default_python_unsupported),
        "versions.yaml: Runtime 14.0.0 > python: default Python 3.10 is not among the supported 3.11, 3.12, 3.13",
        id="default-python-not-supported",
    ),
    pytest.param(
        edit(_python_not_allowed_by_airflow),
        "versions.yaml: Runtime 11.0.0 > pythons: Python 3.13 is not supported by Airflow 2.10.2; "
        "allowed: 3.9, 3.10, 3.11, 3.12",
        id="python-not-allowed-by-airflow-minor",
    ),
    pytest.param(
        edit(_airflow_minor_without_pythons),
        "versions.yaml: Runtime 14.0.0 > airflow: Airflow 3.3 has no entry under airflow_pythons; known: 2.10",
        id="airflow-minor-without-pythons",
    ),
    pytest.param(
        edit(_maintenance_before_release),
        "versions.yaml: Runtime 11.0.0 > released/end_of_maintenance/end_of_basic_support: dates out of order: "
        "released 2024-09-25, end of maintenance 2024-01-01, end of basic support 2024-07-31",
        id="end-of-maintenance-before-released",
    ),
    pytest.param(
        edit(_basic_support_before_maintenance),
        "versions.yaml: Runtime 14.0.0 > released/end_of_maintenance/end_of_basic_support: dates out of order: "
        "released 2026-09-01, end of maintenance 2028-09-30, end of basic support 2028-01-31",
        id="end-of-basic-support-before-maintenance",
    ),
    pytest.param(
        edit(_released_goes_backwards),
        "versions.yaml: Runtime 14.0.1 > released: 2026-08-01 is before 14.0.0's release date 2026-09-01",
        id="release-dates-go-backwards",
    ),
    pytest.param(
        edit(_later_line_same_airflow_minor),
        "versions.yaml: Runtime line 14 > airflow: ships Airflow 2.10, which is not newer than line 11's "
        "Airflow 2.10; each new Airflow minor needs a new, higher Runtime major",
        id="later-line-same-airflow-minor",
    ),
    pytest.param(
        edit(_later_line_older_airflow_minor),
        "versions.yaml: Runtime line 14 > airflow: ships Airflow 2.9, which is not newer than line 11's "
        "Airflow 2.10",
        id="later-line-older-airflow-minor",
    ),
]


@pytest.mark.parametrize(("mutation", "expected"), RULE_VIOLATIONS)
def test_rule_violation_is_reported(tmp_path, mutation, expected):
    reported = problems(tmp_path, mutation(fixture_text()))
    assert any(problem.startswith(expected) for problem in reported), "\n".join(reported)


# --- the versioning policy --------------------------------------------------------------------


def _pin(version, name, pinned):
    def apply(doc):
        release(doc, version).setdefault("packages", {})[name] = pinned

    return edit(apply)


def _unpin_line_and_pin_only(version, name, pinned):
    """Move a line-level pin onto one release, so the releases after it drop the package."""

    def apply(doc):
        runtime = int(version.split(".")[0])
        line(doc, runtime).setdefault("packages", {}).pop(name, None)
        release(doc, version).setdefault("packages", {})[name] = pinned

    return edit(apply)


def _airflow(version, airflow):
    return edit(lambda doc: release(doc, version).__setitem__("airflow", airflow))


CELERY = "apache-airflow-providers-celery"
FAB = "apache-airflow-providers-fab"

POLICY_VIOLATIONS = [
    pytest.param(
        _pin("14.0.1", CELERY, "3.15.0"),
        f"versions.yaml: Runtime 14.0.0 -> 14.0.1 (patch release) > packages > {CELERY}: "
        "minor moved 3.14.0 -> 3.15.0; a patch release may change only patch versions",
        id="patch-release-moves-a-package-minor",
    ),
    pytest.param(
        _pin("14.0.1", FAB, "2.0.0"),
        f"versions.yaml: Runtime 14.0.0 -> 14.0.1 (patch release) > packages > {FAB}: "
        "added at 2.0.0; a patch release may not add packages",
        id="patch-release-adds-a-package",
    ),
    pytest.param(
        _unpin_line_and_pin_only("14.0.0", CELERY, "3.14.0"),
        f"versions.yaml: Runtime 14.0.0 -> 14.0.1 (patch release) > packages > {CELERY}: "
        "removed (was 3.14.0); only a Runtime major may remove a package",
        id="patch-release-removes-a-package",
    ),
    pytest.param(
        _pin("14.0.1", CELERY, "4.0.0"),
        f"versions.yaml: Runtime 14.0.0 -> 14.0.1 (patch release) > packages > {CELERY}: "
        "major moved 3.14.0 -> 4.0.0; only a Runtime major may move a package major",
        id="patch-release-moves-a-package-major",
    ),
    pytest.param(
        _pin("14.1.0", CELERY, "4.0.0"),
        f"versions.yaml: Runtime 14.0.2 -> 14.1.0 (minor release) > packages > {CELERY}: "
        "major moved 3.14.1 -> 4.0.0; only a Runtime major may move a package major",
        id="minor-release-moves-a-package-major",
    ),
    pytest.param(
        _pin("11.0.0", FAB, "1.5.0"),
        f"versions.yaml: Runtime 11.0.0 -> 11.1.0 (minor release) > packages > {FAB}: "
        "removed (was 1.5.0); only a Runtime major may remove a package",
        id="minor-release-removes-a-package",
    ),
    pytest.param(
        _airflow("14.0.2", "3.3.0"),
        "versions.yaml: Runtime 14.0.1 -> 14.0.2 (patch release) > airflow: Airflow went back 3.3.1 -> 3.3.0",
        id="patch-release-moves-airflow-back",
    ),
]


@pytest.mark.parametrize(("mutation", "expected"), POLICY_VIOLATIONS)
def test_versioning_policy_violation_names_both_releases_and_the_package(tmp_path, mutation, expected):
    reported = problems(tmp_path, mutation(fixture_text()))
    assert expected in reported, "\n".join(reported)


def test_minor_release_may_move_package_minors_and_add_packages(matrix):
    # The fixture's 14.1.0 does both; loading it at all is the assertion, these pin the premise.
    assert matrix.release("14.0.2").package_version(CELERY) == "3.14.1"
    assert matrix.release("14.1.0").package_version(CELERY) == "3.15.0"
    assert matrix.release("14.0.2").package_version(FAB) is None
    assert matrix.release("14.1.0").package_version(FAB) == "2.0.1"


def test_patch_release_may_move_package_patch_versions(tmp_path):
    matrix = load_text(tmp_path, _pin("14.0.2", CELERY, "3.14.5")(fixture_text()))
    assert matrix.release("14.0.1").package_version(CELERY) == "3.14.0"
    assert matrix.release("14.0.2").package_version(CELERY) == "3.14.5"


def test_a_later_release_may_not_downgrade_a_pin(tmp_path):
    # 14.0.1 moves up to 3.14.5, then 14.0.2 goes back to 3.14.1.
    found = problems(tmp_path, _pin("14.0.1", CELERY, "3.14.5")(fixture_text()))
    assert any("14.0.1 -> 14.0.2" in p and CELERY in p and "downgraded 3.14.5 -> 3.14.1" in p for p in found)


def test_a_new_runtime_major_may_change_anything(tmp_path):
    def jump(doc):
        line(doc, 14)["packages"] = {CELERY: "9.0.0"}  # line 11 ships 3.x
        for raw in line(doc, 14)["releases"]:
            raw.get("packages", {}).pop(CELERY, None)

    matrix = load_text(tmp_path, edit(jump)(fixture_text()))
    assert matrix.release("14.0.0").package_version(CELERY) == "9.0.0"


def test_the_policy_compares_yanked_and_nightly_releases_too(tmp_path):
    reported = problems(tmp_path, _pin("14.0.2", FAB, "2.0.0")(fixture_text()))
    assert any(p.startswith("versions.yaml: Runtime 14.0.1 -> 14.0.2 (patch release)") and FAB in p for p in reported)


def test_several_rule_problems_are_all_reported(tmp_path):
    def break_many(doc):
        _default_python_unsupported(doc)
        _released_goes_backwards(doc)
        release(doc, "11.1.0").setdefault("packages", {})[CELERY] = "4.0.0"

    joined = "\n".join(problems(tmp_path, edit(break_many)(fixture_text())))
    assert "Runtime 14.0.0 > python: default Python 3.10" in joined
    assert "Runtime 14.0.1 > released: 2026-08-01 is before" in joined
    assert f"Runtime 11.0.0 -> 11.1.0 (minor release) > packages > {CELERY}: major moved 3.8.3 -> 4.0.0" in joined
