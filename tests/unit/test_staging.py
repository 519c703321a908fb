"""Promotion from a staging repository (runtime_builder/publish/staging.py), on in-memory registries:
what is copied, in which order, mounted or streamed, and that nothing is written twice.
tests/publish/test_staging.py does the same against real registries."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import IO

import pytest

from runtime_builder.errors import PublishError
from runtime_builder.publish import staging
from runtime_builder.publish.registry import OCI_INDEX, OCI_MANIFEST, Manifest, Registry, Target


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Memory:
    """One repository of an in-memory registry: refuses what a registry refuses (a manifest before its
    blobs, a blob that does not hash to its digest) and what promotion must not do (a referrer
    before its subject); logs every write."""

    def __init__(self, name: str, host_repositories: dict[str, Memory] | None = None) -> None:
        self.target = Target.parse(name, "")
        self.same_host = {} if host_repositories is None else host_repositories  # what a mount may read
        self.same_host[self.target.repository] = self
        self.manifests: dict[str, Manifest] = {}
        self.blobs: dict[str, bytes] = {}
        self.index: dict[str, list[dict]] = {}
        self.writes: list[str] = []

    def has_blob(self, digest: str) -> bool:
        return digest in self.blobs

    def mount_blob(self, digest: str, repository: str) -> bool:
        self.writes.append(f"mount {digest[:15]}")
        source = self.same_host.get(repository)
        if source is None or digest not in source.blobs:
            return False
        self.blobs[digest] = source.blobs[digest]
        return True

    def read_blob(self, digest: str, consume: Callable[[IO[bytes]], object]) -> None:
        consume(io.BytesIO(self.blobs[digest]))

    def upload_blob(self, digest: str, data: IO[bytes], size: int) -> None:
        content = data.read()
        assert sha(content) == digest and len(content) == size
        self.writes.append(f"upload {digest[:15]}")
        self.blobs[digest] = content

    def manifest(self, reference: str) -> Manifest | None:
        return self.manifests.get(reference)

    def digest(self, reference: str) -> str | None:
        return reference if reference in self.manifests else None

    def put_manifest(self, reference: str, manifest: Manifest) -> str:
        document = manifest.json()
        blobs = [document["config"], *document["layers"]] if "config" in document else []
        assert all(blob["digest"] in self.blobs for blob in blobs), "a manifest before its blobs"
        assert all(child["digest"] in self.manifests for child in document.get("manifests", [])), "an index first"
        self.writes.append(f"manifest {reference[:15]}")
        self.manifests[reference] = manifest
        return manifest.digest

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict]:
        return list(self.index.get(digest, []))

    def put_referrer(self, manifest: Manifest) -> str:
        subject = manifest.json()["subject"]["digest"]
        assert subject in self.manifests, "a referrer before its subject"
        self.put_manifest(manifest.digest, manifest)
        self.index.setdefault(subject, []).append({"digest": manifest.digest})
        return manifest.digest

    # -- what a build job's push leaves in staging --

    def blob(self, data: bytes) -> dict:
        self.blobs[sha(data)] = data
        return {"mediaType": "application/octet-stream", "digest": sha(data), "size": len(data)}

    def image(self, label: str, subject: str | None = None) -> str:
        document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": self.blob(b"{}" + label.encode()),
                    "layers": [self.blob(f"{label} {n}".encode()) for n in (1, 2)]}
        if subject:
            document["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
        manifest = Manifest(OCI_MANIFEST, json.dumps(document).encode())
        self.manifests[manifest.digest] = manifest
        if subject:
            self.index.setdefault(subject, []).append({"digest": manifest.digest})
        return manifest.digest


def staged(host: str = "quay.io", shared: dict | None = None) -> tuple[Memory, str]:
    source = Memory(f"{host}/org/runtime-staging", shared)
    image = source.image("image")
    source.image("sbom", subject=image)
    source.image("provenance", subject=image)
    return source, image


def test_on_one_host_the_blobs_are_mounted_and_the_image_comes_before_its_referrers() -> None:
    shared: dict[str, Memory] = {}
    source, image = staged(shared=shared)
    target = Memory("quay.io/org/runtime", shared)
    done = staging.promote(source, target, image)
    assert target.manifests[image].body == source.manifests[image].body
    assert {entry["digest"] for entry in target.referrers(image)} == {e["digest"] for e in source.referrers(image)}
    assert (done.mounted, done.streamed, done.manifests, done.referrers) == (9, 0, 1, 2)
    assert not [write for write in target.writes if write.startswith("upload")]


def test_on_another_host_the_blobs_are_streamed() -> None:
    source, image = staged()
    target = Memory("registry.example/org/runtime")
    done = staging.promote(source, target, image)
    assert (done.mounted, done.streamed) == (0, 9)
    assert not [write for write in target.writes if write.startswith("mount")]
    assert target.blobs == source.blobs


def test_a_mount_the_registry_refuses_falls_back_to_streaming() -> None:
    source, image = staged()  # same host name, but the target may not read the staging repository
    target = Memory("quay.io/org/runtime")
    done = staging.promote(source, target, image)
    assert (done.mounted, done.streamed) == (0, 9)
    assert target.blobs == source.blobs


def test_a_second_promotion_writes_nothing() -> None:
    source, image = staged()
    target = Memory("registry.example/org/runtime")
    staging.promote(source, target, image)
    target.writes.clear()
    assert staging.promote(source, target, image) == staging.Promotion()
    assert target.writes == []


def test_a_referrer_a_crash_left_out_of_the_index_is_listed_on_the_next_promotion() -> None:
    source, image = staged()
    target = Memory("registry.example/org/runtime")
    staging.promote(source, target, image)
    target.index[image].pop()
    done = staging.promote(source, target, image)
    assert done.referrers == 1 and len(target.referrers(image)) == 2


def test_an_index_is_promoted_after_its_images() -> None:
    source = Memory("quay.io/org/runtime-staging")
    children = [source.image("amd64"), source.image("arm64")]
    index = Manifest(OCI_INDEX, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child, "size": 1} for child in children]}).encode())
    source.manifests[index.digest] = index
    target = Memory("registry.example/org/runtime")
    done = staging.promote(source, target, index.digest)
    assert done.manifests == 3 and set(children) <= set(target.manifests)


def test_a_manifest_that_is_not_the_recorded_digest_is_refused_before_any_write() -> None:
    source, image = staged()
    other = source.image("another")
    source.manifests[image] = source.manifests[other]  # staging answers the digest with other bytes
    target = Memory("registry.example/org/runtime")
    with pytest.raises(PublishError, match=f"digest is {other}"):
        staging.promote(source, target, image)
    assert target.writes == []


@pytest.mark.parametrize(("pushed", "repository"), [
    ("quay.io/org/runtime-staging:staging-14.2.0-python-3.13-amd64-0123456789ab", "quay.io/org/runtime-staging"),
    ("127.0.0.1:5000/airflow-runtime-staging:staging-x", "127.0.0.1:5000/airflow-runtime-staging"),
    ("127.0.0.1:5000/airflow-runtime-staging@sha256:" + "a" * 64, "127.0.0.1:5000/airflow-runtime-staging"),
    ("127.0.0.1:5000/org/staging", "127.0.0.1:5000/org/staging"),
])
def test_the_repository_a_cell_pushed_to(pushed: str, repository: str) -> None:
    assert str(staging.pushed_to(pushed)) == repository


@pytest.mark.parametrize("pushed", ["staging:tag", "quay.io", "quay.io:443"])
def test_a_pushed_reference_without_a_repository_is_refused(pushed: str) -> None:
    with pytest.raises(PublishError, match="pushed"):
        staging.pushed_to(pushed)


def test_only_cells_pushed_elsewhere_are_promoted_and_staging_is_read_with_its_own_credential(
        monkeypatch: pytest.MonkeyPatch) -> None:
    source, image = staged()
    target = Memory("registry.example/org/runtime")
    target.environ = {"STAGING_REGISTRY_TOKEN": "staging", "REGISTRY_TOKEN": "target"}
    opened = []

    def open_staging(where: Target, environ: dict, credentials: str) -> Memory:
        opened.append((where, environ, credentials))
        return source

    monkeypatch.setattr(staging, "Registry", open_staging)
    records = [{"pushed": source.target.ref("staging-a"), "digest": image},
               {"pushed": target.target.ref("staging-b"), "digest": "sha256:" + "b" * 64},  # pushed to the target
               {"digest": "sha256:" + "c" * 64}]  # a record of before staging repositories: the target's
    done = staging.promote_pushed(records, target)
    assert done.manifests == 1 and image in target.manifests
    assert opened == [(source.target, target.environ, staging.CREDENTIALS)]
    client = Registry(source.target, target.environ, staging.CREDENTIALS)
    assert client._initial_authorization() == "Bearer staging"
