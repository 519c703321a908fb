"""A project's development deployment: made once, then stopped and started with its database.

    dev start     build the project (BuildKit redoes only what changed) and start its deployment:
                  made on the first start, started again as it was after `stop`, its components
                  made again when the image or the settings changed
    dev stop      stop every container: the database (Variables, connections, run history) and
                  the task logs stay
    dev restart   as start; a running deployment's components are restarted (plugins are read
                  again) or, when the image or the settings changed, made again on the same database
    dev kill      remove everything: containers, volumes (the database), network, the project's images

One deployment per project folder, named after it (`dev-<folder>-<hash of its path>`), so several
projects run side by side, each on its own port. dags/, plugins/ and include/ are mounted read-only
in every Airflow component at AIRFLOW_HOME: a DAG edited or added there is picked up by the DAG
processor without a rebuild (DEV_INTERVALS). The image is built without them, from the Dockerfile,
packages.txt, requirements.txt and the rest: a DAG edit never makes a new image, a requirements
change does on the next start or restart. Each new image gets a tag of its own (`<Runtime image's
tag>-<UTC time>`, as a deploy would), which the UI shows beside the Runtime version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import contract, layout
from ..deploy import project, services, settings
from ..deploy.config import Executor
from ..deploy.deployment import LABEL, ORIGIN_LABEL, DeploymentSpec, remove_labelled
from ..deploy.local import NAME, ProjectImage, check_port, free_port
from ..deploy.persistent import CONFIG_LABEL, PersistentDeployment
from ..errors import BuilderError, UsageError
from ..generate import frozen
from ..generate.specs import ImageSpec
from ..images import host
from ..images.builder import BuildOptions, build, log_path
from ..images.engine import Engine
from ..images.secrets import for_build
from ..matrix.model import Matrix, Platform, Version

ORIGIN = "dev"
__all__ = ["NAME", "DevOptions", "deployment_name", "kill", "start", "stop"]
PROJECT_LABEL = "io.airflow-runtime.dev.project"  # the project folder a dev deployment is of
# The Runtime version `--version` asked for at a start: later starts keep it unless given another.
PINNED_LABEL = "io.airflow-runtime.dev.version"
MOUNTED = ("dags", "plugins", "include")  # mounted at AIRFLOW_HOME/<name>, left out of the image
# How often the DAG processor lists the DAG folder (a new or edited file is parsed at the next
# listing): seconds, for a local loop, where a production deployment waits minutes. A project's
# .env may set other values.
DEV_INTERVALS = {
    3: {"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5"},
    2: {"AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5"},
}
# The components start once the deployment has found PostgreSQL ready itself (and migrated it), so
# the entry point's own wait for the database (`airflow db check`, one more Airflow start per
# component, all at once) is skipped: on two cores it was a third of a restart.
NO_DATABASE_WAIT = {"CONNECTION_CHECK_MAX_COUNT": "0"}
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class DevOptions:
    folder: Path
    name: str | None = None  # default: deployment_name(folder)
    executor: Executor | None = None  # None: what it runs now, or local
    port: int | None = None  # None: what it has now, or a free one
    env_file: Path | None = None  # default: the project's .env
    settings_file: Path | None = None  # default: the project's airflow_settings.yaml
    repository: str = layout.DEFAULT_REPOSITORY
    registry: str = layout.LOCAL_REGISTRY
    version: str | None = None  # the Runtime version asked for (kept by later starts); None: the FROM line's
    cacert: Path | None = None
    index_url: str | None = None
    platform: Platform = field(default_factory=Platform.native)
    services: services.ServiceImages | None = None  # None: made here from Debian's packages (ensure_images)

    @property
    def deployment(self) -> str:
        return self.name or deployment_name(self.folder)

    @property
    def env_path(self) -> Path:
        return self.env_file or self.folder / project.ENV_FILE

    @property
    def settings_path(self) -> Path:
        return self.settings_file or self.folder / settings.SETTINGS_FILE


def deployment_name(folder: Path) -> str:
    """`dev-<folder name>-<6 hex of its absolute path>`: the same project always has the same name,
    two folders of one name have two. Pure but for resolving the path."""
    path = folder.resolve()
    slug = _SLUG.sub("-", path.name.lower()).strip("-")[:30] or "project"
    return f"dev-{slug}-{hashlib.sha256(str(path).encode()).hexdigest()[:6]}"


def inputs(options: DevOptions, airflow_major: int, executor: Executor) -> tuple[dict[str, str],
                                                                              settings.AirflowSettings]:
    """The `.env` variables and the settings, refused with what is wrong in them before anything
    is built or started (project.inputs)."""
    return project.inputs(options.folder, airflow_major, executor, "`dev`", options.env_file, options.settings_file)


def readable_problems(folder: Path) -> list[str]:
    """Files of the mounted folders the containers' user could not read (not readable by others)."""
    found = []
    for name in MOUNTED:
        for path in sorted((folder / name).rglob("*")) if (folder / name).is_dir() else []:
            mode = path.stat().st_mode
            if not mode & 0o004 or (path.is_dir() and not mode & 0o001):
                found.append(str(path.relative_to(folder)))
    return found


