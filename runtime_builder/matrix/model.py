"""The typed release matrix: what `versions.yaml` means once it has been validated.

Everything here is immutable data; the functions that walk it live in their own modules
(tags, specs, render, lifecycle).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import total_ordering
from pathlib import PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .. import contract
from ..errors import UnknownVersion

CHANGES_BY_NAME = {change.value: change for change in contract.Change}
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A strict `major.minor.patch` version (Runtime and Airflow releases both use it)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = SEMVER.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a major.minor.patch version")
        return cls(*(int(part) for part in match.groups()))

    @property
    def minor_line(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __lt__(self, other: Version) -> bool:
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)


class Channel(Enum):
    STABLE = "stable"
    DEPRECATED = "deprecated"
    NIGHTLY = "nightly"


class Variant(Enum):
    """The kinds of image: `-base` and the ONBUILD image users build their project on, each
    full (every pinned provider) or slim (Airflow and the line's `slim_packages` only)."""

    BASE = "base"
    ONBUILD = "onbuild"
    SLIM_BASE = "slim-base"
    SLIM = "slim"

    @property
    def suffix(self) -> str:
        """What the variant adds to an image's name and tags: `-base`, nothing for ONBUILD,
        `-slim-base` and `-slim` for the slim forms."""
        return {"base": "-base", "onbuild": "", "slim-base": "-slim-base", "slim": "-slim"}[self.value]

    @property
    def is_base(self) -> bool:
        """A -base image (no ONBUILD triggers): what an ONBUILD image is built FROM."""
        return self in (Variant.BASE, Variant.SLIM_BASE)

    @property
    def is_slim(self) -> bool:
        return self in (Variant.SLIM_BASE, Variant.SLIM)

    @property
    def base(self) -> Variant:
        """The -base variant of the same kind (itself for a -base variant)."""
        return Variant.SLIM_BASE if self.is_slim else Variant.BASE

    @property
    def onbuild(self) -> Variant:
        """The ONBUILD variant of the same kind (itself for an ONBUILD variant)."""
        return Variant.SLIM if self.is_slim else Variant.ONBUILD

    @property
    def full(self) -> Variant:
        """The full variant of the same form (itself for a full variant)."""
        return Variant.BASE if self.is_base else Variant.ONBUILD

    @property
    def templates(self) -> str:
        """The folder of templates/ its build context renders from: the slim forms share them."""
        return "base" if self.is_base else "onbuild"


class Platform(Enum):
    AMD64 = "linux/amd64"
    ARM64 = "linux/arm64"

    @property
    def arch(self) -> str:
        """Docker's TARGETARCH spelling, also the lock file's name."""
        return self.value.split("/")[1]

    @property
    def machine(self) -> str:
        """What `uname -m` (Python's platform.machine()) says on it."""
        return {"amd64": "x86_64", "arm64": "aarch64"}[self.arch]

    @property
    def foreign_suffix(self) -> str:
        """What names of things made for this platform end with: nothing on the host's own
        platform, `-<arch>` on another (its images run under QEMU here)."""
        return "" if self is Platform.native() else f"-{self.arch}"

    @property
    def gnu_triple(self) -> str:
        """Debian's name of its architecture for cross tools: `x86_64-linux-gnu-strip`, in
        `binutils-x86-64-linux-gnu` (the package name has no underscore)."""
        return f"{self.machine}-linux-gnu"

    @property
    def uv_platform(self) -> str:
        """The target triple uv resolves and installs wheels for."""
        return f"{self.machine}-unknown-linux-gnu"

    @classmethod
    def native(cls) -> Platform:
        """The build host's own platform (builder stages and deployments run on it)."""
        import platform

        return cls.ARM64 if platform.machine() == "aarch64" else cls.AMD64

    @classmethod
    def parse(cls, text: str) -> Platform:
        for platform in cls:
            if text in (platform.value, platform.arch):
                return platform
        allowed = ", ".join(p.value for p in cls)
        raise ValueError(f"unknown platform {text!r}; allowed: {allowed}")


@dataclass(frozen=True)
class Policy:
    """The lifecycle policy: how long a Runtime line is maintained, then basically supported."""

    maintenance_months: int
    basic_support_months: int
    maintenance_ends_at_month_end: bool


@dataclass(frozen=True)
class Suite:
    name: str
    debian: str
    python: str  # the Python version the suite's own packages provide


@dataclass(frozen=True)
class Backport:
    """A patch to the installed Airflow that a release carries (`patches:` in versions.yaml)."""

    file: str  # its path under patches/
    summary: str
    text: str  # the unified diff, as committed

    @property
    def name(self) -> str:
        """The file name, also its name in the build context and in error messages."""
        return PurePosixPath(self.file).name


@dataclass(frozen=True)
class InHouse:
    """A Python package whose source lives in this repository (inhouse/<name>/, `in_house:`)."""

    name: str  # its distribution name, also its folder under inhouse/
    version: str  # the static [project].version of its pyproject.toml
    summary: str  # [project].description
    dependencies: tuple[str, ...]  # [project].dependencies: resolved into the lock with the rest
    files: tuple[tuple[str, str], ...]  # (path inside its folder, text), sorted: what is built
    plugins: tuple[str, ...] = ()  # the Airflow plugins it registers: its `airflow.plugins` entry points


@dataclass(frozen=True)
class Constraint:
    """A bound on a package a release installs but does not pin (`constraints:` of a line).

    It feeds the resolver when the release is locked, the lock check, and the image's pip
    constraint file, so neither a re-lock nor a project's requirements.txt can bring the
    excluded versions back.
    """

    requirement: str  # PEP 508 without markers, e.g. "celery<5.7"
    reason: str
    since: Version | None = None  # the first release of the line it applies to; None: all of them

    @property
    def name(self) -> str:
        return canonicalize_name(Requirement(self.requirement).name)

    def allows(self, version: str) -> bool:
        return Requirement(self.requirement).specifier.contains(version, prereleases=True)


@dataclass(frozen=True)
class ImageChange:
    """A change of the images' behaviour (`image_changes:`), made by a release and kept by its successors.

    Released images are immutable, so a change to what a template produces applies only from
    the releases named in `since` on: a release has the change when one of them is in its line
    and not newer than it, or when its line is newer than every line named.
    """

    name: str
    summary: str
    since: tuple[Version, ...]
    environment: tuple[tuple[str, str], ...] = ()  # default variables the change sets

    @property
    def kind(self) -> contract.Change | None:
        """The change as the templates know it; None for one that only sets default variables."""
        return CHANGES_BY_NAME.get(self.name)

    def applies_to(self, version: Version) -> bool:
        if any(start.major == version.major and start <= version for start in self.since):
            return True
        return version.major > max(start.major for start in self.since)


@dataclass(frozen=True)
class Release:
    """One Runtime version, with every value it inherits already resolved."""

    version: Version
    airflow: Version
    suite: Suite
    python: str  # the default Python
    pythons: tuple[str, ...]
    platforms: tuple[Platform, ...]
    packages: tuple[tuple[str, str], ...]  # (PyPI name, exact version), sorted by name
    environment: tuple[tuple[str, str], ...]  # (variable, value), sorted by name
    released: date
    channel: Channel
    end_of_maintenance: date
    end_of_basic_support: date
    known_issues: tuple[str, ...]  # what users should know about this release, one entry per issue
    yanked: str | None  # the reason, when yanked
    patches: tuple[Backport, ...] = ()  # applied in this order at build time
    in_house: tuple[InHouse, ...] = ()  # built from this repository's inhouse/ and installed
    constraints: tuple[Constraint, ...] = ()  # bounds on unpinned packages, for the resolver and pip
    changes: tuple[ImageChange, ...] = ()  # the image changes this release has (see ImageChange)
    # The pins its slim images keep, (PyPI name, exact version) from `packages`: set when the
    # release has the slim-variant change, from its line's `slim_packages`.
    slim_packages: tuple[tuple[str, str], ...] = ()

    def has(self, change: contract.Change) -> bool:
        """Whether the release has an image change the templates act on."""
        return any(found.kind is change for found in self.changes)

    @property
    def has_slim(self) -> bool:
        return self.has(contract.Change.SLIM)

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The kinds of image this release has: base and ONBUILD, and their slim forms from the
        release that made the slim-variant change on."""
        return tuple(Variant) if self.has_slim else (Variant.BASE, Variant.ONBUILD)

    def lacking(self, variants: Iterable[Variant]) -> str | None:
        """Why this release has no images of some of `variants` (None when it has them all)."""
        missing = [variant.value for variant in variants if variant not in self.variants]
        if not missing:
            return None
        return (f"Runtime {self.version} has no {', '.join(missing)} images; it has: "
                f"{', '.join(variant.value for variant in self.variants)}")

    def pins(self, variant: Variant) -> tuple[tuple[str, str], ...]:
        """The pinned packages (besides Airflow) an image of `variant` installs."""
        return self.slim_packages if variant.is_slim else self.packages

    def ships_bytecode(self, variant: Variant) -> bool:
        """Whether images of `variant` hold their venv's byte-code (slim images do not, from
        `slim-no-bytecode` on: Python compiles a module on its first import in a container)."""
        return not (variant.is_slim and self.has(contract.Change.SLIM_NO_BYTECODE))

    def environment_of(self, variant: Variant) -> tuple[tuple[str, str], ...]:
        """The default variables an image of `variant` sets: a slim image leaves out those of
        configuration sections owned by a provider it does not install; one that ships no
        byte-code names where Python keeps what it compiles (PYTHONPYCACHEPREFIX), or from
        bytecode-cache-per-uid on the folder beside which the entry point makes one per uid."""
        if not variant.is_slim:
            return self.environment
        installed = {name for name, _ in self.slim_packages}
        kept = tuple((name, value) for name, value in self.environment
                     if contract.provider_of(name) in (None, *installed))
        if self.ships_bytecode(variant):
            return kept
        variable = (contract.PYCACHE_PREFIX_VARIABLE if self.has(contract.Change.PYCACHE_PER_UID)
                    else "PYTHONPYCACHEPREFIX")
        return tuple(sorted((*kept, (variable, contract.PYCACHE_PREFIX))))

    @property
    def introduced(self) -> tuple[ImageChange, ...]:
        """The image changes this very release made (it is named in their `since`)."""
        return tuple(change for change in self.changes if self.version in change.since)

    @property
    def line(self) -> int:
        """The Runtime line a release belongs to is its major version."""
        return self.version.major

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    @property
    def airflow_distribution(self) -> str:
        """The distribution that installs the `airflow` package: the one patches relabel."""
        return "apache-airflow-core" if self.airflow.major >= 3 else "apache-airflow"

    @property
    def local_label(self) -> str | None:
        """The local version label a patched build gives Airflow (PEP 440), None when unpatched."""
        return f"runtime.{self.version}" if self.patches else None

    @property
    def airflow_build_version(self) -> str:
        """What `airflow version` prints in this release's images: 3.3.2, or 3.3.2+runtime.14.0.3."""
        return f"{self.airflow}+{self.local_label}" if self.patches else str(self.airflow)

    def package_version(self, name: str) -> str | None:
        return dict(self.packages).get(name)


