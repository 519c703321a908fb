"""`python build.py run`: a project deployed as a user tries an image, and nothing left behind.

Runs the real command line in a subprocess, as a person types it; bad input that needs no
engine is in tests/unit/test_deploy_config.py.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.deploy import services
from runtime_builder.deploy.config import health_path
from runtime_builder.deploy.deployment import LABEL, ORIGIN_LABEL, deployment_parts
from runtime_builder.deploy.project import PROJECT_REPOSITORY
from runtime_builder.images.engine import Engine
from runtime_builder.matrix.load import load_matrix

from .conftest import PROJECT, REPO_ROOT

pytestmark = pytest.mark.deploy

BUILD_PY = [sys.executable, str(REPO_ROOT / "build.py")]
STARTUP = 600.0
# `run` deploys the default release unless told otherwise.
HEALTH = health_path(load_matrix(REPO_ROOT / "versions.yaml").default_release().airflow.major)


SETTINGS = """\
airflow:
  connections:
    - conn_id: runtime_settings_api
      conn_type: http
      conn_host: api.example.com
      conn_password: settings-secret
      conn_port: 8443
      conn_extra:
        region: eu-west-1
  pools:
    - pool_name: runtime_settings_pool
      pool_slot: 3
      pool_description: from airflow_settings.yaml
  variables:
    - variable_name: runtime_settings_note
      variable_value: from airflow_settings.yaml
"""
# One line each (the last three of stdout): the connection and the pool as JSON, the Variable.
SETTINGS_READ = ("airflow connections get runtime_settings_api -o json && airflow pools get runtime_settings_pool "
                 "-o json && airflow variables get runtime_settings_note")


SETTINGS_DAG = """\
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Variable

NOTE = Variable.get("runtime_settings_note")  # at import: only where the deployment's database is
with DAG(dag_id="runtime_settings_dag_" + NOTE.replace(" ", "_").replace(".", "_"), schedule=None,
         start_date=pendulum.datetime(2026, 1, 1)):
    EmptyOperator(task_id="nothing")
"""


def _query(postgres: str, sql: str) -> str:
    """A query's rows on a `run` deployment's metadata database, through psql in its container."""
    code, output = Engine.detect().exec(postgres, services.psql(sql), user="postgres")
    assert code == 0, output
    return output


def _parsed(postgres: str, dag_id: str, timeout: float = 180.0) -> bool:
    """Whether the DAG processor stored the DAG within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _query(postgres, f"SELECT dag_id FROM dag WHERE dag_id = '{dag_id}'").strip() == dag_id:
            return True
        time.sleep(2)
    return False


def _left(name: str) -> list[str]:
    """What of deployment `name` is still there: containers, volumes, networks."""
    return deployment_parts(Engine.detect(), name)


