"""The official Apache Airflow image's contract (the airflow-image-contract change), as its docker-compose
quick start and Helm chart use it: /entrypoint and its variables, /clean-logs, curl, /opt/airflow.
Every command goes through the image's own ENTRYPOINT, as there. Images released before the change
do not have it (skipped, naming the change)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.deploy.config import AuthManager

from .support import Docker, Prober, Target, require_native

pytestmark = pytest.mark.image

DAG = '''\
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
def mounted_at_opt_airflow():
    @task
    def hello():
        return "hello"

    hello()


mounted_at_opt_airflow()
'''
SQLITE = ("-e", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:////tmp/airflow.db")
UNREACHABLE_DATABASE = "postgresql+psycopg2://airflow:airflow@127.0.0.1:9/airflow"  # port 9: nothing answers


@pytest.fixture(autouse=True)
def _with_the_change(target: Target, prober: Prober) -> None:
    if not target.expected.has(contract.Change.IMAGE_CONTRACT):
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.IMAGE_CONTRACT.value}: it has no /entrypoint contract")
    # An ONBUILD image shown to be its -base image plus its tools (test_onbuild.py asserts it) runs
    # containers exactly as that image does: its contract is the -base image's, tested there.
    base = prober.runs_as(target)
    if base is not target:
        pytest.skip(f"{target.ref} is {base.ref} plus its ONBUILD tools (same files, entrypoint and "
                    f"settings): the official contract is tested on {base.ref}")


def _shared(tmp_path: Path) -> Path:
    """A folder the container's user (any uid) may write, as a compose project's folders are."""
    tmp_path.chmod(0o777)
    return tmp_path


def test_the_official_paths(target: Target, docker: Docker) -> None:
    script = (f'readlink -f {contract.OFFICIAL_HOME}; readlink -f {contract.ENTRYPOINT}; '
              f'head -1 {contract.OFFICIAL_ENTRYPOINT}; test -x {contract.OFFICIAL_ENTRYPOINT} && echo executable; '
              f'test -r {contract.CLEAN_LOGS} && echo readable; '
              + "; ".join(f"command -v {program}" for program in contract.OFFICIAL_PROGRAMS) + "; umask")
    result = docker.oneshot(target.ref, target.platform, "bash", "-c", script)
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == contract.AIRFLOW_HOME, "/opt/airflow is another name of AIRFLOW_HOME"
    assert lines[1] == contract.OFFICIAL_ENTRYPOINT
    assert lines[2] == f"#!{contract.VENV}/bin/python -I"
    assert lines[3:5] == ["executable", "readable"]
    assert [Path(line).name for line in lines[5:-1]] == list(contract.OFFICIAL_PROGRAMS)
    assert lines[-1] == "0002", "the entry point sets umask 0002, as the official one"


def test_curl_fetches(target: Target, docker: Docker) -> None:
    """The quick start's health checks: `curl --fail http://localhost:8080/...` (here a file URL)."""
    result = docker.oneshot(target.ref, target.platform, "curl", "--fail", "--silent",
                            f"file://{contract.CONSTRAINTS_FILE}")
    assert result.returncode == 0 and "apache-airflow==" in result.stdout, result.output


def test_dags_and_config_mounted_at_opt_airflow_are_airflows(target: Target, docker: Docker, tmp_path: Path) -> None:
    """As the quick start mounts them: dags/ and config/ under /opt/airflow, AIRFLOW_CONFIG there."""
    require_native(target, "parsing DAGs with Airflow")
    folder = _shared(tmp_path)
    for name in ("dags", "config"):
        (folder / name).mkdir(mode=0o777)
        (folder / name).chmod(0o777)
    (folder / "dags" / "mounted.py").write_text(DAG)
    script = ("from airflow.models.dagbag import DagBag\nfrom airflow.configuration import AIRFLOW_CONFIG\n"
              "bag = DagBag()\nprint(sorted(bag.dag_ids), dict(bag.import_errors), AIRFLOW_CONFIG)")
    result = docker.oneshot(target.ref, target.platform, "python", "-c", script, options=(
        "-v", f"{folder / 'dags'}:{contract.OFFICIAL_HOME}/dags",
        "-v", f"{folder / 'config'}:{contract.OFFICIAL_HOME}/config",
        "-e", f"AIRFLOW_CONFIG={contract.OFFICIAL_HOME}/config/airflow.cfg"))
    assert result.returncode == 0, result.output[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"['mounted_at_opt_airflow'] {{}} {contract.OFFICIAL_HOME}/config/airflow.cfg", result.output[-3000:]


def test_migrate_and_create_a_user_as_the_quick_start_does(target: Target, docker: Docker) -> None:
    """_AIRFLOW_DB_MIGRATE and _AIRFLOW_WWW_USER_* on a SQLite database, with FAB's auth manager (the
    image's default from fab-auth-manager): the user exists with the given role and the official
    defaults; the password is not left in the command's environment."""
    require_native(target, "migrating a database with Airflow")
    script = 'echo "password variables: $(env | grep -c ^_AIRFLOW_WWW_USER_PASSWORD)"; airflow users list -o json'
    result = docker.oneshot(target.ref, target.platform, "bash", "-c", script, options=(
        *SQLITE, "-e", "_AIRFLOW_DB_MIGRATE=true", "-e", "_AIRFLOW_WWW_USER_CREATE=true",
        "-e", "_AIRFLOW_WWW_USER_USERNAME=viewer1", "-e", "_AIRFLOW_WWW_USER_ROLE=Viewer",
        "-e", "_AIRFLOW_WWW_USER_PASSWORD_CMD=echo from-a-command",
        "-e", f"AIRFLOW__CORE__AUTH_MANAGER={AuthManager.FAB.class_path}"), timeout=600)
    assert result.returncode == 0, result.output[-3000:]
    assert "password variables: 0" in result.stdout.splitlines(), "the password variables reach the command"
    [user] = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("[")))
    assert (user["username"], user["roles"]) == ("viewer1", ["Viewer"]), user
    assert (user["email"], user["first_name"], user["last_name"]) == ("airflowadmin@example.com", "Airflow", "Admin")


