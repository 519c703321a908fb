"""The default release's image run the ecosystem's way: Docker Compose, with the contract of Apache
Airflow's own docker-compose quick start (tests/deploy/compose/docker-compose.yaml says what it
shares with it), against the PostgreSQL and Redis images bootstrap makes. Every service becomes
healthy, a DAG dropped into the mounted dags/ folder runs on the Celery worker without a rebuild,
the admin and a viewer log in (the viewer cannot trigger), and the worker shuts down warm.

`--deploy-platform linux/arm64` runs the arm64 image under QEMU (Compose starts it as it is)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime_builder.deploy import services
from runtime_builder.deploy.api import AirflowApi, ApiError
from runtime_builder.deploy.facts import EMULATED_PATIENCE
from runtime_builder.deploy.local import free_port
from runtime_builder.generate.specs import ImageSpec
from runtime_builder.images.engine import Engine
from runtime_builder.images.host import require
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform, Variant

from .conftest import REPO_ROOT, deploy_platform

pytestmark = pytest.mark.deploy

COMPOSE_FILE = Path(__file__).resolve().parent / "compose" / "docker-compose.yaml"
COMPOSE = "docker-compose"  # Compose 1.29 (Debian 12's); `docker compose` (v2) reads the same file
ADMIN, ADMIN_PASSWORD = "airflow", "airflow"  # the quick start's defaults
VIEWER, VIEWER_PASSWORD = "runtime-viewer", "viewer-password"
HEALTHY_WITHIN = 420.0
# Seconds a component may take before its failing health checks count, and one check may take
# (QEMU: patience² times; one `airflow jobs check` under it takes longer than the quick start's 10 s).
START_PERIOD, CHECK_TIMEOUT, CHECK_INTERVAL = 30, 10, 5
EXECUTION_API_TIMEOUT = 5.0  # Airflow's [workers] execution_api_timeout
DROPPED_DAG = "runtime_compose_dropped"
SLOW_DAG = "runtime_compose_slow"
DAG = '''\
import socket

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
     is_paused_upon_creation=False)
def runtime_dag():
    @task
    def where():
        import time
        time.sleep({seconds})
        return socket.gethostname()

    where()


runtime_dag()
'''


@dataclass
class ComposeProject:
    name: str
    folder: Path
    patience: float
    api: AirflowApi

    def run(self, *args: str, timeout: float = 600.0, check: bool = True) -> subprocess.CompletedProcess:
        argv = [COMPOSE, "--project-name", self.name, "--project-directory", str(self.folder),
                "--file", str(COMPOSE_FILE), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def containers(self) -> dict[str, dict]:
        """Service -> its container's `docker inspect`."""
        ids = self.run("ps", "--all", "-q").stdout.split()
        if not ids:
            return {}
        found = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True,
                                          check=True).stdout)
        return {item["Config"]["Labels"]["com.docker.compose.service"]: item for item in found}

    def logs(self, service: str, lines: int = 60) -> str:
        return self.run("logs", "--no-color", "--tail", str(lines), service, check=False).stdout

    def wait_healthy(self, services_: tuple[str, ...], timeout: float) -> dict[str, float]:
        """Seconds until each service was healthy; fails naming those that are not, with their logs."""
        started, seen = time.monotonic(), {}
        deadline = started + timeout
        while True:
            containers = self.containers()
            for service in services_:
                state = (containers.get(service) or {}).get("State") or {}
                if service not in seen and (state.get("Health") or {}).get("Status") == "healthy":
                    seen[service] = time.monotonic() - started
            init = (containers.get("airflow-init") or {}).get("State") or {}
            if init.get("Status") == "exited" and init.get("ExitCode") != 0:
                pytest.fail(f"airflow-init exited {init.get('ExitCode')}:\n{self.logs('airflow-init', 200)}")
            if len(seen) == len(services_):
                return seen
            if time.monotonic() > deadline:
                missing = [s for s in services_ if s not in seen]
                pytest.fail(f"not healthy within {timeout:.0f} s: {missing}\n"
                            + "\n".join(f"--- {s}:\n{self.logs(s)}" for s in missing), pytrace=False)
            time.sleep(2)


