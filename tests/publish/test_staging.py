"""Promotion from a staging repository against real registries (`docker-registry` on loopback), with
small hand-made images (a config, two layers, an SBOM and a provenance attached): no engine.

CI's build jobs push to a staging repository with a credential that writes nothing else; the
publish job promotes the pushed platform images into the target by digest, with their blobs and
referrers, before it lists and tags them (runtime_builder/publish/staging.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from runtime_builder import faults
from runtime_builder.images.builder import BuildOptions
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Variant
from runtime_builder.publish import evidence, staging
from runtime_builder.publish.plan import select_images
from runtime_builder.publish.publish import PublishError, PublishOptions, publish_results
from runtime_builder.publish.registry import OCI_MANIFEST, Descriptor, Manifest, Registry, Target

from .conftest import RegistryProcess
from .support import ROOT

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two registries: two repositories of one share a host, the other is another host."""
    processes = [RegistryProcess(tmp_path_factory.mktemp(f"staging-registry-{n}")) for n in (1, 2)]
    try:
        for process in processes:
            process.start()
        yield processes[0].addr, processes[1].addr
    finally:
        for process in processes:
            process.stop()


def push_image(registry: Registry, arch: str, label: str) -> tuple[Descriptor, set[str]]:
    """A platform image of a config and two layers, by digest (as `docker push` leaves it); its blobs."""
    config = json.dumps({"architecture": arch, "os": "linux", "config": {"Labels": {"test": label}},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layers = [f"{label} layer {n}".encode() for n in (1, 2)]
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": registry.put_blob(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": registry.put_blob(layer),
                            "size": len(layer)} for layer in layers]}
    manifest = Manifest(OCI_MANIFEST, json.dumps(document).encode())
    registry.put_manifest(manifest.digest, manifest)
    blobs = {document["config"]["digest"], *(layer["digest"] for layer in document["layers"])}
    return Descriptor(OCI_MANIFEST, manifest.digest, len(manifest.body)), blobs


def attach_evidence(registry: Registry, image: Descriptor, label: str) -> set[str]:
    return {registry.attach(image, f'{{"sbom": "{label}"}}'.encode(), artifact_type=evidence.SBOM_TYPE,
                            media_type=evidence.SBOM_TYPE, title=evidence.SBOM_TITLE),
            registry.attach(image, f'{{"provenance": "{label}"}}'.encode(), artifact_type=evidence.PROVENANCE_TYPE,
                            media_type=evidence.PROVENANCE_TYPE, title=evidence.PROVENANCE_TITLE)}


def assert_promoted(source: Registry, target: Registry, image: Descriptor, blobs: set[str], attached: set[str]) -> None:
    promoted = target.manifest(image.digest)
    assert promoted is not None and promoted.body == source.manifest(image.digest).body, "copied byte for byte"
    for digest in blobs:
        assert target.blob(digest) == source.blob(digest)
    assert {entry["digest"] for entry in target.referrers(image.digest)} == attached
    for kind in (evidence.SBOM_TYPE, evidence.PROVENANCE_TYPE):
        [entry] = target.referrers(image.digest, kind)
        assert target.artifact(entry["digest"]) == source.artifact(entry["digest"])


@pytest.mark.parametrize("where", ["one host: blobs mounted", "two hosts: blobs streamed"])
def test_an_image_is_promoted_by_digest_with_its_blobs_and_referrers_and_again_writes_nothing(
        registries: tuple[str, str], where: str) -> None:
    same_host = where.startswith("one")
    source = Registry(Target(registries[0], f"{where[:3]}/staging"))
    target = Registry(Target(registries[0] if same_host else registries[1], f"{where[:3]}/runtime"))
    image, blobs = push_image(source, "amd64", where)
    attached = attach_evidence(source, image, where)
    assert target.manifest(image.digest) is None and target.referrers(image.digest) == []

    done = staging.promote(source, target, image.digest)

    assert_promoted(source, target, image, blobs, attached)
    moved = len(blobs) + 3  # and the artifacts': one empty config (shared), one layer each
    assert (done.mounted, done.streamed) == ((moved, 0) if same_host else (0, moved))
    assert (done.manifests, done.referrers) == (1, 2)
    before = faults.writes()
    again = staging.promote(source, target, image.digest)
    assert faults.writes() == before, "an unchanged second promotion writes nothing"
    assert again == staging.Promotion()


def test_a_digest_the_staging_repository_does_not_hold_is_refused_before_any_write(
        registries: tuple[str, str]) -> None:
    source = Registry(Target(registries[0], "missing/staging"))
    target = Registry(Target(registries[0], "missing/runtime"))
    before = faults.writes()
    with pytest.raises(PublishError, match="gone from the staging repository"):
        staging.promote(source, target, "sha256:" + "0" * 64)
    assert faults.writes() == before


def test_publish_from_results_promotes_what_the_cells_pushed_to_staging_then_lists_and_tags(
        registries: tuple[str, str]) -> None:
    """The data flow of CI's publish job: cell records name the staging ref they pushed and its
    digest; `publish --from-results` to the target promotes, lists and tags in the target."""
    matrix = load_matrix(ROOT / "versions.yaml")
    images = select_images(matrix, [matrix.default_release()], default_python=True, variants=(Variant.BASE,))
    source = Registry(Target(registries[0], "flow/staging"))
    target = Target(registries[0], "flow/runtime")
    records = []
    for spec in (spec for image in images for spec in image.specs()):
        pushed, _ = push_image(source, spec.platform.arch, spec.name + spec.platform.value)
        attach_evidence(source, pushed, spec.name + spec.platform.value)
        tag = f"staging-{spec.label}-{spec.platform.arch}"
        source.put_manifest(tag, source.manifest(pushed.digest))
        records.append({"version": str(spec.release.version), "python": spec.python, "variant": spec.variant.value,
                        "platform": spec.platform.value, "test": "success", "pushed": source.target.ref(tag),
                        "digest": pushed.digest})

    report = publish_results(images, records, Registry(target), PublishOptions(target, BuildOptions()))

    remote = Registry(target)
    for published in report.images:
        for tag in published.image.tags:
            assert remote.digest(tag.name) == published.list_digest
        listed = remote.manifest(published.list_digest).json()["manifests"]
        assert {entry["platform"]["architecture"] for entry in listed} == {p.arch for p in published.image.platforms}
        for entry in listed:
            assert remote.manifest(entry["digest"]) is not None
            assert len(remote.referrers(entry["digest"])) == 2, "the SBOM and the provenance came along"
    assert not [tag for tag in remote.tags() if tag.startswith("staging-")], "staging tags stay in staging"
