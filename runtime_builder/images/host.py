"""Bring a fresh Debian build host up: packages, engine, QEMU, a local registry.

Every function checks first and does nothing when the host is already fine, so CI and a
developer can call ``ensure_host`` before every build. Each prints one line saying what it
did and why.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import BuilderError
from ..layout import LOCAL_REGISTRY
from ..matrix.model import Platform
from .engine import Engine

HOST_PACKAGES = ["docker.io", "docker-registry", "mmdebstrap"]
# arch-test: mmdebstrap needs it to make a root file system of a foreign architecture.
EMULATION_PACKAGES = ["qemu-user-static", "binfmt-support", "arch-test"]
BINFMT = Path("/proc/sys/fs/binfmt_misc")
DOCKERD_LOG = Path("/var/log/dockerd.log")
REGISTRY_LOG = Path("/var/log/runtime-registry.log")
STARTUP_TIMEOUT = 60.0
# What dockerd leaves behind when the machine stops under it: the pid files of itself and of
# the containerd it starts, and the program each names.
ENGINE_PID_FILES = {Path("/var/run/docker.pid"): "dockerd",
                    Path("/var/run/docker/containerd/containerd.pid"): "containerd"}
PROC = Path("/proc")


class HostError(BuilderError):
    """The host could not be brought into a usable state."""


def ensure_packages(names: list[str]) -> None:
    missing = [name for name in names if not _installed(name)]
    if not missing:
        return
    print(f"installing {' '.join(missing)} (not installed)")
    _run(["apt-get", "update", "-qq"])
    _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing])


def ensure_engine() -> None:
    engine = Engine.detect()
    if engine.info():
        return
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise HostError("no engine answers and dockerd is not installed (apt-get install docker.io)")
    for stale in clear_stale_pid_files(ENGINE_PID_FILES):
        print(f"removed {stale}: its process is gone (the machine restarted under dockerd)")
    print(f"starting dockerd (no engine answered), log {DOCKERD_LOG}")
    _start_background([dockerd], DOCKERD_LOG)
    _wait_until(engine.info, f"dockerd did not answer `docker info`; see {DOCKERD_LOG}")


def clear_stale_pid_files(pid_files: dict[Path, str], proc: Path = PROC) -> list[Path]:
    """Remove each pid file whose process is not the program it names, and return them.

    After a restart the number in containerd.pid may belong to another process by now; dockerd
    then takes containerd for running, waits for its socket and gives up ("timeout waiting for
    containerd to start"), so no engine starts until the file is gone."""
    removed = []
    for path, program in pid_files.items():
        try:
            pid = path.read_text().strip()
        except OSError:
            continue
        try:
            running = (proc / pid / "comm").read_text().strip() if pid.isdigit() else ""
        except OSError:
            running = ""
        if running != program:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def ensure_qemu() -> None:
    if Platform.native() is Platform.ARM64:
        return
    handler = BINFMT / "qemu-aarch64"
    if handler.exists() and handler.read_text().startswith("enabled"):
        return
    print("enabling qemu-aarch64 binfmt handler (arm64 builds need emulation)")
    if not (BINFMT / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    _run(["update-binfmts", "--enable", "qemu-aarch64"])
    if not handler.exists():
        raise HostError(f"{handler} missing after update-binfmts; is qemu-user-static installed?")


def ensure_registry(addr: str = LOCAL_REGISTRY, root: Path = Path("/var/lib/runtime-registry")) -> str:
    """A plain-HTTP v2 registry on ``addr`` (loopback only, so no TLS); returns ``addr``."""
    if _registry_answers(addr):
        return addr
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(_registry_config(addr, root / "data"))
    print(f"starting docker-registry on {addr} (no registry answered), log {REGISTRY_LOG}")
    _start_background(["docker-registry", "serve", str(config)], REGISTRY_LOG)
    _wait_until(lambda: _registry_answers(addr), f"registry on {addr} did not start; see {REGISTRY_LOG}")
    return addr


def ensure_host(*, arm64: bool) -> None:
    ensure_packages(HOST_PACKAGES + (EMULATION_PACKAGES if arm64 else []))
    ensure_engine()
    if arm64:
        ensure_qemu()
    ensure_registry()


def prepare(*, arm64: bool) -> Engine:
    """The host set up for building (arm64 too, if asked), and its engine."""
    ensure_host(arm64=arm64)
    return Engine.detect()


def _registry_config(addr: str, storage: Path) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        # Lets a rebuilt base replace a tag without leaving the old one referenced.
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {addr}\n"
    )


def _registry_answers(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True)
    return result.stdout == "installed"


def _start_background(argv: list[str], log: Path) -> None:
    # No systemd on these hosts: the daemon outlives us, detached from our session.
    with log.open("a") as out:
        subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_until(ready: Callable[[], bool], error: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            raise HostError(f"{error} (waited {STARTUP_TIMEOUT:.0f} s)")
        time.sleep(0.5)


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise HostError(f"{' '.join(argv)} failed:\n{result.stderr.strip()}")