def _health(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


@pytest.fixture
def name() -> str:
    return f"runtest-{uuid.uuid4().hex[:6]}"


def test_a_dag_import_error_stops_run_naming_the_file(tmp_path: Path, name: str, engine) -> None:
    broken = tmp_path / "broken-project"
    shutil.copytree(PROJECT, broken)
    (broken / "dags" / "broken_dag.py").write_text("from airflow import DAG\nraise ValueError('deliberately broken')\n")
    result = subprocess.run([*BUILD_PY, "run", "--project", str(broken), "--name", name, "--executor", "local"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=STARTUP)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "broken_dag.py" in result.stderr and "deliberately broken" in result.stderr, result.stderr[-3000:]
    assert "`--skip-dag-check` builds without the check" in result.stderr, result.stderr[-3000:]
    assert "nothing was left running" in result.stderr
    assert _left(name) == []


def test_run_until_ctrl_c(name: str, engine) -> None:
    process = subprocess.Popen([*BUILD_PY, "run", "--project", str(PROJECT), "--name", name, "--executor", "local"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + STARTUP
        url = None
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if " is running: " in line:
                url = line.rsplit(" ", 1)[-1].strip()
            if "press Ctrl-C" in line or time.monotonic() > deadline:
                break
        output = "".join(lines)
        assert url, output[-3000:]
        assert "log in as admin with password " in output
        assert _health(url + HEALTH) == 200
        assert _left(name), "the deployment is not there while `run` runs"
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
        assert process.returncode == 130, output + rest
        assert f"stopping {name}" in rest
        assert _left(name) == [], "Ctrl-C left parts of the deployment behind"
    finally:
        if process.poll() is None:
            process.kill()
        subprocess.run([*BUILD_PY, "run", "--stop", "--name", name], capture_output=True, cwd=REPO_ROOT)


def test_detach_then_stop(name: str, engine, tmp_path: Path) -> None:
    # The project's .env goes to every Airflow container, not into the image.
    folder = tmp_path / "project"
    shutil.copytree(PROJECT, folder)
    (folder / ".env").write_text("# local settings\nAIRFLOW_VAR_RUNTIME_GREETING='hello from .env'\n")
    # Its airflow_settings.yaml is imported into the database before the components start: a DAG
    # that reads one of its Variables when imported parses (built with --skip-dag-check: the build
    # has no database to read it from).
    (folder / "airflow_settings.yaml").write_text(SETTINGS)
    (folder / "dags" / "runtime_settings_dag.py").write_text(SETTINGS_DAG)
    try:
        started = subprocess.run([*BUILD_PY, "run", "--project", str(folder), "--name", name, "--executor",
                                  "local", "--detach", "--skip-dag-check"], capture_output=True, text=True,
                                 cwd=REPO_ROOT, timeout=STARTUP)
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        assert "the Airflow containers get 1 variables from .env: AIRFLOW_VAR_RUNTIME_GREETING" in started.stdout
        assert ("airflow_settings.yaml: 1 connection (runtime_settings_api), 1 pool (runtime_settings_pool), "
                "1 variable (runtime_settings_note), imported once the database is migrated") in started.stdout
        url = next(line.rsplit(" ", 1)[-1] for line in started.stdout.splitlines() if " is running: " in line)
        health = json.loads(urllib.request.urlopen(url + HEALTH, timeout=10).read())
        assert health["metadatabase"]["status"] == "healthy"
        engine = Engine.detect()
        running = [part.name for part in engine.labelled([f"{LABEL}={name}", f"{ORIGIN_LABEL}=run"])
                   if part.kind == "container" and engine.state(part.name)[0] == "running"]
        assert len(running) == 5, running  # postgres, api-server, scheduler, dag-processor, triggerer
        images = {container: engine.container_facts(container)[0] for container in running}
        airflow = [c for c in running if images[c].startswith(f"{PROJECT_REPOSITORY}/")]
        assert len(airflow) == 4, images
        before = _left(name)
        for container in airflow:
            code, output = engine.exec(container, ["printenv", "AIRFLOW_VAR_RUNTIME_GREETING"], stdout_only=True)
            assert code == 0 and output.strip() == "hello from .env", (container, output)
        scheduler = next(c for c in running if c.endswith("scheduler"))
        code, output = engine.exec(scheduler, ["airflow", "variables", "get", "runtime_greeting"])
        assert code == 0 and output.strip().endswith("hello from .env"), output[-2000:]
        code, out = engine.exec(scheduler, ["bash", "-c", SETTINGS_READ], stdout_only=True)
        assert code == 0, out[-2000:]
        connection, pool, note = (json.loads(line) if line.startswith(("[", "{")) else line
                                  for line in out.strip().splitlines()[-3:])
        assert connection[0]["conn_type"] == "http" and connection[0]["host"] == "api.example.com", connection
        assert connection[0]["password"] == "settings-secret" and connection[0]["port"] == "8443", connection
        assert connection[0]["extra_dejson"] == {"region": "eu-west-1"}, connection
        assert pool[0]["pool"] == "runtime_settings_pool" and pool[0]["slots"] == "3", pool
        assert note == "from airflow_settings.yaml"
        code, output = engine.exec(scheduler, ["ls", "-A", contract.AIRFLOW_HOME])
        assert code == 0 and not {".env", "airflow_settings.yaml"} & set(output.split()), output
        # A second `run` of the same name is refused before it builds, and leaves the first alone.
        again = subprocess.run([*BUILD_PY, "run", "--project", str(folder), "--name", name, "--executor", "local"],
                               capture_output=True, text=True, cwd=REPO_ROOT, timeout=STARTUP)
        assert again.returncode == 2, again.stdout[-2000:] + again.stderr[-2000:]
        assert f"--name {name}: a deployment of that name is running" in again.stderr, again.stderr
        assert "building" not in again.stdout, again.stdout
        assert sorted(_left(name)) == sorted(before), "the refused run touched the running deployment"
        postgres = next(c for c in running if c.endswith("-postgres"))
        assert _parsed(postgres, "runtime_settings_dag_from_airflow_settings_yaml"), _query(
            postgres, "SELECT filename, stacktrace FROM import_error")
    finally:
        stopped = subprocess.run([*BUILD_PY, "run", "--stop", "--name", name], capture_output=True, text=True,
                                 cwd=REPO_ROOT)
    assert stopped.returncode == 0 and f"removed {name}" in stopped.stdout, stopped.stdout + stopped.stderr
    assert _left(name) == []
