"""`build.py lifecycle`, the status of a release on a day, and the end-of-life guard of build and publish.

The expected dates are worked out by hand from the committed policy (24 months of
maintenance from a line's first release, ending at that month's end, then 6 months of
basic support):

- line 11, first released 2024-09-25: maintenance to 2026-09-30, basic support to 2027-03-31;
- line 13, first released 2025-09-30: maintenance to 2027-09-30, basic support to 2028-03-31;
- line 14, first released 2026-07-08: maintenance to 2028-07-31, basic support to 2029-01-31.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from runtime_builder.generate import render
from runtime_builder.generate.tags import TagKind, image_tags
from runtime_builder.images import host
from runtime_builder.layout import build_tools_file
from runtime_builder.lock.locks import cells
from runtime_builder.matrix.lifecycle import Status, end_of_life_refusal, status, table
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel, Matrix, Variant

from .support import REPO_ROOT, edit, fixture_text, write_matrix

HAND_COMPUTED = {
    # version: (released, end of maintenance, end of basic support)
    "11.1.0": (date(2025, 2, 14), date(2026, 9, 30), date(2027, 3, 31)),
    "13.1.0": (date(2026, 3, 16), date(2027, 9, 30), date(2028, 3, 31)),
    "14.0.2": (date(2026, 9, 21), date(2028, 7, 31), date(2029, 1, 31)),
}


@pytest.mark.parametrize("version", sorted(HAND_COMPUTED))
def test_committed_dates_follow_the_policy(committed_matrix, version):
    release = committed_matrix.release(version)
    assert (release.released, release.end_of_maintenance, release.end_of_basic_support) == HAND_COMPUTED[version]


@pytest.mark.parametrize(
    ("version", "as_of", "expected"),
    [
        pytest.param("14.0.2", date(2026, 9, 20), Status.NOT_RELEASED, id="the-day-before-its-release"),
        pytest.param("14.0.2", date(2026, 9, 21), Status.SUPPORTED, id="its-release-day"),
        pytest.param("14.0.2", date(2028, 7, 31), Status.SUPPORTED, id="the-last-day-of-maintenance"),
        pytest.param("14.0.2", date(2028, 8, 1), Status.BASIC_SUPPORT, id="the-day-after-maintenance"),
        pytest.param("14.0.2", date(2029, 1, 31), Status.BASIC_SUPPORT, id="the-last-day-of-basic-support"),
        pytest.param("14.0.2", date(2029, 2, 1), Status.END_OF_LIFE, id="the-day-after-basic-support"),
        pytest.param("13.1.0", date(2026, 11, 23), Status.SUPPORTED, id="13.1.0-today"),
        pytest.param("13.1.0", date(2027, 10, 1), Status.BASIC_SUPPORT, id="13.1.0-after-maintenance"),
        pytest.param("13.1.0", date(2028, 4, 1), Status.END_OF_LIFE, id="13.1.0-after-basic-support"),
        pytest.param("11.1.0", date(2025, 2, 13), Status.NOT_RELEASED, id="11.1.0-before-release"),
        pytest.param("11.1.0", date(2026, 11, 23), Status.BASIC_SUPPORT, id="11.1.0-today"),
        pytest.param("11.1.0", date(2027, 4, 1), Status.END_OF_LIFE, id="11.1.0-after-basic-support"),
    ],
)
def test_status_of_committed_releases(committed_matrix, version, as_of, expected):
    assert status(committed_matrix.release(version), as_of) is expected


def test_every_status_is_reached_in_the_committed_matrix(committed_matrix):
    days = (date(2024, 9, 24), date(2026, 11, 23), date(2027, 6, 1), date(2040, 1, 1))
    reached = {row.status for day in days for row in table(committed_matrix, day)}
    assert reached == set(Status)


def test_table_has_one_row_per_version_in_order(committed_matrix):
    rows = table(committed_matrix, date(2027, 6, 1))
    assert [row.version for row in rows] == [str(r.version) for r in committed_matrix.releases]
    row = next(row for row in rows if row.version == "14.0.1")
    assert row.channel == "deprecated"
    assert row.yanked is not None
    assert row.status is Status.SUPPORTED


# --- build.py lifecycle -------------------------------------------------------------------------


def test_lifecycle_text_as_of_a_day(cli):
    result = cli("--root", REPO_ROOT, "lifecycle", "--as-of", "2027-06-01")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["Runtime", "Channel", "Released", "End", "of", "maintenance", "End", "of", "basic",
                                "support", "Yanked", "Status", "on", "2027-06-01"]
    rows = {line.split()[0]: line.split(maxsplit=6) for line in lines[1:]}
    assert rows["11.1.0"] == ["11.1.0", "stable", "2025-02-14", "2026-09-30", "2027-03-31", "no", "end of life"]
    assert rows["12.1.0"][-1] == "basic support"
    assert rows["13.1.0"] == ["13.1.0", "stable", "2026-03-16", "2027-09-30", "2028-03-31", "no", "supported"]
    assert rows["14.0.1"] == ["14.0.1", "deprecated", "2026-08-14", "2028-07-31", "2029-01-31", "yes", "supported"]
    assert rows["14.0.3"] == ["14.0.3", "stable", "2026-11-23", "2028-07-31", "2029-01-31", "yes", "supported"]
    assert len(rows) == len(load_matrix(REPO_ROOT / "versions.yaml").releases)


def test_lifecycle_before_a_release_says_not_released(cli):
    result = cli("--root", REPO_ROOT, "lifecycle", "--as-of", "20260920")
    assert result.code == 0
    statuses = {line.split()[0]: line.split(maxsplit=6)[-1] for line in result.out.splitlines()[1:]}
    assert statuses["14.0.2"] == "not released"
    assert statuses["14.0.1"] == "supported"
    assert statuses["11.0.0"] == "supported"  # maintenance runs to 2026-09-30


def test_lifecycle_json_shape(cli):
    result = cli("--root", REPO_ROOT, "lifecycle", "--as-of", "2027-06-01", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["as_of"] == "2027-06-01"
    assert len(document["releases"]) == len(load_matrix(REPO_ROOT / "versions.yaml").releases)
    assert {tuple(entry) for entry in document["releases"]} == {(
        "version", "channel", "released", "end_of_maintenance", "end_of_basic_support", "yanked", "yanked_reason",
        "status")}
    by_version = {entry["version"]: entry for entry in document["releases"]}
    assert by_version["14.0.1"] == {
        "version": "14.0.1", "channel": "deprecated", "released": "2026-08-14",
        "end_of_maintenance": "2028-07-31", "end_of_basic_support": "2029-01-31", "yanked": True,
        "yanked_reason": "Image published with a broken build; superseded by 14.0.2. Upgrade to 14.0.2.",
        "status": "supported",
    }
    assert by_version["11.0.0"]["status"] == "end of life"
    assert by_version["12.0.0"]["status"] == "basic support"


def test_lifecycle_defaults_to_today(cli):
    result = cli("--root", REPO_ROOT, "lifecycle", "--json")
    assert json.loads(result.out)["as_of"] == date.today().isoformat()


def test_lifecycle_bad_date_exits_2(cli):
    result = cli("--root", REPO_ROOT, "lifecycle", "--as-of", "2027-02-30")
    assert result.code == 2
    assert result.err.startswith("error: --as-of '2027-02-30' is not a date (a day that exists, written YYYY-MM-DD")


# --- the end-of-life guard ----------------------------------------------------------------------


def test_refusal_names_the_version_and_its_end_of_basic_support(committed_matrix):
    far_future = date(2040, 1, 1)
    message = end_of_life_refusal([committed_matrix.release("14.0.2")], far_future)
    assert message is not None
    assert "Runtime 14.0.2 is end of life: its basic support ended on 2029-01-31" in message
    assert "--force-eol" in message


def test_no_refusal_while_supported_or_in_basic_support(committed_matrix):
    release = committed_matrix.release("14.0.2")
    assert end_of_life_refusal([release], date(2028, 7, 31)) is None
    assert end_of_life_refusal([release], date(2029, 1, 31)) is None
    assert end_of_life_refusal([release], date(2029, 2, 1)) is not None


def test_refusal_lists_only_the_ended_versions(committed_matrix):
    releases = [committed_matrix.release(v) for v in ("14.0.2", "11.1.0", "13.1.0")]
    message = end_of_life_refusal(releases, date(2028, 1, 1))
    assert message is not None
    assert "Runtime 11.1.0 is end of life: its basic support ended on 2027-03-31" in message
    assert "13.1.0" not in message and "14.0.2" not in message


@pytest.fixture
def eol_repo(repo):
    """The fixture matrix with a policy under which line 11 ended long ago (2025-03-31)."""

    def short_policy(doc):
        doc["policy"]["maintenance_months"] = 6
        doc["policy"]["basic_support_months"] = 0

    write_matrix(repo, edit(short_policy)(fixture_text()))
    return repo


@pytest.fixture
def no_host_setup(monkeypatch):
    """The host check raises instead of looking at the host; `calls` records that it was reached."""
    calls = []

    def refuse(*, arm64: bool = False, **_: object) -> None:
        calls.append(arm64)
        raise host.HostError("host setup reached (stopped by the test)")

    monkeypatch.setattr(host, "require", refuse)
    return calls


@pytest.mark.parametrize("command", [
    ["build", "11.1.0"],
    ["publish", "11.1.0", "--registry", "127.0.0.1:5000/airflow-runtime"],
])
def test_build_and_publish_refuse_an_end_of_life_version_before_host_setup(cli, eol_repo, no_host_setup, command):
    result = cli("--root", eol_repo, *command)
    assert result.code == 2
    assert result.err.startswith("error: Runtime 11.1.0 is end of life: its basic support ended on 2025-03-31")
    assert "--force-eol" in result.err
    assert result.out == ""
    assert no_host_setup == []


@pytest.mark.parametrize("command", [
    ["build", "11.1.0", "--platform", "linux/amd64"],
    ["publish", "11.1.0", "--registry", "127.0.0.1:5000/airflow-runtime", "--platform", "linux/amd64"],
])
def test_force_eol_goes_on_to_host_setup(cli, eol_repo, no_host_setup, command):
    _write_locks(eol_repo, "11.1.0")
    result = cli("--root", eol_repo, *command, "--force-eol")
    assert result.code == 1
    assert result.err == "error: host setup reached (stopped by the test)\n"
    assert no_host_setup == [False]


def _write_locks(root, version: str) -> None:
    """Lock files that agree with versions.yaml (what `build.py lock` checks), without resolving,
    and the build contexts rendered from them."""
    matrix = load_matrix(root / "versions.yaml")
    for cell in cells(matrix, versions=(version,)):
        wanted = {"apache-airflow": str(cell.release.airflow), **dict(cell.release.packages)}
        path = root / cell.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name}=={pin}\n" for name, pin in sorted(wanted.items())))
    (root / build_tools_file()).write_text(f"uv=={matrix.uv_version}\n")
    render.write(root, render.repository_tree(root, matrix))


@pytest.mark.parametrize("command", [
    ["build", "11.1.0", "--platform", "linux/amd64"],
    ["publish", "11.1.0", "--registry", "127.0.0.1:5000/airflow-runtime", "--platform", "linux/amd64",
     "--default-python"],
])
def test_a_build_with_stale_locks_stops_before_host_setup(cli, eol_repo, no_host_setup, command):
    result = cli("--root", eol_repo, *command, "--force-eol")
    assert result.code == 2
    assert result.err.startswith("error: the lock files of what would be built are out of date:\n"
                                 "  locks/11.1.0/python-3.11/amd64.txt: missing")
    assert no_host_setup == []


# --- yanked releases and floating tags ----------------------------------------------------------


def test_committed_yanked_releases_get_only_immutable_tags(committed_matrix):
    yanked = [r for r in committed_matrix.releases if r.is_yanked]
    assert "14.0.1" in [str(r.version) for r in yanked]
    for release in yanked:
        for python in release.pythons:
            for variant in release.variants:
                tags = image_tags(committed_matrix, release, python, variant)
                assert tags, (release.version, python, variant)
                assert {t.kind for t in tags} == {TagKind.IMMUTABLE}, (release.version, python, variant)
                assert not any(t.name.startswith("latest") for t in tags)


def test_a_yanked_release_gets_no_floating_tag_even_as_the_newest_stable_one(committed_matrix):
    # Without 14.0.2 and 14.1.0, and on the stable channel, 14.0.1 would be the newest of everything.
    yanked = dataclasses.replace(committed_matrix.release("14.0.1"), channel=Channel.STABLE)
    older = tuple(r for r in committed_matrix.releases if r.version < yanked.version)
    matrix = Matrix((*older, yanked), committed_matrix.policy, committed_matrix.uv_version,
                    committed_matrix.airflow_pythons)
    tags = [t.name for t in image_tags(matrix, yanked, "3.13", Variant.ONBUILD)]
    assert tags == ["14.0.1", "14.0.1-python-3.13"]
    previous = [t.name for t in image_tags(matrix, matrix.release("14.0.0"), "3.13", Variant.ONBUILD)]
    assert {"14.0", "14", "14.0-python-3.13", "14-python-3.13"} <= set(previous)
    assert "latest" in [t.name for t in image_tags(matrix, matrix.release("13.1.0"), "3.13", Variant.ONBUILD)]
