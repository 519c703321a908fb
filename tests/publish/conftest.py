"""A throw-away registry for the publish tests: `docker-registry serve` on a free loopback port."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_builder.deploy.local import free_port

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


def _answers(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def host_ready() -> None:
    """Engine, QEMU and the base-image registry, as `build.py setup --platform linux/arm64` brings them up."""
    from runtime_builder.images.host import require

    require(arm64=True)


class RegistryProcess:
    """`docker-registry serve` on a free loopback port, which a test may restart (same storage)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.addr = f"127.0.0.1:{free_port()}"
        self.config = root / "config.yml"
        self.config.write_text(REGISTRY_CONFIG.format(root=root / "data", addr=self.addr))
        self.log = root / "registry.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", str(self.config)], stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not _answers(self.addr):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start on {self.addr}: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        (self.process.kill if kill else self.process.terminate)()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


@pytest.fixture(scope="module")
def registry_process(host_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    process = RegistryProcess(tmp_path_factory.mktemp("registry"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def registry(registry_process: RegistryProcess) -> str:
    """`127.0.0.1:<port>` of a fresh, empty registry; stopped and deleted afterwards."""
    return registry_process.addr
