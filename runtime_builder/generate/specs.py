"""One spec per image: (release, Python, variant, platform), and the build matrix CI reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

from .. import layout
from ..matrix.model import Channel, Matrix, Platform, Release, Variant
from .tags import image_tags

DEFAULT_REPOSITORY = layout.DEFAULT_REPOSITORY



def image_name(release: Release, python: str, variant: Variant) -> str:
    """An image's name without its platform: 14.0.2-python-3.13-base (the tag a plain build gets)."""
    return f"{release.version}-python-{python}{variant.suffix}"


@dataclass(frozen=True)
class ImageSpec:
    release: Release
    python: str
    variant: Variant
    platform: Platform

    @property
    def is_default_python(self) -> bool:
        return self.python == self.release.python

    @property
    def context(self) -> PurePosixPath:
        """The build context, relative to the repository root."""
        return context_dir(self.release, self.python, self.variant)

    @property
    def label(self) -> str:
        return image_name(self.release, self.python, self.variant)

    @property
    def name(self) -> str:
        """A short label for logs: 14.0.2-python-3.13-base linux/amd64."""
        return f"{self.label} {self.platform.value}"

    def reference(self, repository: str = DEFAULT_REPOSITORY) -> str:
        """The immutable, platform-specific local reference a build produces."""
        return f"{repository}:{self.label}-{self.platform.arch}"

    def base_spec(self) -> ImageSpec:
        """The -base image an ONBUILD image is built on (slim on slim)."""
        return ImageSpec(self.release, self.python, self.variant.base, self.platform)


def context_dir(release: Release, python: str, variant: Variant) -> PurePosixPath:
    return layout.context_dir(str(release.version), python, variant.value)


@dataclass(frozen=True)
class Filters:
    """Selects matrix cells; every field left empty matches everything."""

    versions: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()
    channels: tuple[Channel, ...] = ()
    variants: tuple[Variant, ...] = ()
    pythons: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()
    default_python_only: bool = False

    def matches(self, spec: ImageSpec) -> bool:
        release = spec.release
        return (
            (not self.versions or str(release.version) in self.versions)
            and (not self.lines or release.line in self.lines)
            and (not self.channels or release.channel in self.channels)
            and (not self.variants or spec.variant in self.variants)
            and (not self.pythons or spec.python in self.pythons)
            and (not self.platforms or spec.platform in self.platforms)
            and (not self.default_python_only or spec.is_default_python)
        )


def nightly_releases(matrix: Matrix, *, newest_of_each_line: bool) -> list[Release]:
    """The releases a nightly run builds: the nightly channel, plus each line's newest release."""
    chosen = [r for r in matrix.releases if r.channel is Channel.NIGHTLY]
    if newest_of_each_line:
        for line in matrix.lines:
            released = [r for r in matrix.line(line) if r.channel is not Channel.NIGHTLY and not r.is_yanked]
            if released:
                chosen.append(max(released, key=lambda r: r.version))
    return sorted(set(chosen), key=lambda r: r.version)


def all_specs(matrix: Matrix) -> list[ImageSpec]:
    return [
        ImageSpec(release, python, variant, platform)
        for release in matrix.releases
        for python in release.pythons
        for variant in release.variants
        for platform in release.platforms
    ]


def select(matrix: Matrix, filters: Filters) -> list[ImageSpec]:
    """The cells `filters` match; UnknownVersion when a filter names what no release has."""
    matrix.refuse_unknown(filters.versions, filters.pythons, filters.lines)
    return [spec for spec in all_specs(matrix) if filters.matches(spec)]


def matrix_row(matrix: Matrix, spec: ImageSpec, repository: str, nightly: date | None = None) -> dict:
    """One row of `build.py matrix --json`: everything a CI job needs to build one cell."""
    release = spec.release
    return {
        "version": str(release.version),
        "line": release.line,
        "channel": release.channel.value,
        "yanked": release.is_yanked,
        "airflow": str(release.airflow),
        "variant": spec.variant.value,
        "python": spec.python,
        "default_python": spec.is_default_python,
        "platform": spec.platform.value,
        "arch": spec.platform.arch,
        "suite": release.suite.name,
        "context": str(spec.context),
        "image": spec.reference(repository),
        "tags": [tag.name for tag in image_tags(matrix, release, spec.python, spec.variant, nightly)],
        "cache_scope": f"{release.version}-python-{spec.python}-{spec.variant.value}-{spec.platform.arch}",
    }
