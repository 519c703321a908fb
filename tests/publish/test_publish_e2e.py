"""Publish the default Runtime release (the newest stable; default Python, base and ONBUILD, amd64
and arm64) to a real registry.

One test, in the order a release manager lives it: a previous release holds the floating
tags; a publish whose arm64 tests fail leaves every tag where it was; the re-run completes
without repeating the work already done; the manifest lists and tags are exactly what
`build.py tags` says; the pulled image runs on both platforms; an immutable tag that names
another image is refused (and `--force` repairs it); a last run has nothing left to do.

The local images are built under their own repository name (`airflow-runtime-e2e`), since
other work on the shared engine rebuilds `airflow-runtime:*` at any time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime_builder.generate import feed
from runtime_builder.images.engine import Engine
from runtime_builder.layout import Layout
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Variant
from runtime_builder.publish import evidence, signing
from runtime_builder.publish.registry import Registry, Target, referrers_tag

from .support import HOOK, LOCAL_REPOSITORY, REPOSITORY, ROOT, platform_images, run, tags_of

pytestmark = [pytest.mark.image, pytest.mark.registry, pytest.mark.slow]

# The release that carries `latest`, so that the floating tags are all exercised.
VERSION = str(load_matrix(ROOT / "versions.yaml").default_release().version)
# The full images: the slim ones follow the same publish code and tag rules (test_publish_slim.py
# publishes them on their own), and four more images would double this test's minutes.
VARIANTS = (Variant.BASE, Variant.ONBUILD)
VARIANT_ARGS = tuple(arg for variant in VARIANTS for arg in ("--variant", variant.value))
PLATFORMS = {("linux", "amd64"), ("linux", "arm64")}
TIMES: dict[str, float] = {}


# The signing key, made here (never in the repository): publish reads it as CI gives it, from the
# environment; users check with the public half.
SIGNING_KEY = Ed25519PrivateKey.generate()


def publish(registry: str, name: str, *extra: str, fail: str | None = None) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    key = SIGNING_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    result = run("publish", VERSION, "--default-python", *VARIANT_ARGS, "--registry", f"{registry}/{REPOSITORY}",
                 "--test-command", f"{sys.executable} {HOOK} --image {{image}}", *extra,
                 env={signing.KEY_VARIABLE: key, **({"PUBLISH_E2E_FAIL_PLATFORM": fail} if fail else {})})
    TIMES[name] = time.monotonic() - started
    return result


def forget_test_passes() -> None:
    """No recorded test pass of this test's images: an earlier run's would make publish skip what
    step 2 expects it to test (passes are kept per image id under build/, across runs)."""
    for path in Layout(ROOT).test_passes.glob("*.json"):
        if json.loads(path.read_text()).get("reference", "").startswith(f"{LOCAL_REPOSITORY}:"):
            path.unlink()


def seed_previous_release(registry: Registry, engine: Engine, tmp_path: Path, floating: list[str]) -> str:
    """Point every floating tag at a small stand-in for an older release; return its digest."""
    context = tmp_path / "previous"
    context.mkdir()
    (context / "release").write_text("an older release\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY release /release\n")
    ref = registry.target.ref(floating[0])
    engine.build(context=context, tag=ref, platform="linux/amd64", build_args={}, secrets={})
    try:
        engine.push(ref)
    finally:
        engine.remove_image(ref)
    for tag in floating[1:]:
        registry.copy(floating[0], tag)
    digest = registry.digest(floating[0])
    assert digest
    return digest


def verify(target: Target, tag: str, public_key: Path) -> tuple[int, list[str]]:
    """`build.py verify` as a user runs it: (exit status, the checks that failed)."""
    result = run("verify", target.ref(tag), "--key", str(public_key), "--json")
    checks = json.loads(result.stdout)["checks"]
    return result.returncode, [f"{c['what']}: {c['detail']}" for c in checks if not c["ok"]]


def snapshot(registry: Registry, tags: list[str]) -> dict[str, str | None]:
    return {tag: registry.digest(tag) for tag in tags}


def evidence_of(remote: Registry, lists: dict[str, str], workdir: Path) -> dict[str, tuple[str, str]]:
    """platform image digest -> (its SBOM's, its provenance's artifact digest), each checked.

    The referrers are listed through the project's registry adapter; the artifacts are pulled
    with ORAS's Python SDK, an independent OCI client, and checked against the image they name.
    """
    import oras.client

    client = oras.client.OrasClient(hostname=remote.target.host, insecure=not remote.target.secure)
    found = {}
    for list_digest in lists.values():
        for entry in remote.manifest(list_digest).json()["manifests"]:
            image = entry["digest"]
            config = json.loads(remote.blob(remote.manifest(image).json()["config"]["digest"]))
            sboms = remote.referrers(image, evidence.SBOM_TYPE)
            provenances = remote.referrers(image, evidence.PROVENANCE_TYPE)
            assert len(sboms) == 1 and len(provenances) == 1, f"{image}: {sboms} {provenances}"
            files = {}
            for artifact in (sboms[0], provenances[0]):
                outdir = workdir / artifact["digest"].replace(":", "-")
                pulled = client.pull(target=remote.target.ref(artifact["digest"]), outdir=str(outdir))
                assert len(pulled) == 1, pulled
                files[artifact["artifactType"]] = json.loads(Path(pulled[0]).read_text())
            bom, statement = files[evidence.SBOM_TYPE], files[evidence.PROVENANCE_TYPE]
            properties = {p["name"]: p["value"] for p in bom["metadata"]["component"]["properties"]}
            assert properties["airflow-runtime:image-id"] == remote.manifest(image).json()["config"]["digest"]
            assert properties["airflow-runtime:platform"] == f"linux/{config['architecture']}"
            assert bom["metadata"]["component"]["version"] == VERSION and len(bom["components"]) > 100
            assert statement["subject"] == [{"name": str(remote.target), "digest": {"sha256": image[7:]}}]
            external = statement["predicate"]["buildDefinition"]["externalParameters"]
            assert external["version"] == VERSION and external["platform"] == properties["airflow-runtime:platform"]
            found[image] = (sboms[0]["digest"], provenances[0]["digest"])
    return found


def test_publish_end_to_end(registry: str, tmp_path: Path) -> None:
    engine = Engine.detect()
    target = Target.parse(f"{registry}/{REPOSITORY}", REPOSITORY)
    remote = Registry(target)
    wanted = tags_of(VERSION, load_matrix(ROOT / "versions.yaml").release(VERSION).python, VARIANTS)
    immutable = [t for t in wanted if t.startswith(VERSION)]
    floating = [t for t in wanted if t not in immutable]
    assert len(wanted) == 16 and "latest" in floating
    previous = seed_previous_release(remote, engine, tmp_path, floating)
    forget_test_passes()

    # 1. arm64 tests fail: nothing is pushed, no tag moves, no immutable tag appears.
    failed = publish(registry, "failing run", "--retest", fail="linux/arm64")
    assert failed.returncode == 1
    assert "image tests failed for" in failed.stderr and "arm64" in failed.stderr
    assert "no tag was changed" in failed.stderr
    assert snapshot(remote, floating) == dict.fromkeys(floating, previous)
    assert snapshot(remote, immutable) == dict.fromkeys(immutable)
    assert sorted(remote.tags()) == sorted(floating)

    # 2. The re-run completes, testing only what did not pass before.
    done = publish(registry, "re-run after the failure")
    assert done.returncode == 0, done.stderr
    assert "tested 2 (skipped 2)" in done.stdout, "amd64 passed in the failed run: not tested again"
    tags = remote.tags()
    staging = [t for t in tags if t.startswith("staging-")]
    # A registry without the referrers API (distribution 2.x) keeps the index of what is attached
    # to an image under the OCI 1.1 fallback tag `sha256-<digest>`: the SBOM, provenance and
    # signature of each platform image, the signature of each list.
    images = platform_images(remote, set(wanted) & set(tags))
    assert len(images) == 4
    signed = images | {remote.digest(tag) for tag in set(wanted) & set(tags)}
    assert len(signed) == 6
    fallback = {referrers_tag(digest) for digest in signed} & set(tags)
    assert fallback in (set(), {referrers_tag(digest) for digest in signed}), "all six or none"
    assert sorted(set(tags) - set(staging) - fallback) == sorted(wanted), "exactly the tags of `build.py tags`"
    assert len(staging) == 4 and not set(staging) & set(wanted)

    # 3. Every tag names its variant's manifest list, of exactly the two platforms.
    lists: dict[Variant, str] = {}
    for tag, variant in wanted.items():
        manifest = remote.manifest(tag)
        assert manifest is not None and manifest.is_list, tag
        platforms = {(m["platform"]["os"], m["platform"]["architecture"]) for m in manifest.json()["manifests"]}
        assert platforms == PLATFORMS, f"{tag}: {platforms}"
        assert lists.setdefault(variant, manifest.digest) == manifest.digest, f"{tag} names another list"
    assert len(set(lists.values())) == 2
    inspect = engine.cli(["manifest", "inspect", "--insecure", target.ref("latest")])
    assert inspect.returncode == 0, inspect.stderr
    assert {(m["platform"]["os"], m["platform"]["architecture"])
            for m in json.loads(inspect.stdout)["manifests"]} == PLATFORMS

    # 4. The feed records every tag with its list digest and both platform digests.
    written = feed.load(feed.published_path(ROOT, str(target)))
    assert written is not None
    entry = next(e for e in written["releases"] if e["version"] == VERSION)
    recorded = entry["images"][str(target)]
    assert set(recorded) == set(wanted)
    assert all(len(r["platforms"]) == 2 and r["digest"] == lists[wanted[t]] for t, r in recorded.items())
    # ... and the base each platform image was built FROM: the digest-pinned Python base for
    # -base images (what the release notes list), the -base image for ONBUILD ones.
    for tag, record in recorded.items():
        assert set(record["bases"]) == {"linux/amd64", "linux/arm64"}, tag
        if wanted[tag] is Variant.BASE:
            assert all("@sha256:" in base for base in record["bases"].values()), record
    assert {platform for platform, _ in feed.base_images(written, VERSION)} == {"linux/amd64", "linux/arm64"}
    beside = Registry(Target(target.host, feed.repository(target.repository)))
    assert beside.artifact(feed.ARTIFACT_TAG) == feed.published_path(ROOT, str(target)).read_bytes(), \
        "the feed published beside the images is the one written locally"

    # 4b. Every platform image carries its SBOM and provenance, fetched back with another client.
    attached = evidence_of(remote, lists, tmp_path)
    assert len(attached) == 4, "an SBOM and a provenance for each of the four platform images"

    # 4c. Every platform image, list and the feed is signed: `verify` passes on every tag.
    public_key = tmp_path / "signing.pub"
    public_key.write_bytes(SIGNING_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    signatures = {digest: remote.referrers(digest, signing.MEDIA_TYPE)
                  for digest in [*lists.values(), *platform_images(remote, wanted)]}
    assert all(len(found) == 1 for found in signatures.values()), signatures
    for tag in wanted:
        code, problems = verify(target, tag, public_key)
        assert code == 0, (tag, problems)

    # 5. The pulled image runs on both platforms (arm64 under emulation).
    airflow = load_matrix(ROOT / "versions.yaml").release(VERSION).airflow_build_version
    pulled = target.ref("latest")
    try:
        for platform in ("linux/amd64", "linux/arm64"):
            assert engine.cli(["pull", "--platform", platform, pulled]).returncode == 0
            assert engine.image_facts(pulled)[1] == platform.removeprefix("linux/")
            started = time.monotonic()
            run = engine.oneshot(pulled, ["airflow", "version"], platform=platform)
            assert run.returncode == 0, run.stderr
            version = run.stdout.strip()
            TIMES[f"`airflow version` in the pulled {platform} image"] = time.monotonic() - started
            assert version == airflow
    finally:
        engine.remove_image(pulled)

    # 6. An immutable tag that names another image is refused, naming both digests.
    tampered = f"{VERSION}-base"
    remote.copy("latest", tampered)  # the ONBUILD list under a base tag
    code, problems = verify(target, tampered, public_key)
    assert code == 1, "a signed list under a tag it was not published under verifies"
    assert any(f"not signed under the tag {tampered}" in p for p in problems), problems
    assert any(f"the tag {tampered} names {lists[Variant.ONBUILD]}, but the signed feed records "
               f"{lists[Variant.BASE]}" in p for p in problems), problems
    before = snapshot(remote, list(wanted))
    refused = publish(registry, "refused run")
    assert refused.returncode == 1
    assert target.ref(tampered) in refused.stderr
    assert lists[Variant.ONBUILD] in refused.stderr and lists[Variant.BASE] in refused.stderr
    assert snapshot(remote, list(wanted)) == before, "a refused publish changes no tag"
    repaired = publish(registry, "--force repair", "--force")
    assert repaired.returncode == 0 and remote.digest(tampered) == lists[Variant.BASE]

    # 7. Nothing is left to do.
    again = publish(registry, "idempotent re-run")
    assert again.returncode == 0
    assert "tested 0 (skipped 4)" in again.stdout and "pushed 0 (already there 4)" in again.stdout
    assert all(line.lstrip().startswith("keep") for line in again.stdout.splitlines() if " sha256:" in line)
    as_json = publish(registry, "idempotent re-run, --json", "--json")
    outcome = json.loads(as_json.stdout[as_json.stdout.index("{"):])
    assert as_json.returncode == 0 and outcome["pushed"] == 0 and outcome["tested"] == 0
    assert {tag["action"] for tag in outcome["tags"]} == {"keep"} and len(outcome["tags"]) == len(wanted)
    assert evidence_of(remote, lists, tmp_path / "again") == attached, "publishing again attaches nothing new"
    assert {digest: remote.referrers(digest, signing.MEDIA_TYPE) for digest in signatures} == signatures, \
        "signing again attaches nothing new (Ed25519 signatures are deterministic)"
    assert verify(target, tampered, public_key) == (0, []), "--force put the right list back"
    print("\n".join(f"{name}: {seconds:.1f}s" for name, seconds in TIMES.items()))
    feed.published_path(ROOT, str(target)).unlink()
