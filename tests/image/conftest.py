"""Fixtures of the image tests: which images, their facts, and containers to look into.

Every test here takes `target` (one image under test) and is parametrized over the images,
so its id carries the image reference: `test_labels[airflow-runtime:14.0.2-python-3.13-base-amd64]`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from runtime_builder.images.engine import EngineError
from runtime_builder.matrix.load import load_matrix

from .support import REPO_ROOT, Docker, Prober, Target, TargetError, default_refs, resolve

# The fixture projects' own tests run inside the images they build, never in this session.
collect_ignore = ["projects"]


def _refs(config: pytest.Config) -> list[str]:
    images = config.getoption("--image")
    if images:
        return list(dict.fromkeys(images))
    return default_refs(load_matrix(REPO_ROOT / "versions.yaml"), config.getoption("--platform"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "image_ref" in metafunc.fixturenames:
        refs = _refs(metafunc.config)
        metafunc.parametrize("image_ref", refs, ids=refs, scope="session")


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    """The engine, or a skip saying why there is none: these tests never pass without one."""
    from runtime_builder.images.engine import Engine

    try:
        engine = Engine.detect()
    except EngineError as error:
        pytest.skip(f"no Docker client can run the image tests: {error}")
    if not engine.info():
        pytest.skip(f"no Docker engine answers (`{engine.client} info` failed); start dockerd to run image tests")
    # testinfra's docker backend runs `docker exec` from PATH: make it the client the builder
    # uses (Debian's 20.10 one talks to the 20.10 engine; a newer client first on PATH might not).
    os.environ["PATH"] = f"{Path(engine.client).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    client = Docker(engine)
    client.sweep()
    yield client
    client.cleanup()


@pytest.fixture(scope="session")
def targets(request: pytest.FixtureRequest, docker: Docker) -> dict[str, Target | TargetError]:
    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    resolved: dict[str, Target | TargetError] = {}
    for ref in _refs(request.config):
        try:
            resolved[ref] = resolve(docker, matrix, ref)
        except TargetError as error:
            resolved[ref] = error
    return resolved


# The fixtures that read a probe, and the probe (Prober's kind) each reads: `_probe_fixture`
# makes them and records them here.
PROBE_FIXTURES: dict[str, str] = {}


def _wanted_probes(items: list[pytest.Item]) -> set[tuple[str, str]]:
    """(image, probe) for every probe a selected test reads through a fixture: a `-k` run of a
    few tests starts only theirs (an arm64 image's full set is minutes under QEMU)."""
    wanted = set()
    for item in items:
        ref = getattr(item, "callspec", None) and item.callspec.params.get("image_ref")
        if ref:
            wanted |= {(ref, PROBE_FIXTURES[name]) for name in item.fixturenames if name in PROBE_FIXTURES}
    return wanted


_PROBE_SUMMARY: list[str] = []


@pytest.fixture(scope="session")
def prober(request: pytest.FixtureRequest, docker: Docker,
           targets: dict[str, Target | TargetError]) -> Iterator[Prober]:
    prober = Prober(docker)
    prober.start([t for t in targets.values() if isinstance(t, Target)], _wanted_probes(request.session.items))
    yield prober
    prober.shutdown()
    _PROBE_SUMMARY[:] = prober.summary()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How long each image's probes ran: where the image tests' minutes under QEMU go."""
    if len(_PROBE_SUMMARY) > 1:
        terminalreporter.section("probe seconds per image, and what ONBUILD images share")
        for line in _PROBE_SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def target(image_ref: str, targets: dict[str, Target | TargetError], prober: Prober) -> Target:
    found = targets[image_ref]
    if isinstance(found, TargetError):
        pytest.fail(str(found), pytrace=False)
    return found


def _probe_fixture(name: str, kind: str, doc: str):
    """A session fixture `name`: Prober's `kind` probe of the image under test, run once."""
    def read(target: Target, prober: Prober):
        return prober.get(target, kind)

    read.__doc__ = doc
    PROBE_FIXTURES[name] = kind
    return pytest.fixture(scope="session", name=name)(read)


facts = _probe_fixture("facts", "main", "probe.py's facts about the image, run once as its own user.")
fs_facts = _probe_fixture("fs_facts", "filesystem",
                          "probe.py's file system facts, run once as root so nothing is hidden from it.")
cli_version = _probe_fixture("cli_version", "cli_version",
                             "`docker run IMAGE version`: through the image's own ENTRYPOINT and tini.")
env_override_facts = _probe_fixture(
    "env_override_facts", "env_override",
    "probe.py's identity facts with one default variable overridden by `docker run -e`.")


@pytest.fixture(scope="session")
def host(target: Target, docker: Docker) -> Iterator[testinfra.host.Host]:
    """A running container of the image, started the way users start it (ENTRYPOINT, USER)."""
    container = docker.start(target.ref, target.platform, "sleep", "infinity")
    yield testinfra.get_host(f"docker://{container}")
    docker.remove(container)


@pytest.fixture(scope="session")
def root_host(host: testinfra.host.Host) -> testinfra.host.Host:
    return testinfra.get_host(f"docker://root@{host.backend.name}")
