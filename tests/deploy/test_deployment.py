"""A Runtime image deployed as Airflow is deployed: PostgreSQL, Redis, a scheduler handing tasks to
workers, the triggerer, the API server, the UI. Each test reads one running deployment."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml

from runtime_builder import contract
from runtime_builder.deploy.api import AirflowApi, ApiError
from runtime_builder.deploy.config import VIEWER_USER, AuthManager

from .conftest import Deployed

pytestmark = pytest.mark.deploy

CHECK_DAG = "runtime_deploy_check"
EVERY_MINUTE_DAG = "runtime_every_minute"
LOGICAL = "2024-01-01T00:00:00+00:00"  # the logical date of the pod specs' run
SCHEDULED_WAIT = 240.0  # a one-minute schedule: the first run comes within two minutes of the parse


@pytest.fixture(scope="session")
def check_run(deployed: Deployed) -> tuple[str, dict]:
    """One triggered run of the check DAG, finished."""
    deployed.api.wait_for_dag(CHECK_DAG)
    run_id = deployed.api.trigger(CHECK_DAG)
    return run_id, deployed.api.wait_for_run(CHECK_DAG, run_id)


def test_triggered_run_succeeds(deployed: Deployed, check_run: tuple[str, dict]) -> None:
    run_id, run = check_run
    tasks = {ti["task_id"]: ti for ti in deployed.api.task_instances(CHECK_DAG, run_id)}
    states = {task: ti["state"] for task, ti in tasks.items()}
    # A failed run shows what ran it: the task host's log and the API server's (tasks report to it).
    logs = "" if run["state"] == "success" else "".join(
        f"\n--- {component}'s log:\n{deployed.deployment.logs(component, 150)}"
        for component in dict.fromkeys((deployed.task_host, "api-server")))
    assert run["state"] == "success", f"{run_id}: {states}{logs}"
    assert states == {"bash": "success", "requirements": "success", "deferred": "success", "postgres": "success"}


def test_tasks_ran_in_the_task_container(deployed: Deployed, check_run: tuple[str, dict]) -> None:
    """With Celery the worker container ran every task, not the scheduler; LocalExecutor: the scheduler."""
    run_id, _ = check_run
    hosts = {ti["task_id"]: ti["hostname"] for ti in deployed.api.task_instances(CHECK_DAG, run_id)}
    assert set(hosts.values()) == {deployed.task_host}, hosts


def test_task_logs_through_the_api(deployed: Deployed, check_run: tuple[str, dict]) -> None:
    run_id, _ = check_run
    host = deployed.task_host
    bash = deployed.api.task_log(CHECK_DAG, run_id, "bash")
    assert f"bash task on {host}" in bash, bash[-3000:]
    python = deployed.api.task_log(CHECK_DAG, run_id, "requirements")
    assert f"python task on {host}" in python and "(oo)" in python, python[-3000:]  # cowsay's cow
    postgres = deployed.api.task_log(CHECK_DAG, run_id, "postgres")
    assert "postgres answered 42" in postgres, postgres[-3000:]


def _scheduled_success(deployed: Deployed, dag_id: str) -> dict:
    """A run the scheduler started by itself that succeeded, waiting up to SCHEDULED_WAIT."""
    wait = SCHEDULED_WAIT * deployed.api.patience
    deadline = time.monotonic() + wait
    while True:
        runs = deployed.api.runs(dag_id)
        done = [r for r in runs if r["run_type"] == "scheduled" and r["state"] == "success"]
        if done:
            return done[0]
        if time.monotonic() > deadline:
            paused = (deployed.api.dag(dag_id) or {}).get("is_paused")
            pytest.fail(f"{dag_id}: no successful scheduled run within {wait:.0f} s (paused: {paused}); "
                        f"runs: {[(r['run_type'], r['state']) for r in runs]}", pytrace=False)
        time.sleep(5)


def test_scheduled_dag_runs_by_itself(deployed: Deployed) -> None:
    deployed.api.wait_for_dag(EVERY_MINUTE_DAG)
    _scheduled_success(deployed, EVERY_MINUTE_DAG)


def test_monitoring_dag_runs_by_itself(deployed: Deployed) -> None:
    """The runtime's own DAG runs on AIRFLOW_MONITORING_DAG_SCHEDULE_INTERVAL; from the releases with
    `monitoring-dag-on` without anyone turning it on (the deployment unpaused nothing)."""
    release = deployed.case.release
    if release.has(contract.Change.MONITORING_DAG_ON):
        assert deployed.deployment.spec.unpause == ()
    dag = deployed.api.wait_for_dag(contract.MONITORING_DAG_ID)
    assert dag["is_paused"] is False, dag
    run = _scheduled_success(deployed, contract.MONITORING_DAG_ID)
    tasks = deployed.api.task_instances(contract.MONITORING_DAG_ID, run["dag_run_id"])
    log = deployed.api.task_log(contract.MONITORING_DAG_ID, run["dag_run_id"], tasks[0]["task_id"])
    assert f"Airflow Runtime {release.version} alive on {deployed.task_host}" in log, log[-2000:]


def _monitoring_health(deployed: Deployed) -> dict:
    return deployed.api.request("GET", "/monitor/health")[contract.MONITORING_DAG_ID]


def _dashboard_alerts(deployed: Deployed) -> list[str]:
    request = urllib.request.Request(deployed.deployment.url + "/ui/config",
                                     headers={"Authorization": deployed.api.authorization()})
    with urllib.request.urlopen(request, timeout=30) as response:
        return [alert["text"] for alert in json.load(response).get("dashboard_alert") or []]


def _until(check, seconds: float):
    deadline = time.monotonic() + seconds
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(2)
    return found


def test_the_monitoring_dag_cannot_be_paused_and_its_failures_are_seen(deployed: Deployed) -> None:
    """monitoring-guarded: the API (the UI's toggle) refuses to pause it, a pause made another way
    (the CLI) is undone, and two failed runs in a row make the health endpoint and the UI's
    dashboard report it unhealthy, until a run succeeds again."""
    if not deployed.case.release.has(contract.Change.MONITORING_GUARDED):
        pytest.skip(f"Runtime {deployed.case.release.version} was released before "
                    f"{contract.Change.MONITORING_GUARDED.value}")
    dag_id, api = contract.MONITORING_DAG_ID, deployed.api
    api.wait_for_dag(dag_id)
    with pytest.raises(ApiError, match=r"HTTP 403.*cannot be paused"):
        api.request("PATCH", f"/dags/{dag_id}", {"is_paused": True})
    assert api.request("GET", f"/dags/{dag_id}")["is_paused"] is False
    code, output = deployed.deployment.exec("scheduler", ["airflow", "dags", "pause", dag_id])
    assert code == 0, output
    assert _until(lambda: api.request("GET", f"/dags/{dag_id}")["is_paused"] is False, 120), \
        "a pause made with the CLI was not undone"

    # Two failed runs, newest: unhealthy until a run after them succeeds. A scheduled run (every
    # minute here) that ends between them and the look hides them: try again.
    for _ in range(3):
        for _ in range(2):
            run_id = api.trigger(dag_id)
            api.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
        if unhealthy := _until(lambda: _monitoring_health(deployed)["status"] == "unhealthy", 45):
            break
    assert unhealthy, _monitoring_health(deployed)
    assert "runs of runtime_monitoring failed" in _monitoring_health(deployed)["detail"]
    assert any("Airflow Runtime monitoring:" in text for text in _dashboard_alerts(deployed))
    assert _until(lambda: _monitoring_health(deployed)["status"] == "healthy", SCHEDULED_WAIT), \
        f"still unhealthy after a scheduled run: {_monitoring_health(deployed)}"
    assert not any("Airflow Runtime monitoring:" in text for text in _dashboard_alerts(deployed))


# Reads each AIRFLOW__SECTION__KEY variable named in argv as `airflow config get-value section key`
# does (`conf.get`), all in one process: each `airflow` command is an Airflow import, seconds of a core.
CONFIG_SCRIPT = """
import json, sys
from airflow.configuration import conf
values = {}
for variable in sys.argv[1:]:
    _, section, key = variable.split("__", 2)
    values[variable] = conf.get(section.lower(), key.lower())
print("CONFIG " + json.dumps(values))
"""


def _config_values(deployed: Deployed, component: str, variables: list[str]) -> dict[str, str]:
    """What the running component's Airflow configuration (its environment, its airflow.cfg) gives."""
    code, output = deployed.deployment.exec(component, ["python", "-c", CONFIG_SCRIPT, *variables])
    lines = [line for line in output.splitlines() if line.startswith("CONFIG ")]
    assert code == 0 and lines, f"{component}: reading {variables} from Airflow's configuration: {output[-3000:]}"
    return json.loads(lines[-1].removeprefix("CONFIG "))


def test_components_use_the_default_environment(deployed: Deployed) -> None:
    """The running scheduler and worker read the image's defaults, and the deployment's override wins."""
    components = ["scheduler"] + (["worker"] if deployed.task_host == "worker" else [])
    defaults = {name: value for name, value in deployed.case.release.environment_of(deployed.case.variant)
                if name.startswith("AIRFLOW__")}
    problems = []
    for component in components:
        found = _config_values(deployed, component, sorted(defaults))
        for variable, value in sorted(defaults.items()):
            wanted = deployed.overrides.get(variable, value)
            if found.get(variable) != wanted:
                problems.append(f"{component}: {variable} is {found.get(variable)!r}, expected {wanted!r}")
    assert not problems, "\n".join(problems)
    overridden = [name for name in deployed.overrides if name in defaults]
    assert overridden, "the deployment overrides none of the image's defaults: the override check proves nothing"


def test_kubernetes_pod_specs_name_the_image(deployed: Deployed) -> None:
    """KubernetesExecutor, without a cluster: the worker pod specs Airflow would create run this image."""
    if deployed.case.variant.is_slim:
        pytest.skip("slim images do not ship the cncf-kubernetes provider (not in the line's slim_packages); "
                    "the image tests check that their packages are exactly the slim lock")
    repository, _, tag = deployed.image.rpartition(":")
    environment = {"AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor",
                   "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_REPOSITORY": repository,
                   "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG": tag}
    if deployed.deployment.facts.airflow_major >= 3:
        command = f"airflow kubernetes generate-dag-yaml --output-path /tmp/pods --logical-date {LOGICAL} {CHECK_DAG}"
    else:
        command = f"airflow kubernetes generate-dag-yaml --output-path /tmp/pods {CHECK_DAG} {LOGICAL}"
    code, output = deployed.deployment.exec("scheduler", ["bash", "-c", f"rm -rf /tmp/pods && {command}"],
                                            environment=environment)
    assert code == 0, output[-3000:]
    code, text = deployed.deployment.exec(
        "scheduler", ["bash", "-c", "find /tmp/pods -name '*.yml' -o -name '*.yaml' | sort "
                                    "| while read -r f; do echo '---'; cat \"$f\"; done"])
    assert code == 0 and text.strip(), f"no pod specs were written:\n{output[-3000:]}"
    pods = [doc for doc in yaml.safe_load_all(text) if doc]
    tasks = {"bash", "requirements", "deferred", "postgres"}
    assert len(pods) == len(tasks), f"{len(pods)} pod specs for {len(tasks)} tasks"
    images = {container["image"] for pod in pods for container in pod["spec"]["containers"]}
    assert images == {deployed.image}, images


def test_components_run_as_the_cases_user(deployed: Deployed) -> None:
    """Every Airflow container runs as the case's uid:gid (an arbitrary uid in group 0 for
    `-anyuid`), or the image's user; and Airflow knows that user by a name."""
    wanted = deployed.case.user or f"{contract.UID}:{contract.GID}"
    who = "import getpass, os; print(f'{os.getuid()}:{os.getgid()} {getpass.getuser()}')"
    found = {}
    for component in deployed.deployment.components:
        code, output = deployed.deployment.exec(component.name, ["python", "-c", who])
        found[component.name] = output.strip() if code == 0 else f"failed: {output[-500:]}"
    assert found == {name: f"{wanted} {contract.USER}" for name in found}, found


def test_api_rejects_a_wrong_password(deployed: Deployed) -> None:
    intruder = AirflowApi(deployed.deployment.url, deployed.deployment.facts.airflow_major, "admin", "wrong")
    with pytest.raises(ApiError):
        intruder.dag(CHECK_DAG)


def test_a_viewer_sees_the_dags_but_cannot_trigger(deployed: Deployed) -> None:
    """The deployment's viewer (FAB's Viewer role, or the simple auth manager's viewer) logs in, reads,
    and is refused a run; the admin's run of the same DAG is the check run."""
    user, password = deployed.deployment.login(VIEWER_USER)
    viewer = AirflowApi(deployed.deployment.url, deployed.deployment.facts.airflow_major, user, password,
                        deployed.deployment.facts.patience)
    assert viewer.dag(CHECK_DAG)["dag_id"] == CHECK_DAG
    with pytest.raises(ApiError, match="HTTP 403"):
        viewer.trigger(CHECK_DAG)


def test_the_auth_manager_is_the_cases(deployed: Deployed) -> None:
    """FAB's where the image defaults to it (fab-auth-manager) or on Airflow 2, the simple one where the
    case chooses it or Airflow 3 defaults to it."""
    found = _config_values(deployed, "scheduler", ["AIRFLOW__CORE__AUTH_MANAGER"])["AIRFLOW__CORE__AUTH_MANAGER"]
    if deployed.case.auth_manager is not None:
        wanted = deployed.case.auth_manager
    elif (deployed.case.release.has(contract.Change.FAB_AUTH_MANAGER)
          or deployed.case.release.airflow.major < 3):
        wanted = AuthManager.FAB
    else:
        wanted = AuthManager.SIMPLE
    assert AuthManager.of(found) is wanted and deployed.deployment.auth is wanted, found
