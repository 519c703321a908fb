"""The checks catch what they are for: each derived image breaks one property of a tested -base
image, and the check for that property must report it, while the unbroken image passes it.

The derived images are one small layer `FROM` the image under test, built without network.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.images.secrets import host_cacert

from . import checks
from .checks import Expected
from .support import (
    OWNER,
    OWNER_LABEL,
    TEST_LABEL,
    TEST_REPOSITORY,
    Docker,
    Prober,
    Target,
    require_base,
    require_native,
)

pytestmark = pytest.mark.image

UNKNOWN_OPTION = "AIRFLOW__SCHEDULER__RUNTIME_TEST_NO_SUCH_OPTION"
USER = f"{checks.UID}:{checks.GID}"  # the image's own user, back after a root step


@dataclass(frozen=True)
class Where:
    """Paths and names of the image under test, taken from its own facts, never hard-coded."""

    site_packages: str
    provider: str  # a locked provider's distribution name
    provider_dir: str  # its package's folder
    variable: str  # a default AIRFLOW__* variable of the release
    value: str  # its default value
    monitoring_dag: str  # the monitoring DAG's file


@dataclass(frozen=True)
class Breakage:
    id: str
    dockerfile: Callable[[Where], str]  # the lines after FROM
    facts: str  # "probe", "root-probe" (probe.py as root), "config" (image inspect) or "history"
    check: Callable[[Expected, object], list[str]]
    sections: tuple[str, ...] = ()
    expect: Callable[[Expected, Where], Expected] = lambda expected, where: expected
    files: dict[str, Callable[[], bytes]] = field(default_factory=dict)


def _cacert() -> bytes:
    path = host_cacert()
    if path is None:
        pytest.skip("this host has no CA bundle a build would pass as a secret")
    return path.read_bytes()


def _with_unknown_option(expected: Expected, where: Where) -> Expected:
    # As if versions.yaml set an option this Airflow does not have (renamed, removed, misspelt).
    return dataclasses.replace(expected, environment={**expected.environment, UNKNOWN_OPTION: "1"})


BREAKAGES = [
    Breakage("default-env-changed", lambda w: f"ENV {w.variable}={json.dumps(w.value + '1')}",
             "probe", lambda e, f: checks.check_environment(e, f) + checks.check_config(e, f),
             ("identity", "airflow")),
    Breakage("option-unknown-to-airflow", lambda w: f"ENV {UNKNOWN_OPTION}=1",
             "probe", checks.check_config, ("airflow",), expect=_with_unknown_option),
    Breakage("unlocked-distribution", lambda w: (
        "USER root\n"
        f"RUN mkdir {w.site_packages}/runtime_test_extra-1.0.dist-info \\\n"
        f"    && printf 'Metadata-Version: 2.1\\nName: runtime-test-extra\\nVersion: 1.0\\n' \\\n"
        f"       > {w.site_packages}/runtime_test_extra-1.0.dist-info/METADATA\n"
        f"USER {USER}"),
        "probe", checks.check_pins, ("distributions",)),
    Breakage("provider-files-removed", lambda w: f"USER root\nRUN rm -rf {w.provider_dir}\nUSER {USER}",
             "probe", checks.check_providers, ("airflow",)),
    Breakage("provider-module-broken", lambda w: (
        f"USER root\nRUN mkdir -p {w.provider_dir}/hooks && echo 'import runtime_test_no_such_module' "
        f"> {w.provider_dir}/hooks/runtime_test_broken.py\nUSER {USER}"),
        "probe", lambda e, f: checks.check_provider_modules(f), ("airflow",)),
    Breakage("user-root", lambda w: "USER root", "probe", lambda e, f: checks.check_identity(f), ("identity",)),
    Breakage("entrypoint-without-tini", lambda w: f'ENTRYPOINT ["{contract.ENTRYPOINT}"]',
             "config", checks.check_image_config),
    Breakage("pip-cache-left", lambda w: (
        f"USER root\nRUN mkdir -p /root/.cache/pip/http && echo cached > /root/.cache/pip/http/entry\nUSER {USER}"),
        "root-probe", lambda e, f: checks.check_no_caches(f), ("filesystem",)),
    Breakage("wrong-label", lambda w: "LABEL io.airflow-runtime.airflow-version=0.0.0",
             "config", lambda e, f: checks.check_labels(e, f.get("Labels"))),
    Breakage("setuid-program", lambda w: f"USER root\nRUN chmod u+s /usr/bin/bash\nUSER {USER}",
             "root-probe", lambda e, f: checks.check_no_setuid(f), ("filesystem",)),
    Breakage("world-writable-file", lambda w: f"USER root\nRUN chmod o+w /etc/passwd\nUSER {USER}",
             # What the check reports of that file (images before no-world-writable-files have uv's .lock too).
             "root-probe", lambda e, f: [p for p in checks.check_no_world_writable(f) if p.endswith(" /etc/passwd")],
             ("filesystem",)),
    Breakage("compiler-installed", lambda w: (
        f"USER root\nRUN printf '#!/bin/sh\\nexit 0\\n' > /usr/bin/gcc && chmod 755 /usr/bin/gcc\nUSER {USER}"),
        "root-probe", lambda e, f: checks.check_no_compilers(f), ("filesystem",)),
    Breakage("manual-page-left", lambda w: (
        f"USER root\nRUN mkdir -p /usr/share/man/man1 && echo page > /usr/share/man/man1/runtime-test.1\nUSER {USER}"),
        "root-probe", lambda e, f: checks.check_slim_floor(f), ("filesystem",)),
    Breakage("monitoring-dag-syntax-error", lambda w: (
        f"USER root\nRUN echo 'def broken(:' >> {w.monitoring_dag}\nUSER {USER}"),
        "probe", checks.check_monitoring_dag, ("dags",)),
    Breakage("constraint-unset", lambda w: "ENV PIP_CONSTRAINT=", "probe", checks.check_constraint, ("pip",)),
    Breakage("ca-bundle-copied", lambda w: "COPY cacert /usr/local/share/ca-certificates/build-proxy.crt",
             "root-probe", lambda e, f: checks.check_no_secrets(f), ("filesystem",), files={"cacert": _cacert}),
    Breakage("ca-bundle-in-history", lambda w: "COPY cacert /usr/local/share/ca-certificates/build-proxy.crt",
             "history", lambda e, f: checks.check_history(f), files={"cacert": _cacert}),
]


@pytest.fixture(scope="module")
def where(target: Target, facts: dict) -> Where:
    require_base(target)
    require_native(target, "building broken variants")
    if target.variant.is_slim:
        # These test the checks, not the image: each breakage is built FROM a -base image and
        # must make its check fail. The full -base image of the same release does that; the
        # slim one would repeat it (about 3 minutes) and prove nothing more.
        pytest.skip("the checks' own test runs on the full -base image of this release")
    expected = target.expected
    provider = sorted(expected.providers)[0]
    package = facts["airflow"]["provider_imports"][provider]["package"]
    site_packages = facts["distributions"]["site_packages"]
    variable, value = next((name, value) for name, value in sorted(expected.environment.items())
                           if checks.config_option(name))
    # From monitoring-guarded it is root's file in the runtime's own DAG bundle.
    folder = contract.MONITORING_DAGS if expected.has(contract.Change.MONITORING_GUARDED) \
        else f"{checks.AIRFLOW_HOME}/dags"
    return Where(site_packages, provider, f"{site_packages}/{package.replace('.', '/')}", variable, value,
                 f"{folder}/{checks.MONITORING_DAG}.py")


def _facts(kind: str, ref: str, target: Target, docker: Docker, prober: Prober, sections: tuple[str, ...]):
    if kind == "config":
        inspected = docker.inspect_image(ref)
        assert inspected is not None, f"no image {ref}"
        return inspected["Config"]
    if kind == "history":
        return docker.history(ref)
    request = checks.probe_request(target.expected, list(sections), secrets=prober.secrets)
    return prober.probe(ref, target.platform, request, user="0" if kind == "root-probe" else None)


@pytest.fixture
def broken_image(request: pytest.FixtureRequest, target: Target, where: Where, docker: Docker,
                 tmp_path: Path) -> Iterator[str]:
    breakage: Breakage = request.param
    for name, content in breakage.files.items():
        (tmp_path / name).write_bytes(content())
    (tmp_path / "Dockerfile").write_text(
        f"FROM {target.ref}\n{breakage.dockerfile(where)}\nLABEL {TEST_LABEL}=1 {OWNER_LABEL}={OWNER}\n")
    tag = f"{TEST_REPOSITORY}/breakage-{breakage.id}:{uuid.uuid4().hex[:12]}"
    result = docker.build(tmp_path, tag, target.platform)
    if result.returncode != 0:
        pytest.fail(f"the broken variant {breakage.id} did not build:\n{result.output[-3000:]}", pytrace=False)
    yield tag
    docker.remove_image(tag)


@pytest.mark.parametrize("broken_image", BREAKAGES, ids=[b.id for b in BREAKAGES], indirect=True)
def test_check_catches_breakage(broken_image: str, request: pytest.FixtureRequest, target: Target, where: Where,
                                docker: Docker, prober: Prober) -> None:
    breakage: Breakage = request.node.callspec.params["broken_image"]
    expected = breakage.expect(target.expected, where)
    unbroken = {
        "probe": lambda: prober.get(target, "main"),
        "root-probe": lambda: prober.get(target, "filesystem"),
        "config": lambda: target.config,
        "history": lambda: docker.history(target.ref),
    }[breakage.facts]()
    assert breakage.check(target.expected, unbroken) == [], "the unbroken image must pass this check"
    problems = breakage.check(expected, _facts(breakage.facts, broken_image, target, docker, prober,
                                               breakage.sections))
    print(f"{breakage.id}: the check reports", *problems, sep="\n  ")
    assert problems, f"the check did not notice the breakage {breakage.id}"
