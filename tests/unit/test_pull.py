"""What an upgrade costs a host (publish/pull.py): the previous release, and the bytes fetched,
from manifests as a registry holds them (a fake registry of real manifest bodies)."""

from __future__ import annotations

import json

from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Variant
from runtime_builder.publish import pull
from runtime_builder.publish.registry import MANIFEST_LIST, MANIFEST_V2, Manifest

from .support import REPO_ROOT

MATRIX = load_matrix(REPO_ROOT / "versions.yaml")


class FakeRegistry:
    def __init__(self) -> None:
        self.manifests: dict[str, Manifest] = {}

    def manifest(self, reference: str) -> Manifest | None:
        return self.manifests.get(reference)

    def image(self, layers: dict[str, int]) -> str:
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                           "layers": [{"digest": d, "size": n} for d, n in layers.items()]}).encode()
        manifest = Manifest(MANIFEST_V2, body)
        self.manifests[manifest.digest] = manifest
        return manifest.digest

    def list(self, tag: str, platforms: dict[str, str]) -> None:
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_LIST, "manifests": [
            {"digest": d, "platform": {"os": p.split("/")[0], "architecture": p.split("/")[1]}}
            for p, d in platforms.items()]}).encode()
        self.manifests[tag] = Manifest(MANIFEST_LIST, body)


def test_the_previous_release_skips_yanked_and_nightly_ones() -> None:
    assert str(pull.previous_release(MATRIX, MATRIX.release("14.0.4"), "3.13", Variant.BASE).version) == "14.0.2"
    assert str(pull.previous_release(MATRIX, MATRIX.release("14.1.0"), "3.13", Variant.BASE).version) == "14.0.4"
    # Slim images start with 14.1.0: nothing before it has them.
    assert pull.previous_release(MATRIX, MATRIX.release("14.1.0"), "3.13", Variant.SLIM_BASE) is None
    assert pull.previous_release(MATRIX, MATRIX.release("14.0.0"), "3.13", Variant.BASE) is None


def test_only_the_layers_the_previous_image_lacks_are_fetched() -> None:
    assert pull.fetched({"a": 10, "b": 20}, {"a": 10, "c": 5, "d": 7}) == 12
    assert pull.fetched({}, {"a": 10}) == 10


def test_upgrades_compare_each_platform_with_the_previous_release_in_the_registry() -> None:
    registry = FakeRegistry()
    old_amd = registry.image({"sha256:base": 30_000_000, "sha256:deps": 100_000_000, "sha256:prov": 5_000_000})
    registry.list("14.0.4-python-3.13-base", {"linux/amd64": old_amd})  # no arm64 image there
    new_amd = registry.image({"sha256:base": 30_000_000, "sha256:deps": 100_000_000, "sha256:prov2": 6_000_000})
    new_arm = registry.image({"sha256:arm": 1})
    published = [pull.Published(MATRIX.release("14.1.0"), "3.13", Variant.BASE,
                                {"linux/amd64": new_amd, "linux/arm64": new_arm}),
                 pull.Published(MATRIX.release("14.0.0"), "3.13", Variant.BASE, {"linux/amd64": new_amd})]
    [upgrade] = pull.upgrades(MATRIX, registry, published)
    assert (upgrade.image, upgrade.previous, upgrade.platform) == ("14.1.0-python-3.13-base",
                                                                  "14.0.4-python-3.13-base", "linux/amd64")
    assert (upgrade.fetched, upgrade.total, upgrade.patch) == (6_000_000, 136_000_000, False)
    assert str(upgrade) == ("14.1.0-python-3.13-base linux/amd64: from 14.0.4-python-3.13-base (minor) fetches "
                            "6 MB of 136 MB (4%)")


def test_a_registry_without_the_previous_release_gives_no_figure() -> None:
    registry = FakeRegistry()
    digest = registry.image({"sha256:x": 1})
    assert pull.upgrades(MATRIX, registry, [pull.Published(MATRIX.release("14.0.4"), "3.13", Variant.BASE,
                                                           {"linux/amd64": digest})]) == []
