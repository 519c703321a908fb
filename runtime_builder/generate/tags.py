"""Image tags: a pure function of the whole matrix (the docker-library way).

Every image is one (release, Python, variant). Its tags are a *version part* followed by a
*suffix*:

- suffixes: for the release's default Python `""` (ONBUILD) and `-base`; for every
  supported Python `-python-X.Y` and `-python-X.Y-base`; a release with slim images adds
  `-slim` and `-slim-base` after each (`X.Y.Z-slim`, `X.Y.Z-python-X.Y-slim-base`);
- version parts: the full `X.Y.Z` (immutable); `X.Y` and `X` (floating) when the release
  is the highest non-yanked, non-nightly release of that minor / major line offering that
  Python; `latest` (floating) only on the newest stable, non-yanked release;
- nightly builds get `X.Y.Z-nightly-YYYYMMDD` plus the suffix instead, and nothing else.

A release on the nightly channel is not released yet: it gets nightly tags only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import Enum

from ..matrix.model import Channel, Matrix, Release, Variant


class TagKind(Enum):
    IMMUTABLE = "immutable"  # never overwritten once published
    FLOATING = "floating"  # moves to newer releases
    NIGHTLY = "nightly"


@dataclass(frozen=True, order=True)
class Tag:
    name: str
    kind: TagKind

    def __str__(self) -> str:
        return self.name


def suffixes(release: Release, python: str, variant: Variant) -> list[str]:
    """The suffixes an image carries: the unsuffixed form only for the default Python."""
    forms = [f"-python-{python}{variant.suffix}"]
    if python == release.python:
        forms.insert(0, variant.suffix)
    return forms


def _eligible_for_floating(release: Release) -> bool:
    return not release.is_yanked and release.channel is not Channel.NIGHTLY


def _highest(matrix: Matrix, python: str | None, variant: Variant,
             same_group: Callable[[Release], bool]) -> Release | None:
    """The newest floating-eligible release in a group offering `python` (None: any default) and
    images of `variant`."""
    candidates = [
        r for r in matrix.releases
        if same_group(r) and _eligible_for_floating(r) and (python is None or python in r.pythons)
        and variant in r.variants
    ]
    return max(candidates, key=lambda r: r.version, default=None)


def image_tags(matrix: Matrix, release: Release, python: str, variant: Variant,
               nightly: date | None = None) -> list[Tag]:
    """Every tag of one image, immutable first, in a stable order."""
    if python not in release.pythons:
        raise ValueError(f"Runtime {release.version} does not support Python {python}; "
                         f"supported: {', '.join(release.pythons)}")
    if why := release.lacking([variant]):
        raise ValueError(why)
    version = release.version
    if nightly is not None or release.channel is Channel.NIGHTLY:
        stamp = (nightly or release.released).isoformat().replace("-", "")  # YYYYMMDD, the year in 4 digits
        return [Tag(f"{version}-nightly-{stamp}{s}", TagKind.NIGHTLY) for s in suffixes(release, python, variant)]
    tags: list[Tag] = []
    for suffix in suffixes(release, python, variant):
        # The unsuffixed forms follow each release's own default Python, so a line whose
        # default Python changes still has `X.Y` pointing at its newest release.
        wanted = None if not suffix.startswith("-python-") else python
        tags.append(Tag(f"{version}{suffix}", TagKind.IMMUTABLE))
        if _highest(matrix, wanted, variant, lambda r: r.version.minor_line == version.minor_line) == release:
            tags.append(Tag(f"{version.minor_line}{suffix}", TagKind.FLOATING))
        if _highest(matrix, wanted, variant, lambda r: r.line == release.line) == release:
            tags.append(Tag(f"{version.major}{suffix}", TagKind.FLOATING))
        # `latest` in any form names the newest stable release only, never an older line
        # that happens to be the newest one offering some Python.
        if _highest(matrix, None, variant, lambda r: r.channel is Channel.STABLE) == release:
            tags.append(Tag(f"latest{suffix}", TagKind.FLOATING))
    return sorted(tags, key=lambda t: (t.kind is not TagKind.IMMUTABLE, tags.index(t)))


def tag_table(matrix: Matrix) -> list[tuple[str, str, Variant, list[Tag]]]:
    """(version, python, variant, tags) for every image of the matrix: the golden table."""
    return [
        (str(release.version), python, variant, image_tags(matrix, release, python, variant))
        for release in matrix.releases
        for python in release.pythons
        for variant in release.variants
    ]


def image_of_tag(matrix: Matrix, name: str) -> tuple[Release, str, Variant] | None:
    """The image (release, Python, variant) a tag names today, by `image_tags` itself; None
    when no image of the matrix has that tag. Pure."""
    for version, python, variant, tags in tag_table(matrix):
        if any(tag.name == name for tag in tags):
            return matrix.release(version), python, variant
    return None
