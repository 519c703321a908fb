"""What a deployment is made of and what `build.py run` refuses, without an engine."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from runtime_builder.deploy import from_line, project
from runtime_builder.deploy.config import (
    AuthManager,
    Check,
    Executor,
    Keys,
    airflow_environment,
    components,
    database_url,
    users_command,
    wiring,
)
from runtime_builder.deploy.local import check_port, project_image
from runtime_builder.errors import UsageError
from runtime_builder.generate.specs import ImageSpec
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform, Variant

from .support import REPO_ROOT

FIXTURE_PROJECT = REPO_ROOT / "tests" / "deploy" / "project"


@pytest.mark.parametrize(("major", "executor", "names"), [
    (3, Executor.CELERY, ["api-server", "scheduler", "dag-processor", "triggerer", "worker"]),
    (3, Executor.LOCAL, ["api-server", "scheduler", "dag-processor", "triggerer"]),
    (2, Executor.CELERY, ["webserver", "scheduler", "triggerer", "worker"]),
    (2, Executor.LOCAL, ["webserver", "scheduler", "triggerer"]),
])
def test_components_per_airflow_major_and_executor(major, executor, names):
    found = components(major, executor)
    assert [c.name for c in found] == names
    assert [c.name for c in found if c.serves_ui] == [names[0]]
    assert all(c.command[0] == "airflow" for c in found), "spelled in full: released entry points run `celery` bare"
    checks = {c.name: c.check for c in found}
    assert checks[names[0]] is Check.HTTP and checks["scheduler"] is Check.JOB
    if executor is Executor.CELERY:
        assert checks["worker"] is Check.CELERY_PING


def test_airflow_3_celery_configuration():
    keys = Keys()
    environment = airflow_environment(3, Executor.CELERY, keys)
    assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == database_url(keys)
    url = database_url(keys)
    assert url.startswith("postgresql+psycopg2://airflow:") and url.endswith("@postgres:5432/airflow")
    # The broker with the deployment's own password (issue 30): Redis without one took any client.
    assert environment["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{keys.redis_password}@redis:6379/0"
    assert keys.redis_password != Keys().redis_password and len(keys.redis_password) >= 24
    # As Airflow documents it: SQLAlchemy 2.1 made this psycopg 3's, which 14.0.4 constrains away.
    assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    assert environment["AIRFLOW__API_AUTH__JWT_SECRET"] == keys.jwt_secret
    assert environment["AIRFLOW__CORE__FERNET_KEY"] == keys.fernet_key
    # What the image defaults stays the image's: no instance name, no monitoring schedule, no executor tuning.
    assert not [name for name in environment if "INSTANCE_NAME" in name or "MONITORING" in name]


def test_airflow_2_local_configuration_and_overrides():
    keys = Keys()
    environment = airflow_environment(2, Executor.LOCAL, keys, {"AIRFLOW__CORE__PARALLELISM": "3",
                                                               "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"})
    assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "AIRFLOW__CELERY__BROKER_URL" not in environment
    assert "AIRFLOW__CORE__EXECUTION_API_SERVER_URL" not in environment
    assert environment["AIRFLOW__WEBSERVER__SECRET_KEY"] == keys.secret_key
    assert environment["AIRFLOW__CORE__PARALLELISM"] == "3"


def test_the_users_get_passwords_that_start_with_a_dash():
    """argparse reads `--password -x...` as a missing value followed by an option: bash gets them as
    arguments and hands each to `airflow users create` as `--password=<value>`."""
    import subprocess

    command = users_command(Keys(admin_password="-dashed-password", viewer_password="-v"))
    script = command[2].replace("airflow users create", "printf '%s\\n'")
    printed = subprocess.run(["bash", "-c", script, *command[3:]], capture_output=True, text=True, check=True).stdout
    assert "--password=-dashed-password\n" in printed and "--password=-v\n" in printed
    assert printed.count("--username") == 2 and "--role\nViewer\n" in printed and "--role\nAdmin\n" in printed
    assert "-dashed-password" not in command[2], "the passwords are arguments, not part of the script"


def test_the_deployment_chooses_an_auth_manager_or_leaves_the_images():
    keys = Keys()
    assert "AIRFLOW__CORE__AUTH_MANAGER" not in airflow_environment(3, Executor.LOCAL, keys)
    chosen = airflow_environment(3, Executor.LOCAL, keys, auth_manager=AuthManager.SIMPLE)
    assert chosen["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert chosen["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,viewer:viewer"
    assert AuthManager.of(airflow_environment(3, Executor.LOCAL, keys, auth_manager=AuthManager.FAB)[
        "AIRFLOW__CORE__AUTH_MANAGER"]) is AuthManager.FAB
    assert AuthManager.of("airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager") \
        is AuthManager.SIMPLE


def test_keys_differ_per_deployment():
    first, second = Keys(), Keys()
    assert first.database_password != second.database_password and first.fernet_key != second.fernet_key
    assert len(__import__("base64").urlsafe_b64decode(first.fernet_key)) == 32  # a valid Fernet key


@pytest.mark.parametrize(("text", "expected"), [
    ("FROM quay.io/org/runtime:14.0.2\n", "FROM local:1\n"),
    ("# comment\nFROM --platform=linux/amd64 runtime:latest AS base\nRUN true\nFROM x\n",
     "# comment\nFROM --platform=linux/amd64 local:1 AS base\nRUN true\nFROM x\n"),
    ("from runtime:latest\n", "from local:1\n"),
])
def test_the_project_dockerfile_is_pointed_at_the_local_image(text, expected):
    assert project.dockerfile_on(text, "local:1") == expected


def test_project_folders_are_checked_before_anything_starts(tmp_path: Path):
    project.check_folder(FIXTURE_PROJECT)
    with pytest.raises(UsageError, match="no such folder"):
        project.check_folder(tmp_path / "nothing")
    (tmp_path / "dags").mkdir()
    with pytest.raises(UsageError, match=r"it has no Dockerfile, packages.txt, requirements.txt"):
        project.check_folder(tmp_path)
    for name in ("Dockerfile", "packages.txt", "requirements.txt"):
        (tmp_path / name).write_text("# nothing\n")
    with pytest.raises(UsageError, match="its Dockerfile has no FROM line"):
        project.check_folder(tmp_path)


def test_a_port_in_use_is_refused():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"127.0.0.1:{port} is in use"):
            check_port(port)
    with pytest.raises(UsageError, match="not a TCP port"):
        check_port(70000)


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "99.0.0", "--project", str(FIXTURE_PROJECT)], "no Runtime version '99.0.0'"),
    (["run", "--project", "/nonexistent/project"], "--project /nonexistent/project: no such folder"),
    (["run"], "run needs --project DIR (or --stop)"),
])
def test_run_refuses_bad_input_before_starting_anything(cli, argv, message):
    result = cli("--root", REPO_ROOT, *argv)
    assert result.code == 2 and message in result.err, result.err


@pytest.mark.parametrize(("argv", "message"), [
    (["--platform", "linux/s390x"], "argument --platform: unknown platform 'linux/s390x'; allowed: linux/amd64, "
                                    "linux/arm64"),
    (["--name", "my deployment"], "argument --name: 'my deployment': letters, digits, `_`, `.` and `-`"),
    (["--name=-x"], "argument --name: '-x': letters, digits"),
])
def test_run_refuses_a_bad_option_value_when_parsing_its_arguments(cli, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:  # argparse's exit 2, naming the option (issue 31)
        cli("--root", REPO_ROOT, "run", "--project", FIXTURE_PROJECT, *argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_run_refuses_a_port_in_use(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("--root", REPO_ROOT, "run", "--project", FIXTURE_PROJECT, "--port", port)
    assert result.code == 2 and f"--port {port}: 127.0.0.1:{port} is in use" in result.err, result.err


def test_a_project_image_of_another_platform_has_its_architecture_in_the_tag(tmp_path: Path) -> None:
    folder = tmp_path / "My Project"
    folder.mkdir()
    other = next(p for p in Platform if p is not Platform.native())

    name = "14.1.0-python-3.13"
    assert project.image_name(folder, name) == f"{project.PROJECT_REPOSITORY}/my-project:{name}"
    assert project.image_name(folder, name, Platform.native()) == project.image_name(folder, name)
    assert project.image_name(folder, name, other) == f"{project.PROJECT_REPOSITORY}/my-project:{name}-{other.arch}"


def test_one_project_built_on_two_images_makes_two_images() -> None:
    """`run` on a folder whose FROM names the slim image, then the full one (or another Python):
    the second build does not take the first's tag."""
    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    release = matrix.default_release()
    names = {project.image_name(FIXTURE_PROJECT, ImageSpec(release, python, variant, Platform.native()).label)
             for python in release.pythons for variant in (Variant.ONBUILD, Variant.SLIM)
             if variant in release.variants}
    assert len(names) == len(release.pythons) * (2 if Variant.SLIM in release.variants else 1)


