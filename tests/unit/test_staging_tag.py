"""An existing staging tag counts as pushed only when it names the image being published (issue
30, finding 7): its name holds the image id, but anyone who can push can write any tag."""

from __future__ import annotations

import json

import pytest

from runtime_builder.errors import PublishError
from runtime_builder.generate.specs import ImageSpec
from runtime_builder.images.builder import BuildOptions
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform, Variant
from runtime_builder.publish.plan import staging_tag
from runtime_builder.publish.publish import PublishOptions, PublishReport, _ensure_pushed
from runtime_builder.publish.registry import MANIFEST_V2, Manifest, Target

from .support import REPO_ROOT

RELEASE = load_matrix(REPO_ROOT / "versions.yaml").default_release()
SPEC = ImageSpec(RELEASE, RELEASE.python, Variant.BASE, Platform.AMD64)
OURS, THEIRS = "sha256:" + "1" * 64, "sha256:" + "2" * 64
TARGET = Target("127.0.0.1:5000", "airflow-runtime")


def manifest(config: str) -> Manifest:
    return Manifest(MANIFEST_V2, json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                                             "config": {"digest": config, "size": 2}, "layers": []}).encode())


class FakeRegistry:
    def __init__(self, tags: dict[str, Manifest]) -> None:
        self.tags = tags
        self.target = TARGET

    def digest(self, tag: str) -> str | None:
        return self.tags[tag].digest if tag in self.tags else None

    def manifest(self, reference: str) -> Manifest | None:
        return self.tags.get(reference)

    def blob(self, digest: str) -> bytes:
        return json.dumps({"os": "linux", "architecture": "amd64", "config": {"Labels": {}}}).encode()


class FakeEngine:
    def __init__(self, registry: FakeRegistry, pushes_config: str = OURS) -> None:
        self.registry, self.pushes_config, self.pushed = registry, pushes_config, []

    def tag(self, source: str, target: str) -> None:
        pass

    def push(self, ref: str) -> None:
        self.pushed.append(ref)
        self.registry.tags[ref.rpartition(":")[2]] = manifest(self.pushes_config)

    def remove_image(self, ref: str) -> None:
        pass


def ensure(registry: FakeRegistry, engine: FakeEngine) -> tuple[str, PublishReport]:
    report = PublishReport()
    entry = _ensure_pushed(SPEC, OURS, engine, registry, PublishOptions(TARGET, BuildOptions()), report)  # type: ignore[arg-type]
    return entry.config, report


def test_a_staging_tag_naming_our_image_is_not_pushed_again():
    registry = FakeRegistry({staging_tag(SPEC, OURS): manifest(OURS)})
    engine = FakeEngine(registry)
    assert ensure(registry, engine)[0] == OURS and engine.pushed == []


def test_a_staging_tag_naming_another_image_is_pushed_over():
    registry = FakeRegistry({staging_tag(SPEC, OURS): manifest(THEIRS)})
    engine = FakeEngine(registry)
    config, report = ensure(registry, engine)
    assert config == OURS and len(engine.pushed) == 1 and report.pushed == 1


def test_a_push_the_registry_does_not_keep_stops_the_publish():
    registry = FakeRegistry({})
    with pytest.raises(PublishError, match=f"names the image {THEIRS} after pushing {OURS}"):
        ensure(registry, FakeEngine(registry, pushes_config=THEIRS))
