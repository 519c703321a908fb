"""Image changes (`image_changes:`) and a line's `constraints:`: what they mean, how they are
checked, and that released images never change because of them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.generate import render
from runtime_builder.lock.locks import LockCell, verify
from runtime_builder.matrix.model import ImageChange, Version

from .support import edit, fixture_text, line, load_text, problems, release

V = Version.parse


def _changes(*entries: dict):
    def change(doc):
        doc["image_changes"] = list(entries)

    return edit(change)


MONITORING_ON = {"name": "monitoring-dag-on", "summary": "The monitoring DAG starts unpaused.", "since": ["14.0.1"]}
EXAMPLES_OFF = {"name": "examples-off", "summary": "No example DAGs.", "since": ["11.1.0", "14.0.1"],
                "environment": {"AIRFLOW__CORE__LOAD_EXAMPLES": "False"}}


@pytest.mark.parametrize(("since", "version", "has"), [
    (("14.0.4",), "14.0.3", False),
    (("14.0.4",), "14.0.4", True),
    (("14.0.4",), "14.1.0", True),  # a later minor of the line keeps it
    (("14.0.4",), "15.0.0", True),  # a newer line keeps it
    (("14.0.4",), "13.9.9", False),  # an older line never gets it by version order
    (("12.1.1", "14.0.4"), "12.1.1", True),
    (("12.1.1", "14.0.4"), "12.1.0", False),
    (("12.1.1", "14.0.4"), "13.1.0", False),  # a line between the named ones: not named, not newer than all
    (("12.1.1", "14.0.4"), "14.0.3", False),
])
def test_a_change_applies_from_its_release_on_per_line(since, version, has):
    change = ImageChange("monitoring-dag-on", "s", tuple(V(v) for v in since))
    assert change.applies_to(V(version)) is has


def test_releases_get_their_changes_and_change_environment(tmp_path):
    matrix = load_text(tmp_path, _changes(MONITORING_ON, EXAMPLES_OFF)(fixture_text()))
    has = {str(r.version): sorted(c.name for c in r.changes) for r in matrix.releases}
    assert has == {"11.0.0": [], "11.1.0": ["examples-off"], "14.0.0": [],
                   "14.0.1": ["examples-off", "monitoring-dag-on"], "14.0.2": ["examples-off", "monitoring-dag-on"],
                   "14.1.0": ["examples-off", "monitoring-dag-on"]}
    assert dict(matrix.release("14.0.2").environment)["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert "AIRFLOW__CORE__LOAD_EXAMPLES" not in dict(matrix.release("14.0.0").environment)
    assert sorted(c.name for c in matrix.release("14.0.1").introduced) == ["examples-off", "monitoring-dag-on"]
    assert matrix.release("14.0.2").introduced == ()


def test_a_release_s_own_environment_wins_over_a_change(tmp_path):
    def own(doc):
        release(doc, "14.0.2").setdefault("environment", {})["AIRFLOW__CORE__LOAD_EXAMPLES"] = "True"

    text = edit(own)(_changes(EXAMPLES_OFF)(fixture_text()))
    assert dict(load_text(tmp_path, text).release("14.0.2").environment)["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True"


@pytest.mark.parametrize(("entry", "expected"), [
    pytest.param({**MONITORING_ON, "name": "monitoring-dag-onn"},
                 "versions.yaml: image_changes[0] > name: 'monitoring-dag-onn' is not a change the templates know "
                 "and sets no environment; known: " + ", ".join(sorted(change.value for change in contract.Change)),
                 id="unknown-name"),
    pytest.param({**MONITORING_ON, "since": ["14.0.9"]},
                 "versions.yaml: image_changes[0] (monitoring-dag-on) > since: 14.0.9 is not a release",
                 id="since-not-a-release"),
    pytest.param({**MONITORING_ON, "since": ["14.0.0", "14.0.1"]},
                 "versions.yaml: image_changes[0] > since: names two releases of one line", id="twice-in-a-line"),
    pytest.param({**MONITORING_ON, "summary": " "},
                 "versions.yaml: image_changes[0] > summary: a change needs its summary", id="empty-summary"),
    pytest.param({"name": "stripped-libraries", "summary": "Stripped.", "since": ["14.0.1"]},
                 "versions.yaml: image_changes[0] (stripped-libraries) > since: Runtime 14.0.1 would have it "
                 "without layered-venv, which it needs", id="needs-another-change"),
    pytest.param({**MONITORING_ON, "name": "Monitoring On"},
                 "versions.yaml: image_changes[0] > name: 'Monitoring On' is not a lower-case name", id="bad-name"),
])
def test_bad_image_changes_are_named(tmp_path, entry, expected):
    reported = problems(tmp_path, _changes(entry)(fixture_text()))
    assert any(p.startswith(expected) for p in reported), "\n".join(reported)


def _constraint(**entry):
    def change(doc):
        line(doc, 14)["constraints"] = [{"requirement": "celery<5.7", "reason": "r", **entry}]

    return edit(change)


def test_constraints_apply_from_since(tmp_path):
    matrix = load_text(tmp_path, _constraint(since="14.0.1")(fixture_text()))
    assert matrix.release("14.0.0").constraints == ()
    bound = matrix.release("14.0.2").constraints
    assert [c.requirement for c in bound] == ["celery<5.7"] and bound[0].name == "celery"
    assert bound[0].allows("5.6.3") and not bound[0].allows("5.7.0")
    assert matrix.release("11.1.0").constraints == ()


@pytest.mark.parametrize(("entry", "expected"), [
    pytest.param({"requirement": "celery<<5"}, "> constraints[0].requirement: 'celery<<5' is not a requirement",
                 id="not-a-requirement"),
    pytest.param({"requirement": "celery<5.7; python_version<'3.12'"}, "a constraint is a package name and "
                 "version bounds only", id="with-a-marker"),
    pytest.param({"requirement": "celery"}, "a constraint is a package name and version bounds only",
                 id="no-bound"),
    pytest.param({"requirement": "apache-airflow<3"}, "apache-airflow is set by the 'airflow' field",
                 id="airflow-itself"),
    pytest.param({"reason": ""}, "> constraints[0].reason: a constraint needs its reason", id="no-reason"),
    pytest.param({"since": "11.1.0"}, "> constraints[0].since: 11.1.0 is not a release of line 14",
                 id="since-in-another-line"),
])
def test_bad_constraints_are_named(tmp_path, entry, expected):
    reported = problems(tmp_path, _constraint(**entry)(fixture_text()))
    assert any(expected in p and p.startswith("versions.yaml: lines[1] (Runtime 14)") for p in reported), \
        "\n".join(reported)


def test_a_lock_outside_a_constraint_is_stale(tmp_path):
    matrix = load_text(tmp_path, _constraint(since="14.0.1")(fixture_text()))
    cell = LockCell(matrix.release("14.0.2"), "3.13", matrix.release("14.0.2").platforms[0])
    lock = "apache-airflow==3.3.2 \\\napache-airflow-providers-celery==3.14.1 \\\ncelery==5.7.0 \\\n"
    found = verify(cell, lock)
    assert found == [f"{cell.path}: celery is locked at 5.7.0, which the constraint 'celery<5.7' excludes (r)"]
    assert verify(cell, lock.replace("5.7.0", "5.6.3")) == []
    assert "celery<5.7" in cell.constraints()


def test_templates_act_on_changes_only_from_their_release(tmp_path):
    """The entry point and the monitoring DAG of releases before a change render as they were."""
    text = _changes({**MONITORING_ON, "name": "monitoring-dag-on"},
                    {"name": "entrypoint-airflow-commands", "summary": "s", "since": ["14.0.1"]})(fixture_text())
    matrix = load_text(tmp_path, _constraint(since="14.0.1")(text))
    from .support import REPO_ROOT

    files = render.render_tree(matrix, REPO_ROOT / "templates")

    def rendered(version: str, name: str) -> str:
        return files[next(p for p in files if p.parts[1] == version and p.name == name
                          and p.parts[3] == "base")].content.decode()

    assert "is_paused_upon_creation=False" in rendered("14.0.1", "runtime_monitoring.py")
    assert "is_paused_upon_creation" not in rendered("14.0.0", "runtime_monitoring.py")
    assert "celery|" in rendered("14.0.1", "entrypoint.sh") and "celery|" not in rendered("14.0.0", "entrypoint.sh")
    assert all(f"{command}|" in rendered("14.0.1", "entrypoint.sh") or f"{command})" in
               rendered("14.0.1", "entrypoint.sh") for command in contract.RELEASED_AIRFLOW_COMMANDS)
    assert "celery<5.7" in rendered("14.0.1", "constraints.txt")
    assert "celery<5.7" not in rendered("14.0.0", "constraints.txt")


def test_nightly_dates_take_no_part_in_the_release_order(tmp_path):
    """A nightly ahead in a line is dated by its build: a patch released after it is fine."""
    def patch_after_nightly(doc):
        releases = line(doc, 14)["releases"]
        releases.insert(3, {"version": "14.0.3", "airflow": "3.3.2", "released": release(doc, "14.1.0")["released"]
                            .replace(day=28), "channel": "stable",
                            "packages": {"apache-airflow-providers-celery": "3.14.1"}})

    matrix = load_text(tmp_path, edit(patch_after_nightly)(fixture_text()))
    assert matrix.release("14.0.3").released > matrix.release("14.1.0").released


def _entrypoint_run(tmp_path: Path, version: str, *argv: str) -> str:
    """The committed entry point of `version`, run by bash as an unknown uid would run it: `id -un`
    fails, and `airflow` prints the USER and HOME it was given and its arguments."""
    from .support import REPO_ROOT

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "id").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "airflow").write_text('#!/bin/sh\necho "user=${USER:-} home=${HOME:-} args=$*"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    entrypoint = REPO_ROOT / "distributions" / version / "python-3.13" / "base" / "entrypoint.sh"
    result = subprocess.run(["/bin/bash", str(entrypoint), *argv], capture_output=True, text=True, check=True,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return result.stdout.strip()


def test_an_unknown_uid_is_named_before_airflows_sub_commands_from_the_fix_on(tmp_path):
    named = f"user={contract.USER} home={contract.AIRFLOW_HOME}"
    assert _entrypoint_run(tmp_path, "14.1.1", "db", "migrate") == f"{named} args=db migrate"
    assert _entrypoint_run(tmp_path, "14.1.1", "airflow", "scheduler") == f"{named} args=scheduler"
    # 14.1.0 as released (its known issue): only commands other than Airflow's sub-commands.
    assert _entrypoint_run(tmp_path, "14.1.0", "db", "migrate") == "user= home= args=db migrate"
    assert _entrypoint_run(tmp_path, "14.1.0", "airflow", "scheduler") == f"{named} args=scheduler"
