"""What to publish and how its tags move, decided before the registry is touched. Pure.

`select_images` turns releases into images (a release, Python and variant on its platforms,
with its tags from `tags.image_tags`); `plan_tags` compares the wanted digest of every tag
with the registry's, refuses to overwrite an immutable tag and orders the writes: immutable
and nightly first, floating last, so an interrupted run has moved no floating tag to an
image whose immutable tags are not all there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum

from ..generate.specs import ImageSpec, image_name
from ..generate.tags import Tag, TagKind, image_tags
from ..matrix.model import Matrix, Platform, Release, Variant
from .registry import MANIFEST_LIST, MANIFEST_V2, OCI_INDEX, Descriptor, Manifest, Target

STAGING_PREFIX = "staging-"


@dataclass(frozen=True)
class Image:
    """One published image: a (release, Python, variant) on all its platforms, with its tags."""

    release: Release
    python: str
    variant: Variant
    platforms: tuple[Platform, ...]
    tags: tuple[Tag, ...]

    @property
    def label(self) -> str:
        return image_name(self.release, self.python, self.variant)

    def specs(self) -> list[ImageSpec]:
        return [ImageSpec(self.release, self.python, self.variant, p) for p in self.platforms]


def select_images(matrix: Matrix, releases: Sequence[Release], *, pythons: Sequence[str] = (),
                  default_python: bool = False, platforms: Sequence[Platform] = (),
                  variants: Sequence[Variant] = (), nightly: date | None = None) -> list[Image]:
    """The images of `releases`: every Python unless narrowed, every variant unless narrowed (the slim
    ones where a release has them), all platforms."""
    images = []
    for release in releases:
        if why := release.lacking(variants):
            raise ValueError(why)
        chosen = [release.python] if default_python else list(pythons or release.pythons)
        for python in chosen:
            if python not in release.pythons:
                raise ValueError(f"Runtime {release.version} does not support Python {python}; "
                                 f"supported: {', '.join(release.pythons)}")
            wanted = tuple(p for p in release.platforms if not platforms or p in platforms)
            if not wanted:
                raise ValueError(f"Runtime {release.version} is built for "
                                 f"{', '.join(p.value for p in release.platforms)} only")
            for variant in release.variants:
                if variants and variant not in variants:
                    continue
                tags = tuple(image_tags(matrix, release, python, variant, nightly))
                images.append(Image(release, python, variant, wanted, tags))
    return images


def staging_tag(spec: ImageSpec, image_id: str) -> str:
    """The internal tag one platform image is pushed under before it is listed.

    `docker push` needs a tag, and a manifest list may only name manifests of its own
    repository, so the platform images live beside the public tags. The `staging-` prefix
    can never be a public tag (those start with a version or `latest`), and the image id in
    the name makes the tag content-addressed: if it exists, that exact image was pushed.
    """
    short_id = image_id.removeprefix("sha256:")[:12]
    return f"{STAGING_PREFIX}{spec.label}-{spec.platform.arch}-{short_id}"


@dataclass(frozen=True)
class PlatformManifest:
    platform: Platform
    media_type: str
    digest: str
    size: int
    base: str | None = None  # the image it was built FROM, as its org.opencontainers.image.base.name label says
    config: str = ""  # its config's digest: the local image id it was pushed from

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)


def manifest_list(entries: Sequence[PlatformManifest]) -> Manifest:
    """A manifest list naming exactly `entries`, encoded deterministically (same input, same digest)."""
    docker = all(e.media_type == MANIFEST_V2 for e in entries)
    media_type = MANIFEST_LIST if docker else OCI_INDEX
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {"mediaType": e.media_type, "digest": e.digest, "size": e.size,
             "platform": {"architecture": e.platform.arch, "os": "linux"}}
            for e in sorted(entries, key=lambda e: e.platform.value)
        ],
    }
    return Manifest(media_type, (json.dumps(document, indent=3) + "\n").encode())


class Action(Enum):
    CREATE = "create"
    MOVE = "move"
    KEEP = "keep"  # already where it should be
    REFUSE = "refuse"  # an immutable tag that names another image


@dataclass(frozen=True)
class TagChange:
    tag: Tag
    image: str  # the Image label, for messages
    current: str | None
    wanted: str
    action: Action


# Immutable tags first, floating last: an interrupted run has moved no floating tag to an
# image whose immutable tags are not all there.
_WRITE_ORDER = {TagKind.IMMUTABLE: 0, TagKind.NIGHTLY: 1, TagKind.FLOATING: 2}


@dataclass(frozen=True)
class TagPlan:
    changes: tuple[TagChange, ...]

    @property
    def refused(self) -> tuple[TagChange, ...]:
        return tuple(c for c in self.changes if c.action is Action.REFUSE)

    @property
    def writes(self) -> tuple[TagChange, ...]:
        return tuple(c for c in self.changes if c.action in (Action.CREATE, Action.MOVE))

    def refusal(self, target: Target) -> str:
        lines = [f"{target.ref(c.tag.name)} is immutable and already names {c.current}; "
                 f"this publish would make it {c.wanted} ({c.image})" for c in self.refused]
        return ("refusing to overwrite immutable tags (use --force only to repair a broken release):\n  "
                + "\n  ".join(lines))


def plan_tags(wanted: Sequence[tuple[Image, Tag, str]], current: Mapping[str, str | None], *,
              force: bool = False) -> TagPlan:
    """What to do with each tag: (image, tag, wanted digest) against the registry's digests."""
    seen: dict[str, str] = {}
    changes = []
    for image, tag, digest in wanted:
        if tag.name in seen:
            raise ValueError(f"tag {tag.name} is wanted by both {seen[tag.name]} and {image.label}")
        seen[tag.name] = image.label
        now = current.get(tag.name)
        if now is None:
            action = Action.CREATE
        elif now == digest:
            action = Action.KEEP
        elif tag.kind is TagKind.IMMUTABLE and not force:
            action = Action.REFUSE
        else:
            action = Action.MOVE
        changes.append(TagChange(tag, image.label, now, digest, action))
    changes.sort(key=lambda c: _WRITE_ORDER[c.tag.kind])  # stable: keeps each kind's order
    return TagPlan(tuple(changes))
