"""The release feed: one JSON document saying what each Runtime version is and where its images are.

Two parts with two sources:
- the *release facts* (Airflow version, Pythons, channel, dates, yanked) are a pure function
  of the matrix; `build.py feed` writes them into `releases.json` at the repository root,
  and `build.py feed --check` fails when the file drifts from versions.yaml;
- the *images* (digest per tag and platform, per registry repository) are facts about
  publishing: the matrix cannot produce them, so `feed` keeps whatever the file holds and
  `publish` adds what it pushed (into `build/feed/<registry>.json`, and into
  `releases.json` with `--write-feed`).

A floating tag belongs to one version at a time: recording it for one version removes it
from the others of the same repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import UsageError
from ..layout import FEED_FILE as FEED
from ..layout import Layout
from ..matrix.model import Matrix, Release

SCHEMA = 1
FEED_FILE = FEED
# In the registry, beside the images: an OCI artifact in `<repository>-feed`, tag `latest`
# (a sibling repository, so the image repository lists image tags only).
ARTIFACT_TYPE = "application/vnd.airflow-runtime.release-feed.v1+json"
ARTIFACT_TAG = "latest"
ARTIFACT_SUFFIX = "-feed"


def repository(images: str) -> str:
    """The repository of the feed artifact beside a registry's images (`<images>-feed`)."""
    return images + ARTIFACT_SUFFIX


def release_facts(release: Release) -> dict:
    return {
        "version": str(release.version),
        "airflow": str(release.airflow),
        "airflow_build": release.airflow_build_version,
        "patches": [{"name": backport.name, "summary": backport.summary} for backport in release.patches],
        "in_house": [{"name": package.name, "version": package.version} for package in release.in_house],
        "pythons": list(release.pythons),
        "default_python": release.python,
        "platforms": [p.value for p in release.platforms],
        "variants": [variant.value for variant in release.variants],
        "slim_packages": [{"name": name, "version": version} for name, version in release.slim_packages],
        "channel": release.channel.value,
        "released": release.released.isoformat(),
        "end_of_maintenance": release.end_of_maintenance.isoformat(),
        "end_of_basic_support": release.end_of_basic_support.isoformat(),
        "yanked": release.is_yanked,
        "yanked_reason": release.yanked,
    }


def build_feed(matrix: Matrix, previous: Mapping | None = None) -> dict:
    """The feed for `matrix`, keeping the published images `previous` recorded per version."""
    images = {entry["version"]: entry.get("images", {}) for entry in (previous or {}).get("releases", [])}
    return {
        "schema": SCHEMA,
        "releases": [
            {**release_facts(release), "images": images.get(str(release.version), {})}
            for release in matrix.releases
        ],
    }


# (version, tag, list digest, {platform: digest}[, {platform: base image it was built FROM}])
Row = tuple


def record_images(feed: dict, repository: str, published: Iterable[Row]) -> dict:
    """Add published-image rows for `repository` to a copy of `feed`."""
    feed = json.loads(json.dumps(feed))
    by_version = {entry["version"]: entry for entry in feed["releases"]}
    for version, tag, digest, platforms, *rest in published:
        for entry in feed["releases"]:  # a tag names one version at a time
            entry["images"].get(repository, {}).pop(tag, None)
        repo = by_version[version]["images"].setdefault(repository, {})
        repo[tag] = {"digest": digest, "platforms": dict(sorted(platforms.items()))}
        if rest and rest[0]:
            repo[tag]["bases"] = dict(sorted(rest[0].items()))
    for entry in feed["releases"]:
        entry["images"] = {repo: dict(sorted(tags.items())) for repo, tags in sorted(entry["images"].items()) if tags}
    return feed


def published_rows(feed: Mapping) -> dict[str, list[Row]]:
    """repository -> (version, tag, digest, platforms, bases) rows of a feed, to record into another."""
    rows: dict[str, list[Row]] = {}
    for entry in feed.get("releases", []):
        for repository, tags in entry.get("images", {}).items():
            for tag, image in tags.items():
                rows.setdefault(repository, []).append((entry["version"], tag, image["digest"], image["platforms"],
                                                        image.get("bases", {})))
    return rows


def base_images(feed: Mapping | None, version: str) -> list[tuple[str, str]]:
    """(platform, digest-pinned base reference) of every published image of `version`, once each,
    sorted: the images its release was built FROM (ONBUILD images, built FROM a -base, are left out)."""
    found = set()
    for entry in (feed or {}).get("releases", []):
        if entry.get("version") == version:
            for tags in entry.get("images", {}).values():
                for image in tags.values():
                    found |= {(platform, base) for platform, base in image.get("bases", {}).items()
                              if "@sha256:" in base}
    return sorted(found)