def binds(folder: Path) -> dict[str, str]:
    """The project's folders every Airflow component sees, read-only, at AIRFLOW_HOME/<name>."""
    return {str((folder / name).resolve()): f"{contract.AIRFLOW_HOME}/{name}" for name in MOUNTED
            if (folder / name).is_dir()}


def image_repository(options: DevOptions) -> str:
    """Where the project's dev images go: a repository of the deployment's own (its name has the
    project path's hash: two folders of one name keep their images apart)."""
    return f"{project.PROJECT_REPOSITORY}/{options.deployment}"


def image_label(tag: str) -> str:
    """What the UI shows of a dev image's reference: its repository's last part and its tag
    (`dev-myproject-1a2b3c:14.2.1-python-3.13-20261206T193125`). Pure."""
    return tag.rsplit("/", 1)[-1]


# -- the image ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    tag: str
    image_id: str


def build_image(root: Path, matrix: Matrix, image: ProjectImage, options: DevOptions, engine: Engine,
                say: Callable[[str], None], keep: str | None = None) -> Built:
    """Build the project (without its mounted folders) on its ONBUILD image under a new tag; when
    that makes the image `keep` already names, the new tag goes and `keep` stays."""
    spec = ImageSpec(image.release, image.python, image.variant, options.platform)
    paths = layout.Layout(root)
    with for_build(paths.secrets, options.cacert, options.index_url) as secrets:
        onbuild = spec.reference(options.repository)
        released = str(image.release.version) in frozen.read(root)
        if not (released and engine.image_id(onbuild)):  # a released image never changes: build it once
            onbuild = build(matrix, root, [spec], engine, BuildOptions(options.repository, options.registry,
                                                                       secrets=secrets))[-1].reference
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        tag = f"{image_repository(options)}:{spec.label}{options.platform.foreign_suffix}-{stamp}"
        say(f"building {options.folder} on {onbuild} ({image.why})")
        image_id = project.build(engine, options.folder, onbuild, tag, spec.platform.value, secrets,
                                 log_path(root, tag), check_dags=False, leave_out=MOUNTED,
                                 index_url_given=options.index_url is not None)
    if keep and engine.image_id(keep) == image_id:
        engine.remove_image(tag)  # only the tag: the image is `keep`'s
        return Built(keep, image_id)
    say(f"built {tag}")
    return Built(tag, image_id)


# -- the commands ----------------------------------------------------------------------------------


def spec_for(options: DevOptions, tag: str, version: str, images: services.ServiceImages, executor: Executor,
             port: int, airflow_major: int, environment: dict[str, str],
             airflow_settings: settings.AirflowSettings) -> DeploymentSpec:
    """The deployment of the project's image: its mounts, its port, the dev intervals, the instance
    name the UI shows (the Runtime version and the image's tag); the project's .env wins over the
    last two."""
    defaults = DEV_INTERVALS[min(airflow_major, 3)] | NO_DATABASE_WAIT | {
        contract.instance_name_variable(airflow_major): f"{contract.instance_name(version)} · {image_label(tag)}"}
    return DeploymentSpec(tag, images, executor, port=port, environment=defaults | environment,
                          name=options.deployment, origin=ORIGIN, settings=airflow_settings,
                          binds=binds(options.folder), labels={PROJECT_LABEL: str(options.folder.resolve()),
                                                               PINNED_LABEL: options.version or ""})


def start(root: Path, matrix: Matrix, image: ProjectImage, options: DevOptions, restart: bool = False,
          say: Callable[[str], None] = print) -> PersistentDeployment:
    """`dev start` (and, `restart`, `dev restart`): the project's deployment up and healthy."""
    release = image.release
    engine = host.require(arm64=options.platform is Platform.ARM64)
    base = DeploymentSpec("", services.ServiceImages("", ""), Executor.LOCAL, name=options.deployment)
    current = PersistentDeployment.reopen(base, engine, as_is=True) if _exists(engine, options) else None
    if current is not None:
        refuse_going_back(current, image)
    executor = options.executor or (current.spec.executor if current else Executor.LOCAL)
    if image.variant.is_slim and executor is Executor.CELERY:
        raise UsageError(f"{image.why}: slim images have no Celery provider; use --executor local")
    environment, airflow_settings = inputs(options, release.airflow.major, executor)
    if options.port is not None and (current is None or options.port != current.spec.port):
        check_port(options.port)
    port = options.port or (current.spec.port if current and current.spec.port else free_port())
    if current and current.running and not restart:
        say(f"{current.name} is running: {current.url} (`dev restart` builds and applies what changed)")
        return current
    unreadable = readable_problems(options.folder)
    if unreadable:
        say(f"warning: the containers cannot read {', '.join(unreadable[:5])}{' ...' if len(unreadable) > 5 else ''}"
            " (not readable by others): `chmod o+rX` them")
    built = build_image(root, matrix, image, options, engine, say, keep=current.spec.image if current else None)
    images = service_images(root, options, engine)
    spec = spec_for(options, built.tag, str(release.version), images, executor, port, release.airflow.major,
                    environment, airflow_settings)
    if current is None:
        return _create(spec, engine, say)
    deployment = PersistentDeployment.reopen(spec, engine)
    assert deployment is not None
    try:
        if deployment.changed:
            say(f"{deployment.name}: the image or the settings changed: making its components again on the same "
                "database")
            deployment.reconfigure(say)
            _forget_images(engine, options, keep=built.tag)
        elif restart and current.running:
            deployment.restart_airflow(say)
        else:
            deployment.resume(say)
    except BuilderError as error:
        error.args = (f"{error}\nthe database and the logs are kept: fix the cause and `dev restart`, "
                      f"or `dev kill` to remove the deployment",)
        raise
    return deployment