def test_a_project_without_env_file_has_no_variables(tmp_path: Path):
    assert project.environment(tmp_path) == {}
    (tmp_path / ".env").write_text("A=1\n")
    assert project.environment(tmp_path) == {"A": "1"}
    (tmp_path / ".env").write_bytes("\ufeffA=1\r\nB=2\r\n".encode())  # a Windows editor's .env
    assert project.environment(tmp_path) == {"A": "1", "B": "2"}


def test_the_env_and_settings_files_never_go_into_the_image(tmp_path: Path):
    assert project.ignore_file(tmp_path) == ".env\nairflow_settings.yaml\n"
    (tmp_path / ".dockerignore").write_text("logs/\n*.pyc")
    assert project.ignore_file(tmp_path) == "logs/\n*.pyc\n.env\nairflow_settings.yaml\n"
    (tmp_path / "Dockerfile.dockerignore").write_text("tests/\n")  # Docker prefers it to .dockerignore
    assert project.ignore_file(tmp_path) == "tests/\n.env\nairflow_settings.yaml\n"


def test_a_connection_the_projects_settings_define_replaces_the_deployments_default():
    keys = Keys()
    assert "AIRFLOW_CONN_POSTGRES_DEFAULT" in airflow_environment(3, Executor.LOCAL, keys)
    environment = airflow_environment(3, Executor.LOCAL, keys, defined=["AIRFLOW_CONN_POSTGRES_DEFAULT"])
    assert "AIRFLOW_CONN_POSTGRES_DEFAULT" not in environment
    assert environment == {k: v for k, v in airflow_environment(3, Executor.LOCAL, keys).items()
                           if k != "AIRFLOW_CONN_POSTGRES_DEFAULT"}
    # What the project's .env sets stays (run refuses a .env that hides a settings entry).
    assert airflow_environment(3, Executor.LOCAL, keys, {"A": "1"}, defined=["A"])["A"] == "1"


