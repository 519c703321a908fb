"""A throw-away registry for the publish tests: `docker-registry serve` on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: {addr}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def host_ready() -> None:
    """Engine, QEMU and the base-image registry, as `build.py build` brings them up."""
    from runtime_builder.images.host import HostError, ensure_host

    try:
        ensure_host(arm64=True)
    except HostError as error:
        pytest.skip(f"the build host cannot be brought up: {error}")


@pytest.fixture(scope="module")
def registry(host_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`127.0.0.1:<port>` of a fresh, empty registry; stopped and deleted afterwards."""
    root = tmp_path_factory.mktemp("registry")
    addr = f"127.0.0.1:{_free_port()}"
    config = root / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=root / "data", addr=addr))
    log = (root / "registry.log").open("w")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _answers(addr):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start on {addr}: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield addr
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
