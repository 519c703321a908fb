"""A deployment that outlives the process that started it (the local development loop's).

    deployment = PersistentDeployment(spec)      # spec.name given: the project's deployment
    deployment.start()                           # as Deployment.start, and its keys are kept
    ...                                          # later, in another process:
    found = PersistentDeployment.reopen(spec)    # None when there is no such deployment
    found.stop()                                 # every container stopped; the database stays
    found.resume()                               # started again as it was, waits until healthy
    found.restart_airflow()                      # the Airflow components restarted, same image
    found.reconfigure(new_spec)                  # another image, environment, executor or port:
                                                 # the components made again on the same database

The secrets its parts share (database password, Fernet key, signing keys, user passwords) are
made once and kept as a label of its database volume, the one part that lives as long as the
data they open; they are as visible there as in its containers' environment (`docker inspect`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import EngineError
from ..images.engine import Engine
from . import services
from .config import POSTGRES_HOST, REDIS_HOST, AuthManager, Executor, Keys
from .deployment import LABEL, DeployError, Deployment, DeploymentSpec
from .settings import AirflowSettings

KEYS_LABEL = "io.airflow-runtime.deployment.keys"
# What a component was made with (image id, environment, mounts, executor, port): a digest on its
# labels, so a restart can tell whether the components must be made again.
CONFIG_LABEL = "io.airflow-runtime.deployment.config"
EXECUTOR_LABEL = "io.airflow-runtime.deployment.executor"
PORT_LABEL = "io.airflow-runtime.deployment.port"  # the UI's host port, kept across restarts
AUTH_LABEL = "io.airflow-runtime.deployment.auth"  # the auth manager in effect (who logs users in)
STOP_SECONDS = 30.0  # a component's grace period after SIGTERM (a warm shutdown of running tasks)
# A restart's grace: what the development loop waits for before starting the components again (the
# triggerer alone takes ~10 s to exit gracefully; a task still running after it is killed, as
# `docker compose restart` would after its own timeout, and its retries decide).
RESTART_SECONDS = 5.0


class PersistentDeployment(Deployment):
    def __init__(self, spec: DeploymentSpec, engine: Engine | None = None, keys: Keys | None = None) -> None:
        if spec.name is None:
            raise DeployError("a persistent deployment needs a name (it is found again by it)")
        super().__init__(spec, engine, keys)
        # What its components are made with (CONFIG_LABEL), and what the running ones were made with.
        self.config = config_digest(self.engine.image_id(spec.image) or spec.image, spec, self.environment)
        self.current_config = ""

    @classmethod
    def reopen(cls, spec: DeploymentSpec, engine: Engine | None = None,
               as_is: bool = False) -> PersistentDeployment | None:
        """The deployment called spec.name, running or stopped, to be made like `spec` (or, `as_is`,
        with the image and executor its components run now); None when it has no parts. DeployError
        when parts are left but not the database volume that holds its keys."""
        engine = engine or Engine.detect()
        assert spec.name is not None
        parts = engine.labelled([f"{LABEL}={spec.name}"])
        if not parts:
            return None
        database = next((p for p in parts if p.kind == "volume" and KEYS_LABEL in p.labels), None)
        if database is None:
            raise DeployError(f"deployment {spec.name} is incomplete (no database volume with its keys): "
                              f"remove what is left of it ({', '.join(sorted(p.name for p in parts))}) and start again")
        keys = Keys(**json.loads(database.labels[KEYS_LABEL]))
        containers = {p.name.removeprefix(f"{spec.name}-"): p.name for p in parts if p.kind == "container"}
        running_image, current, auth = None, "", ""
        for alias, container in sorted(containers.items()):
            labels = next(p.labels for p in parts if p.name == container)
            if alias not in (POSTGRES_HOST, REDIS_HOST) and CONFIG_LABEL in labels:
                running_image, current = engine.container_facts(container)[0], labels[CONFIG_LABEL]
                auth = labels.get(AUTH_LABEL, "")
                if as_is:
                    port = labels.get(PORT_LABEL)
                    spec = dataclasses.replace(spec, image=running_image,
                                               executor=Executor(labels.get(EXECUTOR_LABEL, spec.executor.value)),
                                               port=int(port) if port else spec.port)
                break
        if as_is and running_image is None:
            raise DeployError(f"deployment {spec.name} has no Airflow components left: start it again")
        found = cls(spec, engine, keys)
        found.current_config = current
        found.auth = AuthManager(auth) if auth else None
        known = {c.name for c in found.components} | {POSTGRES_HOST, REDIS_HOST}
        for alias, container in containers.items():
            if alias in known:
                found.containers[alias] = container
            else:  # a one-shot container a crash left behind (migrate, users, settings)
                engine.remove(container)
        found._network = next((p.name for p in parts if p.kind == "network"), None)
        found._logs = f"{spec.name}-logs"
        found._owned = True
        found.port = spec.port
        return found

    @property
    def changed(self) -> bool:
        """Whether the components run something else than `spec` makes (image, environment, ...)."""
        return self.config != self.current_config

    # -- state ------------------------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        """Each part's state by alias: running, exited, ... (`docker ps`'s words)."""
        return {alias: self.engine.state(container)[0] for alias, container in sorted(self.containers.items())}

    @property
    def running(self) -> bool:
        states = self.status()
        return bool(states) and all(state == "running" for state in states.values())

    @property
    def airflow_parts(self) -> list[str]:
        return [alias for alias in self.containers if alias not in (POSTGRES_HOST, REDIS_HOST)]

    # -- lifecycle ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every container (the Airflow components, side by side, then Redis and PostgreSQL);
        nothing is removed: the database, the logs and the containers stay for `resume`."""
        self._stop_components()
        for alias in (REDIS_HOST, POSTGRES_HOST):
            if alias in self.containers:
                self.engine.stop(self.containers[alias], STOP_SECONDS)

    def _stop_components(self, grace: float = STOP_SECONDS) -> None:
        with ThreadPoolExecutor(max_workers=len(self.airflow_parts) or 1) as pool:
            list(pool.map(lambda alias: self.engine.stop(self.containers[alias], grace), self.airflow_parts))

    def resume(self, progress: Callable[[str], None] = print) -> None:
        """Start the stopped containers again as they were and wait until every one is healthy."""
        self._started = time.monotonic()
        self._resume_services()
        progress(f"{self.name}: starting {', '.join(self.airflow_parts)} again")
        for alias in self.airflow_parts:
            if self.engine.state(self.containers[alias])[0] != "running":
                self.engine.resume(self.containers[alias])
        self._wait_for_components(progress)

    def restart_airflow(self, progress: Callable[[str], None] = print) -> None:
        """Restart the Airflow components as they are (same image and settings), e.g. for new plugins."""
        self._started = time.monotonic()
        self._resume_services()
        progress(f"{self.name}: restarting {', '.join(self.airflow_parts)}")

        def restart(alias: str) -> None:  # each starts again as soon as it stopped, not after the slowest
            self.engine.stop(self.containers[alias], RESTART_SECONDS)
            self.engine.resume(self.containers[alias])

        with ThreadPoolExecutor(max_workers=len(self.airflow_parts) or 1) as pool:
            list(pool.map(restart, self.airflow_parts))
        self._wait_for_components(progress)

    def reconfigure(self, progress: Callable[[str], None] = print) -> None:
        """Make the Airflow components again from the spec (a new image, environment, executor or port)
        on the same database: migrate it with the image, then start and wait for them."""
        self._started = time.monotonic()
        self._resume_services()
        for alias in self.airflow_parts:
            self.engine.remove(self.containers.pop(alias))
        if self._celery and REDIS_HOST not in self.containers:
            self._run(REDIS_HOST, self.spec.services.redis, services.redis_command(self.keys.redis_password),
                      user="redis")
            self._wait([self._redis_ready()], 120.0)
        progress(f"{self.name}: migrating the database with {self.spec.image}")
        self._start_airflow(progress)
        self.current_config = self.config

    def import_settings(self, airflow_settings: AirflowSettings, progress: Callable[[str], None] = print) -> None:
        """Import connections, pools and Variables into the running deployment's database (Airflow's
        own import commands, in a one-shot container: an entry that exists is updated)."""
        progress(f"{self.name}: importing {airflow_settings.summary()}")
        self._oneshot("settings", airflow_settings.import_command(), 300.0 * self.facts.patience,
                      files=airflow_settings.import_archive())

    # -- parts ----------------------------------------------------------------------------------------

    @property
    def labels(self) -> dict[str, str]:
        return super().labels | {CONFIG_LABEL: self.config, EXECUTOR_LABEL: self.spec.executor.value,
                                 PORT_LABEL: str(self.spec.port or ""),
                                 AUTH_LABEL: self.auth.value if self.auth else ""}

    def _volume(self, purpose: str) -> str:
        """The database volume carries the deployment's keys (made once, with the data they open)."""
        name = f"{self.name}-{purpose}"
        labels = self.labels | ({KEYS_LABEL: json.dumps(dataclasses.asdict(self.keys))} if purpose == "database"
                                else {})
        self.engine.create_volume(name, labels)
        self._volumes.append(name)
        return name

    def _resume_services(self) -> None:
        waits = []
        ready = {POSTGRES_HOST: lambda: self._service_ready(POSTGRES_HOST, services.POSTGRES_READY),
                 REDIS_HOST: self._redis_ready}
        for alias, health in ready.items():
            if alias in self.containers:
                if self.engine.state(self.containers[alias])[0] != "running":
                    try:
                        self.engine.resume(self.containers[alias])
                    except EngineError as error:
                        raise DeployError(f"{self.name}: {error}") from error
                waits.append(health())
        self._wait(waits, 120.0)

    def _wait_for_components(self, progress: Callable[[str], None]) -> None:
        self._wait([self._healthy(component) for component in self.components], 300.0 * self.facts.patience)
        self.timings["healthy"] = time.monotonic() - self._started
        progress(f"{self.name}: every component is healthy ({self.timings['healthy']:.0f} s)")


def config_digest(image_id: str, spec: DeploymentSpec, environment: Mapping[str, str]) -> str:
    """A digest of what the components are made with. Pure."""
    record: dict[str, Any] = {"image": image_id, "executor": spec.executor.value, "port": spec.port,
                              "binds": dict(spec.binds), "environment": dict(environment), "user": spec.user,
                              "auth": spec.auth_manager.value if spec.auth_manager else None}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]


