"""What a publication leaves behind: the facts only publishing can know (the digest of every
tag and platform image, the digest-pinned base each was built FROM), recorded in the feed.

- `build/feed/<repository>.json`: this repository's feed, starting from the one published
  beside the images, so runs on other machines add up;
- with `--write-feed`, the committed `releases.json` too (through `feed.write`, its one writer);
- the feed as an OCI artifact beside the images, `<repository>-feed:latest`;
- the published release notes, `build/feed/notes/<version>.md`: the rendered notes of each
  version published, followed by its published images and their bases.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import layout
from ..generate import feed
from ..matrix.model import Matrix
from .publish import PublishReport
from .registry import Registry, RegistryError, Target


@dataclass(frozen=True)
class Recorded:
    written: tuple[Path, ...]  # the feed files and published notes written
    artifact: str  # the feed artifact's reference by digest


def rows(report: PublishReport) -> list[feed.Row]:
    """(version, tag, list digest, platform digests, bases) of every tag the run wrote or kept."""
    return [(str(p.image.release.version), tag.name, p.list_digest, p.platforms, p.bases)
            for p in report.images for tag in p.image.tags]


def record(root: Path, matrix: Matrix, target: Target, report: PublishReport, *, write_committed: bool) -> Recorded:
    found = rows(report)
    feed_registry = Registry(Target(target.host, target.repository + feed.ARTIFACT_SUFFIX))
    try:
        remote = feed_registry.artifact(feed.ARTIFACT_TAG)
    except RegistryError as error:
        raise RegistryError(f"reading the published feed {feed_registry.target.ref(feed.ARTIFACT_TAG)}: {error}; "
                            "the images and tags are published, the feed is not: run publish again") from error
    previous = json.loads(remote) if remote else (feed.load(feed.published_path(root, str(target)))
                                                  or feed.load(layout.Layout(root).feed_file))
    document = feed.dumps(feed.record_images(feed.build_feed(matrix, previous), str(target), found))
    mine = feed.published_path(root, str(target))
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text(document)
    written = [mine]
    if write_committed:
        written.append(feed.write(root, matrix, {str(target): found}))
    written += _published_notes(root, json.loads(document), sorted({row[0] for row in found}))
    try:
        digest = feed_registry.put_artifact(feed.ARTIFACT_TAG, document.encode(), artifact_type=feed.ARTIFACT_TYPE,
                                            media_type="application/json", title=feed.FEED_FILE)
    except RegistryError as error:
        raise RegistryError(f"the images and tags are published, but the feed is not: {error}; "
                            "run publish again to retry") from error
    return Recorded(tuple(written), f"{feed_registry.target.ref(feed.ARTIFACT_TAG)}@{digest}")


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
