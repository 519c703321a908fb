"""Where everything lives: the repository's folders and files, the build contexts and the lock
files inside them, the working folders under build/, and the local registry. One definition
each; the pure functions give repository-relative paths, `Layout` absolute ones.

Each generated tree has one writer: `locks/` is written by `build.py lock` only,
`distributions/` by `build.py render` only (it copies the lock files, the patches and the
in-house sources into the build contexts), `releases.json` by `generate.feed.write` only.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path, PurePosixPath

VERSIONS_FILE = "versions.yaml"
TEMPLATES = "templates"
DISTRIBUTIONS = "distributions"
LOCKS = "locks"
PATCHES = "patches"
INHOUSE = "inhouse"
FEED_FILE = "releases.json"
# The build context each released version was released with (generate/frozen.py; `build.py freeze`).
RELEASED_CONTEXTS = "released-contexts.sha256"
# What real upgrade and rollback runs showed (bench/upgrade_report.py writes it, bench/report.py shows it).
UPGRADE_RESULTS = "evidence/upgrades.json"
# What the images measured (bench/slim_bench.py writes it, bench/report.py shows it).
IMAGE_SIZES = "evidence/image-sizes.json"
BUILD = "build"

# The local registry the bases are published to and loopback publishing is tested against.
LOCAL_REGISTRY = "127.0.0.1:5000"
DEFAULT_REPOSITORY = "airflow-runtime"

CONTEXT_LOCKS = "locks"  # a -base build context's folder of lock files (its Dockerfile mounts it)
BUILD_TOOLS = "build-tools.txt"  # the builder stage's tools, the same for every context
TEST_TOOLS = "test-tools.txt"  # pytest for a project's tests (ONBUILD contexts of releases with project-tests)
IN_HOUSE_PINS = "in-house.txt"  # the in-house packages of a release at their versions
IN_HOUSE_MANIFEST = "in-house.sha256"  # the digests of their sources as the context holds them


def is_loopback(host: str) -> bool:
    """Whether a registry ``host`` (``name[:port]``: ``localhost``, an IPv4 address or a bracketed
    IPv6 one) is this machine. Only such a registry is spoken to over plain HTTP (and ``--insecure``):
    its traffic never leaves the host, while any other name could be answered by someone else."""
    try:
        name = urllib.parse.urlsplit(f"//{host}").hostname or ""
    except ValueError:  # an unbalanced "[" is no address at all
        return False
    if name == "localhost":
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:  # a DNS name: it may resolve anywhere
        return False


def context_dir(version: str, python: str, variant: str) -> PurePosixPath:
    """A build context: distributions/<version>/python-<X.Y>/<variant>."""
    return PurePosixPath(DISTRIBUTIONS, version, f"python-{python}", variant)


def release_dir(version: str) -> PurePosixPath:
    """A release's folder of distributions/, which also holds its release notes."""
    return PurePosixPath(DISTRIBUTIONS, version)


def locks_dir(version: str) -> PurePosixPath:
    """A release's lock files: locks/<version>/ (its in-house files), python-<X.Y>/<arch>.txt."""
    return PurePosixPath(LOCKS, version)


def lock_file(version: str, python: str, arch: str, *, slim: bool = False) -> PurePosixPath:
    """locks/<version>/python-<X.Y>/<arch>.txt, or slim-<arch>.txt for the slim images' lock."""
    return locks_dir(version) / f"python-{python}" / f"{'slim-' if slim else ''}{arch}.txt"


def test_tools_file(version: str, python: str) -> PurePosixPath:
    """pytest and what it needs, hash-locked for one release and Python (the ONBUILD image's)."""
    return locks_dir(version) / f"python-{python}" / TEST_TOOLS


def build_tools_file() -> PurePosixPath:
    return PurePosixPath(LOCKS, BUILD_TOOLS)


def find_root(package: Path, here: Path) -> Path | None:
    """The repository the tool works on: the clone its package sits in (`python3 build.py`, an
    editable install), else the nearest folder from `here` upward that has a versions.yaml (an
    installed `runtime-builder` run inside a clone); None when there is neither."""
    for folder in (package.parent, here, *here.parents):
        if (folder / VERSIONS_FILE).is_file():
            return folder
    return None


@dataclass(frozen=True)
class Layout:
    """The repository at `root`: absolute paths of everything above, and the build/ folders."""

    root: Path

    def __truediv__(self, relative: PurePosixPath | str) -> Path:
        return self.root / relative

    @property
    def versions_file(self) -> Path:
        return self.root / VERSIONS_FILE

    @property
    def templates(self) -> Path:
        return self.root / TEMPLATES

    @property
    def feed_file(self) -> Path:
        return self.root / FEED_FILE

    @property
    def build(self) -> Path:
        return self.root / BUILD

    @property
    def logs(self) -> Path:
        return self.build / "logs"

    @property
    def records(self) -> Path:
        """What each build was made from (builder writes, publish reads)."""
        return self.build / "records"

    @property
    def sboms(self) -> Path:
        """The SBOM of each image built (CycloneDX JSON), named like its build record."""
        return self.build / "sbom"

    @property
    def bases(self) -> Path:
        return self.build / "bases"

    @property
    def secrets(self) -> Path:
        return self.build / "secrets"

    @property
    def reports(self) -> Path:
        return self.build / "reports"

    @property
    def test_passes(self) -> Path:
        """The image tests that passed, per image id (publish does not test an image twice)."""
        return self.build / "publish" / "tests"

    @property
    def published(self) -> Path:
        """What publish runs recorded, per registry repository."""
        return self.build / "feed"
