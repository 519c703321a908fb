"""Airflow runs: the API server (the webserver on Airflow 2) starts on SQLite, answers its health
check, and its UI configuration carries the Runtime's instance name."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .support import Docker, Target, require_native

pytestmark = pytest.mark.image

PORT = 8080
STARTUP_SECONDS = 240


@dataclass(frozen=True)
class Server:
    container: str
    url: str
    airflow_major: int


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _health_path(major: int) -> str:
    return "/api/v2/monitor/health" if major >= 3 else "/health"


@pytest.fixture(scope="module")
def server(target: Target, docker: Docker) -> Iterator[Server]:
    require_native(target, "running the Airflow API server")
    major = int(target.expected.airflow_version.split(".")[0])
    if major >= 3:
        command = f"airflow db migrate && exec airflow api-server --port {PORT}"
        environment: dict[str, str] = {}
    else:
        command = f"airflow db migrate && exec airflow webserver --port {PORT} --workers 1"
        # Airflow 2 shows its configuration through the REST API only when told to.
        environment = {"AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "True",
                       "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.default"}
    options = ["-p", f"127.0.0.1::{PORT}"]
    for name, value in environment.items():
        options += ["-e", f"{name}={value}"]
    container = docker.start(target.ref, target.platform, "bash", "-c", command, options=tuple(options))
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
        yield Server(container, url, major)
    finally:
        docker.remove(container)


def test_health_endpoint(server: Server) -> None:
    status, body = _get(server.url + _health_path(server.airflow_major))
    assert status == 200, body
    health = json.loads(body)
    assert health["metadatabase"]["status"] == "healthy", health


def _token(server: Server, docker: Docker) -> str:
    """Log in as the Simple auth manager's generated admin, as a user of a fresh install would."""
    generated = docker.run("exec", server.container, "bash", "-c",
                           'cat "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"')
    assert generated.returncode == 0, generated.output
    username, password = next(iter(json.loads(generated.stdout).items()))
    body = json.dumps({"username": username, "password": password}).encode()
    status, answer = _get(server.url + "/auth/token", {"Content-Type": "application/json"}, body)
    assert status in (200, 201), answer
    return json.loads(answer)["access_token"]


def test_ui_shows_runtime_instance_name(server: Server, target: Target, docker: Docker) -> None:
    expected = f"Airflow Runtime {target.expected.runtime_version}"
    if server.airflow_major >= 3:
        headers = {"Authorization": f"Bearer {_token(server, docker)}"}
        status, body = _get(server.url + "/ui/config", headers)
        assert status == 200, body
        assert json.loads(body)["instance_name"] == expected, body
    else:
        status, body = _get(server.url + "/api/v1/config?section=webserver", {"Accept": "application/json"})
        assert status == 200, body
        options = {o["key"]: o["value"] for section in json.loads(body)["sections"] for o in section["options"]}
        assert options.get("instance_name") == expected, options.get("instance_name")
