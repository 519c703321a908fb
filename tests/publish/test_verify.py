"""`build.py verify` against a real registry (`docker-registry` on loopback), on a small published
release made here with the product's own registry and signing code: two platform images with an
SBOM and a provenance each, a signed manifest list under two tags, a signed feed. Then the
tampering a user must be told of: a tag replaced, a swapped list, an SBOM gone, another key, an
unsigned feed, a yanked or end-of-life version. (test_publish_e2e.py verifies what `publish` signs.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime_builder.generate import feed
from runtime_builder.matrix.model import Platform
from runtime_builder.publish import evidence, signing
from runtime_builder.publish.plan import PlatformManifest, manifest_list
from runtime_builder.publish.registry import OCI_MANIFEST, Manifest, Registry, Target, referrers_tag

from .conftest import RegistryProcess
from .support import run

pytestmark = pytest.mark.registry

REPOSITORY = "verify-test/airflow-runtime"
VERSION = "14.2.1"
TAGS = ["14.2.1-python-3.13", "latest"]
TODAY = "2026-12-07"


@pytest.fixture(scope="module")
def registry_addr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = RegistryProcess(tmp_path_factory.mktemp("verify-registry"))
    process.start()
    try:
        yield process.addr
    finally:
        process.stop()


def push_image(registry: Registry, arch: str, content: bytes) -> PlatformManifest:
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = registry.put_blob(content)
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": registry.put_blob(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer,
                            "size": len(content)}]}
    manifest = Manifest(OCI_MANIFEST, json.dumps(document).encode())
    registry.put_manifest(manifest.digest, manifest)
    return PlatformManifest(Platform(f"linux/{arch}"), OCI_MANIFEST, manifest.digest, len(manifest.body))


def attach_evidence(registry: Registry, image: PlatformManifest, revision: str = "0123456789abcdef") -> dict:
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "apache-airflow"}]}
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": str(registry.target), "digest": {"sha256": image.digest[7:]}}],
                 "predicate": {"buildDefinition": {
                     "externalParameters": {"version": VERSION, "platform": image.platform.value},
                     "internalParameters": {"build_args": {"REVISION": revision}},
                     "resolvedDependencies": [{"uri": f"locks/{VERSION}/python-3.13/{image.platform.arch}.txt"}]},
                     "runDetails": {"builder": {"id": "https://example.com/build.py@abc"}}}}
    return {
        "sbom": registry.attach(image.descriptor, json.dumps(bom).encode(), artifact_type=evidence.SBOM_TYPE,
                                media_type=evidence.SBOM_TYPE, title=evidence.SBOM_TITLE),
        "provenance": registry.attach(image.descriptor, json.dumps(statement).encode(),
                                      artifact_type=evidence.PROVENANCE_TYPE, media_type=evidence.PROVENANCE_TYPE,
                                      title=evidence.PROVENANCE_TITLE),
    }


def write_feed(registry: Registry, lists: dict[str, str], platforms: dict[str, str], signer: signing.Signer | None,
               **entry: object) -> None:
    document = {"schema": 1, "releases": [{
        "version": VERSION, "channel": "stable", "yanked": False, "yanked_reason": None,
        "end_of_maintenance": "2027-06-30", "end_of_basic_support": "2027-12-31",
        "images": {str(registry.target): {tag: {"digest": lists[tag], "platforms": platforms} for tag in TAGS}},
        **entry}]}
    beside = Registry(Target(registry.target.host, feed.repository(registry.target.repository)))
    beside.put_artifact(feed.ARTIFACT_TAG, json.dumps(document).encode(), artifact_type=feed.ARTIFACT_TYPE,
                        media_type="application/json", title=feed.FEED_FILE)
    if signer is not None:
        manifest = beside.manifest(feed.ARTIFACT_TAG)
        signing.attach_signature(beside, manifest.descriptor, signer,
                                 signing.FEED_PREDICATE)


class Published:
    def __init__(self, addr: str, tmp: Path, repository: str) -> None:
        self.registry = Registry(Target(addr, repository))
        self.signer = signing.Signer(Ed25519PrivateKey.generate())
        self.key = tmp / "signing.pub"
        self.key.write_bytes(self.signer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.images = [push_image(self.registry, arch, f"{arch} layer".encode()) for arch in ("amd64", "arm64")]
        for image in self.images:
            found = attach_evidence(self.registry, image)
            signing.attach_signature(self.registry, image.descriptor, self.signer,
                                     signing.image_predicate(image.platform.value, found["sbom"], found["provenance"]))
        self.platforms = {image.platform.value: image.digest for image in self.images}
        self.list = manifest_list(self.images)
        self.registry.put_manifest(self.list.digest, self.list)
        signing.attach_signature(self.registry, self.list.descriptor,
                                 self.signer, signing.list_predicate(VERSION, TAGS, self.platforms))
        for tag in TAGS:
            self.registry.put_manifest(tag, self.list)
        self.feed(self.signer)

    def feed(self, signer: signing.Signer | None, **entry: object) -> None:
        write_feed(self.registry, dict.fromkeys(TAGS, self.list.digest), self.platforms, signer, **entry)

    def verify(self, reference: str, *extra: str, key: Path | None = None) -> tuple[int, dict, str]:
        result = run("verify", self.registry.target.ref(reference), "--key", str(key or self.key), "--json",
                     "--today", TODAY, *extra)
        return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def failed(report: dict) -> list[str]:
    return [f"{c['what']}: {c['detail']}" for c in report["checks"] if not c["ok"]]


@pytest.fixture
def published(registry_addr: str, tmp_path: Path, request: pytest.FixtureRequest) -> Published:
    """A release of its own (a repository per test): what one test tampers with, no other sees."""
    return Published(registry_addr, tmp_path, f"{REPOSITORY}-{abs(hash(request.node.name)) % 10**8}")


def test_a_published_image_verifies_by_tag_and_by_digest(published: Published) -> None:
    code, report, err = published.verify("latest")
    assert code == 0, (failed(report), err)
    kinds = [check["what"] for check in report["checks"]]
    assert kinds.count("signature") == 3 and kinds.count("sbom") == 2 and kinds.count("provenance") == 2
    assert report["version"] == VERSION and report["digest"] == published.list.digest
    provenance = next(c["detail"] for c in report["checks"] if c["what"] == "provenance")
    assert "from commit 0123456789ab, lock locks/14.2.1/python-3.13/amd64.txt" in provenance
    code, report, _ = published.verify(published.platforms["linux/arm64"])
    assert code == 0, failed(report)
    code, report, _ = published.verify("latest", "--platform", "linux/arm64")
    assert code == 0 and [c["what"] for c in report["checks"]].count("sbom") == 1


def test_another_key_verifies_nothing(published: Published, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    code, report, err = published.verify("latest", key=other)
    assert code == 1 and "is not verified by the key" in err
    assert all("no signature by the key" in problem for problem in failed(report) if "signature" in problem)
    assert any(problem.startswith("feed:") for problem in failed(report))


def test_a_replaced_tag_fails(published: Published) -> None:
    """Someone with write access to the registry points a tag at an image of their own."""
    intruder = push_image(published.registry, "amd64", b"not ours")
    published.registry.put_manifest("14.2.1-python-3.13", published.registry.manifest(intruder.digest))
    code, report, _ = published.verify("14.2.1-python-3.13")
    assert code == 1
    problems = failed(report)
    assert any(f"the tag 14.2.1-python-3.13 names {intruder.digest}, but the signed feed records "
               f"{published.list.digest}" in p for p in problems), problems
    assert any(p.startswith("signature:") and "no signature attached" in p for p in problems), problems


def test_a_signed_list_under_a_tag_it_was_not_signed_for_fails(published: Published) -> None:
    published.registry.put_manifest("14.2.1-python-3.13-base", published.list)
    code, report, _ = published.verify("14.2.1-python-3.13-base")
    assert code == 1
    assert any("not signed under the tag 14.2.1-python-3.13-base" in p for p in failed(report)), failed(report)


def test_an_sbom_no_longer_attached_fails(published: Published) -> None:
    image = published.platforms["linux/amd64"]
    index = published.registry.manifest(referrers_tag(image)).json()  # distribution 2.x: the tag fallback
    index["manifests"] = [m for m in index["manifests"] if m.get("artifactType") != evidence.SBOM_TYPE]
    published.registry.put_manifest(referrers_tag(image), Manifest(index["mediaType"], json.dumps(index).encode()))
    code, report, _ = published.verify("latest")
    assert code == 1
    assert any(p.startswith("sbom: linux/amd64: the signed SBOM sha256:") and "is not attached" in p
               for p in failed(report)), failed(report)


def test_an_unsigned_feed_fails(published: Published) -> None:
    published.feed(None, channel="stable", note="rewritten by someone")
    code, report, _ = published.verify("latest")
    assert code == 1 and any(p.startswith("feed:") and "no signature attached" in p for p in failed(report))


@pytest.mark.parametrize(("entry", "reason"), [
    ({"yanked": True, "yanked_reason": "celery 5.7 breaks the worker"},
     "Runtime 14.2.1 is yanked: celery 5.7 breaks the worker"),
    ({"end_of_basic_support": "2026-12-01"}, "Runtime 14.2.1 is end of life since 2026-12-01"),
])
def test_a_yanked_or_end_of_life_version_fails_with_the_reason(published: Published, entry: dict,
                                                                reason: str) -> None:
    published.feed(published.signer, **entry)
    code, report, _ = published.verify("latest")
    problems = failed(report)
    assert code == 1 and len(problems) == 1 and problems[0].startswith(f"lifecycle: {reason}"), problems


def test_attach_puts_a_file_beside_an_image_and_verify_still_passes(published: Published, tmp_path: Path) -> None:
    """`build.py attach` (CI attaches the nightlies' scan reports): a referrer of its own type, and
    an image with more referrers than the signed ones still verifies."""
    report = tmp_path / "trivy.json"
    report.write_text('{"SchemaVersion": 2, "Results": []}\n')
    image = published.platforms["linux/amd64"]
    kind = "application/vnd.aquasec.trivy.report.v1+json"
    done = run("attach", published.registry.target.ref(image), str(report), "--artifact-type", kind)
    assert done.returncode == 0, done.stderr
    found = published.registry.referrers(image, kind)
    assert len(found) == 1
    layers = published.registry.manifest(found[0]["digest"]).json()["layers"]
    assert published.registry.blob(layers[0]["digest"]) == report.read_bytes()
    assert published.verify("latest")[0] == 0
    by_tag = run("attach", published.registry.target.ref("latest"), str(report), "--artifact-type", kind)
    assert by_tag.returncode == 2 and "attach to an image by digest" in by_tag.stderr
