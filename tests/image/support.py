"""The image suite's plumbing: the Docker client, the images under test, and their probed facts.

Every container and image the suite makes carries the label `io.airflow-runtime.test=1` and
an owner label naming the pytest process; a session first sweeps away what sessions that no
longer run left behind, and removes its own at the end (also after Ctrl-C, through atexit).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from runtime_builder import contract
from runtime_builder.images.engine import Engine
from runtime_builder.images.secrets import host_cacert, host_index_url
from runtime_builder.lock.locks import LockCell
from runtime_builder.matrix.model import Matrix, Platform, Variant

from . import checks
from .probe import MARKER

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).resolve().with_name("probe.py")  # piped into containers: standard library only
PROJECTS = Path(__file__).resolve().parent / "projects"
TEST_LABEL = "io.airflow-runtime.test"
OWNER_LABEL = "io.airflow-runtime.test.owner"
OWNER = f"{socket.gethostname()}:{os.getpid()}"
TEST_REPOSITORY = "airflow-runtime-test"
# Seconds; generous because arm64 runs under QEMU (`import airflow` alone takes ~20 s there with
# QEMU 10, ~90 s with Debian 12's 7.2, which stays when no newer one can be had: host.ensure_fast_qemu).
PROBE_TIMEOUT = {Platform.AMD64: 300, Platform.ARM64: 1200}
OVERRIDE_VALUE = "7"
T = TypeVar("T")


class TargetError(Exception):
    """An image cannot be tested: missing, unlabelled, or without a lock to compare with."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Docker:
    """The docker client the builder uses (Debian's 20.10 one here), with the suite's labels."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.client = engine.client
        self._lock = threading.Lock()
        self._containers: set[str] = set()
        self._images: set[str] = set()
        atexit.register(self.cleanup)

    def run(self, *args: str, input: str | None = None, timeout: float | None = None) -> Result:
        try:
            done = self.engine.cli(args, input=input, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            return Result(124, _text(error.stdout), _text(error.stderr) + f"\ntimed out after {timeout} s")
        return Result(done.returncode, done.stdout, done.stderr)

    def labels(self) -> list[str]:
        return ["--label", f"{TEST_LABEL}=1", "--label", f"{OWNER_LABEL}={OWNER}"]

    def container_name(self, purpose: str) -> str:
        name = f"runtime-test-{purpose}-{uuid.uuid4().hex[:10]}"
        with self._lock:
            self._containers.add(name)
        return name

    def start(self, image: str, platform: Platform, *command: str, options: tuple[str, ...] = ()) -> str:
        """A detached container of `image`, removed at the end of the session at the latest."""
        name = self.container_name("ctr")
        result = self.run("run", "-d", "--name", name, "--platform", platform.value, *self.labels(), *options,
                          image, *command)
        if result.returncode != 0:
            raise RuntimeError(f"cannot start a container of {image}: {result.stderr.strip()}")
        return name

    def oneshot(self, image: str, platform: Platform, *command: str, options: tuple[str, ...] = (),
                input: str | None = None, timeout: float | None = None) -> Result:
        """`docker run --rm`, named and labelled, so an interrupted run can still be removed."""
        name = self.container_name("run")
        try:
            return self.run("run", "--rm", "-i", "--name", name, "--platform", platform.value, *self.labels(),
                            *options, image, *command, input=input, timeout=timeout)
        finally:
            self.remove(name)

    def remove(self, container: str) -> None:
        self.run("rm", "-f", "-v", container)
        with self._lock:
            self._containers.discard(container)

    def build(self, context: Path, tag: str, platform: Platform, build_args: dict[str, str] | None = None,
              secrets: dict[str, Path] | None = None) -> Result:
        """Build with the builder's own engine adapter; the result carries the whole build log."""
        from runtime_builder.images.engine import BuildError

        with self._lock:
            self._images.add(tag)
        # Under build/, never beside the context: the contexts are committed, rendered files.
        log = REPO_ROOT / "build" / "logs" / "image-tests" / (re.sub(r"[^A-Za-z0-9.-]+", "_", tag) + ".build.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine.build(context=context, tag=tag, platform=platform.value, build_args=build_args or {},
                              secrets=secrets or {}, log_path=log)
        except BuildError:
            return Result(1, log.read_text(), "")
        return Result(0, log.read_text(), "")

    def remove_image(self, tag: str) -> None:
        self.run("image", "rm", "-f", tag)
        with self._lock:
            self._images.discard(tag)

    def cleanup(self) -> None:
        with self._lock:
            containers, images = list(self._containers), list(self._images)
        for container in containers:
            self.remove(container)
        for image in images:
            self.remove_image(image)

    def sweep(self) -> list[str]:
        """Remove what earlier test sessions on this host left behind (their process is gone)."""
        removed = []
        listing = self.run("ps", "-a", "--filter", f"label={TEST_LABEL}=1",
                           "--format", f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}')
        for line in listing.stdout.splitlines():
            container, _, owner = line.partition(" ")
            if not _alive(owner):
                self.run("rm", "-f", "-v", container)
                removed.append(container)
        listing = self.run("images", "--filter", f"label={TEST_LABEL}=1",
                           "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
        for line in listing.stdout.splitlines():
            ref, _, image_id = line.partition(" ")
            owner = self.run("image", "inspect", "--format", f'{{{{index .Config.Labels "{OWNER_LABEL}"}}}}',
                             image_id).stdout.strip()
            if not _alive(owner):
                self.run("image", "rm", "-f", ref if not ref.startswith("<none>") else image_id)
                removed.append(ref)
        return removed

    def inspect_image(self, ref: str) -> dict | None:
        result = self.run("image", "inspect", ref)
        return json.loads(result.stdout)[0] if result.returncode == 0 else None

    def history(self, ref: str) -> list[str]:
        return self.run("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).stdout.splitlines()


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


def _alive(owner: str) -> bool:
    """Whether the pytest process named by an owner label still runs (other hosts: assume so)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return host != socket.gethostname()
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Target:
    """One image under test, identified by its own labels and architecture."""

    ref: str
    image_id: str
    variant: Variant
    platform: Platform
    expected: checks.Expected
    inspect: dict

    @property
    def config(self) -> dict:
        return self.inspect.get("Config") or {}

    @property
    def emulated(self) -> bool:
        return self.platform.arch != _native().arch


def _native() -> Platform:
    return Platform.native()


def default_refs(matrix: Matrix, platforms: list[str]) -> list[str]:
    from runtime_builder.generate.specs import ImageSpec

    release = matrix.default_release()
    chosen = [Platform.parse(p) for p in platforms] if platforms else [_native()]
    return [ImageSpec(release, release.python, variant, platform).reference()
            for platform in chosen for variant in release.variants]


def resolve(docker: Docker, matrix: Matrix, ref: str) -> Target:
    """The expectations of `ref`: its labels name the release and Python, the lock its pins."""
    inspect = docker.inspect_image(ref)
    if inspect is None:
        raise TargetError(f"no image {ref}; build it first, e.g. `python3 build.py build --no-smoke`")
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    version = labels.get("io.airflow-runtime.version")
    python = labels.get("io.airflow-runtime.python-version")
    if not version or not python:
        raise TargetError(f"{ref} has no io.airflow-runtime.version/python-version labels: not a Runtime image")
    try:
        release = matrix.release(version)
        platform = Platform.parse(inspect.get("Architecture", ""))
    except (LookupError, ValueError) as error:
        raise TargetError(f"{ref}: {error}") from error
    variant = variant_of(inspect)
    lock = REPO_ROOT / LockCell(release, python, platform, variant.is_slim).path
    if not lock.exists():
        raise TargetError(f"{ref}: no lock file {lock.relative_to(REPO_ROOT)} to compare with; "
                          f"run `python3 build.py lock {version} --python {python}`")
    expected = checks.expected_for(release, python, platform, lock.read_text(), variant)
    return Target(ref, inspect["Id"], variant, platform, expected, inspect)


def variant_of(inspect: dict) -> Variant:
    """ONBUILD or -base from the image's ONBUILD triggers; slim or full from its title label
    (the templates write contract.image_title: `Airflow Runtime (slim)`, `... (slim, onbuild)`)."""
    config = inspect.get("Config") or {}
    onbuild = bool(config.get("OnBuild"))
    title = (config.get("Labels") or {}).get("org.opencontainers.image.title", "")
    slim = title == contract.image_title(onbuild=onbuild, slim=True)
    return (Variant.SLIM if slim else Variant.ONBUILD) if onbuild else (Variant.SLIM_BASE if slim else Variant.BASE)


def secret_digests() -> dict[str, tuple[int, str]]:
    """The secrets a build on this host passes (see runtime_builder.images.secrets): size and sha256."""
    found: dict[str, bytes] = {}
    cacert = host_cacert()
    if cacert:
        found["cacert"] = cacert.read_bytes()
    index_url = host_index_url()
    if index_url:
        found["indexurl"] = index_url.encode()
    return {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in found.items()}


class Prober:
    """Runs probe.py (and the other slow commands) for every image, in parallel, once each.

    Everything is started when the session begins, so the arm64 images' minutes under QEMU
    overlap with each other and with the amd64 tests; a test waits only for what it reads.
    """

    # The probes, each a method `_<kind>`, in the order they start for an image (heaviest first).
    KINDS = ("main", "cli_version", "filesystem", "env_override")
    # Those whose facts depend only on the files and run settings an ONBUILD image shares with
    # its -base image (the file system probe also sees the ONBUILD image's own folder).
    SHARED_KINDS = ("main", "cli_version")

    def __init__(self, docker: Docker, workers: int = 4) -> None:
        self.docker = docker
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
        self.futures: dict[tuple[str, str], Future] = {}
        self.seconds: dict[tuple[str, str], float] = {}  # how long each probe ran, for the summary
        self.bases: dict[str, Target] = {}  # ONBUILD image -> the -base image it is plus its tools
        self.results: dict[tuple[str, str], object] = {}  # `once`'s
        self.secrets = secret_digests()

    def start(self, targets: list[Target], wanted: set[tuple[str, str]]) -> None:
        """Start the (image, kind) probes of `wanted`: every native image's first (seconds each,
        so the native tests, which run one after another, start at once and overlap the
        emulated probes), then the emulated images', heaviest first (the main probe imports
        Airflow: minutes under QEMU). Any other starts when a test asks for it.

        An ONBUILD image shown to be its -base image plus its tools (`checks.check_onbuild_extends_base`;
        test_onbuild.py asserts it) shares that image's Airflow probes when both are under test:
        the same files and run settings give the same facts, and under QEMU each is minutes."""
        self.bases = self._bases(targets)
        native = [(target, kind) for target in targets if not target.emulated for kind in self.KINDS]
        emulated = [(target, kind) for kind in self.KINDS for target in targets if target.emulated]
        for target, kind in native + emulated:
            if (target.ref, kind) in wanted:
                self._submit(target, kind)

    def get(self, target: Target, kind: str):
        key = (target.ref, kind)
        if key not in self.futures:
            self._submit(target, kind)
        return self.futures[key].result()

    def _bases(self, targets: list[Target]) -> dict[str, Target]:
        """ONBUILD image -> its -base image, for each whose -base image is under test too and
        which is provably that image plus its tools, asking the same of the main probe."""
        by_id = {target.image_id: target for target in targets}
        bases = {}
        for target in targets:
            base = by_id.get((base_image(self.docker, target) or {}).get("Id", ""))
            if (base is not None and base.variant.is_base
                    and self._main_request(base) == self._main_request(target)
                    and not onbuild_problems(self.docker, base.inspect, target)):
                bases[target.ref] = base
        return bases

    def runs_as(self, target: Target) -> Target:
        """The image whose containers run exactly as `target`'s: its -base image when it is an
        ONBUILD image shown to be that image plus its tools (and both are under test), else itself."""
        return self.bases.get(target.ref, target)

    def once(self, target: Target, name: str, run: Callable[[Target], T]) -> T:
        """`run(image)` once per image that runs as `target` runs (see `runs_as`), for the tests
        that run Airflow in a container of it: an ONBUILD image takes its -base image's result."""
        subject = self.runs_as(target)
        key = (subject.ref, name)
        if key not in self.results:
            self.results[key] = run(subject)
        return self.results[key]  # type: ignore[return-value]

    def _submit(self, target: Target, kind: str) -> None:
        if kind in self.SHARED_KINDS and target.ref in self.bases:
            base = self.bases[target.ref]
            if (base.ref, kind) not in self.futures:
                self._submit(base, kind)
            self.futures[(target.ref, kind)] = self.futures[(base.ref, kind)]
            return

        def timed():
            start = time.monotonic()
            try:
                return getattr(self, f"_{kind}")(target)
            finally:
                self.seconds[(target.ref, kind)] = time.monotonic() - start

        self.futures[(target.ref, kind)] = self.pool.submit(timed)

    def summary(self) -> list[str]:
        """One line per image: the seconds each probe ran (they overlap: up to `workers` at once)."""
        refs = list(dict.fromkeys(ref for ref, _ in self.futures))
        lines = [f"{'image':<52} " + " ".join(f"{kind:>12}" for kind in self.KINDS)]
        for ref in refs:
            cells = [f"{self.seconds[(ref, kind)]:11.1f}s" if (ref, kind) in self.seconds
                     else f"{'= -base':>12}" if kind in self.SHARED_KINDS and ref in self.bases
                     and (ref, kind) in self.futures
                     else f"{'-':>12}" for kind in self.KINDS]
            lines.append(f"{ref:<52} " + " ".join(cells))
        for ref, base in self.bases.items():
            taken = sorted(name for subject, name in self.results if subject == base.ref)
            lines.append(f"{ref} is {base.ref} plus its tools: its Airflow probes"
                         + (f" and runs ({', '.join(taken)})" if taken else "") + " are that image's")
        return lines

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def probe(self, image: str, platform: Platform, request: dict, *, user: str | None = None,
              env: dict[str, str] | None = None) -> dict:
        options = ["--entrypoint", "python"]
        if user is not None:
            options += ["--user", user]
        for name, value in (env or {}).items():
            options += ["-e", f"{name}={value}"]
        result = self.docker.oneshot(image, platform, "-", json.dumps(request), options=tuple(options),
                                     input=PROBE.read_text(), timeout=PROBE_TIMEOUT[platform])
        return parse_probe(result)

    @staticmethod
    def _main_request(target: Target) -> dict:
        sections = ["identity", "distributions", "pip", "airflow", "dags"]
        option = sorted(target.expected.config)[0] if target.expected.config else ("core", "parallelism")
        return checks.probe_request(target.expected, sections, override=(*option, OVERRIDE_VALUE))

    def _main(self, target: Target) -> dict:
        return self.probe(target.ref, target.platform, self._main_request(target))

    def _filesystem(self, target: Target) -> dict:
        # As root: a cache under /root or a secret in a root-only directory must show up too.
        request = checks.probe_request(target.expected, ["filesystem"], secrets=self.secrets)
        return self.probe(target.ref, target.platform, request, user="0")

    def _env_override(self, target: Target) -> dict:
        variable = override_variable(target)
        request = checks.probe_request(target.expected, ["identity"])
        return self.probe(target.ref, target.platform, request, env={variable: OVERRIDE_VALUE})

    def _cli_version(self, target: Target) -> Result:
        # Through the image's own ENTRYPOINT and tini: `docker run IMAGE version`.
        return self.docker.oneshot(target.ref, target.platform, "version", timeout=PROBE_TIMEOUT[target.platform])