def dumps(feed: Mapping) -> str:
    return json.dumps(feed, indent=2, sort_keys=False) + "\n"


RESTORE = "build.py writes this file: restore it (releases.json: `git checkout releases.json`) rather than edit it"


def load(path: Path, fix: str = RESTORE) -> dict | None:
    """A feed file (none when there is no file), checked as a feed: UsageError naming the file, the
    field and what was expected, and `fix`, instead of a KeyError or TypeError from a use of it."""
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a release feed: not UTF-8 text; {fix}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not a release feed: not JSON (line {error.lineno}, column {error.colno}: "
                         f"{error.msg}); {fix}") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror or error})") from None
    problem = _shape_problem(document)
    if problem:
        raise UsageError(f"{path}: not a release feed: {problem}; {fix}")
    return document


def _shape_problem(document: object) -> str | None:
    """What is not as `build_feed` and `record_images` write it: {"releases": [{"version", "images":
    {repository: {tag: {"digest", "platforms": {platform: digest}, "bases"?}}}}]}. Pure."""

    def kind(value: object) -> str:
        return "null" if value is None else type(value).__name__ if not isinstance(value, (dict, list)) \
            else ("a mapping" if isinstance(value, dict) else "a list")

    if not isinstance(document, dict):
        return f"a JSON object with `releases` is expected, not {kind(document)}"
    releases = document.get("releases")
    if not isinstance(releases, list):
        return f"releases: a list is expected, not {kind(releases)}"
    for index, entry in enumerate(releases):
        where = f"releases[{index}]"
        if not isinstance(entry, dict):
            return f"{where}: a mapping is expected, not {kind(entry)}"
        if not isinstance(entry.get("version"), str):
            return f"{where} > version: a string is expected, not {kind(entry.get('version'))}"
        where = f"{where} ({entry['version']}) > images"
        images = entry.get("images", {})
        if not isinstance(images, dict):
            return f"{where}: a mapping of repository to tags is expected, not {kind(images)}"
        for repository, tags in images.items():
            if not isinstance(tags, dict):
                return f"{where} > {repository}: a mapping of tag to image is expected, not {kind(tags)}"
            for tag, image in tags.items():
                at = f"{where} > {repository} > {tag}"
                if not isinstance(image, dict):
                    return f"{at}: a mapping with digest and platforms is expected, not {kind(image)}"
                if not isinstance(image.get("digest"), str):
                    return f"{at} > digest: a string is expected, not {kind(image.get('digest'))}"
                for key, what in (("platforms", "digest"), ("bases", "base image")):
                    value = image.get(key, {})
                    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                        return f"{at} > {key}: a mapping of platform to {what} is expected, not {kind(value)}"
    return None


def published_path(root: Path, repository: str) -> Path:
    """`build/feed/quay.io_org_runtime.json`: what publish runs recorded, one file per registry repository."""
    return Layout(root).published / (re.sub(r"[^A-Za-z0-9.-]+", "_", repository) + ".json")


def committed(root: Path, matrix: Matrix, published: Mapping[str, Iterable[Row]] | None = None) -> str:
    """releases.json as it should be: the matrix's release facts, the images it already records,
    and `published` (repository -> rows) added."""
    document = build_feed(matrix, load(Layout(root).feed_file))
    versions = {entry["version"] for entry in document["releases"]}
    for repository, rows in (published or {}).items():
        document = record_images(document, repository, [row for row in rows if row[0] in versions])
    return dumps(document)


def write(root: Path, matrix: Matrix, published: Mapping[str, Iterable[Row]] | None = None) -> Path:
    """The one writer of releases.json (`feed`, `publish --write-feed`, `new-version` all call it)."""
    path = Layout(root).feed_file
    path.write_text(committed(root, matrix, published))
    return path


def merged(folder: Path) -> dict[str, list[Row]]:
    """repository -> rows of every feed under `folder` (what publish jobs recorded,
    build/feed/<repository>.json, e.g. CI artifacts); UsageError naming a file that is not a feed."""
    if not folder.is_dir():
        raise UsageError(f"--merge: {folder} is not a folder of release feeds; nothing was written")
    paths = sorted(folder.rglob("*.json"))
    if not paths:  # a download that found no artifact: merging nothing would drop this run's digests silently
        raise UsageError(f"--merge: {folder} holds no release feed (*.json, what publish writes into build/feed/); "
                         "nothing was written")
    published: dict[str, list[Row]] = {}
    for path in paths:
        document = load(path, fix="nothing was written")
        for repository, rows in published_rows(document or {}).items():
            published.setdefault(repository, []).extend(rows)
    return published


def is_current(root: Path, matrix: Matrix) -> bool:
    """Whether releases.json is what `write` would write (with no new publications)."""
    path = Layout(root).feed_file
    return path.exists() and path.read_text() == committed(root, matrix)
