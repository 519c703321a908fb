"""`build.py verify IMAGE_REF --key PUBLIC_KEY`: what a user checks on an image they pulled.

1. The release feed published beside the images (`<repository>-feed:latest`) carries a signature
   by the key: it is what says which digest each tag names, so a tag replaced in the registry
   (another image, or one of ours under another tag) differs from it.
2. The image's manifest list is signed, for this version, these tags and these platform images.
3. Each platform image (or the one `--platform` names) is signed, and the SBOM and provenance it
   carries are the ones its signature names: the provenance says who built it, from which commit
   and from which lock file; the SBOM is CycloneDX with the image's packages.
4. The feed's lifecycle facts: a yanked version, or one past the end of its basic support, fails.

Every manifest and blob read is checked against the digest it was asked by. Any check that
fails makes the exit status 1, each with its reason; the rest are still shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import RegistryError, SignatureError, UsageError
from ..generate import feed
from ..layout import LOCAL_REGISTRY
from . import evidence, signing
from .registry import Manifest, Registry, Target


@dataclass(frozen=True)
class Check:
    what: str  # feed, list, signature, sbom, provenance, lifecycle
    ok: bool
    detail: str


@dataclass
class Verification:
    reference: str
    key: str  # the key's id
    digest: str | None = None
    version: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def add(self, what: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(what, ok, detail))
        return ok

    def text(self) -> str:
        lines = [f"verify {self.reference} (key {self.key[:16]})"]
        lines += [f"  {'ok' if c.ok else 'FAILED':<7}{c.what:<11}{c.detail}" for c in self.checks]
        failed = [c for c in self.checks if not c.ok]
        lines.append("verified" if self.ok else f"NOT verified: {len(failed)} check(s) failed")
        return "\n".join(lines)

    def json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def parse_reference(text: str) -> tuple[Target, str]:
    """`host/repository:tag` or `host/repository@sha256:...` (no tag: latest)."""
    name, at, digest = text.partition("@")
    tag = "latest"
    if not at:
        head, colon, last = name.rpartition(":")
        if colon and "/" not in last and "/" in head:
            name, tag = head, last
    try:
        target = Target.parse(name, "")
    except ValueError:
        target = None
    if target is None or not target.repository:
        raise UsageError(f"{text!r}: expected an image reference with its registry, e.g. quay.io/org/airflow-runtime"
                         f":14.2.1-python-3.13 or {LOCAL_REGISTRY}/airflow-runtime@sha256:...")
    if at and not (digest.startswith("sha256:") and len(digest) == 71):
        raise UsageError(f"{text!r}: {digest!r} is not a sha256 digest")
    return target, digest if at else tag


def _manifest(registry: Registry, digest: str) -> Manifest:
    """The manifest `digest` (the registry adapter checks it is of that digest, as every blob)."""
    manifest = registry.manifest(digest)
    if manifest is None:
        raise RegistryError(f"{registry.target.ref(digest)} does not exist")
    return manifest


def _file(registry: Registry, digest: str) -> bytes:
    """The one file of the artifact `digest`."""
    data = registry.artifact(digest)
    if data is None:
        raise RegistryError(f"{registry.target.ref(digest)} does not exist")
    return data


def signed_statement(registry: Registry, digest: str, key: Ed25519PublicKey) -> dict:
    """The statement of a signature attached to `digest` that `key` made for exactly that subject."""
    found = registry.referrers(digest, signing.MEDIA_TYPE)
    if not found:
        raise SignatureError("no signature attached")
    reasons = []
    for entry in found:
        try:
            document = signing.open_envelope(_file(registry, entry["digest"]), key)
            name, subject = signing.subject_of(document)
        except (SignatureError, RegistryError) as error:
            reasons.append(str(error))
            continue
        if (name, subject) == (str(registry.target), digest):
            return document
        reasons.append(f"a signature by the key for {name}@{subject}, not this image")
    raise SignatureError("; ".join(dict.fromkeys(reasons)))


def _feed(registry: Registry, key: Ed25519PublicKey, result: Verification) -> dict | None:
    beside = Registry(Target(registry.target.host, feed.repository(registry.target.repository)),
                      registry.environ)
    reference = beside.target.ref(feed.ARTIFACT_TAG)
    digest = beside.digest(feed.ARTIFACT_TAG)
    if digest is None:
        result.add("feed", False, f"{reference} does not exist: nothing says what was published")
        return None
    try:
        signed_statement(beside, digest, key)
        document = json.loads(_file(beside, digest))
    except (SignatureError, RegistryError, ValueError) as error:
        result.add("feed", False, f"{reference} ({digest[:19]}): {error}")
        return None
    result.add("feed", True, f"{reference} signed ({digest[:19]})")
    return document


def _release_of(document: dict, repository: str, reference: str, digest: str) -> tuple[dict | None, str]:
    """The feed's release entry that published `digest` (under the tag `reference`, when it is a tag)."""
    for entry in document.get("releases", []):
        tags = entry.get("images", {}).get(repository, {})
        if not reference.startswith("sha256:"):
            if reference in tags:
                recorded = tags[reference]["digest"]
                if recorded != digest:
                    return None, (f"the tag {reference} names {digest}, but the signed feed records {recorded} for it: "
                                  "the tag was replaced in the registry")
                return entry, f"Runtime {entry['version']}: the signed feed records {reference} -> {digest[:19]}"
        elif any(digest == image["digest"] or digest in image["platforms"].values() for image in tags.values()):
            return entry, f"Runtime {entry['version']}: the signed feed records {digest[:19]}"
    what = f"image {digest}" if reference.startswith("sha256:") else f"tag {reference}"
    return None, f"the signed feed records no {what}"