def base_image(docker: Docker, target: Target) -> dict | None:
    """`docker image inspect` of the image an ONBUILD image names as its base (the
    org.opencontainers.image.base.name label, the build's BASE_IMAGE); None for a -base image."""
    name = (target.config.get("Labels") or {}).get("org.opencontainers.image.base.name")
    return docker.inspect_image(name) if name and not target.variant.is_base else None


def onbuild_problems(docker: Docker, base: dict, onbuild: Target) -> list[str]:
    """What makes `onbuild` more than `base` (an inspect document) plus its tools (none: it is just that)."""
    return checks.check_onbuild_extends_base(base, onbuild.inspect, docker.history(base["Id"]),
                                             docker.history(onbuild.ref))


def override_variable(target: Target) -> str:
    variables = sorted(name for name in target.expected.environment if checks.config_option(name))
    return variables[0] if variables else "AIRFLOW__CORE__PARALLELISM"


def parse_probe(result: Result) -> dict:
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line.removeprefix(MARKER))
    raise AssertionError(f"the probe printed no facts (exit {result.returncode}):\n{result.output[-4000:]}")


def require_native(target: Target, what: str) -> None:
    if target.emulated:
        pytest.skip(f"{what}: native platform only; {target.platform.value} runs under QEMU on this host, "
                    "about 8x slower (40x with Debian 12's QEMU), too slow for it. The nightly workflow runs it "
                    "natively on an arm64 runner; `make test` deploys the arm64 image under QEMU (tests/deploy)")


def require_onbuild(target: Target) -> None:
    if target.variant.is_base:
        pytest.skip(f"needs an ONBUILD image; {target.ref} is a -base image")


def require_base(target: Target) -> None:
    if not target.variant.is_base:
        pytest.skip(f"builds FROM a -base image; {target.ref} is an ONBUILD image")


def assert_ok(problems: list[str]) -> None:
    """Fail with every problem on its own lines (pytest would print them as one long list)."""
    if problems:
        pytest.fail("\n".join(f"- {p}" for p in problems), pytrace=False)
