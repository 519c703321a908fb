"""What an upgrade costs a host: of a published platform image's compressed layers, the bytes a
host that runs the previous release of the line (same Python, variant and platform, as this
registry has it) does not have yet and fetches. `publish` prints it for every image it lists.

The previous release: the newest of the line before the published one that is neither yanked
nor a nightly build, offering the same Python and variant; its immutable tag
(`X.Y.Z-python-P<variant suffix>`) names it in the registry. A registry without it gives no
figure (the publication is new there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..generate.specs import image_name
from ..matrix.model import Channel, Matrix, Release, Variant
from .registry import Registry


@dataclass(frozen=True)
class Upgrade:
    image: str  # the published image's name (its immutable -python- tag)
    previous: str  # the previous release's
    platform: str
    fetched: int  # compressed bytes of the new image's layers the previous image does not have
    total: int  # compressed bytes of all the new image's layers
    patch: bool  # the previous release is of the same minor

    @property
    def share(self) -> float:
        return self.fetched / self.total if self.total else 0.0

    def __str__(self) -> str:
        kind = "patch" if self.patch else "minor"
        return (f"{self.image} {self.platform}: from {self.previous} ({kind}) fetches "
                f"{self.fetched / 1e6:.0f} MB of {self.total / 1e6:.0f} MB ({self.share:.0%})")


def previous_release(matrix: Matrix, release: Release, python: str, variant: Variant) -> Release | None:
    candidates = [r for r in matrix.line(release.line)
                  if r.version < release.version and not r.is_yanked and r.channel is not Channel.NIGHTLY
                  and python in r.pythons and variant in r.variants]
    return max(candidates, key=lambda r: r.version, default=None)


def fetched(previous: Mapping[str, int], new: Mapping[str, int]) -> int:
    """Bytes of the layers of `new` (digest -> compressed size) that `previous` does not have. Pure."""
    return sum(size for digest, size in new.items() if digest not in previous)


def layers(registry: Registry, reference: str) -> dict[str, int]:
    """digest -> compressed size of the layers of the platform image `reference`."""
    manifest = registry.manifest(reference)
    if manifest is None:
        return {}
    return {layer["digest"]: int(layer["size"]) for layer in manifest.json().get("layers", [])}


def platform_images(registry: Registry, tag: str) -> dict[str, str]:
    """platform (`os/arch`) -> image manifest digest of the list under `tag` (empty: no such list)."""
    manifest = registry.manifest(tag)
    if manifest is None or not manifest.is_list:
        return {}
    return {f"{entry['platform']['os']}/{entry['platform']['architecture']}": entry["digest"]
            for entry in manifest.json()["manifests"] if "platform" in entry}


@dataclass(frozen=True)
class Published:
    """One listed image, as `upgrades` needs it: which it is and its platform image digests."""

    release: Release
    python: str
    variant: Variant
    platforms: Mapping[str, str]  # platform -> image manifest digest


def upgrades(matrix: Matrix, registry: Registry, published: Sequence[Published]) -> list[Upgrade]:
    found = []
    for image in published:
        previous = previous_release(matrix, image.release, image.python, image.variant)
        if previous is None:
            continue
        before = platform_images(registry, image_name(previous, image.python, image.variant))
        for platform, digest in sorted(image.platforms.items()):
            if platform not in before:
                continue
            new = layers(registry, digest)
            found.append(Upgrade(image_name(image.release, image.python, image.variant),
                                 image_name(previous, image.python, image.variant), platform,
                                 fetched(layers(registry, before[platform]), new), sum(new.values()),
                                 previous.version.minor_line == image.release.version.minor_line))
    return found
