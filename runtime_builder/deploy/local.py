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
from dataclasses import dataclass, field
from pathlib import Path

from .. import contract, layout
from ..errors import BuilderError, UsageError
from ..generate.specs import ImageSpec
from ..images import host
from ..images.builder import BuildOptions, build, log_path, refuse_stale
from ..images.engine import Engine
from ..images.secrets import for_build
from ..matrix.model import Matrix, Platform, Release, Variant
from ..matrix.options import DEPLOYMENT_NAME
from . import from_line, project, services, settings
from .config import Executor
from .deployment import (
    LABEL,
    ORIGIN_LABEL,
    DeployError,
    Deployment,
    DeploymentSpec,
    deployment_parts,
    deployments,
    remove_labelled,
)
from .services import ServiceImages

ORIGIN = "run"
NAME = DEPLOYMENT_NAME  # what Docker takes in a container's name, shorter (checked when --name is parsed too)
WATCH_SECONDS = 10


@dataclass(frozen=True)
class RunOptions:
    folder: Path
    executor: Executor = Executor.LOCAL
    port: int | None = None
    detach: bool = False
    name: str | None = None
    repository: str = layout.DEFAULT_REPOSITORY
    registry: str = layout.LOCAL_REGISTRY  # where the bases and the service images live
    cacert: Path | None = None
    index_url: str | None = None
    platform: Platform = field(default_factory=Platform.native)  # another than the host's runs under QEMU
    check_dags: bool = True  # the project's build fails on a DAG that does not import


@dataclass(frozen=True)
class ProjectImage:
    """The ONBUILD image `run` builds a project on, and how it was chosen (said to the user)."""

    release: Release
    python: str
    variant: Variant  # Variant.ONBUILD or Variant.SLIM
    why: str


def project_image(matrix: Matrix, folder: Path, version: str | None,
                  repository: str = layout.DEFAULT_REPOSITORY) -> ProjectImage:
    """VERSION's ONBUILD image (its default Python) when one is asked for; else the image the
    project's FROM line means (from_line.choose: a tag of ours or of a managed runtime's image
    name, or an apache/airflow version); a FROM naming none of ours is refused, naming the
    nearest releases."""
    if version:
        release = matrix.release(version)
        return ProjectImage(release, release.python, Variant.ONBUILD, f"Runtime {release.version}, as asked")
    reference = project.check_folder(folder)
    chosen = from_line.choose(matrix, reference, repository, str(folder / "Dockerfile"))
    return ProjectImage(chosen.release, chosen.python, chosen.variant, chosen.why)


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now (the system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_port(port: int) -> None:
    """Refuse a UI port that something already listens on, before anything is built."""
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(f"--port {port}: 127.0.0.1:{port} is in use; choose another port or leave "
                                 "--port out for a free one") from error
            raise UsageError(f"--port {port}: cannot listen on it: {error}") from error


def run(root: Path, matrix: Matrix, image: ProjectImage, options: RunOptions,
        say: Callable[[str], None] = print) -> int:
    """Build the project on `image` and deploy it until Ctrl-C (or detached).

    Refuses bad input before anything starts; a failure after that removes whatever started.
    """
    release = image.release
    environment, airflow_settings = project.inputs(options.folder, release.airflow.major, options.executor, "`run`")
    if image.variant.is_slim and options.executor is Executor.CELERY:
        raise UsageError(f"{image.why}: slim images have no Celery provider; run it with --executor local")
    if options.name is not None and not NAME.fullmatch(options.name):
        raise UsageError(f"--name {options.name!r}: letters, digits, `_`, `.` and `-`, starting with a letter or "
                         "digit (it names the deployment's containers, volumes and network)")
    if options.port is not None:
        check_port(options.port)
    spec = ImageSpec(release, image.python, image.variant, options.platform)
    refuse_stale(matrix, root, [spec])
    try:
        engine = host.require(arm64=options.platform is Platform.ARM64)
        if options.name and deployment_parts(engine, options.name):
            raise UsageError(f"--name {options.name}: a deployment of that name is running; stop it first "
                             f"(`python build.py run --stop --name {options.name}`) or choose another name")
        paths = layout.Layout(root)
        with for_build(paths.secrets, options.cacert, options.index_url) as secrets:
            onbuild = build(matrix, root, [spec], engine, BuildOptions(options.repository, options.registry,
                                                                       secrets=secrets))[-1].reference
            tag = project.image_name(options.folder, spec.label, options.platform)
            say(f"building {options.folder} on {onbuild} -> {tag}: {image.why}")
            project.build(engine, options.folder, onbuild, tag, spec.platform.value, secrets, log_path(root, tag),
                          check_dags=options.check_dags, index_url_given=options.index_url is not None)
        images = services.ensure_images(engine, options.registry, paths.bases)
        return _deploy(tag, str(release.version), images, options, say, environment, airflow_settings)
    except UsageError:
        raise  # refused before anything started
    except BuilderError as error:
        error.args = (f"{error}\nnothing was left running",)  # its type (and exit code) stay
        raise


def _deploy(tag: str, version: str, images: ServiceImages, options: RunOptions, say: Callable[[str], None],
            environment: dict[str, str], airflow_settings: settings.AirflowSettings) -> int:
    if environment:
        say(f"the Airflow containers get {len(environment)} variables from {project.ENV_FILE}: "
            f"{', '.join(sorted(environment))}")
    if airflow_settings:
        say(f"{settings.SETTINGS_FILE}: {airflow_settings.summary()}, imported once the database is migrated")
    spec = DeploymentSpec(tag, images, options.executor, port=options.port, name=options.name, origin=ORIGIN,
                          environment=environment, settings=airflow_settings)
    deployment = Deployment(spec)
    try:
        deployment.start(progress=say)
        user, password = deployment.login()
        say("")
        say(f"Airflow Runtime {version} ({options.executor.value} executor) is running: {deployment.url}")
        say(f"  log in as {user} with password {password}")
        say(f"  the project's DAGs are in {contract.AIRFLOW_HOME}/dags of every component; containers: "
            f"{', '.join(deployment.containers.values())}")
        if options.detach:
            say(f"  stop it with `python build.py run --stop --name {deployment.name}`")
            return 0
        say("  press Ctrl-C to stop it and remove everything it started")
        _watch(deployment)
        return 0
    except KeyboardInterrupt:
        say(f"\nstopping {deployment.name}")
        return 130
    finally:
        if not options.detach or _failed(deployment):
            deployment.remove()


def stop(name: str | None = None) -> list[str]:
    """Remove what `run` started: one deployment by name, or all of them."""
    labels = {ORIGIN_LABEL: ORIGIN}
    if name:
        labels[LABEL] = name
    return remove_labelled(Engine.detect(), labels)


def running() -> dict[str, list[str]]:
    return deployments(Engine.detect(), ORIGIN)


def _failed(deployment: Deployment) -> bool:
    """Whether a detached deployment did not come up (then it is removed, not left behind)."""
    return deployment.port is None or "healthy" not in deployment.timings


def _watch(deployment: Deployment) -> None:
    """Block until Ctrl-C (or SIGTERM); stop early, with its log, when a component exits. Ctrl-C
    works even where the parent ignored SIGINT (a background job of a shell without job control
    starts with it ignored, and Python then installs no handler)."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    while True:
        time.sleep(WATCH_SECONDS)
        for name, container in deployment.containers.items():
            status, code = deployment.engine.state(container)
            if status in ("exited", "dead", "gone"):
                raise DeployError(f"{name} stopped (exit {code}):\n{deployment.logs(name)}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
