"""The local development loop as a user drives it: `build.py dev ...` on a copy of the fixture
project, on each release `--deploy-version` asks for (default: the default release; CI runs that,
the nightly workflow the newest release of every line, Airflow 2's among them), each command run
for real against a real deployment (PostgreSQL and every Airflow component).

The tests of one release share one deployment and run in order: start, the UI, a DAG added and
edited while it runs, ps/logs/exec/bash/airflow, stop and start, restart with a new requirement,
parse, pytest, export/import, (Airflow 2) the upgrade test to the default release, kill.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime_builder.deploy.api import AirflowApi
from runtime_builder.dev import session
from runtime_builder.images.engine import Engine
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Release

from .conftest import PROJECT, REPO_ROOT, asked_releases, logged_in

pytestmark = pytest.mark.deploy

MATRIX = load_matrix(REPO_ROOT / "versions.yaml")
DEFAULT = MATRIX.default_release()
AIRFLOW_2 = max((r for r in MATRIX.releases if r.airflow.major == 2 and not r.is_yanked), key=lambda r: r.version)
PICKED_UP = 60.0  # seconds for the DAG processor to show a new or edited DAG (its interval is 5 s; CI is busy)
NEW_DAG = '''\
from datetime import datetime, timezone

try:
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator

with DAG(dag_id="dev_loop_added", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         description="{description}"):
    EmptyOperator(task_id="nothing")
'''
READS_VARIABLE = '''\
from datetime import datetime, timezone

try:
    from airflow.sdk import DAG, Variable
except ImportError:
    from airflow import DAG
    from airflow.models import Variable

TARGET = Variable.get("dev_loop_target")  # read when the file is imported
with DAG(dag_id="dev_loop_reads_" + TARGET.replace("-", "_"), schedule=None,
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    pass
'''
PROJECT_TEST = '''\
def test_passes():
    assert 1 + 1 == 2


def test_fails_on_purpose():
    assert "dev" == "loop"
'''


@dataclass
class DevProject:
    folder: Path
    release_version: str
    services: tuple[str, ...] = ()  # --postgres-image/--redis-image, as the run was given them

    def dev(self, *args: str, check: bool = True, timeout: float = 1200.0, stdin: str | None = None,
            ) -> subprocess.CompletedProcess:
        command, rest = args[0], args[1:]
        if command in ("start", "restart", "upgrade-test"):
            rest = (*self.services, *rest)
        argv = [sys.executable, str(REPO_ROOT / "build.py"), "dev", command, "--project", str(self.folder), *rest]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin, check=False)
        if check:
            assert result.returncode == 0, f"dev {' '.join(args)} exited {result.returncode}:\n" \
                                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    @property
    def options(self) -> session.DevOptions:
        return session.DevOptions(self.folder)

    def deployment(self):
        found = session.reopen(self.options)
        assert found is not None, "no dev deployment"
        return found

    def api(self) -> AirflowApi:
        deployment = self.deployment()
        user, password = deployment.login()
        return AirflowApi(deployment.url, deployment.facts.airflow_major, user, password)

    def dag_ids(self) -> set[str]:
        output = self.dev("airflow", "dags", "list", "-o", "json").stdout
        return {row["dag_id"] for row in json.loads(output[output.index("["):])}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dev_release" in metafunc.fixturenames:
        found = asked_releases(metafunc.config, MATRIX)
        metafunc.parametrize("dev_release", found, ids=[f"runtime-{r.version}" for r in found], scope="module")


@pytest.fixture(scope="module")
def project(dev_release: Release, request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProject]:
    release = dev_release
    folder = tmp_path_factory.mktemp(f"dev-{release.version}") / "my-project"
    shutil.copytree(PROJECT, folder)
    # An Astro-style FROM line: a managed runtime's image name with our version (an Airflow 2 project
    # stays on Airflow 2).
    (folder / "Dockerfile").write_text(f"FROM quay.io/astronomer/astro-runtime:{release.version}\n")
    (folder / ".env").write_text("AIRFLOW_VAR_DEV_LOOP_TARGET=from-env  # the parse test reads it\n")
    postgres, redis = request.config.getoption("--postgres-image"), request.config.getoption("--redis-image")
    found = DevProject(folder, str(release.version),
                       ("--postgres-image", postgres, "--redis-image", redis) if postgres and redis else ())
    yield found
    found.dev("kill", check=False)


def test_start_builds_and_runs_the_project(project: DevProject) -> None:
    result = project.dev("start")
    assert f"Airflow Runtime {project.release_version} (local executor): http://127.0.0.1:" in result.stdout
    assert "log in as admin with password " in result.stdout
    deployment = project.deployment()
    assert deployment.running and deployment.spec.executor.value == "local"
    with urllib.request.urlopen(deployment.url + ("/api/v2/monitor/health" if deployment.facts.airflow_major >= 3
                                                  else "/health"), timeout=10) as response:
        assert response.status == 200
    # `start` again on a running deployment says so and changes nothing.
    again = project.dev("start")
    assert f"{deployment.name} is running: {deployment.url}" in again.stdout


def test_the_ui_shows_the_runtime_version_and_the_image_tag(project: DevProject, browser) -> None:
    deployment = project.deployment()
    tag = session.image_label(deployment.spec.image)
    assert re.search(r":\S+-\d{8}T\d{6}$", tag), tag  # each build's own tag
    user, password = deployment.login()
    expected = f"Airflow Runtime {project.release_version} · {tag}"
    with logged_in(browser, deployment.url, user, password, expected, f"ui-dev-{project.release_version}") as page:
        assert "/login" not in page.url


def test_a_new_and_an_edited_dag_are_picked_up_without_a_rebuild(project: DevProject) -> None:
    image = project.deployment().spec.image
    (project.folder / "dags" / "dev_loop_added.py").write_text(NEW_DAG.format(description="first"))
    api = project.api()
    started = time.monotonic()
    while api.request("GET", "/dags/dev_loop_added", missing_ok=True) is None:
        assert time.monotonic() - started < PICKED_UP, "the new DAG was not picked up"
        time.sleep(1)
    (project.folder / "dags" / "dev_loop_added.py").write_text(NEW_DAG.format(description="edited"))
    started = time.monotonic()
    while api.request("GET", "/dags/dev_loop_added")["description"] != "edited":
        assert time.monotonic() - started < PICKED_UP, "the edited DAG was not picked up"
        time.sleep(1)
    assert project.deployment().spec.image == image  # nothing was built, nothing restarted


def test_ps_logs_exec_bash_and_airflow_run_in_the_right_container(project: DevProject, dev_release: Release) -> None:
    deployment = project.deployment()
    ps = project.dev("ps").stdout
    assert f"{deployment.name}: running at {deployment.url}" in ps
    for component in deployment.containers:
        assert re.search(rf"^  {re.escape(component)}\s+running$", ps, re.MULTILINE), ps
    assert re.search(r"^  monitoring\s+\w+", ps, re.MULTILINE), ps
    assert deployment.name in project.dev("ps", "--all").stdout
    logs = project.dev("logs", "scheduler", "--tail", "20").stdout
    assert logs.strip() and len(logs.strip().splitlines()) <= 20
    every = project.dev("logs", "--tail", "5").stdout
    assert re.search(r"^scheduler\s+\| ", every, re.MULTILINE), every[:2000]
    assert project.dev("exec", "scheduler", "--", "hostname").stdout.strip() == "scheduler"
    assert project.dev("bash", "triggerer", stdin="hostname; exit 7\n", check=False).returncode == 7
    assert str(dev_release.airflow) in project.dev("airflow", "version").stdout  # Airflow's CLI, in the scheduler
    refused = project.dev("exec", "no-such-part", "--", "true", check=False)
    assert refused.returncode == 2 and "no-such-part: no such component" in refused.stderr


def test_stop_and_start_keep_variables_connections_and_run_history(project: DevProject) -> None:
    project.dev("airflow", "variables", "set", "dev_loop_note", "kept")
    project.dev("airflow", "connections", "add", "dev_loop_conn", "--conn-type", "http", "--conn-host", "example.org")
    api = project.api()
    run = api.trigger("runtime_one_task")
    assert api.wait_for_run("runtime_one_task", run, timeout=300)["state"] == "success"
    project.dev("stop")
    engine = Engine.detect()
    deployment = project.deployment()
    assert all(engine.state(c)[0] == "exited" for c in deployment.containers.values())
    assert "not running" in project.dev("ps").stdout
    project.dev("start")
    assert project.dev("airflow", "variables", "get", "dev_loop_note").stdout.strip().endswith("kept")
    assert "example.org" in project.dev("airflow", "connections", "get", "dev_loop_conn", "-o", "json").stdout
    runs = project.api().request("GET", "/dags/runtime_one_task/dagRuns")["dag_runs"]
    assert run in {r["dag_run_id"] for r in runs}


def test_restart_rebuilds_a_changed_requirement_and_keeps_the_database(project: DevProject) -> None:
    before = project.deployment().spec.image
    unchanged = project.dev("restart")
    assert "restarting" in unchanged.stdout and project.deployment().spec.image == before
    with (project.folder / "requirements.txt").open("a") as requirements:
        requirements.write("tabulate==0.9.0\n")
    changed = project.dev("restart")
    after = project.deployment().spec.image
    assert after != before and "making its components again on the same database" in changed.stdout
    assert project.dev("exec", "scheduler", "--", "python", "-c", "import tabulate").returncode == 0
    assert project.dev("airflow", "variables", "get", "dev_loop_note").stdout.strip().endswith("kept")
    assert Engine.detect().image_id(before) is None or before == after  # the old tag went


def test_parse_tolerates_lookups_and_names_a_broken_file(project: DevProject) -> None:
    dags = project.folder / "dags"
    (dags / "dev_loop_reads.py").write_text(READS_VARIABLE)
    (dags / "dev_loop_reads_missing.py").write_text(READS_VARIABLE.replace("dev_loop_target", "dev_loop_unset")
                                                    .replace("dev_loop_reads_", "dev_loop_unset_"))
    ok = project.dev("parse")
    assert "dev_loop_reads_from_env" in ok.stdout  # the .env's value
    assert "dags/dev_loop_reads_missing.py: reads Variable 'dev_loop_unset' when imported" in ok.stdout
    (dags / "dev_loop_broken.py").write_text("from airflow import DAG\nraise ValueError('deliberately broken')\n")
    try:
        broken = project.dev("parse", check=False)
        assert broken.returncode == 1, broken.stdout[-2000:] + broken.stderr[-2000:]
        output = broken.stdout + broken.stderr  # the container's output, as it printed it
        assert "DAG import error in dags/dev_loop_broken.py" in output and "deliberately broken" in output
        assert "1 DAG file(s) failed to import" in output
    finally:
        for name in ("dev_loop_broken.py", "dev_loop_reads.py", "dev_loop_reads_missing.py"):
            (dags / name).unlink()


def test_pytest_runs_the_projects_tests_with_their_exit_code(project: DevProject) -> None:
    (project.folder / "tests").mkdir(exist_ok=True)
    (project.folder / "tests" / "test_project.py").write_text(PROJECT_TEST)
    passing = project.dev("pytest", "-k", "passes")
    assert "1 passed" in passing.stdout and "pytest exited 0: every test passed" in passing.stdout
    failing = project.dev("pytest", check=False)
    assert failing.returncode == 1 and "1 failed, 1 passed" in failing.stdout
    assert "FAILED tests/test_project.py::test_fails_on_purpose" in failing.stdout


def test_export_and_import_round_trip_the_settings(project: DevProject) -> None:
    project.dev("airflow", "pools", "set", "dev_loop_pool", "3", "three slots")
    project.dev("export")
    settings_file = project.folder / "airflow_settings.yaml"
    text = settings_file.read_text()
    assert "conn_id: dev_loop_conn" in text and "pool_name: dev_loop_pool" in text
    assert "variable_name: dev_loop_note" in text
    assert oct(settings_file.stat().st_mode & 0o777) == "0o600"
    settings_file.write_text(text.replace("variable_value: kept", "variable_value: imported"))
    project.dev("import")
    assert project.dev("airflow", "variables", "get", "dev_loop_note").stdout.strip().endswith("imported")


def test_upgrade_test_reports_every_step(project: DevProject, dev_release: Release, tmp_path: Path) -> None:
    if dev_release.version >= DEFAULT.version:
        # A move to an older release is refused, before any build.
        refused = project.dev("upgrade-test", "--to", str(AIRFLOW_2.version), check=False)
        assert refused.returncode == 2, refused.stderr
        assert f"--to {AIRFLOW_2.version} is not newer than the project's Runtime {dev_release.version}" \
            in refused.stderr
        return
    report = tmp_path / "upgrade.json"
    result = project.dev("upgrade-test", "--to", str(DEFAULT.version), "--json", str(report), check=False)
    found = json.loads(report.read_text())
    steps = {step["name"]: step for step in found["steps"]}
    assert set(steps) == {"requirements", "dags", "packages", "database"}
    assert steps["requirements"]["status"] == "ok", steps["requirements"]
    assert steps["database"]["status"] == "ok" and "a copy of " in steps["database"]["summary"], steps["database"]
    if dev_release.airflow != DEFAULT.airflow:
        assert any(line.startswith(f"apache-airflow: {dev_release.airflow}") and f" -> {DEFAULT.airflow}" in line
                   for line in steps["packages"]["details"]), steps["packages"]
    assert result.returncode == (0 if found["ok"] else 1)
    assert f"Runtime {project.release_version} -> {DEFAULT.version}" in result.stdout
    # The project's own database was not touched: it still runs on its release.
    assert project.dev("airflow", "version").stdout.strip().startswith(str(dev_release.airflow))


def test_kill_removes_everything(project: DevProject) -> None:
    deployment = project.deployment()
    project.dev("kill")
    engine = Engine.detect()
    assert engine.labelled([f"io.airflow-runtime.deployment={deployment.name}"]) == []
    assert engine.image_tags(f"{session.image_repository(project.options)}:") == []
    assert "no development deployment" in project.dev("ps", check=False).stderr
