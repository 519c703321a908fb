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

from .model import Matrix, Release

SCHEMA = 1
FEED_FILE = "releases.json"
# In the registry, beside the images: an OCI artifact in `<repository>-feed`, tag `latest`
# (a sibling repository, so the image repository lists image tags only).
ARTIFACT_TYPE = "application/vnd.airflow-runtime.release-feed.v1+json"
ARTIFACT_TAG = "latest"
ARTIFACT_SUFFIX = "-feed"


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


def record_images(feed: dict, repository: str, published: Iterable[tuple[str, str, str, Mapping[str, str]]]) -> dict:
    """Add (version, tag, list digest, {platform: digest}) rows for `repository` to a copy of `feed`."""
    feed = json.loads(json.dumps(feed))
    by_version = {entry["version"]: entry for entry in feed["releases"]}
    for version, tag, digest, platforms in published:
        for entry in feed["releases"]:  # a tag names one version at a time
            entry["images"].get(repository, {}).pop(tag, None)
        repo = by_version[version]["images"].setdefault(repository, {})
        repo[tag] = {"digest": digest, "platforms": dict(sorted(platforms.items()))}
    for entry in feed["releases"]:
        entry["images"] = {repo: dict(sorted(tags.items())) for repo, tags in sorted(entry["images"].items()) if tags}
    return feed


def published_rows(feed: Mapping) -> dict[str, list[tuple[str, str, str, Mapping[str, str]]]]:
    """repository -> (version, tag, digest, platforms) rows of a feed, to record into another."""
    rows: dict[str, list[tuple[str, str, str, Mapping[str, str]]]] = {}
    for entry in feed.get("releases", []):
        for repository, tags in entry.get("images", {}).items():
            for tag, image in tags.items():
                rows.setdefault(repository, []).append((entry["version"], tag, image["digest"], image["platforms"]))
    return rows


def dumps(feed: Mapping) -> str:
    return json.dumps(feed, indent=2, sort_keys=False) + "\n"


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def published_path(root: Path, repository: str) -> Path:
    """`build/feed/quay.io_org_runtime.json`: one file per registry repository."""
    return root / "build" / "feed" / (re.sub(r"[^A-Za-z0-9.-]+", "_", repository) + ".json")
