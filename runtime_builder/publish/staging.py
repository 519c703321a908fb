"""Promotion: the platform images CI's build jobs pushed to a staging repository, copied by digest
into the repository users pull from, with what is attached to them, before any tag names them.

Why a staging repository: the build jobs run third-party code (PyPI packages, the images' own
tests), so the credential they hold can write the staging repository and nothing else. The
credential that writes the tags users pull is used by the publish job alone, which runs no build
code (.github/workflows). That job reads the staging repository with a credential of its own,
``STAGING_REGISTRY_TOKEN`` or ``STAGING_REGISTRY_USERNAME`` with ``STAGING_REGISTRY_PASSWORD``
(the target's are ``REGISTRY_*``, see registry.py).

A manifest is copied byte for byte and checked against the digest the build job recorded, so
what was tested and scanned is what gets listed and tagged. Its blobs go first: mounted from the
staging repository when both are on one registry host (nothing is transferred), streamed through
this process otherwise; then the manifest, by digest; then the artifacts that refer to it (SBOM,
provenance), each the same way and listed as its referrers. What the target holds already is not
written again: a second promotion writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .. import log
from ..errors import PublishError
from .registry import Manifest, Registry, Target

CREDENTIALS = "STAGING_REGISTRY"


@dataclass
class Promotion:
    """What a promotion wrote: all zero when the target held everything already."""

    mounted: int = 0  # blobs
    streamed: int = 0
    manifests: int = 0
    referrers: int = 0


def pushed_to(pushed: str) -> Target:
    """The repository of a cell record's `pushed` reference: `host/repository:tag` or `...@digest`."""
    name = pushed.partition("@")[0]
    repository, colon, tag = name.rpartition(":")
    try:
        found = Target.parse(repository if colon and "/" not in tag else name, "")
    except ValueError as error:
        raise PublishError(f"a cell's result record says it pushed {pushed!r}: {error}") from error
    if not found.repository:
        raise PublishError(f"a cell's result record says it pushed {pushed!r}, which names no repository")
    return found


def promote_pushed(records: Iterable[Mapping], target: Registry) -> Promotion:
    """Promote the image of every cell record that was pushed to another repository than `target`'s."""
    by_source: dict[Target, list[str]] = {}
    for record in records:
        source = pushed_to(record["pushed"]) if record.get("pushed") else target.target
        if source != target.target:
            by_source.setdefault(source, []).append(record["digest"])
    done = Promotion()
    for source, digests in by_source.items():
        with log.step(f"promote {len(digests)} platform images from {source} to {target.target}"):
            staging = Registry(source, target.environ, CREDENTIALS)
            for digest in digests:
                promote(staging, target, digest, done)
        log.info(f"    {done.manifests} manifests, {done.referrers} referrers, {done.mounted} blobs mounted, "
                 f"{done.streamed} streamed")
    return done


def promote(source: Registry, target: Registry, digest: str, done: Promotion | None = None) -> Promotion:
    """Copy the manifest `digest` (an image or an index of them) and its referrers from `source` to `target`."""
    done = Promotion() if done is None else done
    if target.digest(digest) is None:
        target.put_manifest(digest, _copy_content(source, target, digest, done))
        done.manifests += 1
    listed = {entry["digest"] for entry in target.referrers(digest)}
    for referrer in source.referrers(digest):
        if referrer["digest"] not in listed:
            # Stored again even if a crash left it without its place in the index: a PUT by digest is idempotent.
            target.put_referrer(_copy_content(source, target, referrer["digest"], done))
            done.referrers += 1
    return done


def _copy_content(source: Registry, target: Registry, digest: str, done: Promotion) -> Manifest:
    """Everything the manifest `digest` refers to, copied into `target`; the manifest itself, checked."""
    manifest = source.manifest(digest)
    if manifest is None:
        raise PublishError(f"{source.target.ref(digest)} does not exist: the image a build job pushed is gone "
                           "from the staging repository; no tag was changed")
    if manifest.digest != digest:
        raise PublishError(f"{source.target.ref(digest)}: the registry sent a manifest whose digest is "
                           f"{manifest.digest}; no tag was changed")
    document = manifest.json()
    for child in document.get("manifests") or []:  # an index: its images first
        promote(source, target, child["digest"], done)
    for blob in ([document["config"]] if "config" in document else []) + (document.get("layers") or []):
        _copy_blob(source, target, blob["digest"], blob["size"], done)
    return manifest


def _copy_blob(source: Registry, target: Registry, digest: str, size: int, done: Promotion) -> None:
    if target.has_blob(digest):
        return
    if source.target.host == target.target.host and target.mount_blob(digest, source.target.repository):
        done.mounted += 1
        return
    source.read_blob(digest, lambda stream: target.upload_blob(digest, stream, size))
    done.streamed += 1
