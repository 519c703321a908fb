"""The in-house monitoring guard (inhouse/airflow-runtime-monitoring, from 14.3.0): when the
monitoring DAG counts as failing, and what the ASGI middleware refuses, passes and amends, driven
with a stand-in app (no Airflow here; the deployment tests run it in a real API server)."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

# The package's modules without its __init__ (which imports Airflow, not installed here).
PACKAGE = Path(__file__).resolve().parents[2] / "inhouse" / "airflow-runtime-monitoring" / "airflow_runtime_monitoring"
sys.modules.setdefault("airflow_runtime_monitoring", types.ModuleType("airflow_runtime_monitoring")).__path__ = [
    str(PACKAGE)]

from airflow_runtime_monitoring import guard, monitoring  # noqa: E402

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=1)


@pytest.mark.parametrize(("states", "last_start", "paused", "since", "status", "detail"), [
    (["success", "failed"], NOW - timedelta(minutes=3), False, LONG_AGO, "healthy", "last run started 3 min 0 s ago"),
    (["failed", "success"], NOW - timedelta(minutes=3), False, LONG_AGO, "healthy", "last run started"),
    (["failed", "failed"], NOW - timedelta(minutes=3), False, LONG_AGO, "unhealthy", "the last 2 runs"),
    (["success"], NOW - timedelta(minutes=11), False, LONG_AGO, "unhealthy", "has started for 11 minutes"),
    (["success"], NOW - timedelta(minutes=30), True, LONG_AGO, "unhealthy", "(it is paused)"),
    # Watched for less than ten minutes (the API server just started): old runs do not count yet.
    (["success"], NOW - timedelta(hours=5), False, NOW - timedelta(minutes=2), "healthy", "last run started"),
    ([], None, False, NOW - timedelta(minutes=2), "healthy", "waiting for the first run"),
    ([], None, False, NOW - timedelta(minutes=12), "unhealthy", "has started for 12 minutes"),
    ([], None, None, NOW - timedelta(minutes=2), "healthy", "to be parsed"),
    ([], None, None, LONG_AGO, "unhealthy", "is not in this deployment"),
])
def test_when_the_monitoring_dag_counts_as_failing(states, last_start, paused, since, status, detail):
    found = monitoring.assess(states, last_start, paused, NOW, since)
    assert found["status"] == status and detail in found["detail"], found


class App:
    """A stand-in for the API server: records what reached it, answers JSON."""

    def __init__(self, document: object = None, status: int = 200) -> None:
        self.document, self.status, self.calls = document, status, []

    async def __call__(self, scope, receive, send) -> None:
        message = await receive() if scope["method"] in ("PATCH", "POST") else {}
        self.calls.append((scope["method"], scope["path"], message.get("body", b""), dict(scope["headers"])))
        body = json.dumps(self.document if self.document is not None else {"ok": True}).encode()
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body[:5], "more_body": True})
        await send({"type": "http.response.body", "body": body[5:]})


def call(middleware, method: str, path: str, body: bytes = b"") -> tuple[int, dict, object]:
    sent: list[dict] = []
    scope = {"type": "http", "method": method, "path": path,
             "headers": [(b"accept-encoding", b"gzip"), (b"content-type", b"application/json")]}

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    start = sent[0]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    headers = dict(start["headers"])
    assert int(headers[b"content-length"]) == len(payload)
    return start["status"], headers, json.loads(payload)


UNHEALTHY = {"status": "unhealthy", "detail": "the last 2 runs of runtime_monitoring failed"}
HEALTHY = {"status": "healthy", "detail": "last run started 1 min 0 s ago, success"}


def guarded(app, found=HEALTHY, unpaused: list | None = None) -> guard.RuntimeGuard:
    def keep_unpaused():
        if unpaused is not None:
            unpaused.append(True)
        return False
    return guard.RuntimeGuard(app, status=lambda: found, keep_unpaused=keep_unpaused)


def test_pausing_the_monitoring_dag_is_refused_and_never_reaches_airflow():
    app = App()
    status, _, answer = call(guarded(app), "PATCH", "/api/v2/dags/runtime_monitoring", b'{"is_paused": true}')
    assert status == 403 and "cannot be paused" in answer["detail"]
    assert app.calls == []


def test_other_changes_to_it_and_other_dags_pass_through_with_their_body():
    app = App()
    assert call(guarded(app), "PATCH", "/api/v2/dags/runtime_monitoring", b'{"is_paused": false}')[0] == 200
    assert call(guarded(app), "PATCH", "/api/v2/dags/my_dag", b'{"is_paused": true}')[0] == 200
    assert [(c[1], c[2]) for c in app.calls] == [("/api/v2/dags/runtime_monitoring", b'{"is_paused": false}'),
                                                 ("/api/v2/dags/my_dag", b'{"is_paused": true}')]


def test_a_bulk_pause_is_undone_at_once():
    app, unpaused = App(), []
    call(guarded(app, unpaused=unpaused), "PATCH", "/api/v2/dags", b'{"is_paused": true}')
    assert unpaused == [True] and len(app.calls) == 1


def test_the_health_endpoint_gets_the_monitoring_entry():
    app = App({"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"}})
    status, _, answer = call(guarded(app, UNHEALTHY), "GET", "/api/v2/monitor/health")
    assert status == 200 and answer["runtime_monitoring"] == UNHEALTHY
    assert answer["scheduler"] == {"status": "healthy"}
    assert b"accept-encoding" not in app.calls[0][3]  # asked uncompressed, to be read here


def test_the_dashboard_shows_an_alert_only_while_it_is_unhealthy():
    config = {"instance_name": "Airflow Runtime", "dashboard_alert": [{"text": "theirs", "category": "info"}]}
    _, _, answer = call(guarded(App(config), UNHEALTHY), "GET", "/ui/config")
    assert answer["dashboard_alert"] == [{"text": "theirs", "category": "info"},
                                         {"text": f"Airflow Runtime monitoring: {UNHEALTHY['detail']}",
                                          "category": "error"}]
    _, _, answer = call(guarded(App(config), HEALTHY), "GET", "/ui/config")
    assert answer == config


def test_an_error_response_is_passed_as_it_is():
    _, _, answer = call(guarded(App({"detail": "Not authenticated"}, status=401), UNHEALTHY), "GET", "/ui/config")
    assert answer == {"detail": "Not authenticated"}