def test_migrate_with_no_command_then_end(target: Target, docker: Docker) -> None:
    require_native(target, "migrating a database with Airflow")
    result = docker.oneshot(target.ref, target.platform, options=(*SQLITE, "-e", "_AIRFLOW_DB_MIGRATE=true",
                                                                  "--entrypoint", contract.OFFICIAL_ENTRYPOINT),
                            timeout=600)
    assert result.returncode == 0 and "nothing else to run" in result.stderr, result.output[-3000:]


def test_a_user_without_a_password_is_refused(target: Target, docker: Docker) -> None:
    result = docker.oneshot(target.ref, target.platform, "version", options=("-e", "_AIRFLOW_WWW_USER_CREATE=true"))
    assert result.returncode == 2, result.output
    assert "_AIRFLOW_WWW_USER_PASSWORD" in result.stderr and "Traceback" not in result.output, result.output


def test_a_component_waits_for_the_database_then_gives_up_naming_why(target: Target, docker: Docker) -> None:
    """CONNECTION_CHECK_MAX_COUNT tries of `airflow db check`, CONNECTION_CHECK_SLEEP_TIME apart."""
    require_native(target, "checking a database with Airflow")
    started = time.monotonic()
    result = docker.oneshot(target.ref, target.platform, "bash", "-c", "exec airflow scheduler", options=(
        "-e", f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={UNREACHABLE_DATABASE}", "-e", "CONNECTION_CHECK_MAX_COUNT=2",
        "-e", "CONNECTION_CHECK_SLEEP_TIME=1"), timeout=300)
    assert result.returncode == 1, result.output[-3000:]
    assert "not reached after 2 tries" in result.stderr and "CONNECTION_CHECK_MAX_COUNT" in result.stderr, result.stderr
    assert "Connection refused" in result.stderr or "connection" in result.stderr.lower(), result.stderr[-2000:]
    assert time.monotonic() - started >= 1, "it slept between the tries"