def service_images(root: Path, options: DevOptions, engine: Engine) -> services.ServiceImages:
    """PostgreSQL's and Redis's images: those given, else made here (once per host)."""
    return options.services or services.ensure_images(engine, options.registry, layout.Layout(root).bases)


def refuse_going_back(current: PersistentDeployment, image: ProjectImage) -> None:
    """A project's deployment moves forward only: its database is its Airflow's. A build on an
    older Airflow than the one it runs (a FROM line changed back, a `--version` of a start not given
    again) is refused, naming both."""
    running = Version.parse(current.facts.airflow_version.split("+", 1)[0])
    if image.release.airflow < running:
        raise UsageError(f"{current.name} runs Runtime {current.facts.runtime_version} (Airflow {running}), and its "
                         f"database is that Airflow's; {image.why} ships Airflow {image.release.airflow}: give "
                         f"`--version {current.facts.runtime_version}` (or a newer one), or `dev kill` it first")


def _create(spec: DeploymentSpec, engine: Engine, say: Callable[[str], None]) -> PersistentDeployment:
    """The first start: a failure removes whatever started (there is no data yet to keep)."""
    deployment = PersistentDeployment(spec, engine)
    try:
        deployment.start(progress=say)
    except BaseException as error:
        deployment.remove()
        if isinstance(error, BuilderError):
            error.args = (f"{error}\nnothing was left running",)
        raise
    return deployment


def stop(options: DevOptions, say: Callable[[str], None] = print) -> bool:
    """Stop the project's deployment, keeping everything; False when it has none."""
    deployment = reopen(options)
    if deployment is None:
        return False
    deployment.stop()
    say(f"stopped {deployment.name}: its database and logs are kept (`dev start` starts it again, `dev kill` "
        "removes it)")
    return True


def kill(options: DevOptions, say: Callable[[str], None] = print) -> bool:
    """Remove the project's deployment and its images; False when it has none."""
    engine = host.require(registry=False)
    removed = remove_labelled(engine, {LABEL: options.deployment, ORIGIN_LABEL: ORIGIN})
    _forget_images(engine, options)
    if removed:
        say(f"removed {', '.join(removed)}: containers, database, logs and network")
    return bool(removed)


def reopen(options: DevOptions) -> PersistentDeployment | None:
    """The project's deployment as it is (running or stopped), or None."""
    engine = host.require(registry=False)
    if not _exists(engine, options):
        return None
    base = DeploymentSpec("", services.ServiceImages("", ""), Executor.LOCAL, name=options.deployment)
    return PersistentDeployment.reopen(base, engine, as_is=True)


def pinned_version(options: DevOptions) -> str | None:
    """The Runtime version a `--version` asked for when the project's deployment was (re)made."""
    engine = host.require(registry=False)
    for part in engine.labelled([f"{LABEL}={options.deployment}", f"{ORIGIN_LABEL}={ORIGIN}", CONFIG_LABEL]):
        if part.kind == "container":  # a component's: made by the latest (re)configuration
            return part.labels.get(PINNED_LABEL) or None
    return None


def require(options: DevOptions) -> PersistentDeployment:
    found = reopen(options)
    if found is None:
        raise UsageError(f"{options.folder}: no development deployment ({options.deployment}); `dev start` makes one")
    return found


def _exists(engine: Engine, options: DevOptions) -> bool:
    parts = engine.labelled([f"{LABEL}={options.deployment}"])
    others = {p.labels.get(ORIGIN_LABEL) for p in parts} - {ORIGIN}
    if others:
        raise UsageError(f"--name {options.deployment}: a deployment of that name was made by `{others.pop()}`, "
                         "not by `dev`; choose another name")
    return bool(parts)


def _forget_images(engine: Engine, options: DevOptions, keep: str | None = None) -> None:
    """Untag the project's earlier dev images (an image a container still runs stays until it goes)."""
    for reference in engine.image_tags(f"{image_repository(options)}:"):
        if reference != keep and re.search(r"-\d{8}T\d{6}$", reference):
            engine.remove_image(reference)
