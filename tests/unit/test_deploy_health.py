"""How a deployment waits for its containers' health checks (runtime_builder/deploy/health.py),
and how much longer for an emulated image, with fake checks, containers and images (no engine)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from runtime_builder.deploy import api as api_module
from runtime_builder.deploy import health as module
from runtime_builder.deploy.api import AirflowApi, ApiError
from runtime_builder.deploy.deployment import DeployError, Deployment
from runtime_builder.deploy.facts import EMULATED_PATIENCE, image_facts
from runtime_builder.deploy.health import Health, Unhealthy, wait_all
from runtime_builder.images.engine import Labelled
from runtime_builder.matrix.model import Platform


@dataclass
class FakeEngine:
    """The engine adapter as waiting and removing use it: containers by name, each with a state;
    labelled parts another deployment made."""

    def __init__(self, states: dict[str, tuple[str, int | None]] | None = None,
                 labelled: list[Labelled] | None = None) -> None:
        self.states = states or {}
        self.parts = labelled or []
        self.removed: list[str] = []
        self.created: list[str] = []

    def state(self, name: str) -> tuple[str, int | None]:
        return self.states.get(name, ("running", None))

    def logs(self, name: str, lines: int | None = None) -> str:
        return "last line of the log\n"

    def labelled(self, labels: list[str]) -> list[Labelled]:
        return self.parts

    def remove_labelled(self, labels: list[str]) -> list[Labelled]:
        self.removed += [part.name for part in self.parts]
        return self.parts

    def create_network(self, name: str, labels: object) -> str:
        self.created.append(name)
        return name


def deployment(names: list[str], engine: FakeEngine | None = None) -> Deployment:
    """A Deployment with only what waiting reads: its name, containers, engine and clock."""
    found = Deployment.__new__(Deployment)
    found.name = "airflow-test"
    found.containers = {name: f"airflow-test-{name}" for name in names}
    found.engine = engine or FakeEngine()
    found.timings = {}
    found._started = time.monotonic()
    return found


def after(seconds: float, calls: list[str], name: str):
    """A check that fails until `seconds` have passed since it was made, recording each try."""
    passing_at = time.monotonic() + seconds

    def check() -> bool:
        calls.append(name)
        return time.monotonic() >= passing_at
    return check


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "QUICK_POLL_SECONDS", 0.01)


def running(check: Health) -> None:
    pass


def test_checks_run_side_by_side_so_the_wait_is_the_slowest_not_the_sum() -> None:
    names = ["scheduler", "triggerer", "worker"]
    healthy: list[str] = []
    entered, gate = [], threading.Barrier(len(names), timeout=5)

    def slow(name: str):
        def check() -> bool:
            entered.append(name)
            gate.wait()  # passes only when every check is being tried at once
            return True
        return check

    wait_all([Health(name, name, slow(name), every=0.01) for name in names], 10, running, healthy.append)

    assert sorted(entered) == sorted(names) == sorted(healthy)


def test_an_expensive_check_waits_for_its_cheap_sign() -> None:
    calls: list[str] = []

    wait_all([Health("scheduler", "airflow jobs check", after(0, calls, "check"), every=0.01,
                     sign=after(0.1, calls, "sign"))], 10, running, lambda name: None)

    assert calls[-1] == "check" and calls.count("check") == 1, calls
    assert calls.count("sign") > 1


def test_a_sign_that_never_shows_only_delays_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SIGN_SECONDS", 0.1)
    calls: list[str] = []
    started = time.monotonic()

    wait_all([Health("worker", "celery inspect ping", after(0, calls, "check"), every=0.01, sign=lambda: False)],
             10, running, lambda name: None)

    assert calls == ["check"]
    assert time.monotonic() - started >= 0.1


def test_the_timeout_names_the_check_and_the_others_still_failing() -> None:
    with pytest.raises(Unhealthy) as raised:
        wait_all([Health("scheduler", "airflow jobs check", lambda: False, every=0.01),
                  Health("worker", "celery inspect ping", lambda: False, every=0.01),
                  Health("api-server", "GET /health", lambda: True, every=0.01)], 0.2, running, lambda name: None)

    assert raised.value.name in ("scheduler", "worker")
    assert raised.value.others == sorted({"scheduler", "worker"} - {raised.value.name})


def test_a_stopped_container_fails_the_wait_at_once_with_its_name_and_log() -> None:
    found = deployment(["scheduler", "api-server"], FakeEngine({"airflow-test-scheduler": ("exited", 3)}))
    started = time.monotonic()

    with pytest.raises(DeployError, match=r"scheduler stopped \(exit 3\) before it was healthy "
                                          r"\(check: airflow jobs check\)(.|\n)*last line of the log"):
        found._wait([Health("scheduler", "airflow jobs check", lambda: False, every=0.01),
                     Health("api-server", "GET /health", lambda: False, every=0.01)], timeout=30)
    assert time.monotonic() - started < 5


def test_a_deployment_names_the_check_that_timed_out_the_others_and_its_log() -> None:
    found = deployment(["scheduler", "worker", "api-server"])

    with pytest.raises(DeployError) as raised:
        found._wait([Health("scheduler", "airflow jobs check", lambda: False, every=0.01),
                     Health("worker", "celery inspect ping", lambda: False, every=0.01),
                     Health("api-server", "GET /health", lambda: True, every=0.01)], timeout=0.2)

    message = str(raised.value)
    assert message.startswith("airflow-test: ") and "did not become healthy within 0 s (check: " in message
    assert "(also not healthy: " in message and "api-server" not in message.split("also not healthy")[1]
    assert message.endswith("its last log lines:\nlast line of the log\n")
    assert "healthy:api-server" in found.timings


# -- an image of another architecture: the waits for Airflow are longer ------------------------

@dataclass
class FakeImages:
    """The engine adapter as image_facts asks it: an image's labels and architecture."""

    architecture: str

    def image_facts(self, reference: str) -> tuple[dict[str, str], str]:
        return RUNTIME_LABELS, self.architecture


