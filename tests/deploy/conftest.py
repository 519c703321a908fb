"""Fixtures of the deployment tests: one real deployment per (Runtime version, executor, variant).

The fixture project (tests/deploy/project) is built on the version's ONBUILD image (or its slim
ONBUILD image) of the host's platform or of --deploy-platform, which must exist (`python build.py
build VERSION --variant onbuild` makes it, `--variant slim` the slim one); then PostgreSQL,
Redis and every Airflow component start as containers, and every test of that case reads
the same deployment. A deployment that cannot start fails the tests: nothing here skips.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.deploy import project, services
from runtime_builder.deploy.api import AirflowApi
from runtime_builder.deploy.config import AuthManager, Executor
from runtime_builder.deploy.deployment import ORIGIN_LABEL, OWNER_LABEL, Deployment, DeploymentSpec, remove_labelled
from runtime_builder.generate.specs import ImageSpec, nightly_releases
from runtime_builder.images.engine import Engine
from runtime_builder.images.host import require
from runtime_builder.images.secrets import build_secrets, host_cacert, host_index_url
from runtime_builder.layout import LOCAL_REGISTRY, Layout
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Matrix, Platform, Release, Variant

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "project"
REPORTS = REPO_ROOT / "build" / "reports"
ORIGIN = "test"
MONITORING_EVERY_MINUTE = "* * * * *"


@dataclass(frozen=True)
class Case:
    release: Release
    executor: Executor
    variant: Variant = Variant.ONBUILD  # the ONBUILD image the project is built on: full or slim
    platform: Platform = field(default_factory=Platform.native)  # the images' platform; another runs under QEMU
    user: str | None = None  # the uid:gid its Airflow containers run as; None: the image's user
    auth_manager: AuthManager | None = None  # the one the deployment chooses; None: the image's default

    @property
    def id(self) -> str:
        return (f"{self.release.version}-{self.executor.value}" + ("-slim" if self.variant.is_slim else "")
                + ("-anyuid" if self.user else "") + (f"-{self.auth_manager.value}" if self.auth_manager else "")
                + self.platform.foreign_suffix)


def deploy_platform(config: pytest.Config) -> Platform:
    """The images' platform: --deploy-platform, else the host's."""
    return Platform.parse(config.getoption("--deploy-platform") or Platform.native().value)


def asked_releases(config: pytest.Config, matrix: Matrix) -> list[Release]:
    """The releases `--deploy-version` asks for (`lines`: the newest of each line), default: the default release."""
    asked = config.getoption("--deploy-version") or [str(matrix.default_release().version)]
    releases: list[Release] = []
    for version in asked:
        releases += nightly_releases(matrix, newest_of_each_line=True) if version == "lines" \
            else [matrix.release(version)]
    return list(dict.fromkeys(releases))


def cases(config: pytest.Config, matrix: Matrix) -> list[Case]:
    releases = asked_releases(config, matrix)
    standing_in = config.getoption("--deploy-onbuild-image")
    if standing_in and len(releases) != 1:
        raise pytest.UsageError(f"--deploy-onbuild-image {standing_in} stands in for one release's ONBUILD image: "
                                f"give one --deploy-version (asked: {', '.join(str(r.version) for r in releases)})")
    executors = [Executor(e) for e in config.getoption("--deploy-executor")]
    platform = deploy_platform(config)
    default = matrix.default_release()
    found = []
    for release in dict.fromkeys(releases):
        wanted = executors or ([Executor.CELERY, Executor.LOCAL] if release == default else [Executor.CELERY])
        # Where a release runs as any uid in group 0 (OpenShift), its LocalExecutor deployment runs so.
        any_uid = all(release.has(change)
                      for change in (contract.Change.HARDENED, contract.Change.ANY_UID_COMMANDS))
        # Where the image's default is FAB's auth manager, the LocalExecutor deployment chooses the
        # simple one, so that both are deployed and logged in to.
        other = AuthManager.SIMPLE if release.has(contract.Change.FAB_AUTH_MANAGER) else None
        found += [Case(release, executor, Variant.ONBUILD, platform,
                       contract.ARBITRARY_USER if any_uid and executor is Executor.LOCAL else None,
                       other if executor is Executor.LOCAL else None)
                  for executor in wanted]
        # Slim images are made for a LocalExecutor deployment on PostgreSQL: the default release's
        # is deployed that way (the Celery provider is not in them).
        if release.has_slim and Executor.LOCAL in wanted and not standing_in:
            found.append(Case(release, Executor.LOCAL, Variant.SLIM, platform))
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        found = cases(metafunc.config, load_matrix(REPO_ROOT / "versions.yaml"))
        metafunc.parametrize("case", found, ids=[c.id for c in found], scope="session")


@dataclass
class Deployed:
    case: Case
    deployment: Deployment
    image: str  # the project image every component runs
    api: AirflowApi
    overrides: dict[str, str]  # what the deployment set beyond its own configuration

    @property
    def task_host(self) -> str:
        """The component whose container runs tasks: the worker, or the scheduler (LocalExecutor)."""
        return "worker" if self.case.executor is Executor.CELERY else "scheduler"


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> Engine:
    # `build.py setup` set the host up (QEMU too for arm64 images); a host that is not fails (never skips).
    require(arm64=deploy_platform(request.config) is Platform.ARM64)
    found = Engine.detect()
    # What deployment tests of a run that no longer exists left behind.
    for part in found.labelled([f"{ORIGIN_LABEL}={ORIGIN}"]):
        _host, _, pid = part.labels.get(OWNER_LABEL, "").rpartition(":")
        if part.kind == "container" and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_labelled(found, {ORIGIN_LABEL: ORIGIN, OWNER_LABEL: part.labels[OWNER_LABEL]})
    return found


@pytest.fixture(scope="session")
def service_images(request: pytest.FixtureRequest, engine: Engine) -> services.ServiceImages:
    """Debian's PostgreSQL and Redis made into images here, or images given (where a registry is reachable)."""
    postgres, redis = request.config.getoption("--postgres-image"), request.config.getoption("--redis-image")
    if postgres and redis:
        return services.ServiceImages(postgres=postgres, redis=redis)
    return services.ensure_images(engine, LOCAL_REGISTRY, Layout(REPO_ROOT).bases)


