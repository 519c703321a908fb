"""Airflow's REST API as a user reaches it: `/api/v2` with a token on Airflow 3, `/api/v1` with
a password on Airflow 2. Only what deployments are checked with: DAGs, runs, task instances, logs.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError

TIMEOUT = 30  # seconds for one request's answer (times `patience`: under QEMU the first token took longer)
FINISHED = {"success", "failed"}


@dataclass
class AirflowApi:
    url: str  # http://127.0.0.1:<port>
    airflow_major: int
    user: str
    password: str
    patience: float = 1.0  # what the waits' timeouts are multiplied by (an emulated deployment: more)
    _authorization: str | None = None

    @property
    def base(self) -> str:
        return f"{self.url}/api/v2" if self.airflow_major >= 3 else f"{self.url}/api/v1"

    # -- requests -------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, accept: str = "application/json",
                missing_ok: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": accept, "Authorization": self.authorization()}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT * self.patience) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            if error.code == 404 and missing_ok:
                return None
            raise ApiError(f"{method} {path}: HTTP {error.code} {error.read().decode(errors='replace')[:1000]}") \
                from error
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(f"{method} {path}: {error}") from error
        return json.loads(text) if accept == "application/json" and text else text

    def authorization(self) -> str:
        if self._authorization is None:
            if self.airflow_major >= 3:
                self._authorization = f"Bearer {self.token()}"
            else:
                self._authorization = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return self._authorization

    def token(self) -> str:
        """A token from the simple auth manager, as the UI's login form gets one."""
        body = json.dumps({"username": self.user, "password": self.password}).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT * self.patience) as response:
                return json.load(response)["access_token"]
        except urllib.error.HTTPError as error:
            raise ApiError(f"POST /auth/token: HTTP {error.code} {error.read().decode(errors='replace')}") from error
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(f"POST /auth/token: no answer within {TIMEOUT * self.patience:.0f} s: {error}") from error

    # -- DAGs and runs ---------------------------------------------------------------------------

    def dag(self, dag_id: str) -> dict | None:
        return self.request("GET", f"/dags/{_quote(dag_id)}", missing_ok=True)

    def wait_for_dag(self, dag_id: str, timeout: float = 240.0) -> dict:
        """The DAG once the DAG processor has parsed it; a timeout names the import errors."""
        timeout *= self.patience
        deadline = time.monotonic() + timeout
        while True:
            found = self.dag(dag_id)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise ApiError(f"DAG {dag_id} was not parsed within {timeout:.0f} s; import errors: "
                               f"{self.import_errors() or 'none'}")
            time.sleep(3)

    def import_errors(self) -> list[dict]:
        return self.request("GET", "/importErrors")["import_errors"]

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.request("PATCH", f"/dags/{_quote(dag_id)}?update_mask=is_paused", {"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> str:
        """A manual run; Airflow 3 gives it no logical date unless `logical_date` (ISO) is given."""
        body: dict[str, Any] = {"conf": conf or {}}
        if self.airflow_major >= 3:
            body["logical_date"] = logical_date  # required, nullable: None is a run of "now" with no date
        elif logical_date:
            body["logical_date"] = logical_date
        return self.request("POST", f"/dags/{_quote(dag_id)}/dagRuns", body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{_quote(dag_id)}/dagRuns?limit=100")["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> dict:
        timeout *= self.patience
        deadline = time.monotonic() + timeout
        while True:
            found = self.run(dag_id, run_id)
            if found["state"] in FINISHED:
                return found
            if time.monotonic() > deadline:
                raise ApiError(f"run {run_id} of {dag_id} is still {found['state']} after {timeout:.0f} s; "
                               f"tasks: {self._states(dag_id, run_id)}")
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances"
        return self.request("GET", path)["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A finished task's log as text: the API server reads it (or fetches it from the worker)."""
        path = (f"/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}/logs/"
                f"{try_number}?full_content=true")
        found = self.request("GET", path)
        content = found.get("content") if isinstance(found, dict) else found
        if isinstance(content, list):  # Airflow 3: structured log lines
            return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)
        return str(content)

    def _states(self, dag_id: str, run_id: str) -> str:
        try:
            return ", ".join(f"{t['task_id']}={t['state']}" for t in self.task_instances(dag_id, run_id))
        except ApiError as error:
            return str(error)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")
