"""Airflow runs: the API server (the webserver on Airflow 2) starts on SQLite, answers its health
check, and its UI configuration carries the Runtime's instance name."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from runtime_builder import contract

from .support import Docker, Prober, Target, require_native

pytestmark = pytest.mark.image

PORT = 8080
STARTUP_SECONDS = 240


@dataclass(frozen=True)
class Server:
    """What the server of an image answered: its health endpoint and the configuration its UI reads."""

    airflow_major: int
    health: tuple[int, str]  # HTTP status and body
    ui_config: tuple[int, str]  # /ui/config as the generated admin (Airflow 3), the config API (2)


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _health_path(major: int) -> str:
    return "/api/v2/monitor/health" if major >= 3 else "/health"


def _serve(image: Target, docker: Docker) -> Server:
    """Start the image's server on SQLite, wait until it is healthy, ask it, and remove it."""
    major = int(image.expected.airflow_version.split(".")[0])
    login: tuple[str, str] | None = None  # None: the simple auth manager's generated admin
    if image.expected.has(contract.Change.FAB_AUTH_MANAGER):
        # FAB's auth manager by default: its admin made as the official image makes one, by the entry point.
        login = ("admin", secrets.token_urlsafe(12))
        command = ("api-server", "--port", str(PORT))  # given to the image's ENTRYPOINT, as users do
        environment: dict[str, str] = {"_AIRFLOW_DB_MIGRATE": "true", "_AIRFLOW_WWW_USER_CREATE": "true",
                                       "_AIRFLOW_WWW_USER_PASSWORD": login[1]}
    elif major >= 3:
        command = ("bash", "-c", f"airflow db migrate && exec airflow api-server --port {PORT}")
        environment = {}
    else:
        command = ("bash", "-c", f"airflow db migrate && exec airflow webserver --port {PORT} --workers 1")
        # Airflow 2 shows its configuration through the REST API only when told to.
        environment = {"AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "True",
                       "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.default"}
    options = ["-p", f"127.0.0.1::{PORT}"]
    for name, value in environment.items():
        options += ["-e", f"{name}={value}"]
    container = docker.start(image.ref, image.platform, *command, options=tuple(options))
    try:
        address = docker.run("port", container, f"{PORT}/tcp").stdout.split()[0]
        url = f"http://{address}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                status, _ = _get(url + _health_path(major))
                if status == 200:
                    break
            except OSError:
                pass  # not listening yet
            state = docker.run("inspect", "--format", "{{.State.Running}}", container).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                logs = docker.run("logs", "--tail", "60", container)
                pytest.fail(f"the Airflow server did not answer {_health_path(major)} within {STARTUP_SECONDS} s "
                            f"(running: {state}):\n{logs.output}", pytrace=False)
            time.sleep(2)
        health = _get(url + _health_path(major))
        if major >= 3:
            ui_config = _ui_config(url, container, docker, login)
        else:
            ui_config = _get(url + "/api/v1/config?section=webserver", {"Accept": "application/json"})
        return Server(major, health, ui_config)
    finally:
        docker.remove(container)


def _ui_config(url: str, container: str, docker: Docker, login: tuple[str, str] | None) -> tuple[int, str]:
    """/ui/config as the admin (`login`, or the simple auth manager's generated one), as a user of a
    fresh install logs in; (0, why) when the login fails."""
    if login is None:
        generated = docker.run("exec", container, "bash", "-c",
                               'cat "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"')
        if generated.returncode != 0:
            return 0, f"no generated admin password: {generated.output}"
        login = next(iter(json.loads(generated.stdout).items()))
    username, password = login
    body = json.dumps({"username": username, "password": password}).encode()
    status, answer = _get(url + "/auth/token", {"Content-Type": "application/json"}, body)
    if status not in (200, 201):
        return 0, f"the generated admin cannot log in ({status}): {answer}"
    return _get(url + "/ui/config", {"Authorization": f"Bearer {json.loads(answer)['access_token']}"})


@pytest.fixture(scope="module")
def server(target: Target, docker: Docker, prober: Prober) -> Server:
    require_native(target, "running the Airflow API server")
    return prober.once(target, "api-server", lambda image: _serve(image, docker))


def test_health_endpoint(server: Server) -> None:
    status, body = server.health
    assert status == 200, body
    health = json.loads(body)
    assert health["metadatabase"]["status"] == "healthy", health


def test_ui_shows_runtime_instance_name(server: Server, target: Target) -> None:
    expected = f"Airflow Runtime {target.expected.runtime_version}"
    status, body = server.ui_config
    assert status == 200, body
    if server.airflow_major >= 3:
        assert json.loads(body)["instance_name"] == expected, body
    else:
        options = {o["key"]: o["value"] for section in json.loads(body)["sections"] for o in section["options"]}
        assert options.get("instance_name") == expected, options.get("instance_name")