@dataclass(frozen=True)
class Matrix:
    releases: tuple[Release, ...]  # sorted by version
    policy: Policy
    uv_version: str
    # A fact about Airflow, not about a release: the Pythons each Airflow minor supports.
    airflow_pythons: tuple[tuple[str, tuple[str, ...]], ...]
    flit_core_version: str | None = None  # the builder stage's wheel builder for in-house packages
    pytest_version: str | None = None  # what a project's tests run with at build time (project-tests)

    def release(self, version: str) -> Release:
        for release in self.releases:
            if str(release.version) == version:
                return release
        known = ", ".join(str(r.version) for r in self.releases)
        raise UnknownVersion(f"no Runtime version {version!r} in the matrix; known: {known}")

    def line(self, major: int) -> tuple[Release, ...]:
        return tuple(r for r in self.releases if r.line == major)

    def refuse_unknown(self, versions: Iterable[str] = (), pythons: Iterable[str] = (),
                       lines: Iterable[int] = ()) -> None:
        """UnknownVersion naming a version, Python or line that no release has (a filter that could
        only select nothing is a mistake, not an empty selection)."""
        for version in versions:
            self.release(version)
        known = sorted({p for r in self.releases for p in r.pythons}, key=lambda p: tuple(map(int, p.split("."))))
        for python in pythons:
            if python not in known:
                raise UnknownVersion(f"no release of the matrix has Python {python!r}; known: {', '.join(known)}")
        for line in lines:
            if line not in self.lines:
                raise UnknownVersion(f"no Runtime line {line} in the matrix; known: "
                                     f"{', '.join(map(str, self.lines))}")

    @property
    def lines(self) -> tuple[int, ...]:
        return tuple(sorted({r.line for r in self.releases}))

    def default_release(self) -> Release:
        """The newest stable, non-yanked release: what `build` builds with no arguments."""
        stable = [r for r in self.releases if r.channel is Channel.STABLE and not r.is_yanked]
        if not stable:
            raise UnknownVersion("the matrix has no stable, non-yanked release")
        return max(stable, key=lambda r: r.version)