def _platform(registry: Registry, platform: str, digest: str, version: str, key: Ed25519PublicKey,
              result: Verification) -> None:
    try:
        predicate = signed_statement(registry, digest, key)["predicate"]
    except SignatureError as error:
        result.add("signature", False, f"{platform} {digest[:19]}: {error}")
        return
    if not result.add("signature", predicate.get("platform") == platform, f"{platform} {digest[:19]}"
                      + ("" if predicate.get("platform") == platform else f": signed as {predicate.get('platform')}")):
        return
    attached = {kind: {e["digest"] for e in registry.referrers(digest, kind)}
                for kind in (evidence.SBOM_TYPE, evidence.PROVENANCE_TYPE)}
    if predicate.get("sbom") not in attached[evidence.SBOM_TYPE]:
        result.add("sbom", False, f"{platform}: the signed SBOM {predicate.get('sbom')} is not attached")
    else:
        bom = json.loads(_file(registry, predicate["sbom"]))
        ok = bom.get("bomFormat") == "CycloneDX" and bool(bom.get("components"))
        result.add("sbom", ok, f"{platform}: CycloneDX {bom.get('specVersion')}, {len(bom.get('components') or [])} "
                               "components")
    if predicate.get("provenance") not in attached[evidence.PROVENANCE_TYPE]:
        result.add("provenance", False,
                   f"{platform}: the signed provenance {predicate.get('provenance')} is not attached")
        return
    statement = json.loads(_file(registry, predicate["provenance"]))
    result.add("provenance", *_provenance(statement, str(registry.target), digest, version, platform))


def _provenance(statement: dict, repository: str, digest: str, version: str, platform: str) -> tuple[bool, str]:
    """(ok, what it says): who built the image, from which commit and lock file."""
    subject = statement.get("subject") or [{}]
    if subject[0].get("digest", {}).get("sha256") != digest.removeprefix("sha256:"):
        return False, f"{platform}: the provenance is of another image ({subject[0]})"
    build = statement.get("predicate", {}).get("buildDefinition", {})
    external = build.get("externalParameters", {})
    if (external.get("version"), external.get("platform")) != (version, platform):
        return False, f"{platform}: the provenance is of Runtime {external.get('version')} {external.get('platform')}"
    builder = statement.get("predicate", {}).get("runDetails", {}).get("builder", {}).get("id", "?")
    revision = build.get("internalParameters", {}).get("build_args", {}).get("REVISION", "?")
    locks = [d["uri"] for d in build.get("resolvedDependencies", []) if str(d.get("uri", "")).startswith("locks/")]
    if revision.endswith("-dirty") or revision.startswith("unknown"):
        return False, f"{platform}: built from {revision}, not a commit anyone can check out"
    return True, f"{platform}: built by {builder} from commit {revision[:12]}, lock {', '.join(locks) or 'none'}"


