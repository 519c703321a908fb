"""The build host: what the commands need of it, checked (`require`), and the one step that sets a
fresh Debian host up (`setup`, `build.py setup`): packages, engine, QEMU, a local registry.

Only `setup` changes the host. Every other command calls `require`, which changes nothing and
stops with one message naming what is missing and `python3 build.py setup`. `setup` looks for a
working engine before it installs one (a laptop's or a CI runner's Docker is used as it is), and
each of its steps checks first and does nothing when the host is already fine, printing one line
for what it did and why.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError, HostError
from ..in_image.sbom import os_release
from ..layout import LOCAL_REGISTRY
from ..matrix.model import Platform
from .engine import Engine

# arch-test: mmdebstrap needs it to make a root file system of a foreign architecture.
EMULATION_PACKAGES = ["qemu-user-static", "binfmt-support", "arch-test"]
BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_HANDLER = "qemu-aarch64"
# Debian 12's QEMU (7.2) runs CPython about 4x slower than Debian 13's (10.0). Debian 13's
# qemu-user is statically linked and depends on nothing, so its emulator runs on Debian 12: an
# older one is replaced by it as the handler (the host's own packages stay as they are).
QEMU_MINIMUM = (10, 0)
QEMU_SUITE = "trixie"
QEMU_PACKAGE = "qemu-user"
QEMU_DIR = Path("/usr/local/lib/runtime-builder")
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DOCKERD_LOG = Path("/var/log/dockerd.log")
REGISTRY_LOG = Path("/var/log/runtime-registry.log")
STARTUP_TIMEOUT = 60.0
# What dockerd leaves behind when the machine stops under it: the pid files of itself and of
# the containerd it starts, and the program each names.
ENGINE_PID_FILES = {Path("/var/run/docker.pid"): "dockerd",
                    Path("/var/run/docker/containerd/containerd.pid"): "containerd"}
PROC = Path("/proc")


def ensure_packages(names: list[str]) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        # Not Debian: what is installed cannot be asked the way this code asks it either.
        raise HostError(f"this host has no apt and dpkg: make sure {', '.join(names)} (the Debian package names) "
                        "are installed with its own package manager, then run the command again")
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
    handler = BINFMT / QEMU_HANDLER
    if not (handler.exists() and handler.read_text().startswith("enabled")):
        print(f"enabling {QEMU_HANDLER} binfmt handler (arm64 builds need emulation)")
        if not (BINFMT / "register").exists():
            _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
        _run(["update-binfmts", "--enable", QEMU_HANDLER])
        if not handler.exists():
            raise HostError(f"{handler} missing after update-binfmts; is qemu-user-static installed?")
    ensure_fast_qemu(handler)


@dataclass(frozen=True)
class Binfmt:
    """A binfmt_misc handler as /proc/sys/fs/binfmt_misc/<name> shows it."""

    interpreter: str
    flags: str
    offset: int
    magic: str  # hex digits
    mask: str

    def register_line(self, name: str, interpreter: str | None = None) -> str:
        """What /proc/sys/fs/binfmt_misc/register takes to register the same handler (with
        another interpreter): `:name:M:offset:magic:mask:interpreter:flags`, bytes as \\xNN."""
        def escaped(digits: str) -> str:
            return "".join(f"\\x{digits[i:i + 2]}" for i in range(0, len(digits), 2))
        return (f":{name}:M:{self.offset}:{escaped(self.magic)}:{escaped(self.mask)}:"
                f"{interpreter or self.interpreter}:{self.flags}")


def parse_binfmt(text: str) -> Binfmt:
    fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    try:
        return Binfmt(fields["interpreter"], fields.get("flags:", "").strip(), int(fields.get("offset", "0")),
                      fields["magic"], fields.get("mask", "ff" * (len(fields["magic"]) // 2)))
    except (KeyError, ValueError) as error:
        raise HostError(f"unreadable binfmt_misc handler ({error}):\n{text}") from error


def qemu_version(output: str) -> tuple[int, ...] | None:
    """`qemu-aarch64 --version`'s first line, e.g. "qemu-aarch64 version 7.2.22 (Debian ...)"."""
    found = re.search(r"version (\d+)\.(\d+)", output)
    return (int(found[1]), int(found[2])) if found else None


def debian_archive(indextargets: str, codename: str) -> str | None:
    """The host's own Debian archive (apt's configuration, not a host written here): the URI of
    the `Debian` repository of the host's release, from `apt-get indextargets` lines."""
    for line in indextargets.splitlines():
        uri, label, release = [*line.split("\t"), "", ""][:3]
        if label == "Debian" and release == codename:
            return uri
    return None


def ensure_fast_qemu(handler: Path) -> None:
    """Make the arm64 handler's emulator at least QEMU_MINIMUM: Debian 13's, unpacked into
    QEMU_DIR from the host's own Debian archive, registered under the same magic and flags.
    Checked every time: binfmt-support registers Debian's again when the machine restarts. When
    no newer one can be had (no network), the old one stays, slower, and a line says so."""
    current = parse_binfmt(handler.read_text())
    if not Path(current.interpreter).exists() or _emulator_version(current.interpreter) >= QEMU_MINIMUM:
        return  # registered from elsewhere (tonistiigi/binfmt's container: its own QEMU), or new enough
    try:
        _replace_qemu(handler)
    except (OSError, HostError) as error:  # no network, not root, ...: slower, not broken
        print(f"keeping {current.interpreter} (QEMU older than {'.'.join(map(str, QEMU_MINIMUM))}, about "
              f"4x slower under emulation): {error}")


