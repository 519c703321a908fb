"""The feed's read-modify-write with checks (runtime_builder/publish/record.py `_settle`), on an
in-memory registry whose tag other publishes move at chosen moments: before our check, right
after our write, always. tests/publish/test_feed_record.py runs two writers against a real one."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from runtime_builder.generate import feed
from runtime_builder.publish import record
from runtime_builder.publish.registry import OCI_MANIFEST, Manifest, RegistryError, Target


class FeedMemory:
    """The feed repository: one tag; an artifact's manifest is its document here (enough to digest it)."""

    target = Target("quay.io", "org/runtime-feed")

    def __init__(self) -> None:
        self.by_digest: dict[str, bytes] = {}
        self.tag: str | None = None
        self.puts = 0
        self.after_prepare: Callable[[], None] = lambda: None
        self.after_put: Callable[[], None] = lambda: None

    def digest(self, reference: str) -> str | None:
        assert reference == feed.ARTIFACT_TAG
        return self.tag

    def artifact(self, reference: str) -> bytes | None:
        return self.by_digest[reference]

    def prepare_artifact(self, data: bytes, **_: str) -> Manifest:
        self.after_prepare()
        return Manifest(OCI_MANIFEST, data)

    def put_manifest(self, reference: str, manifest: Manifest) -> str:
        self.puts += 1
        self.write(manifest.body.decode())
        self.after_put()
        return manifest.digest

    def write(self, document: str) -> None:
        """Any publish's write (ours, or another's when a test calls it)."""
        manifest = Manifest(OCI_MANIFEST, document.encode())
        self.by_digest[manifest.digest] = manifest.body
        self.tag = manifest.digest

    def rows(self) -> list[str]:
        return json.loads(self.by_digest[self.tag]) if self.tag else []


def adding(row: str) -> Callable[[list | None], str]:
    """A merge like the feed's: this run's row added to whatever the feed held."""
    return lambda previous: json.dumps(sorted({*(previous or []), row}))


def test_a_new_feed_is_written_once() -> None:
    registry = FeedMemory()
    document, digest = record._settle(registry, adding("mine"))
    assert registry.rows() == ["mine"] and registry.puts == 1 and digest == registry.tag
    assert json.loads(document) == ["mine"]


def test_a_feed_that_holds_this_runs_rows_already_is_not_written() -> None:
    registry = FeedMemory()
    registry.write(json.dumps(["mine", "theirs"]))
    record._settle(registry, adding("mine"))
    assert registry.puts == 0


def test_a_write_between_our_read_and_our_write_is_merged_into_not_overwritten() -> None:
    registry = FeedMemory()
    registry.write(json.dumps(["earlier"]))
    moves = iter([lambda: registry.write(json.dumps(["earlier", "theirs"]))])
    registry.after_prepare = lambda: next(moves, lambda: None)()
    record._settle(registry, adding("mine"))
    assert registry.rows() == ["earlier", "mine", "theirs"]
    assert registry.puts == 1, "the check before the write saw the tag move: no stale write"


def test_a_write_landing_right_after_ours_is_seen_and_our_rows_merged_into_it() -> None:
    registry = FeedMemory()
    registry.write(json.dumps(["earlier"]))
    moves = iter([lambda: registry.write(json.dumps(["earlier", "theirs"]))])  # made from the feed before ours
    registry.after_put = lambda: next(moves, lambda: None)()
    record._settle(registry, adding("mine"))
    assert registry.rows() == ["earlier", "mine", "theirs"]
    assert registry.puts == 2


def test_a_feed_that_keeps_changing_fails_naming_it_after_a_bounded_number_of_writes() -> None:
    registry = FeedMemory()
    others = iter(range(100))
    registry.after_put = lambda: registry.write(json.dumps([f"other {next(others)}"]))
    with pytest.raises(RegistryError, match=r"the feed quay\.io/org/runtime-feed:latest changed under this publish "
                                            rf"{record.WRITE_ATTEMPTS} times"):
        record._settle(registry, adding("mine"))
    assert registry.puts == record.WRITE_ATTEMPTS
