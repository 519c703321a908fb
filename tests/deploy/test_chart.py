"""The default release's image under Apache Airflow's official Helm chart, without a cluster: every
container the chart runs in the image (tests/deploy/chart.py lists each with its template) as a
Compose service with the chart's arguments, environment, mounts (its airflow.cfg at
/opt/airflow/airflow.cfg, AIRFLOW_HOME=/opt/airflow) and user (uid 50000, group 0), a pod's
containers sharing its volumes. The jobs and init containers must complete, each probe must pass
in its container within its timeout, the log groomer must groom, the user the create-user job made
must log in and run a DAG on the worker, and the KubernetesExecutor's worker pods must be valid
Kubernetes objects (the kubernetes client's models, which the cncf-kubernetes provider ships)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runtime_builder.deploy import services
from runtime_builder.deploy.api import AirflowApi
from runtime_builder.deploy.config import Keys
from runtime_builder.deploy.facts import EMULATED_PATIENCE
from runtime_builder.deploy.local import free_port
from runtime_builder.generate.specs import ImageSpec
from runtime_builder.images.engine import Engine
from runtime_builder.images.host import require
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform, Variant

from . import chart
from .conftest import REPO_ROOT, deploy_platform

pytestmark = pytest.mark.deploy

COMPOSE = "docker-compose"
MONITORING_DAG = "runtime_monitoring"
LOGICAL = "2024-01-01T00:00:00+00:00"
LOG_PODS = ("scheduler", "dag-processor", "triggerer", "worker")  # the pods whose containers mount logs


def compose_file(image: str, postgres: str, redis: str, keys: Keys, port: int) -> dict:
    """The chart's containers as Compose services (see the module's docstring). Pure."""
    database = f"postgresql+psycopg2://airflow:{keys.database_password}@postgres:5432/airflow"
    standard = {  # _helpers.yaml, standard_airflow_environment (Airflow 3), from the chart's Secrets
        "AIRFLOW_HOME": chart.HOME,
        "AIRFLOW__CORE__FERNET_KEY": keys.fernet_key,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW_CONN_AIRFLOW_DB": database,
        "AIRFLOW__API__SECRET_KEY": keys.secret_key,
        "AIRFLOW__CELERY__BROKER_URL": "redis://redis:6379/0",
    }
    healthy = {"postgres": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    done = {"condition": "service_completed_successfully"}
    config = ["./airflow.cfg:/opt/airflow/airflow.cfg:ro",
              "./airflow_local_settings.py:/opt/airflow/config/airflow_local_settings.py:ro",
              f"./pod_template_file.yaml:{chart.POD_TEMPLATE}:ro"]
    found: dict[str, dict] = {
        "postgres": {"image": postgres, "environment": {"POSTGRES_USER": "airflow", "POSTGRES_DB": "airflow",
                                                       "POSTGRES_PASSWORD": keys.database_password},
                     "healthcheck": {"test": ["CMD", "pg_isready", "-U", "airflow"], "interval": "2s", "retries": 30}},
        "redis": {"image": redis, "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "2s",
                                                  "retries": 30}},
        # [metrics] statsd_host names the chart's statsd exporter: here only a name that resolves.
        f"{chart.RELEASE}-statsd": {"image": redis},
    }
    names = {container.name for container in chart.CONTAINERS}
    for container in chart.CONTAINERS:
        environment = {**(standard if container.standard_environment else {}), **container.environment}
        if container.jwt:
            environment["AIRFLOW__API_AUTH__JWT_SECRET"] = keys.jwt_secret
        service: dict = {"image": image, "user": "50000", "group_add": ["0"], "command": _literal(container.args),
                         "environment": environment, "depends_on": dict(healthy),
                         "volumes": list(config) if container.config else []}
        if container.command:
            service["entrypoint"] = _literal(container.command)
        if container.pod in LOG_PODS:
            service["volumes"].append(f"{container.pod}-logs:{chart.HOME}/logs")
        init = f"{container.pod}-wait-for-airflow-migrations"
        if container.kind == "component" and init in names:  # the pod's init container ends first
            service["depends_on"][init] = done
        if container.kind == "sidecar":
            service["depends_on"][container.pod] = {"condition": "service_started"}
        if container.kind in ("job", "init") and container.name != "run-airflow-migrations":
            # The hooks' weights: migrate first. Kubernetes starts the init containers beside it and
            # restarts them until `check-migrations` sees it done (60 s each); here they wait for it.
            service["depends_on"]["run-airflow-migrations"] = done
        if container.name == "api-server":
            service["ports"] = [f"127.0.0.1:{port}:8080"]
        found[container.name] = service
    return {"services": found, "volumes": {f"{pod}-logs": {} for pod in LOG_PODS}}


def _literal(argv: tuple[str, ...]) -> list[str]:
    """Arguments as Kubernetes passes them: Compose would read `$` as its own variables."""
    return [argument.replace("$", "$$") for argument in argv]


@dataclass
class ChartDeployment:
    name: str
    folder: Path
    image: str
    patience: float
    api: AirflowApi

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        argv = [COMPOSE, "--project-name", self.name, "--project-directory", str(self.folder),
                "--file", str(self.folder / "docker-compose.yaml"), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def state(self, service: str) -> dict:
        ids = self.compose("ps", "--all", "-q", service).stdout.split()
        if not ids:
            return {}
        return json.loads(subprocess.run(["docker", "inspect", ids[0]], capture_output=True, text=True,
                                         check=True).stdout)[0]["State"]

    def logs(self, service: str, lines: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(lines), service, check=False).stdout

    def exec(self, service: str, argv: tuple[str, ...] | list[str], timeout: float) -> tuple[int, str, float]:
        started = time.monotonic()
        result = self.compose("exec", "-T", service, *argv, check=False, timeout=timeout + 30)
        return result.returncode, result.stdout + result.stderr, time.monotonic() - started

    def wait_exited(self, service: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout * self.patience
        while True:
            state = self.state(service)
            if state.get("Status") == "exited":
                return state
            if time.monotonic() > deadline:
                pytest.fail(f"{service} did not end within {timeout * self.patience:.0f} s:\n{self.logs(service)}")
            time.sleep(2)


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, engine: Engine,
               service_images: services.ServiceImages) -> Iterator[ChartDeployment]:
    require(programs=(COMPOSE,))
    release = load_matrix(REPO_ROOT / "versions.yaml").default_release()
    platform = deploy_platform(request.config)
    image = ImageSpec(release, release.python, Variant.ONBUILD, platform).reference()
    if engine.image_id(image) is None:
        pytest.fail(f"no image {image}: build it first with `python3 build.py build {release.version} --variant "
                    f"onbuild --platform {platform.value}`", pytrace=False)
    images = service_images
    folder = tmp_path_factory.mktemp("chart")
    repository, _, tag = image.rpartition(":")
    (folder / "airflow.cfg").write_text(chart.airflow_cfg("api-server", repository, tag))
    (folder / "airflow_local_settings.py").write_text("")  # the chart's, empty for Airflow 3
    (folder / "pod_template_file.yaml").write_text(chart.pod_template(image))
    for path in folder.iterdir():
        path.chmod(0o644)
    port = free_port()
    keys = Keys(database_password=secrets.token_urlsafe(12))
    (folder / "docker-compose.yaml").write_text(yaml.safe_dump(
        compose_file(image, images.postgres, images.redis, keys, port), sort_keys=False))
    patience = EMULATED_PATIENCE if platform is not Platform.native() else 1.0
    found = ChartDeployment(f"runtime-chart-{uuid.uuid4().hex[:8]}", folder, image, patience,
                            AirflowApi(f"http://127.0.0.1:{port}", release.airflow.major, "admin", "admin", patience))
    try:
        found.compose("up", "--detach", timeout=900)
        yield found
    finally:
        found.compose("down", "--volumes", "--remove-orphans", check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("container", [c for c in chart.CONTAINERS if c.kind in ("job", "init")],
                         ids=lambda c: f"{c.name} ({c.template})")
def test_jobs_and_init_containers_complete(deployment: ChartDeployment, container: chart.Container) -> None:
    state = deployment.wait_exited(container.name, 600)
    assert state["ExitCode"] == 0, f"{container.name} exited {state['ExitCode']}:\n{deployment.logs(container.name)}"


def _passes(deployment: ChartDeployment, service: str, probe: chart.Probe, within: float) -> float:
    """Runs the probe until it passes (as the kubelet repeats a startup probe); its duration."""
    deadline = time.monotonic() + within * deployment.patience
    while True:
        code, output, took = deployment.exec(service, probe.argv, probe.timeout * deployment.patience)
        if code == 0:
            return took
        state = deployment.state(service)
        if state.get("Status") != "running" or time.monotonic() > deadline:
            pytest.fail(f"{service}'s {probe.kind} probe {probe.argv} failed (exit {code}, {state.get('Status')}):"
                        f"\n{output[-2000:]}\n--- its log:\n{deployment.logs(service)}", pytrace=False)
        time.sleep(5)


@pytest.mark.parametrize(("container", "probe"), [(c, p) for c in chart.CONTAINERS for p in c.probes],
                         ids=lambda x: getattr(x, "name", None) or getattr(x, "kind", ""))
def test_each_probe_passes_within_its_timeout(deployment: ChartDeployment, container: chart.Container,
                                              probe: chart.Probe) -> None:
    _passes(deployment, container.name, probe, 300)
    took = _passes(deployment, container.name, probe, 0)  # and again, as the liveness probe repeats
    assert took < probe.timeout * deployment.patience, f"{took:.1f} s, the chart allows {probe.timeout} s"


def test_the_api_servers_health_endpoint(deployment: ChartDeployment) -> None:
    """The api-server's liveness, readiness and startup probe: httpGet /api/v2/monitor/health on 8080."""
    deadline = time.monotonic() + 300 * deployment.patience
    health: dict | None = None
    while True:
        try:
            with urllib.request.urlopen(f"{deployment.api.url}/api/v2/monitor/health", timeout=10) as response:
                health = json.load(response)
            if all((health.get(part) or {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"not healthy: {health}\n{deployment.logs('api-server')}")
        time.sleep(3)


def test_the_created_user_runs_a_dag_on_the_worker(deployment: ChartDeployment) -> None:
    """The create-user job's admin logs in; the image's DAG (in /opt/airflow/dags, the chart's
    dags_folder) runs on the Celery worker."""
    deployment.wait_exited("create-user", 600)
    deployment.api.wait_for_dag(MONITORING_DAG)
    run_id = deployment.api.trigger(MONITORING_DAG)
    run = deployment.api.wait_for_run(MONITORING_DAG, run_id)
    hosts = {ti["hostname"] for ti in deployment.api.task_instances(MONITORING_DAG, run_id)}
    worker = json.loads(subprocess.run(["docker", "inspect", *deployment.compose("ps", "-q", "worker").stdout.split()],
                                       capture_output=True, text=True, check=True).stdout)[0]["Config"]["Hostname"]
    assert run["state"] == "success" and hosts == {worker}, (run["state"], hosts, deployment.logs("worker"))


def test_the_log_groomer_removes_old_logs(deployment: ChartDeployment) -> None:
    """`bash /clean-logs` with the chart's AIRFLOW_HOME and retention removes a 20-day-old log of the
    scheduler pod's logs volume when it starts, keeps a new one, and runs on."""
    groomer = "scheduler-log-groomer"
    plant = (f"mkdir -p {chart.HOME}/logs/dag_id=old {chart.HOME}/logs/dag_id=new && "
             f"touch -d '20 days ago' {chart.HOME}/logs/dag_id=old/attempt=1.log && "
             f"touch {chart.HOME}/logs/dag_id=new/attempt=1.log")
    code, output, _ = deployment.exec(groomer, ("bash", "-c", plant), 60)
    assert code == 0, output
    deployment.compose("restart", "--timeout", "30", groomer)
    deadline = time.monotonic() + 60 * deployment.patience
    look = f"ls {chart.HOME}/logs/dag_id=old/attempt=1.log {chart.HOME}/logs/dag_id=new/attempt=1.log"
    while True:
        code, output, _ = deployment.exec(groomer, ("bash", "-c", f"{look} 2>&1 || true"), 60)
        if "dag_id=old" in output and "No such file" in output:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the old log is still there:\n{output}\n{deployment.logs(groomer)}")
        time.sleep(1)
    assert "dag_id=new/attempt=1.log" in output.replace(f"{chart.HOME}/logs/", "").replace("cannot access", "")
    assert deployment.state(groomer).get("Status") == "running"


VALIDATE_PODS = """\
import glob, json, sys, yaml
from kubernetes.client import ApiClient
client = ApiClient()
report = []
for path in sorted(glob.glob("/tmp/pods/**/*.y*ml", recursive=True)):
    document = yaml.safe_load(open(path))
    pod = client._ApiClient__deserialize(document, "V1Pod")  # the models check required fields and enums
    back = client.sanitize_for_serialization(pod)
    report.append({"path": path, "same": back == document, "document": document})
print(json.dumps(report))
"""


def test_kubernetes_executor_worker_pods_are_valid_pods(deployment: ChartDeployment) -> None:
    """The worker pods Airflow makes from the chart's pod template (KubernetesExecutor) for the image's
    DAG: Kubernetes objects its client's models take without losing a field (an unknown or misspelt
    field would be dropped), running this image as the chart's user, with the executor's command."""
    environment = ("-e", "AIRFLOW__CORE__EXECUTOR=KubernetesExecutor")
    generate = (f"rm -rf /tmp/pods && airflow kubernetes generate-dag-yaml --output-path /tmp/pods "
                f"--logical-date {LOGICAL} {MONITORING_DAG} && python -c '{VALIDATE_PODS}'")
    result = deployment.compose("exec", "-T", *environment, "scheduler", "bash", "-c", generate, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report, "no pod was written"
    for pod in report:
        assert pod["same"], f"{pod['path']}: a field the Kubernetes models do not know:\n{pod['document']}"
        [base] = [c for c in pod["document"]["spec"]["containers"] if c["name"] == "base"]
        assert base["image"] == deployment.image, base["image"]
        assert pod["document"]["spec"]["securityContext"]["runAsUser"] == 50000
        command = base.get("args") or base.get("command") or []
        assert command[:3] == ["python", "-m", "airflow.sdk.execution_time.execute_workload"] \
            or command[:3] == ["airflow", "tasks", "run"], command
