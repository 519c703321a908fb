"""`build.py run`: a project, deployed locally on a Runtime version, until Ctrl-C.

Everything that can be refused is refused before anything starts (the folder, the port); a
build or start failure removes whatever was started, so a failed `run` leaves nothing running.
"""

from __future__ import annotations

import errno
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker

from .. import contract
from ..images.engine import Engine
from . import project
from .config import Executor
from .deployment import (
    LABEL,
    ORIGIN_LABEL,
    DeployError,
    Deployment,
    DeploymentSpec,
    deployments,
    remove_labelled,
)
from .services import ServiceImages

ORIGIN = "run"
WATCH_SECONDS = 10


@dataclass(frozen=True)
class RunRequest:
    folder: Path
    onbuild_image: str  # the local ONBUILD image of the version asked for
    runtime_version: str
    platform: str
    executor: Executor = Executor.CELERY
    port: int | None = None
    detach: bool = False
    name: str | None = None


def check_port(port: int) -> None:
    """Refuse a UI port that something already listens on, before anything is built."""
    if not 0 < port < 65536:
        raise DeployError(f"--port {port}: not a TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise DeployError(f"--port {port}: 127.0.0.1:{port} is in use; choose another port or leave "
                                  "--port out for a free one") from error
            raise DeployError(f"--port {port}: cannot listen on it: {error}") from error


def run(request: RunRequest, engine: Engine, services: ServiceImages, secrets: dict[str, Path], log_dir: Path,
        say: Callable[[str], None] = print) -> int:
    tag = project.image_name(request.folder, request.runtime_version)
    log_dir.mkdir(parents=True, exist_ok=True)
    say(f"building {request.folder} on {request.onbuild_image} -> {tag}")
    project.build(engine, request.folder, request.onbuild_image, tag, request.platform, secrets,
                  log_dir / f"{tag.replace('/', '_').replace(':', '_')}.log")
    spec = DeploymentSpec(tag, services, request.executor, port=request.port, name=request.name, origin=ORIGIN)
    deployment = Deployment(spec)
    try:
        deployment.start(progress=say)
        user, password = deployment.login()
        say("")
        say(f"Airflow Runtime {request.runtime_version} ({request.executor.value} executor) is running: "
            f"{deployment.url}")
        say(f"  log in as {user} with password {password}")
        say(f"  the project's DAGs are in {contract.AIRFLOW_HOME}/dags of every component; containers: "
            f"{', '.join(c.name for c in deployment.containers.values())}")
        if request.detach:
            say(f"  stop it with `python build.py run --stop --name {deployment.name}`")
            return 0
        say("  press Ctrl-C to stop it and remove everything it started")
        _watch(deployment)
        return 0
    except KeyboardInterrupt:
        say(f"\nstopping {deployment.name}")
        return 130
    finally:
        if not request.detach or _failed(deployment):
            deployment.remove()


def stop(name: str | None = None) -> list[str]:
    """Remove what `run` started: one deployment by name, or all of them."""
    labels = {ORIGIN_LABEL: ORIGIN}
    if name:
        labels[LABEL] = name
    return remove_labelled(docker.from_env(), labels)


def running() -> dict[str, list[str]]:
    return deployments(docker.from_env(), ORIGIN)


def _failed(deployment: Deployment) -> bool:
    """Whether a detached deployment did not come up (then it is removed, not left behind)."""
    return deployment.port is None or "healthy" not in deployment.timings


def _watch(deployment: Deployment) -> None:
    """Block until Ctrl-C (or SIGTERM); stop early, with its log, when a component exits."""
    signal.signal(signal.SIGTERM, _interrupt)
    while True:
        time.sleep(WATCH_SECONDS)
        for name, container in deployment.containers.items():
            container.reload()
            if container.status in ("exited", "dead"):
                raise DeployError(f"{name} stopped (exit {container.attrs['State'].get('ExitCode')}):\n"
                                  f"{deployment.logs(name)}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