def test_the_deployments_wiring_is_not_a_projects_to_set():
    celery, local = wiring(3, Executor.CELERY), wiring(3, Executor.LOCAL)
    assert {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__API_AUTH__JWT_SECRET"} <= celery
    assert "AIRFLOW__CELERY__BROKER_URL" not in local
    assert "AIRFLOW__WEBSERVER__SECRET_KEY" in wiring(2, Executor.CELERY)
    assert "AIRFLOW_CONN_POSTGRES_DEFAULT" not in celery | local  # a convenience a project may replace


def test_run_refuses_an_env_file_that_sets_the_deployments_wiring(cli, tmp_path: Path):
    folder = tmp_path / "project"
    shutil.copytree(FIXTURE_PROJECT, folder)
    (folder / ".env").write_text("AIRFLOW_VAR_X=1\nAIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///x.db\n")
    result = cli("--root", REPO_ROOT, "run", "--project", folder, "--executor", "local")
    assert result.code == 2, result.err
    assert f"{folder}/.env: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `run` sets this itself" in result.err, result.err
    (folder / ".env").write_text("AIRFLOW_VAR_X=1\nNOT A LINE\n")
    result = cli("--root", REPO_ROOT, "run", "--project", folder)
    assert result.code == 2 and f"{folder}/.env line 2: " in result.err, result.err


# -- which image `run` builds a project on ------------------------------------------------------

@pytest.mark.parametrize(("reference", "split"), [
    ("airflow-runtime:12.1.1", ("airflow-runtime", "12.1.1")),
    ("127.0.0.1:5000/airflow-runtime:14.1-slim", ("127.0.0.1:5000/airflow-runtime", "14.1-slim")),
    ("quay.io/org/airflow-runtime:latest-python-3.12@sha256:" + "0" * 64,
     ("quay.io/org/airflow-runtime", "latest-python-3.12")),
    ("127.0.0.1:5000/airflow-runtime", ("127.0.0.1:5000/airflow-runtime", "latest")),
    ("quay.io/astronomer/astro-runtime:12.1.1", ("quay.io/astronomer/astro-runtime", "12.1.1")),
])
def test_the_repository_and_tag_of_a_projects_from_line(reference, split):
    assert from_line.split(reference) == split


def _project_from(tmp_path: Path, image: str) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(FIXTURE_PROJECT, folder)
    (folder / "Dockerfile").write_text(f"# a comment\nFROM --platform=$BUILDPLATFORM {image} AS runtime\n")
    return folder


def test_run_builds_on_the_image_the_projects_from_line_names(tmp_path: Path):
    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    default = matrix.default_release()

    found = project_image(matrix, _project_from(tmp_path, "airflow-runtime:12.1.1"), None)
    assert (str(found.release.version), found.python, found.variant) == ("12.1.1", "3.11", Variant.ONBUILD)
    assert found.why == "Runtime 12.1.1, Python 3.11 (its FROM names airflow-runtime:12.1.1)"

    found = project_image(matrix, _project_from(tmp_path / "b", f"registry.example/airflow-runtime:"
                                                                f"{default.version.minor_line}-slim-base"), None)
    assert (found.release, found.python, found.variant) == (default, default.python, Variant.SLIM)

    # A managed runtime's image name with our tag: an Airflow 2 project stays on Airflow 2.
    found = project_image(matrix, _project_from(tmp_path / "c", "quay.io/astronomer/astro-runtime:12.1.1"), None)
    assert (str(found.release.version), found.variant) == ("12.1.1", Variant.ONBUILD)
    assert found.release.airflow.major == 2 and "astro-runtime:12.1.1" in found.why

    # Apache Airflow's own image: the newest release shipping that Airflow (and Python).
    found = project_image(matrix, _project_from(tmp_path / "e", "apache/airflow:2.11.2-python3.12"), None)
    newest = max((r for r in matrix.releases if str(r.airflow) == "2.11.2" and not r.is_yanked),
                 key=lambda r: r.version)
    assert (found.release, found.python) == (newest, "3.12")

    # A version asked for wins over the FROM line.
    found = project_image(matrix, _project_from(tmp_path / "d", "airflow-runtime:12.1.1"), "13.1.0")
    assert str(found.release.version) == "13.1.0" and found.python == found.release.python


def test_run_refuses_a_from_line_of_ours_that_names_no_image(cli, tmp_path: Path):
    folder = _project_from(tmp_path, "airflow-runtime:99.0.0-python-3.13")
    result = cli("--root", REPO_ROOT, "run", "--project", folder)
    assert result.code == 2, result.err
    assert (f"{folder}/Dockerfile: FROM airflow-runtime:99.0.0-python-3.13: no image of versions.yaml has the tag "
            "'99.0.0-python-3.13'") in result.err, result.err


def test_run_refuses_a_slim_project_with_the_celery_executor(cli, tmp_path: Path):
    folder = _project_from(tmp_path, "airflow-runtime:latest-slim")
    result = cli("--root", REPO_ROOT, "run", "--project", folder, "--executor", "celery")
    assert result.code == 2, result.err
    assert "slim images have no Celery provider; run it with --executor local" in result.err, result.err


@pytest.mark.parametrize(("image", "names"), [
    # A line we do not have: the newest release of the lines either side, never a silent default.
    ("quay.io/astronomer/astro-runtime:10.1.0", ["11.1.0 (Airflow 2.10.5)"]),
    # A release of a line we have that we never cut: that line's nearest.
    ("quay.io/astronomer/astro-runtime:12.3.0", ["12.1.1 (Airflow 2.11.2)"]),
    ("airflow-runtime:15.0.0-python-3.13", ["14.2.1 (Airflow 3.3.2)"]),
])
def test_a_from_line_naming_a_release_we_do_not_have_names_the_nearest(cli, tmp_path: Path, image, names):
    folder = _project_from(tmp_path, image)
    result = cli("--root", REPO_ROOT, "run", "--project", folder)
    assert result.code == 2, result.err
    assert f"{folder}/Dockerfile: FROM {image}: no image of versions.yaml has the tag" in result.err, result.err
    assert "the nearest releases here: " in result.err
    for name in names:
        assert name in result.err, result.err


@pytest.mark.parametrize("image", ["python:3.12-slim", "${RUNTIME_IMAGE}", "apache/airflow:2.9.3"])
def test_a_from_line_naming_no_runtime_image_is_refused(cli, tmp_path: Path, image):
    folder = _project_from(tmp_path, image)
    result = cli("--root", REPO_ROOT, "run", "--project", folder)
    assert result.code == 2, result.err
    assert f"{folder}/Dockerfile: FROM {image}" in result.err, result.err
    if image.startswith("apache/airflow"):
        assert "no Runtime release ships Airflow 2.9.3; the nearest of Airflow 2: " in result.err, result.err
    else:
        assert "is not an Airflow Runtime image" in result.err, result.err


def test_an_emulated_deployment_gives_the_execution_api_more_time():
    """Under QEMU, Airflow's 5 s for a task's requests to the execution API is too little."""
    native = airflow_environment(3, Executor.LOCAL, Keys())
    emulated = airflow_environment(3, Executor.LOCAL, Keys(), emulated=True)
    assert "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT" not in native
    assert float(emulated["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 30
    airflow_2 = airflow_environment(2, Executor.LOCAL, Keys(), emulated=True)
    assert "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT" not in airflow_2


def test_an_upgrade_keeps_finished_task_instances_with_their_state_and_running_ones_by_key():
    from runtime_builder.deploy.upgrades import _gone

    before = {("d", "r1", "t", "success"), ("d", "r2", "t", "running"), ("d", "r3", "t", "queued")}
    after = {("d", "r1", "t", "success"), ("d", "r2", "t", "success")}
    assert _gone("task_instance", before, after) == {("d", "r3", "t", "queued")}
    finished_changed = {("d", "r1", "t", "failed"), ("d", "r2", "t", "success")}  # a finished state may not move
    assert _gone("task_instance", before, finished_changed) == {("d", "r1", "t", "success"), ("d", "r3", "t", "queued")}
    assert _gone("dag_run", {("d", "r1")}, set()) == {("d", "r1")}
