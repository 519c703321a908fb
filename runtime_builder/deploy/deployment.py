"""One Airflow deployment of an image, through the engine adapter (images/engine.py): start, wait until healthy,
remove.

    with Deployment(DeploymentSpec(image, services, Executor.CELERY)) as deployment:
        deployment.start()          # network, volumes, PostgreSQL, Redis, migrate, components
        deployment.url              # http://127.0.0.1:<port>, the UI and the REST API

Everything a deployment creates carries the label `io.airflow-runtime.deployment=<name>`, and
leaving the `with` block removes it all, after a failure and after Ctrl-C too. Nothing is
published on a fixed host port and every name has the deployment's name in it, so deployments
run side by side. A component that does not come up fails the start with its name, the check
that failed and the last lines of its log.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .. import contract
from ..errors import EngineError
from ..images.engine import ContainerSpec, Engine
from . import health, services
from .config import (
    ADMIN_USER,
    API_PORT,
    CELERY_APP,
    POSTGRES_HOST,
    REDIS_HOST,
    SIMPLE_AUTH_PASSWORDS,
    AuthManager,
    Check,
    Component,
    Executor,
    Keys,
    airflow_environment,
    components,
    health_path,
    users_command,
)
from .facts import DeployError, image_facts
from .health import POLL_SECONDS, QUICK_POLL_SECONDS, Health
from .services import ServiceImages
from .settings import AirflowSettings

# A job whose last heartbeat is older than this is not alive (Airflow's scheduler threshold is 30 s).
JOB_ALIVE_SECONDS = 30

LABEL = "io.airflow-runtime.deployment"
ORIGIN_LABEL = "io.airflow-runtime.deployment.origin"
OWNER_LABEL = "io.airflow-runtime.deployment.owner"
START_TIMEOUT = 420.0  # seconds for every component to be healthy: 2 cores, five Airflow processes
MIGRATE_TIMEOUT = 600.0
LOG_LINES = 40


@dataclass(frozen=True)
class DeploymentSpec:
    image: str  # the Airflow image every component runs (a Runtime image, or a project built on one)
    services: ServiceImages
    executor: Executor = Executor.CELERY
    port: int | None = None  # the UI's port on 127.0.0.1; None: a free one
    environment: Mapping[str, str] = field(default_factory=dict)  # the deployment's own settings; they win
    name: str | None = None  # default: airflow-<random>
    origin: str = "api"  # who started it: "run" (build.py run), "test", "bench"
    unpause: tuple[str, ...] = ()  # DAGs the deployment turns on once parsed (as a control plane would)
    # The uid:gid every Airflow container runs as (OpenShift runs a pod as an arbitrary uid in
    # group 0); None: the image's own user.
    user: str | None = None
    # Connections, pools and Variables imported once the database is migrated (a project's
    # airflow_settings.yaml), before the components start.
    settings: AirflowSettings = field(default_factory=AirflowSettings)
    # Who logs users in (Airflow 3); None: the image's default (Airflow 2 has FAB's only).
    auth_manager: AuthManager | None = None
    # Host folders every Airflow component sees, read-only (a project's dags/, plugins/, include/).
    binds: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # more labels for every part (who it is for)


class Deployment:
    def __init__(self, spec: DeploymentSpec, engine: Engine | None = None,
                 keys: Keys | None = None) -> None:
        self.spec = spec
        self.engine = engine or Engine.detect()
        self.keys = keys or Keys()
        self.name = spec.name or f"airflow-{uuid.uuid4().hex[:8]}"
        self.facts = image_facts(self.engine, spec.image)
        self.components = components(self.facts.airflow_major, spec.executor)
        self.environment = self._airflow_environment()
        self.containers: dict[str, str] = {}  # its parts' names (network alias -> container)
        self.port: int | None = None
        self._network: str | None = None
        self._volumes: list[str] = []
        self.auth: AuthManager | None = None  # the auth manager in effect, known once migrated
        self.timings: dict[str, float] = {}  # seconds from the start to each step and component
        self._started = 0.0
        self._logs = ""
        self._owned = False  # whether start() made the parts named after it (and remove() may remove them)

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    @property
    def labels(self) -> dict[str, str]:
        return {**self.spec.labels, LABEL: self.name, ORIGIN_LABEL: self.spec.origin,
                OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}"}

    @property
    def url(self) -> str:
        if self.port is None:
            raise DeployError(f"deployment {self.name} is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def ui(self) -> Component:
        return next(c for c in self.components if c.serves_ui)

    def start(self, progress: Callable[[str], None] = print) -> None:
        """Bring every part up in order and wait until each is healthy; raise DeployError otherwise."""
        self.start_services()
        progress(f"{self.name}: PostgreSQL{' and Redis' if self._celery else ''} ready; migrating the database")
        self._logs = self._volume("logs")
        self._start_airflow(progress, import_settings=True)

    def start_services(self) -> None:
        """The network, PostgreSQL (and Redis, for Celery), ready; no Airflow component yet."""
        taken = sorted(deployment_parts(self.engine, self.name))
        if taken:
            # Another deployment's: leave it alone (remove() too removes only what this one made).
            raise DeployError(f"a deployment named {self.name} is already there ({', '.join(taken)}); "
                              "choose another name, or remove that one first")
        self._owned = True
        started = self._started = time.monotonic()
        self._network = self.engine.create_network(self.name, self.labels)
        self._start_services()
        self._wait([self._service_ready("postgres", services.POSTGRES_READY)]
                   + ([self._redis_ready()] if self._celery else []), 120.0)
        self.timings["services"] = time.monotonic() - started

    def oneshot(self, alias: str, command: tuple[str, ...], timeout: float, files: bytes | None = None) -> str:
        """Run a command to its end in a container of the deployment's image, on its network and
        database; its output (DeployError with the output when it fails)."""
        return self._oneshot(alias, command, timeout * self.facts.patience, files)

    def _start_airflow(self, progress: Callable[[str], None], import_settings: bool = False) -> None:
        """Migrate the database with the image (and import the settings, on a new database), then
        start every component and wait for them."""
        patience = self.facts.patience
        self._oneshot("migrate", ("airflow", "db", "migrate"), MIGRATE_TIMEOUT * patience)
        self.auth = self._auth_manager(300.0 * patience)
        if self.auth is AuthManager.FAB:
            self._oneshot("users", users_command(self.keys, self.facts.airflow_major), 300.0 * patience)
        self.timings["migrate"] = time.monotonic() - self._started
        if import_settings and self.spec.settings:
            progress(f"{self.name}: importing {self.spec.settings.summary()}")
            self._oneshot("settings", self.spec.settings.import_command(), 300.0 * patience,
                          files=self.spec.settings.import_archive())
            self.timings["settings"] = time.monotonic() - self._started
        progress(f"{self.name}: starting {', '.join(c.name for c in self.components)}")
        for component in self.components:
            self._start_component(component, self._logs)
        self._wait([self._healthy(component) for component in self.components], START_TIMEOUT * patience)
        self.timings["healthy"] = time.monotonic() - self._started
        for dag_id in self.spec.unpause:
            self.unpause(dag_id)
        progress(f"{self.name}: every component is healthy ({self.timings['healthy']:.0f} s)")

    def stop_airflow(self) -> None:
        """Remove the Airflow components; PostgreSQL, Redis, the network and the volumes stay."""
        for component in self.components:
            container = self.containers.pop(component.name, None)
            if container is not None:
                self.engine.remove(container)
        self.port = None

    def switch(self, image: str, progress: Callable[[str], None] = print) -> None:
        """Run another image on the same database (an upgrade, or a rollback after `downgrade`):
        stop the components, migrate the database with the new image, start it everywhere."""
        self.stop_airflow()
        self.spec = replace(self.spec, image=image)
        self.facts = image_facts(self.engine, image)
        self.components = components(self.facts.airflow_major, self.spec.executor)
        self.environment = self._airflow_environment()
        self._started = time.monotonic()
        progress(f"{self.name}: switching to {image} (Airflow {self.facts.airflow_version})")
        self._start_airflow(progress)

    def downgrade(self, airflow_version: str, image: str | None = None) -> tuple[int, str]:
        """`airflow db downgrade --to-version <airflow_version> --yes`, run with the current (newer)
        image (or `image`: the same release with what Airflow asked for) before an older one
        starts, as Airflow supports a rollback; (exit code, its output)."""
        self.stop_airflow()
        command = ["airflow", "db", "downgrade", "--to-version", airflow_version, "--yes"]
        container = self._run_airflow("downgrade", command, image=image)
        status = self.engine.wait(container, MIGRATE_TIMEOUT * self.facts.patience)
        output = self.engine.logs(container)
        self.engine.remove(container)
        del self.containers["downgrade"]
        return status, output

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query on the metadata database (psql in the PostgreSQL container)."""
        code, output = self.exec(POSTGRES_HOST, services.psql(query), user="postgres")
        if code != 0:
            raise DeployError(f"{self.name}: `{query}` failed: {output}")
        return [line.split("\t") for line in output.splitlines() if line]

    def remove(self) -> None:
        """Remove every container, volume and the network of this deployment (idempotent); nothing
        when it never started (its name may be another deployment's)."""
        if self._owned:
            remove_labelled(self.engine, {LABEL: self.name})
        self.containers.clear()

    # -- what users and tests read ---------------------------------------------------------------

    def login(self, user: str = ADMIN_USER) -> tuple[str, str]:
        """(user, password) for the UI and the REST API: the admin, or the viewer (VIEWER_USER)."""
        if self.auth is AuthManager.FAB:
            return user, self.keys.admin_password if user == ADMIN_USER else self.keys.viewer_password
        code, output = self.exec(self.ui.name, ["bash", "-c", f'cat "$AIRFLOW_HOME/{SIMPLE_AUTH_PASSWORDS}"'])
        if code != 0:
            raise DeployError(f"cannot read the API server's generated passwords: {output}")
        return user, json.loads(output)[user]

    def exec(self, component: str, argv: list[str], environment: Mapping[str, str] | None = None,
             user: str | None = None) -> tuple[int, str]:
        """Run a command in a running component (as the image's user); (exit code, stdout + stderr)."""
        return self.engine.exec(self.containers[component], argv, environment, user)

    def airflow(self, component: str, *args: str, environment: Mapping[str, str] | None = None) -> tuple[int, str]:
        return self.exec(component, ["airflow", *args], environment)

    def logs(self, component: str, lines: int = LOG_LINES) -> str:
        container = self.containers.get(component)
        return self.engine.logs(container, lines) if container else "(no container)"

    def unpause(self, dag_id: str, timeout: float | None = None) -> None:
        """Turn a DAG on once it is parsed, with the CLI of the scheduler's container."""
        timeout = 180.0 * self.facts.patience if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            code, output = self.airflow("scheduler", "dags", "unpause", dag_id)
            if code == 0:
                return
            if time.monotonic() > deadline:
                raise DeployError(f"`airflow dags unpause {dag_id}` kept failing for {timeout:.0f} s:\n"
                                  f"{output[-2000:]}")
            time.sleep(POLL_SECONDS * 2)

    # -- parts ------------------------------------------------------------------------------------

    @property
    def _celery(self) -> bool:
        return self.spec.executor is Executor.CELERY

    def _volume(self, purpose: str) -> str:
        name = f"{self.name}-{purpose}"
        self.engine.create_volume(name, self.labels)
        self._volumes.append(name)
        return name

    def _run(self, alias: str, image: str, command: Iterable[str], *, user: str | None = None,
             environment: Mapping[str, str] | None = None, volumes: Mapping[str, str] | None = None,
             ports: Mapping[str, tuple[str, int | None]] | None = None, files: bytes | None = None,
             binds: Mapping[str, str] | None = None) -> str:
        """Start a container on the deployment's network; `files` (a tar, unpacked at /) are put into
        it before it starts (not in its environment, where `docker inspect` shows them)."""
        assert self._network is not None
        spec = ContainerSpec(image, tuple(command), f"{self.name}-{alias}", hostname=alias, user=user,
                             environment=dict(environment or {}), labels=self.labels, volumes=dict(volumes or {}),
                             binds=dict(binds or {}), ports=dict(ports or {}), network=self._network, aliases=(alias,))
        self.containers[alias] = spec.name
        try:
            return self.engine.start(spec, files)
        except EngineError as error:
            raise DeployError(f"{self.name}: {error}") from error

    def _run_airflow(self, alias: str, command: Iterable[str], *, image: str | None = None,
                     files: bytes | None = None, **extra: Any) -> str:
        """An Airflow container of the deployment: its image (or `image`), user and environment."""
        return self._run(alias, image or self.spec.image, command, user=self.spec.user,
                         environment=self.environment, files=files, **extra)

    def _airflow_environment(self) -> dict[str, str]:
        """What every Airflow container gets (a connection the settings define is the project's)."""
        return airflow_environment(self.facts.airflow_major, self.spec.executor, self.keys, self.spec.environment,
                                   defined=self.spec.settings.environment_names(), auth_manager=self.spec.auth_manager,
                                   emulated=self.facts.emulated)

    def _start_services(self) -> None:
        images = self.spec.services
        self._run(POSTGRES_HOST, images.postgres, ["bash", "-c", services.POSTGRES_SCRIPT], user="postgres",
                  environment={"POSTGRES_PASSWORD": self.keys.database_password},
                  volumes={self._volume("database"): services.DATA_VOLUME_PATH})
        if self._celery:
            self._run(REDIS_HOST, images.redis, services.redis_command(self.keys.redis_password), user="redis")

    def _auth_manager(self, timeout: float) -> AuthManager:
        """The auth manager in effect: FAB's on Airflow 2, the deployment's choice, or the image's."""
        if self.facts.airflow_major < 3:
            return AuthManager.FAB
        if self.spec.auth_manager is not None:
            return self.spec.auth_manager
        output = self._oneshot("auth-manager", ("airflow", "config", "get-value", "core", "auth_manager"), timeout)
        return AuthManager.of(output)

    def _oneshot(self, alias: str, command: tuple[str, ...], timeout: float, files: bytes | None = None) -> str:
        """Run a command to its end in a container of the image; its output (DeployError if it fails)."""
        container = self._run_airflow(alias, command, files=files)
        try:
            status = self.engine.wait(container, timeout)
        except EngineError as error:
            raise DeployError(f"{self.name}: `{' '.join(command[:3])}` did not finish in {timeout:.0f} s:\n"
                              f"{self.logs(alias)}") from error
        if status != 0:
            raise DeployError(f"{self.name}: `{' '.join(command[:3])}` failed (exit {status}):\n{self.logs(alias)}")
        output = self.engine.logs(container)
        self.engine.remove(container)
        del self.containers[alias]
        return output

    def _start_component(self, component: Component, logs_volume: str) -> None:
        ports = {f"{API_PORT}/tcp": ("127.0.0.1", self.spec.port)} if component.serves_ui else None
        container = self._run_airflow(component.name, component.command,
                                      volumes={logs_volume: f"{contract.AIRFLOW_HOME}/logs"}, ports=ports,
                                      binds=self.spec.binds)
        if component.serves_ui:
            self.port = self.engine.host_port(container, API_PORT)
            if self.port is None:
                raise DeployError(f"{self.name}: {component.name} got no host port for {API_PORT}")

    # -- health -------------------------------------------------------------------------------

    def _service_ready(self, alias: str, argv: tuple[str, ...], environment: Mapping[str, str] | None = None
                       ) -> Health:
        return Health(alias, " ".join(argv), lambda: self.exec(alias, list(argv), environment)[0] == 0,
                      QUICK_POLL_SECONDS)

    def _redis_ready(self) -> Health:
        return self._service_ready(REDIS_HOST, services.REDIS_READY, services.redis_auth(self.keys.redis_password))

    def _healthy(self, component: Component) -> Health:
        name = component.name
        if component.check is Check.HTTP:
            path = health_path(self.facts.airflow_major)
            return Health(name, f"GET {path}", lambda: self._http_healthy(path), QUICK_POLL_SECONDS)
        if component.check is Check.JOB:
            job_type, since = str(component.job_type), self.engine.started_at(self.containers[name])
            query = _job_query(job_type, name, since)
            return Health(name, f"a live {job_type} of {name}, started with its container (what `airflow jobs "
                                "check` asks of the metadata database)",
                          lambda: self._job_alive(job_type, name, query),
                          QUICK_POLL_SECONDS if query else POLL_SECONDS)  # a query is cheap, the command is not
        argv = ["celery", "--app", CELERY_APP, "inspect", "ping", "-d", f"celery@{name}"]
        return Health(name, " ".join(argv), lambda: self.exec(name, argv)[0] == 0,
                      sign=lambda: f"celery@{name} ready." in self.logs(name, lines=200))

    def _job_alive(self, job_type: str, hostname: str, query: str | None) -> bool:
        """The metadata database has a running job of this type from this host that started after its
        container did and heartbeats (`_job_query`); for names not of ours, Airflow's own check."""
        if query is None:
            argv = ["airflow", "jobs", "check", "--job-type", job_type, "--hostname", hostname]
            return self.exec(hostname, argv)[0] == 0
        rows = self.sql(query)
        return bool(rows) and rows[0][0] != "0"

    def _http_healthy(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                answer = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return (answer.get("metadatabase") or {}).get("status") == "healthy"

    def _wait(self, checks: list[Health], timeout: float) -> None:
        """Every check passes (side by side), or DeployError names the first container that stopped
        or the check still failing at the timeout, with its last log lines."""
        def healthy(name: str) -> None:
            self.timings[f"healthy:{name}"] = time.monotonic() - self._started
        try:
            health.wait_all(checks, timeout, lambda check: self._require_running(check.name, check.what), healthy)
        except health.Unhealthy as error:
            name = error.name
            also = f" (also not healthy: {', '.join(error.others)})" if error.others else ""
            raise DeployError(f"{self.name}: {name} did not become healthy within {timeout:.0f} s "
                              f"(check: {error.what}){also}; its last log lines:\n{self.logs(name)}") from None

    def _require_running(self, name: str, what: str) -> None:
        status, code = self.engine.state(self.containers[name])
        if status in ("exited", "dead", "gone"):
            raise DeployError(f"{self.name}: {name} stopped (exit {code}) before it was healthy (check: {what}); "
                              f"its last log lines:\n{self.logs(name)}")


def remove_labelled(engine: Engine, labels: Mapping[str, str]) -> list[str]:
    """Remove the containers, volumes and networks carrying `labels`; return the deployments removed."""
    removed = engine.remove_labelled([f"{key}={value}" for key, value in labels.items()])
    return sorted({part.labels.get(LABEL, "") for part in removed} - {""})


def deployment_parts(engine: Engine, name: str) -> list[str]:
    """The containers, volumes and networks of the deployment called `name`, whoever made them."""
    return [part.name for part in engine.labelled([f"{LABEL}={name}"])]


def deployments(engine: Engine, origin: str | None = None) -> dict[str, list[str]]:
    """Running deployments (by name) and their containers, optionally only those one origin started."""
    found: dict[str, list[str]] = {}
    for part in engine.labelled([LABEL] + ([f"{ORIGIN_LABEL}={origin}"] if origin else [])):
        if part.kind == "container":
            found.setdefault(part.labels[LABEL], []).append(part.name)
    return found


def _job_query(job_type: str, hostname: str, since: str) -> str | None:
    """What `airflow jobs check` looks for, as one query of PostgreSQL (a tenth of a second, where the
    command imports Airflow: seconds of a core each try, while the components start on the same
    cores): a running job of this type from this host, started after its container (`since`, the
    engine's time) and heartbeating. A job left `running` by a container stopped before is older
    than the container: it does not count. None when the names are not of ours (config.components)."""
    started = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?\d*Z", since)
    if not (started and re.fullmatch(r"[A-Za-z]+", job_type) and re.fullmatch(r"[a-z][a-z0-9-]*", hostname)):
        return None
    return (f"SELECT count(*) FROM job WHERE job_type = '{job_type}' AND hostname = '{hostname}' "  # noqa: S608
            f"AND state = 'running' AND start_date >= '{started.group(1)}{started.group(2) or ''}Z' "
            f"AND latest_heartbeat > now() - interval '{JOB_ALIVE_SECONDS} seconds'")
