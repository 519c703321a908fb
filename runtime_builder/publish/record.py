"""What a publication leaves behind: the facts only publishing can know (the digest of every
tag and platform image, the digest-pinned base each was built FROM), recorded in the feed.

- `build/feed/<repository>.json`: this repository's feed, starting from the one published
  beside the images, so runs on other machines add up;
- with `--write-feed`, the committed `releases.json` too (through `feed.write`, its one writer);
- the feed as an OCI artifact beside the images, `<repository>-feed:latest`, merged into the one
  there and checked before and after the write, since other publishes may write it too (`_settle`);
- the published release notes, `build/feed/notes/<version>.md`: the rendered notes of each
  version published, followed by its published images and their bases.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import layout
from ..generate import feed
from ..matrix.model import Matrix
from . import signing
from .publish import PublishReport
from .registry import Registry, RegistryError, Target
from .signing import Signer

WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class Recorded:
    written: tuple[Path, ...]  # the feed files and published notes written
    artifact: str  # the feed artifact's reference by digest


def rows(report: PublishReport) -> list[feed.Row]:
    """(version, tag, list digest, platform digests, bases) of every tag the run wrote or kept."""
    return [(str(p.image.release.version), tag.name, p.list_digest, p.platforms, p.bases)
            for p in report.images for tag in p.image.tags]


def record(root: Path, matrix: Matrix, target: Target, report: PublishReport, *, write_committed: bool,
           signer: Signer | None = None) -> Recorded:
    """Write the feed (and, with `signer`, sign what was written: the record of which digest each
    tag names, that `verify` holds a tag to)."""
    found = rows(report)
    feed_registry = Registry(Target(target.host, feed.repository(target.repository)))
    try:
        document, digest = _settle(feed_registry, lambda previous: feed.dumps(feed.record_images(
            feed.build_feed(matrix, previous or feed.load(feed.published_path(root, str(target)))
                            or feed.load(layout.Layout(root).feed_file)), str(target), found)))
    except RegistryError as error:
        raise RegistryError(f"the images and tags are published, but the feed is not: {error}; "
                            "run publish again to retry") from error
    mine = feed.published_path(root, str(target))
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text(document)
    written = [mine]
    if write_committed:
        written.append(feed.write(root, matrix, {str(target): found}))
    written += _published_notes(root, json.loads(document), sorted({row[0] for row in found}))
    if signer is not None:
        manifest = feed_registry.manifest(digest)
        if manifest is None:
            raise RegistryError(f"{feed_registry.target.ref(digest)}, the feed just written, is gone: run publish "
                                "again")
        signing.attach_signature(feed_registry, manifest.descriptor, signer, signing.FEED_PREDICATE)
    return Recorded(tuple(written), f"{feed_registry.target.ref(feed.ARTIFACT_TAG)}@{digest}")


def _settle(feed_registry: Registry, merge: Callable[[dict | None], str]) -> tuple[str, str]:
    """Read the published feed, `merge` this run's rows into it, write it back; (the feed, its digest).

    Publishes to one repository may run at once (CI's concurrency groups make that rare, not
    impossible) and a registry has no conditional write: so the tag is checked right before the
    write still to name the feed this run read, and read back after it; if another publish wrote
    in between, this run's rows are merged into the newer feed and written again.
    """
    reference = feed_registry.target.ref(feed.ARTIFACT_TAG)
    for _ in range(WRITE_ATTEMPTS):
        base = feed_registry.digest(feed.ARTIFACT_TAG)
        try:
            remote = feed_registry.artifact(base) if base else None  # by digest: the bytes `base` names
        except RegistryError as error:
            raise RegistryError(f"reading the published feed {reference}: {error}") from error
        document = merge(json.loads(remote) if remote else None)
        if remote is not None and document == remote.decode():
            return document, base  # it holds this run's rows already: nothing to write
        manifest = feed_registry.prepare_artifact(document.encode(), artifact_type=feed.ARTIFACT_TYPE,
                                                  media_type="application/json", title=feed.FEED_FILE)
        if feed_registry.digest(feed.ARTIFACT_TAG) != base:
            continue  # another publish wrote it since it was read
        written = feed_registry.put_manifest(feed.ARTIFACT_TAG, manifest)
        if feed_registry.digest(feed.ARTIFACT_TAG) == written:
            return document, written
    raise RegistryError(f"the feed {reference} changed under this publish {WRITE_ATTEMPTS} times: other publishes "
                        "to this repository write it at the same time (CI runs them in one concurrency group)")


def _published_notes(root: Path, document: dict, versions: Sequence[str]) -> list[Path]:
    """Each version's rendered notes with what this feed records of its published images."""
    written = []
    for version in versions:
        rendered = root / layout.release_dir(version) / "RELEASE_NOTES.md"
        entry = next(e for e in document["releases"] if e["version"] == version)
        lines = ["", "## Published images", ""]
        for repository, tags in sorted(entry.get("images", {}).items()):
            for tag, image in sorted(tags.items()):
                lines.append(f"- `{repository}:{tag}` `{image['digest']}`")
                lines += [f"  - {platform}: `{digest}`" + (f", built FROM `{image['bases'][platform]}`"
                                                             if platform in image.get("bases", {}) else "")
                          for platform, digest in sorted(image["platforms"].items())]
        path = layout.Layout(root).published / "notes" / f"{version}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((rendered.read_text() if rendered.exists() else f"# Airflow Runtime {version}\n")
                        + "\n".join(lines) + "\n")
        written.append(path)
    return written
