"""Waiting until a deployment's containers are healthy: every check in its own thread.

One after another, each component's health waited for the others' (an `airflow ...` command is
an Airflow import, seconds of a core). A check may have a cheap sign (a query, a log line)
asked first, so no Airflow import competes with the starting components for the cores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass

from ..errors import Unhealthy

POLL_SECONDS = 3.0  # between tries of a check that runs a command in a container
QUICK_POLL_SECONDS = 0.5  # between tries of a cheap one (an HTTP request, a query, pg_isready)
SIGN_SECONDS = 30.0  # a check whose cheap sign has not shown by then is tried anyway


@dataclass(frozen=True)
class Health:
    """How one container proves it is up: `passes()` until it does, `every` seconds apart. `sign`
    (cheap) is asked first, and `passes` tried once it shows or SIGN_SECONDS have passed without
    it (an Airflow version that does not give it is only slower)."""

    name: str
    what: str  # the check, as an error names it
    passes: Callable[[], bool]
    every: float = POLL_SECONDS
    sign: Callable[[], bool] | None = None


def wait_all(checks: list[Health], timeout: float, running: Callable[[Health], None],
             healthy: Callable[[str], None]) -> None:
    """Poll every check side by side until all pass (`healthy(name)` as each does). `running(check)`
    is called before each try and raises when the container has stopped: that fails the wait at
    once; a check still failing at the timeout raises Unhealthy. Either stops the other threads."""
    pending = {check.name for check in checks}
    deadline = time.monotonic() + timeout
    stop = threading.Event()

    def poll(check: Health) -> None:
        began = time.monotonic()
        while not stop.is_set():
            running(check)
            ready = check.sign is None or time.monotonic() - began > SIGN_SECONDS or check.sign()
            if ready and check.passes():
                pending.discard(check.name)
                healthy(check.name)
                return
            if time.monotonic() > deadline:
                raise Unhealthy(check.name, check.what, sorted(pending - {check.name}))
            stop.wait(check.every if ready else QUICK_POLL_SECONDS)

    pool = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="health")
    try:
        futures = [pool.submit(poll, check) for check in checks]
        wait_for(futures, return_when=FIRST_EXCEPTION)
    finally:  # a failure, or Ctrl-C: the other threads end after the try they are in
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        if future.done() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
