"""The API server's guard of the runtime's monitoring DAG (an ASGI middleware, Airflow 3.1 and later).

- `PATCH /api/v2/dags/runtime_monitoring` that pauses it is refused (403): the UI's toggle and
  the REST API cannot pause it. A pause that reaches the database another way (a bulk PATCH of
  many DAGs, `airflow dags pause` in a container) is undone: after a bulk PATCH at once, and
  otherwise at most ENFORCE_SECONDS after it, on the next request.
- `GET /api/v2/monitor/health` gets a `runtime_monitoring` entry ({"status", "detail"}, see
  monitoring.py) beside Airflow's own components, and `GET /ui/config` an error alert on the
  dashboard while it is unhealthy: its failures are seen where the deployment's health is.

Everything else passes through untouched. Pure ASGI (no Starlette helpers): nothing here
buffers a response but the two small JSON documents it amends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import monitoring

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger(__name__)
ENFORCE_SECONDS = 30.0
REFUSED = (f"{monitoring.DAG_ID} is the runtime's own monitoring DAG: it cannot be paused "
           "(its runs are how this deployment shows that the scheduler and the workers run tasks)")
ALERT = "Airflow Runtime monitoring: {detail}"


def pauses(body: bytes) -> bool:
    """Whether a PATCH body sets is_paused to true. Pure."""
    try:
        return json.loads(body or b"{}").get("is_paused") is True
    except (ValueError, AttributeError):
        return False


def amend(path: str, document: Any, found: dict[str, str]) -> Any:
    """The health document with the monitoring entry, or the UI config with the alert. Pure."""
    if not isinstance(document, dict):
        return document
    if path.endswith("/monitor/health"):
        return {**document, monitoring.DAG_ID: found}
    if found["status"] == monitoring.UNHEALTHY:
        alert = {"text": ALERT.format(detail=found["detail"]), "category": "error"}
        return {**document, "dashboard_alert": [*(document.get("dashboard_alert") or []), alert]}
    return document


class RuntimeGuard:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 status: Callable[[], dict[str, str]] = monitoring.status,
                 keep_unpaused: Callable[[], bool] = monitoring.keep_unpaused) -> None:
        self.app, self.status, self.keep_unpaused = app, status, keep_unpaused
        self._enforced = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope.get("method", ""), scope.get("path", "").rstrip("/")
        if method == "PATCH" and path.endswith(f"/api/v2/dags/{monitoring.DAG_ID}"):
            body = await _body(receive)
            if pauses(body):
                await _json(send, 403, {"detail": REFUSED})
                return
            await self.app(scope, _replay(body, receive), send)
            return
        if method == "GET" and (path.endswith("/api/v2/monitor/health") or path.endswith("/ui/config")):
            await self._amended(scope, receive, send, path)
            return
        await self.app(scope, receive, send)
        if method == "PATCH" and path.endswith("/api/v2/dags"):
            await self._enforce(now=True)
        else:
            await self._enforce()

    async def _enforce(self, now: bool = False) -> None:
        if not now and time.monotonic() - self._enforced < ENFORCE_SECONDS:
            return
        self._enforced = time.monotonic()
        try:
            await _in_thread(self.keep_unpaused)
        except Exception:  # the database is down: the health endpoint says so itself
            return

    async def _amended(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        # Ask for the response uncompressed: it is read and written again here.
        scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]}
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._send_amended(send, start, b"".join(chunks), path)
            else:
                await send(message)

        await self.app(scope, receive, keep)

    async def _send_amended(self, send: Send, start: Message, body: bytes, path: str) -> None:
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        if start.get("status") == 200 and content_type.startswith(b"application/json"):
            try:
                found = await _in_thread(self.status)
                body = json.dumps(amend(path, json.loads(body), found)).encode()
            except Exception:  # never break the endpoint for the sake of the entry
                log.exception("could not add the monitoring DAG's health to %s", path)
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """The request's body again (it was read to look at), then the connection's own messages."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _json(send: Send, status: int, document: Any) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _in_thread(function: Callable[[], Any]) -> Any:
    """A blocking call (the metadata database) off the event loop."""
    return await asyncio.to_thread(function)
