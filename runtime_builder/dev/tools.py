"""What `dev ps`, `dev logs`, `dev bash`, `dev exec` and `dev airflow` show and run, in the project's
deployment (deployment/persistent.py finds it, running or stopped).

The runtime's monitoring DAG reports on itself through the API server's health endpoint (the
image's in-house airflow-runtime-monitoring plugin adds an entry named after the DAG, from Runtime
14.3.0: monitoring-guarded): `ps` prints that entry, and `logs` begins with it when it is not healthy.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .. import contract
from ..deploy.config import health_path
from ..deploy.deployment import LABEL, deployments
from ..deploy.persistent import PersistentDeployment
from ..errors import UsageError
from ..images.engine import Engine
from . import session

DEFAULT_COMPONENT = "scheduler"  # where `bash`, `exec` and `airflow` run unless told (as the Astro CLI does)
MONITORING_KEY = contract.MONITORING_DAG_ID  # the health endpoint's entry the image's plugin adds


@dataclass(frozen=True)
class Monitoring:
    status: str  # healthy, unhealthy, or unknown (the image does not report it, or the API server is down)
    detail: str


def monitoring(deployment: PersistentDeployment) -> Monitoring:
    """The monitoring DAG's health as the image reports it (see the module's docstring)."""
    if deployment.port is None or not deployment.running:
        return Monitoring("unknown", "the deployment is not running")
    try:
        with urllib.request.urlopen(deployment.url + health_path(deployment.facts.airflow_major),
                                    timeout=10) as response:
            answer = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Monitoring("unknown", f"the API server's health endpoint did not answer ({error})")
    entry = answer.get(MONITORING_KEY)
    if not isinstance(entry, dict):
        return Monitoring("unknown", "this image does not report its monitoring DAG's health (Runtime 14.3.0 and "
                                     "later do)")
    return Monitoring(str(entry.get("status", "unknown")), str(entry.get("detail", "")))


def ps(options: session.DevOptions, every: bool = False) -> list[str]:
    """Lines describing the project's deployment (or, `every`, each dev deployment on this host)."""
    if every:
        engine = Engine.detect()
        found = deployments(engine, session.ORIGIN)
        if not found:
            return ["no development deployment on this host"]
        lines = []
        for name in sorted(found):
            project = next((p.labels.get(session.PROJECT_LABEL, "?") for p in engine.labelled([f"{LABEL}={name}"])
                            if p.kind == "container"), "?")
            states = [engine.state(c)[0] for c in found[name]]
            state = "running" if all(s == "running" for s in states) else "stopped" if "running" not in states \
                else "partly running"
            lines.append(f"{name:<36} {state:<15} {project}")
        return lines
    deployment = session.require(options)
    states = deployment.status()
    running = deployment.running
    lines = [f"{deployment.name}: {'running at ' + deployment.url if running else 'not running'}",
             f"  project  {options.folder.resolve()}", f"  image    {deployment.spec.image}",
             f"  executor {deployment.spec.executor.value}"]
    lines += [f"  {alias:<15} {state}" for alias, state in states.items()]
    if running:
        found = monitoring(deployment)
        lines.append(f"  monitoring      {found.status}{': ' + found.detail if found.detail else ''}")
    return lines


def components(deployment: PersistentDeployment, asked: str | None) -> list[str]:
    """The containers `logs` reads: one component's (refusing an unknown name), or every Airflow one's."""
    if asked is None:
        return [deployment.containers[alias] for alias in deployment.airflow_parts]
    if asked not in deployment.containers:
        raise UsageError(f"{asked}: no such component; {deployment.name} has "
                         f"{', '.join(sorted(deployment.containers))}")
    return [deployment.containers[asked]]


def logs(options: session.DevOptions, component: str | None, follow: bool, lines: int | None,
         write: Callable[[str], None] = print) -> None:
    """The components' logs, each line after its component's name (as Compose shows them)."""
    deployment = session.require(options)
    if deployment.running:
        found = monitoring(deployment)
        if found.status == "unhealthy":
            write(f"monitoring: UNHEALTHY: {found.detail}")
    containers = components(deployment, component)
    prefix = {c: c.removeprefix(f"{deployment.name}-") for c in containers}
    width = max(len(p) for p in prefix.values())
    if not follow:
        for container in containers:
            for line in deployment.engine.logs(container, lines).splitlines():
                write(f"{prefix[container]:<{width}} | {line}" if len(containers) > 1 else line)
        return
    for container, line in _merged(deployment.engine, containers, lines):
        write(f"{prefix[container]:<{width}} | {line}" if len(containers) > 1 else line)


def _merged(engine: Engine, containers: list[str], lines: int | None) -> Iterator[tuple[str, str]]:
    """Every container's followed log, line by line as they come, until all of them stop."""
    lines_queue: queue.Queue[tuple[str, str | None]] = queue.Queue()

    def pump(container: str) -> None:
        try:
            for line in engine.follow(container, lines):
                lines_queue.put((container, line))
        finally:
            lines_queue.put((container, None))

    for container in containers:
        threading.Thread(target=pump, args=(container,), daemon=True).start()
    open_streams = len(containers)
    while open_streams:
        container, line = lines_queue.get()
        if line is None:
            open_streams -= 1
        else:
            yield container, line


def run_in(options: session.DevOptions, component: str | None, argv: list[str]) -> int:
    """Run a command in a running component, attached to this terminal; its exit status."""
    deployment = session.require(options)
    alias = component or DEFAULT_COMPONENT
    if alias not in deployment.containers:
        raise UsageError(f"{alias}: no such component; {deployment.name} has "
                         f"{', '.join(sorted(deployment.containers))}")
    container = deployment.containers[alias]
    if deployment.engine.state(container)[0] != "running":
        raise UsageError(f"{alias} of {deployment.name} is not running: `dev start` first")
    return deployment.engine.interactive(container, argv)