def _replace_qemu(handler: Path) -> None:
    QEMU_DIR.mkdir(parents=True, exist_ok=True)
    with (QEMU_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds starting at once swap it once
        current = parse_binfmt(handler.read_text())
        if _emulator_version(current.interpreter) >= QEMU_MINIMUM:
            return
        emulator = QEMU_DIR / QEMU_HANDLER
        version = _emulator_version(str(emulator))
        if version < QEMU_MINIMUM:
            _unpack_qemu(emulator)
            version = _emulator_version(str(emulator))
        print(f"{QEMU_HANDLER}: {current.interpreter} -> {emulator} (QEMU {'.'.join(map(str, version))}, "
              f"Debian {QEMU_SUITE}'s)")
        handler.write_text("-1")
        try:
            (BINFMT / "register").write_text(current.register_line(QEMU_HANDLER, str(emulator)))
        except OSError:
            (BINFMT / "register").write_text(current.register_line(QEMU_HANDLER))  # the old one back
            raise


def _emulator_version(path: str) -> tuple[int, ...]:
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return (0,)
    return qemu_version(result.stdout) or (0,)


def _unpack_qemu(emulator: Path) -> None:
    """Download Debian QEMU_SUITE's qemu-user package with apt, from the archive the host's apt
    already uses (its own lists and cache untouched), and unpack its aarch64 emulator."""
    codename = os_release().get("VERSION_CODENAME", "")
    targets = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI)\t$(LABEL)\t$(RELEASE)"],
                             capture_output=True, text=True).stdout
    archive = debian_archive(targets, codename)
    if not archive:
        raise HostError(f"apt names no Debian archive for {codename or 'this host'} (apt-get indextargets)")
    with tempfile.TemporaryDirectory(prefix="qemu-") as scratch:
        work = Path(scratch)
        (work / "lists" / "partial").mkdir(parents=True)
        (work / "sources.list").write_text(f"deb [signed-by={DEBIAN_KEYRING}] {archive} {QEMU_SUITE} main\n")
        options = ["-qq", "-o", f"Dir::Etc::SourceList={work / 'sources.list'}",
                   "-o", "Dir::Etc::SourceParts=/dev/null", "-o", f"Dir::State::Lists={work / 'lists'}",
                   "-o", "APT::Sandbox::User=root"]
        _run(["apt-get", *options, "update"])
        _run(["apt-get", *options, "download", QEMU_PACKAGE], cwd=work)
        packages = sorted(work.glob(f"{QEMU_PACKAGE}_*.deb"))
        if not packages:
            raise HostError(f"apt downloaded no {QEMU_PACKAGE} package of Debian {QEMU_SUITE} from {archive}")
        _run(["dpkg-deb", "-x", str(packages[-1]), str(work / "root")])
        unpacked = work / "root" / "usr" / "bin" / QEMU_HANDLER
        if not unpacked.exists():
            raise HostError(f"{packages[-1].name} has no usr/bin/{QEMU_HANDLER}")
        staged = emulator.with_suffix(".new")
        shutil.copy2(unpacked, staged)
        staged.replace(emulator)


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


SETUP = "python3 build.py setup"
# What the test suite needs beside what building needs: Compose (the ecosystem's deployments) and
# a browser (the UI) from Debian's packages.
TEST_PACKAGES = {"docker-compose": "docker-compose", "chromium": "chromium"}


def setup(*, arm64: bool, tests: bool = False) -> Engine:
    """Bring the host up for building (arm64 too, if asked; the test suite's programs too): the only
    function that installs packages or starts daemons. Returns the engine."""
    if not _engine_answers():
        ensure_packages(["docker.io"])
        ensure_engine()
    ensure_packages(["mmdebstrap"] + (EMULATION_PACKAGES if arm64 else [])
                    + ([] if _registry_answers(LOCAL_REGISTRY) else ["docker-registry"])
                    + (sorted(TEST_PACKAGES.values()) if tests else []))
    if arm64:
        ensure_qemu()
    ensure_registry()
    return Engine.detect()


def require(*, arm64: bool = False, registry: bool = True, programs: tuple[str, ...] = ()) -> Engine:
    """The host as a command needs it, changing nothing: an engine that answers, arm64 emulation if
    asked, the local registry, `programs` on PATH. HostError naming what is missing otherwise."""
    missing = []
    try:
        engine = Engine.detect()
    except EngineError as error:
        raise HostError(f"{error}; or run `{SETUP}`, which installs and starts one") from None
    if not engine.info():
        missing.append(f"a Docker engine that answers (`{engine.client} info` fails)")
    if arm64 and Platform.native() is not Platform.ARM64 and not _handler_enabled():
        missing.append(f"arm64 emulation (the {QEMU_HANDLER} binfmt handler is not enabled)")
    if registry and not _registry_answers(LOCAL_REGISTRY):
        missing.append(f"the local registry on {LOCAL_REGISTRY}")
    missing += [f"`{program}`" for program in programs if shutil.which(program) is None]
    if missing:
        flags = " --platform linux/arm64" if arm64 else ""
        flags += " --for-tests" if any(program in TEST_PACKAGES for program in programs) else ""
        raise HostError(f"this host lacks {', '.join(missing)}: run `{SETUP}{flags}` (it installs and starts "
                        "what is missing; nothing else changes the host)")
    return engine


def _engine_answers() -> bool:
    try:
        return Engine.detect().info()
    except EngineError:
        return False


def _handler_enabled() -> bool:
    handler = BINFMT / QEMU_HANDLER
    try:
        return handler.read_text().startswith("enabled")
    except OSError:
        return False


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


def _run(argv: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise HostError(f"{' '.join(argv)} failed:\n{result.stderr.strip()}")