def _lifecycle(entry: dict, today: date) -> tuple[bool, str]:
    version = entry["version"]
    if entry.get("yanked"):
        return False, f"Runtime {version} is yanked: {entry.get('yanked_reason') or 'no reason given'}"
    if entry.get("channel") == "nightly":
        return True, f"Runtime {version} is a nightly build, not a release"
    ends = date.fromisoformat(entry["end_of_basic_support"]) if entry.get("end_of_basic_support") else None
    maintained = date.fromisoformat(entry["end_of_maintenance"]) if entry.get("end_of_maintenance") else None
    if ends and today > ends:
        return False, f"Runtime {version} is end of life since {ends} (no fixes of any kind)"
    if maintained and today > maintained:
        return True, f"Runtime {version}: basic support until {ends} (maintenance ended {maintained})"
    return True, f"Runtime {version}: supported" + (f" (maintenance until {maintained})" if maintained else "")


def _list(registry: Registry, reference: str, digest: str, platforms: dict[str, str], version: str | None,
          key: Ed25519PublicKey, result: Verification) -> str | None:
    """Check the manifest list's signature: this version, this tag, these platform images. The version."""
    try:
        predicate = signed_statement(registry, digest, key)["predicate"]
    except SignatureError as error:
        result.add("signature", False, f"manifest list {digest[:19]}: {error}")
        return version
    signed_tags = predicate.get("tags", [])
    problems = []
    if version and predicate.get("version") != version:
        problems.append(f"signed for Runtime {predicate.get('version')}")
    if predicate.get("platforms") != platforms:
        problems.append(f"signed with the platform images {predicate.get('platforms')}")
    if not reference.startswith("sha256:") and reference not in signed_tags:
        problems.append(f"not signed under the tag {reference} (signed: {', '.join(signed_tags)})")
    result.add("signature", not problems, f"manifest list {digest[:19]}: " + ("; ".join(problems) or (
        f"Runtime {predicate.get('version')}, {len(signed_tags)} tags, {' '.join(sorted(platforms))}")))
    return version or predicate.get("version")


def verify(registry: Registry, reference: str, key: Ed25519PublicKey, today: date,
           platform: str | None = None) -> Verification:
    """Every check of the image `reference` (a tag or digest) in `registry`. Reads only."""
    result = Verification(registry.target.ref(reference), signing.key_id(key))
    result.digest = digest = reference if reference.startswith("sha256:") else registry.digest(reference)
    if digest is None:
        result.add("image", False, f"{result.reference} does not exist")
        return result
    document = _feed(registry, key, result)
    entry, said = _release_of(document, str(registry.target), reference, digest) if document else (None, "")
    if document is not None:
        result.add("feed", entry is not None, said)
    version = result.version = entry["version"] if entry else None
    manifest = _manifest(registry, digest)
    if manifest.is_list:
        platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
                     for m in manifest.json().get("manifests", []) if m.get("platform", {}).get("os") != "unknown"}
        version = _list(registry, reference, digest, platforms, version, key, result)
        if platform and platform not in platforms:
            result.add("image", False, f"no {platform} image in the list (it has {', '.join(sorted(platforms))})")
        for name, image in sorted(platforms.items()):
            if platform in (None, name):
                _platform(registry, name, image, version or "?", key, result)
    else:
        config = json.loads(registry.blob(manifest.json()["config"]["digest"]))
        _platform(registry, f"{config.get('os')}/{config.get('architecture')}", digest, version or "?", key, result)
    if entry is not None:
        result.add("lifecycle", *_lifecycle(entry, today))
    return result


def run(args: argparse.Namespace) -> int:
    target, reference = parse_reference(args.reference)
    key = signing.load_public_key(args.key)
    today = date.fromisoformat(args.today) if args.today else datetime.now(UTC).date()
    result = verify(Registry(target, os.environ), reference, key, today, args.platform)
    print(json.dumps(result.json(), indent=2) if args.json else result.text())
    if not result.ok:
        print(f"error: {result.reference} is not verified by the key {result.key[:16]}", file=sys.stderr)
    return 0 if result.ok else 1