def test_one_off_commands_do_not_wait_for_the_database(target: Target, docker: Docker) -> None:
    """Probes and jobs run at once (the chart's probes also set CONNECTION_CHECK_MAX_COUNT=0)."""
    result = docker.oneshot(target.ref, target.platform, "bash", "-c", "echo ran", options=(
        "-e", f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={UNREACHABLE_DATABASE}"), timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ran", result.output


def test_the_celery_broker_is_waited_for(target: Target, docker: Docker) -> None:
    """`celery worker` with the CeleryExecutor waits for the broker's port, then gives up naming it."""
    if "apache-airflow-providers-celery" not in target.expected.pins:
        pytest.skip(f"{target.ref} has no Celery provider")
    result = docker.oneshot(target.ref, target.platform, "celery", "worker", options=(
        "-e", "AIRFLOW__CORE__EXECUTOR=CeleryExecutor", "-e", "AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:9/0",
        "-e", "CONNECTION_CHECK_MAX_COUNT=2", "-e", "CONNECTION_CHECK_SLEEP_TIME=0.5"), timeout=120)
    assert result.returncode == 1 and "the Celery broker (127.0.0.1:9)" in result.stderr, result.output[-3000:]


def _wheel(folder: Path) -> str:
    """A one-module pure-Python wheel, for installing without an index."""
    name, version = "runtime_contract_probe", "1.0"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}.py", "ANSWER = 42\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: runtime-tests\nRoot-Is-Purelib: true\n"
                                         "Tag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    path.chmod(0o644)
    return name


def test_pip_additional_requirements_on_a_read_only_root(target: Target, docker: Docker, tmp_path: Path) -> None:
    """Installed at the start into the container's own folder (the venv is read-only to its user),
    importable by the command, under any uid; the venv is unchanged."""
    folder = _shared(tmp_path)
    name = _wheel(folder)
    result = docker.oneshot(target.ref, target.platform, "python", "-c",
                            f"import {name}, sys; print({name}.ANSWER, {name}.__file__)", options=(
        "--read-only", "--tmpfs", "/tmp", "--user", contract.ARBITRARY_USER, "-v", f"{folder}:/wheels:ro",
        "-e", f"_PIP_ADDITIONAL_REQUIREMENTS=--no-index --find-links /wheels {name.replace('_', '-')}"), timeout=300)
    assert result.returncode == 0, result.output[-3000:]
    answer, where = result.stdout.strip().splitlines()[-1].split()
    assert answer == "42" and where.startswith("/tmp/") and not where.startswith(contract.VENV), result.stdout
    assert "for a quick try only" in result.stderr, result.stderr


def test_a_group_other_than_0_is_refused(target: Target, docker: Docker) -> None:
    refused = docker.oneshot(target.ref, target.platform, "bash", "-c", "echo ran", options=("--user", "1000:1000"))
    assert refused.returncode == 1 and "in group 1000" in refused.stderr, refused.output
    warned = docker.oneshot(target.ref, target.platform, "bash", "-c", "echo ran",
                            options=("--user", f"{contract.UID}:1000"))
    assert warned.returncode == 0 and warned.stdout.strip() == "ran" and "warning" in warned.stderr, warned.output


def test_clean_logs_removes_old_logs_and_stops_at_once(target: Target, docker: Docker, tmp_path: Path) -> None:
    """The chart's log groomer: `bash /clean-logs` beside a component, with AIRFLOW_HOME=/opt/airflow."""
    logs = _shared(tmp_path) / "logs"
    old, new = logs / "dag_id=a" / "run_id=1" / "attempt=1.log", logs / "dag_id=a" / "run_id=2" / "attempt=1.log"
    for path, days in ((old, 20), (new, 2)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("log\n")
        when = time.time() - days * 86400
        os.utime(path, (when, when))
    for folder in (logs, *logs.rglob("*")):
        folder.chmod(0o777 if folder.is_dir() else 0o666)
    container = docker.start(target.ref, target.platform, "bash", contract.CLEAN_LOGS, options=(
        "-v", f"{logs}:{contract.OFFICIAL_HOME}/logs", "-e", f"AIRFLOW_HOME={contract.OFFICIAL_HOME}",
        "-e", "AIRFLOW__LOG_RETENTION_DAYS=15", "-e", "AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES=15"))
    try:
        deadline = time.monotonic() + (120 if target.emulated else 30)
        # The files go first, then the folders left empty (a second `find`): wait for both.
        while (old.exists() or old.parent.exists()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not old.exists() and not old.parent.exists(), docker.run("logs", container).output
        assert new.exists()
        started = time.monotonic()
        stopped = docker.run("stop", "-t", "30", container)
        assert stopped.returncode == 0 and time.monotonic() - started < 10, "SIGTERM ends its wait at once"
    finally:
        docker.remove(container)


def test_fab_is_the_default_auth_manager_and_simple_can_be_chosen(target: Target, docker: Docker) -> None:
    if not target.expected.has(contract.Change.FAB_AUTH_MANAGER):
        pytest.skip(f"Runtime {target.expected.runtime_version} has no {contract.Change.FAB_AUTH_MANAGER.value}")
    require_native(target, "reading Airflow's configuration")
    script = ("from airflow.configuration import conf\n"
              "from airflow.api_fastapi.app import get_auth_manager_cls\n"
              "name = get_auth_manager_cls().__name__\nprint(conf.get('core', 'auth_manager'), name)")
    default = docker.oneshot(target.ref, target.platform, "python", "-c", script)
    assert default.returncode == 0, default.output[-3000:]
    assert default.stdout.splitlines()[-1].split() == [contract.FAB_AUTH_MANAGER, "FabAuthManager"], default.output
    chosen = docker.oneshot(target.ref, target.platform, "python", "-c", script,
                            options=("-e", f"AIRFLOW__CORE__AUTH_MANAGER={contract.SIMPLE_AUTH_MANAGER}"))
    assert chosen.returncode == 0 and chosen.stdout.splitlines()[-1].split()[-1] == "SimpleAuthManager", chosen.output
