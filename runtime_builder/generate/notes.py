"""Release notes: what changed in a Runtime version since an earlier one. Pure.

`build.py render` writes them for every version into `distributions/<version>/` from
`templates/notes/*.j2`, comparing each version with `default_since` (so they are generated
and drift-checked like every other file there); `build.py notes` prints one.

Sources: versions.yaml for Airflow, the Pythons, the Debian suite, the pinned packages,
the backports, the in-house packages, the channel, yanked and known issues; the committed
lock file of each version's default Python on linux/amd64 (under locks/) for every other
package in the image. Nothing a publication wrote: the digests of published images and of
the bases they were built FROM are in the feed and in the notes `publish` writes beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from .. import layout
from ..lock.resolver import pins
from ..matrix.model import Channel, Matrix, Platform, Release, Variant

NOTES_PLATFORM = Platform.AMD64  # the lock files the notes compare: default Python, this platform

# Lock texts by their repository-relative path, as `lock.locks.read_locks` returns them.
Locks = Mapping[PurePosixPath, str]


@dataclass(frozen=True)
class Change:
    """One package whose version differs between two releases; `old`/`new` is None when absent."""

    name: str
    old: str | None
    new: str | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        try:
            return "upgraded" if Pep440(self.new) > Pep440(self.old) else "downgraded"
        except InvalidVersion:
            return "changed"


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> list[Change]:
    """Every name whose version differs (added, removed or moved), sorted by name."""
    return [Change(name, old.get(name), new.get(name))
            for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]


def by_kind(changes: list[Change], kinds: tuple[str, ...]) -> dict[str, list[Change]]:
    return {kind: [c for c in changes if c.kind == kind] for kind in kinds}


def default_since(matrix: Matrix, release: Release) -> Release | None:
    """The release the notes compare with: the newest earlier one, by version, that users run.

    That is the previous release of the same line or, for a line's first release, the newest
    of the line before. Yanked releases and nightly builds are skipped: nobody should stay on
    the former, and the latter are not released yet. So are releases made after this one (a
    later patch of an older line), so that adding a release never rewrites published notes.
    """
    earlier = [r for r in matrix.releases
               if r.version < release.version and r.released <= release.released
               and not r.is_yanked and r.channel is not Channel.NIGHTLY]
    return max(earlier, key=lambda r: r.version, default=None)


def lock_file(release: Release) -> PurePosixPath:
    return layout.lock_file(str(release.version), release.python, NOTES_PLATFORM.arch)


def _locked(release: Release, locks: Locks) -> dict[str, str] | None:
    text = locks.get(lock_file(release))
    return None if text is None else pins(text)


def context(release: Release, since: Release | None, locks: Locks) -> dict:
    """Everything `templates/notes/*.j2` shows about `release` compared with `since` (None: nothing)."""
    pinned_before = dict(since.packages) if since else {}
    pinned_now = dict(release.packages)
    pin_changes = diff(pinned_before, pinned_now)
    locked_now = _locked(release, locks)
    locked_before = _locked(since, locks) if since else None
    lock_changes = None
    if locked_now is not None and locked_before is not None:
        # Airflow and the pins have their own sections; this one is everything else.
        own = {"apache-airflow", *pinned_before, *pinned_now}
        others = [c for c in diff(locked_before, locked_now) if c.name not in own]
        lock_changes = {"added": [c for c in others if c.old is None], "removed": [c for c in others if c.new is None],
                        "changed": [c for c in others if c.old is not None and c.new is not None]}
    return {
        "release": release,
        "since": since,
        "airflow": (str(since.airflow) if since else None, str(release.airflow)),
        "python": (since.python if since else None, release.python),
        "pythons_added": [p for p in release.pythons if not since or p not in since.pythons],
        "pythons_removed": [p for p in since.pythons if p not in release.pythons] if since else [],
        "suite": (_suite(since) if since else None, _suite(release)),
        "pins": by_kind(pin_changes, ("upgraded", "downgraded", "added", "removed", "changed")),
        "pins_unchanged": len([name for name in pinned_now if pinned_before.get(name) == pinned_now[name]]),
        "lock": {"path": str(lock_file(release)), "since_path": str(lock_file(since)) if since else None,
                 "python": release.python, "platform": NOTES_PLATFORM.value,
                 "available": locked_now is not None, "since_available": locked_before is not None,
                 "count": len(locked_now or {}), "changes": lock_changes},
        "known_issues": list(release.known_issues),
        "patches": list(release.patches),
        "patches_dropped": [b for b in (since.patches if since else ()) if b.name not in
                            {now.name for now in release.patches}],
        "airflow_build": release.airflow_build_version,
        "in_house": diff({p.name: p.version for p in since.in_house} if since else {},
                         {p.name: p.version for p in release.in_house}),
        "in_house_now": list(release.in_house),
        # The image changes this release has and the one compared with had not (see ImageChange).
        "image_changes": [c for c in release.changes if since is None or c not in since.changes],
        "constraints": list(release.constraints),
        "slim": {"packages": list(release.slim_packages),
                 "left_out": [name for name, _ in sorted(set(release.environment)
                                                         - set(release.environment_of(Variant.SLIM)))],
                 "added": sorted(set(release.environment_of(Variant.SLIM)) - set(release.environment)),
                 "bytecode": release.ships_bytecode(Variant.SLIM)}
        if release.has_slim else None,
    }


def _suite(release: Release) -> str:
    return f"Debian {release.suite.debian} ({release.suite.name})"


def summary(release: Release, since: Release | None, locks: Locks) -> dict[str, Any]:
    """What `notes --json` prints: the facts the notes show, as plain data (one schema, in
    docs/commands.md). Package changes are `{"name", "old", "new"}` (null: absent)."""
    facts = context(release, since, locks)
    lock = facts["lock"]

    def changes(items: list[Change]) -> list[dict[str, str | None]]:
        return [{"name": c.name, "old": c.old, "new": c.new} for c in items]

    return {
        "version": str(release.version),
        "since": str(since.version) if since else None,
        "airflow": {"old": facts["airflow"][0], "new": facts["airflow"][1]},
        "default_python": {"old": facts["python"][0], "new": facts["python"][1]},
        "pythons_added": facts["pythons_added"],
        "pythons_removed": facts["pythons_removed"],
        "debian": {"old": facts["suite"][0], "new": facts["suite"][1]},
        "pins": {kind: changes(items) for kind, items in facts["pins"].items()},
        "lock": {"file": lock["path"], "since_file": lock["since_path"], "python": lock["python"],
                 "platform": lock["platform"], "packages": lock["count"],
                 "changes": {kind: changes(items) for kind, items in lock["changes"].items()}
                 if lock["changes"] is not None else None},
        "in_house": changes(facts["in_house"]),
        "patches": [{"file": p.name, "summary": p.summary} for p in facts["patches"]],
        "patches_dropped": [p.name for p in facts["patches_dropped"]],
        "image_changes": [{"name": c.name, "summary": c.summary} for c in facts["image_changes"]],
        "constraints": [{"requirement": c.requirement, "reason": c.reason} for c in facts["constraints"]],
        "known_issues": facts["known_issues"],
    }