RUNTIME_LABELS = {"io.airflow-runtime.version": "14.1.0", "io.airflow-runtime.airflow-version": "3.3.2"}


@pytest.mark.parametrize("platform", list(Platform), ids=lambda p: p.arch)
def test_an_image_of_another_architecture_is_waited_for_longer(platform: Platform) -> None:
    facts = image_facts(FakeImages(platform.arch), "airflow-runtime:14.1.0")  # type: ignore[arg-type]

    emulated = platform is not Platform.native()
    assert facts.emulated is emulated
    assert facts.patience == (EMULATED_PATIENCE if emulated else 1.0)


def test_the_api_waits_by_its_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(api_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(api_module.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    api = AirflowApi("http://127.0.0.1:1", 3, "admin", "secret", patience=3.0)
    monkeypatch.setattr(api, "run", lambda dag_id, run_id: {"state": "running"})
    monkeypatch.setattr(api, "task_instances", lambda dag_id, run_id: [])

    with pytest.raises(ApiError, match="after 900 s"):
        api.wait_for_run("dag", "run", timeout=300.0)
    assert 900.0 <= clock[0] < 920.0


def test_each_request_waits_by_the_apis_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    """An emulated API server answers its first token request slowly: each request's own timeout
    is multiplied too, and no answer is an ApiError naming the request."""
    seen: list[float] = []

    def no_answer(request: object, timeout: float) -> None:
        seen.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(api_module.urllib.request, "urlopen", no_answer)
    api = AirflowApi("http://127.0.0.1:1", 3, "admin", "secret", patience=3.0)
    with pytest.raises(ApiError, match=f"POST /auth/token: no answer within {api_module.TIMEOUT * 3:.0f} s"):
        api.token()
    api._authorization = "Bearer t"
    with pytest.raises(ApiError, match="GET /dags/x: timed out"):
        api.dag("x")
    assert seen == [api_module.TIMEOUT * 3.0] * 2


# -- a name another deployment has --------------------------------------------------------------

def test_a_deployment_leaves_another_of_its_name_alone() -> None:
    """Starting under a name that labels another deployment's parts fails before anything is made,
    and removing the failed deployment removes none of them (`run --name` twice must not wipe out
    the first one's database)."""
    theirs = [Labelled("container", "twin-postgres", {}), Labelled("volume", "twin-database", {}),
              Labelled("network", "twin", {})]
    engine = FakeEngine(labelled=theirs)
    found = deployment([], engine)
    found.name, found._owned = "twin", False

    with pytest.raises(DeployError, match=r"a deployment named twin is already there \(twin, twin-database, "
                                          r"twin-postgres\)"):
        found.start(progress=lambda line: None)
    found.remove()

    assert engine.created == [] and engine.removed == []


def test_a_job_check_of_our_components_is_one_query_polled_quickly() -> None:
    from runtime_builder.deploy.deployment import _job_query

    query = _job_query("SchedulerJob", "scheduler", "2026-12-07T07:30:01.123456789Z")
    assert query is not None
    assert "job_type = 'SchedulerJob' AND hostname = 'scheduler'" in query
    assert "start_date >= '2026-12-07T07:30:01.123456Z'" in query  # the engine's nanoseconds cut to PostgreSQL's
    # Names not of ours, or a time the engine did not write: Airflow's own (slow) command, polled slowly.
    assert _job_query("SchedulerJob", "sched'uler", "2026-12-07T07:30:01Z") is None
    assert _job_query("Scheduler Job", "scheduler", "2026-12-07T07:30:01Z") is None
    assert _job_query("SchedulerJob", "scheduler", "yesterday") is None