def override_of(release: Release, variant: Variant = Variant.ONBUILD) -> tuple[str, str]:
    """A default variable of the image that the deployment overrides, and the value it sets."""
    numeric = [(name, value) for name, value in release.environment_of(variant)
               if name.startswith("AIRFLOW__") and value.isdigit()]
    name, value = numeric[0]
    return name, str(int(value) * 2)


@pytest.fixture(scope="session")
def deployed(case: Case, engine: Engine, service_images: services.ServiceImages,
             tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Deployed]:
    release = case.release
    onbuild = (request.config.getoption("--deploy-onbuild-image")
               or ImageSpec(release, release.python, case.variant, case.platform).reference())
    if engine.image_id(onbuild) is None:
        pytest.fail(f"no image {onbuild}: build it first with `python3 build.py build {release.version} "
                    f"--variant {case.variant.value} --platform {case.platform.value}`", pytrace=False)
    workdir = tmp_path_factory.mktemp(f"deploy-{case.id}")
    tag = f"{project.PROJECT_REPOSITORY}/deploy-test:{release.version}{case.variant.suffix}-{case.platform.arch}"
    secrets = build_secrets(workdir / "secrets", host_cacert(), host_index_url())
    project.build(engine, PROJECT, onbuild, tag, case.platform.value, secrets, workdir / "build.log")
    name, value = override_of(release, case.variant)
    overrides = {name: value, contract.MONITORING_SCHEDULE_VARIABLE: MONITORING_EVERY_MINUTE}
    # Releases from before `monitoring-dag-on` start it paused: the deployment turns it on, as
    # a managed runtime's control plane does; later ones must run it with no help.
    unpause = () if release.has(contract.Change.MONITORING_DAG_ON) else (contract.MONITORING_DAG_ID,)
    spec = DeploymentSpec(tag, service_images, case.executor, environment=overrides, origin=ORIGIN,
                          unpause=unpause, name=f"test-{case.id.replace('.', '-')}", user=case.user,
                          auth_manager=case.auth_manager)
    with Deployment(spec) as deployment:
        deployment.start()
        user, password = deployment.login()
        api = AirflowApi(deployment.url, deployment.facts.airflow_major, user, password, deployment.facts.patience)
        yield Deployed(case, deployment, tag, api, overrides)
    shutil.rmtree(workdir, ignore_errors=True)


CHROMIUM = "/usr/bin/chromium"
# Root needs --no-sandbox; the rest keeps Chromium off a network this host does not have.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    require(programs=("chromium",))
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield found
        found.close()


@contextmanager
def logged_in(browser, url: str, user: str, password: str, showing: str, screenshot: str) -> Iterator[object]:
    """A page of the UI at `url`, logged in as `user`, once it shows `showing`; its screenshot in
    build/reports/`screenshot`.png. Closed afterwards."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(url + "/", wait_until="networkidle")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.keyboard.press("Enter")
        page.wait_for_function("text => document.body && document.body.innerText.includes(text)", arg=showing,
                               timeout=60_000)
        page.wait_for_load_state("networkidle")
        REPORTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REPORTS / f"{screenshot}.png"))
        yield page
    finally:
        page.close()