@pytest.fixture(scope="module")
def compose(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, engine: Engine,
            service_images: services.ServiceImages) -> Iterator[ComposeProject]:
    require(programs=(COMPOSE,))
    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    release = matrix.default_release()
    platform = deploy_platform(request.config)
    image = ImageSpec(release, release.python, Variant.ONBUILD, platform).reference()  # what users pull
    if engine.image_id(image) is None:
        pytest.fail(f"no image {image}: build it first with `python3 build.py build {release.version} --variant "
                    f"onbuild --platform {platform.value}`", pytrace=False)
    images = service_images
    folder = tmp_path_factory.mktemp("compose")
    port = free_port()
    patience = EMULATED_PATIENCE if platform is not Platform.native() else 1.0
    (folder / ".env").write_text(f"AIRFLOW_IMAGE_NAME={image}\nAIRFLOW_UID=50000\nPOSTGRES_IMAGE={images.postgres}\n"
                                 f"REDIS_IMAGE={images.redis}\nAIRFLOW_UI_PORT={port}\n"
                                 f"AIRFLOW_START_PERIOD={int(START_PERIOD * patience ** 2)}s\n"
                                 f"AIRFLOW_CHECK_TIMEOUT={int(CHECK_TIMEOUT * patience ** 2)}s\n"
                                 f"AIRFLOW_CHECK_INTERVAL={int(CHECK_INTERVAL * patience ** 2)}s\n"
                                 f"AIRFLOW_EXECUTION_API_TIMEOUT={EXECUTION_API_TIMEOUT * patience ** 2}\n")
    # Every component and Flower emulated on the host's cores: the API answers slower than in a
    # deployment of the harness (patience squared for its requests).
    project = ComposeProject(f"runtime-compose-{uuid.uuid4().hex[:8]}", folder, patience,
                             AirflowApi(f"http://127.0.0.1:{port}", release.airflow.major, ADMIN, ADMIN_PASSWORD,
                                        patience ** 2))
    try:
        project.run("--profile", "flower", "up", "--detach", "--quiet-pull")
        yield project
    finally:
        project.run("--profile", "flower", "down", "--volumes", "--remove-orphans", check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def healthy(compose: ComposeProject) -> dict[str, float]:
    return compose.wait_healthy(("postgres", "redis", "airflow-apiserver", "airflow-scheduler",
                                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "flower"),
                                HEALTHY_WITHIN * compose.patience)


def _drop(compose: ComposeProject, dag_id: str, seconds: int) -> None:
    """A DAG file written into the mounted dags/ folder of the running deployment."""
    path = compose.folder / "dags" / f"{dag_id}.py"
    path.write_text(DAG.format(dag_id=dag_id, seconds=seconds))
    path.chmod(0o644)


def test_every_service_is_healthy_and_init_completed(compose: ComposeProject, healthy: dict[str, float]) -> None:
    init = compose.containers()["airflow-init"]["State"]
    assert (init["Status"], init["ExitCode"]) == ("exited", 0), compose.logs("airflow-init", 200)
    log = compose.logs("airflow-init", 400)
    assert "3.3" in log or "2." in log, "`/entrypoint airflow version` printed Airflow's version"
    # The init service made the config file the components read (AIRFLOW_CONFIG under /opt/airflow).
    assert (compose.folder / "config" / "airflow.cfg").is_file()


def test_a_dag_dropped_into_the_mounted_folder_runs_on_the_worker(compose: ComposeProject,
                                                                 healthy: dict[str, float]) -> None:
    _drop(compose, DROPPED_DAG, 0)
    compose.api.wait_for_dag(DROPPED_DAG)
    run_id = compose.api.trigger(DROPPED_DAG)
    run = compose.api.wait_for_run(DROPPED_DAG, run_id)
    [instance] = compose.api.task_instances(DROPPED_DAG, run_id)
    worker = compose.containers()["airflow-worker"]["Config"]["Hostname"]
    assert run["state"] == "success", compose.logs("airflow-worker")
    assert instance["hostname"] == worker, f"ran on {instance['hostname']}, the worker is {worker}"
    assert any((compose.folder / "logs").rglob("*.log")), "the task's log is in the mounted logs/ folder"


def test_a_viewer_sees_but_cannot_trigger(compose: ComposeProject, healthy: dict[str, float]) -> None:
    compose.run("exec", "-T", "airflow-apiserver", "airflow", "users", "create", "--username", VIEWER,
                "--password", VIEWER_PASSWORD, "--role", "Viewer", "--firstname", "Runtime", "--lastname", "Viewer",
                "--email", "viewer@example.invalid")
    viewer = AirflowApi(compose.api.url, compose.api.airflow_major, VIEWER, VIEWER_PASSWORD, compose.api.patience)
    compose.api.wait_for_dag(DROPPED_DAG)
    assert viewer.dag(DROPPED_DAG)["dag_id"] == DROPPED_DAG
    with pytest.raises(ApiError, match="HTTP 403"):
        viewer.trigger(DROPPED_DAG)
    with pytest.raises(ApiError, match="HTTP 401"):
        AirflowApi(compose.api.url, compose.api.airflow_major, VIEWER, "wrong", compose.api.patience).dag(DROPPED_DAG)


def test_the_worker_shuts_down_warm(compose: ComposeProject, healthy: dict[str, float]) -> None:
    """SIGTERM (`docker-compose stop`) lets the running task finish: the signal reaches the worker
    alone (tini, as the official image with DUMB_INIT_SETSID=0), which stops taking tasks and waits."""
    _drop(compose, SLOW_DAG, 20)
    compose.api.wait_for_dag(SLOW_DAG)
    run_id = compose.api.trigger(SLOW_DAG)
    deadline = time.monotonic() + 240 * compose.patience
    while time.monotonic() < deadline:
        states = [ti["state"] for ti in compose.api.task_instances(SLOW_DAG, run_id)]
        if states == ["running"]:
            break
        time.sleep(1)
    else:
        pytest.fail(f"the slow task did not start: {states}")
    compose.run("stop", "--timeout", str(int(300 * compose.patience)), "airflow-worker")
    log = compose.logs("airflow-worker", 400)
    [instance] = compose.api.task_instances(SLOW_DAG, run_id)
    assert instance["state"] == "success", log
    assert "Warm shutdown" in log, log
    assert compose.containers()["airflow-worker"]["State"]["ExitCode"] == 0, log
