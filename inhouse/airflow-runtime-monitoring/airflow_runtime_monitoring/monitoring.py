"""The runtime's monitoring DAG, watched: a deployment is healthy while `runtime_monitoring` runs
every few minutes and succeeds.

Unhealthy when its last two runs failed, or when none has started for ten minutes (it is paused,
the scheduler does not schedule, or the executor does not run tasks) since the API server started;
healthy otherwise, saying when the last run started and how it ended. `assess` decides (pure);
`status` asks the metadata database (cached for CACHE_SECONDS: the UI asks on every page).
`keep_unpaused` undoes a pause that reached the database some other way than the API, where the
guard refuses it (`airflow dags pause` in a container).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

DAG_ID = "runtime_monitoring"
STALE_AFTER = timedelta(minutes=10)  # no run started for this long: unhealthy
FAILED_IN_A_ROW = 2  # this many failed runs, newest first: unhealthy
CACHE_SECONDS = 30.0
HEALTHY, UNHEALTHY = "healthy", "unhealthy"

STARTED = datetime.now(timezone.utc)  # noqa: UP017 (Python 3.10 too) - when the API server started watching
_cache: tuple[float, dict[str, str]] | None = None
_lock = threading.Lock()


def assess(states: Sequence[str], last_start: datetime | None, paused: bool | None, now: datetime,
           since: datetime = STARTED) -> dict[str, str]:
    """{"status": healthy|unhealthy, "detail": why} from the DAG's newest run states (newest first),
    when its newest run started, whether it is paused (None: the DAG is not there), and since when
    it is watched. Pure."""
    if paused is None:
        if now - since < STALE_AFTER:
            return {"status": HEALTHY, "detail": f"waiting for {DAG_ID} to be parsed"}
        return {"status": UNHEALTHY, "detail": f"{DAG_ID} is not in this deployment: its DAG bundle "
                                               "(airflow-runtime) is not configured, or it does not parse"}
    failed = list(states[:FAILED_IN_A_ROW])
    if len(failed) == FAILED_IN_A_ROW and all(state == "failed" for state in failed):
        return {"status": UNHEALTHY, "detail": f"the last {FAILED_IN_A_ROW} runs of {DAG_ID} failed"}
    reference = max(last_start, since) if last_start else since
    quiet = now - reference
    if quiet > STALE_AFTER:
        why = " (it is paused)" if paused else ""
        return {"status": UNHEALTHY, "detail": f"no run of {DAG_ID} has started for {int(quiet.total_seconds() // 60)} "
                                               f"minutes{why}"}
    if last_start is None:
        return {"status": HEALTHY, "detail": f"waiting for the first run of {DAG_ID}"}
    ago = int((now - last_start).total_seconds())
    return {"status": HEALTHY, "detail": f"last run started {ago // 60} min {ago % 60} s ago, "
                                         f"{states[0] if states else 'running'}"}


def status() -> dict[str, str]:
    """The monitoring DAG's health, from the metadata database (at most every CACHE_SECONDS)."""
    global _cache
    with _lock:
        if _cache is not None and time.monotonic() - _cache[0] < CACHE_SECONDS:
            return _cache[1]
        try:
            found = _query()
        except Exception as error:  # the database is down: the health endpoint says so itself
            found = {"status": UNHEALTHY, "detail": f"cannot read {DAG_ID}'s runs: {type(error).__name__}"}
        _cache = (time.monotonic(), found)
        return found


def _query() -> dict[str, str]:
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        paused = session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == DAG_ID))
        rows = session.execute(select(DagRun.state, DagRun.start_date).where(DagRun.dag_id == DAG_ID)
                               .order_by(DagRun.id.desc()).limit(5)).all()
    finished = [str(state) for state, _ in rows if str(state) in ("success", "failed")]
    starts = [start for _, start in rows if start is not None]
    return assess(finished, max(starts) if starts else None, paused, datetime.now(timezone.utc))  # noqa: UP017


def keep_unpaused() -> bool:
    """Unpause the monitoring DAG when something paused it; whether it had to."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        result = session.execute(update(DagModel).where(DagModel.dag_id == DAG_ID, DagModel.is_paused.is_(True))
                                 .values(is_paused=False))
        return bool(result.rowcount)
