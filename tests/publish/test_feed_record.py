"""The feed beside the images (`<repository>-feed:latest`) written by publishes that run at once,
against a real registry (`docker-registry` on loopback): neither loses the other's rows.

A registry has no conditional write, so `record` checks the tag right before writing it and reads
it back after (runtime_builder/publish/record.py). The interleavings are made deterministic by
wrapping the registry client's reads and writes here; the product waits for nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime_builder.generate import feed
from runtime_builder.generate.tags import TagKind
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Matrix, Variant
from runtime_builder.publish import record as record_module
from runtime_builder.publish.plan import select_images
from runtime_builder.publish.publish import PublishedImage, PublishReport
from runtime_builder.publish.record import record, rows
from runtime_builder.publish.registry import Registry, RegistryError, Target

from .conftest import RegistryProcess
from .support import ROOT

pytestmark = pytest.mark.registry

WAIT = 30  # seconds: a bound on each hand-over between the threads, never reached when it works


@pytest.fixture(scope="module")
def registry_addr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = RegistryProcess(tmp_path_factory.mktemp("feed-registry"))
    process.start()
    try:
        yield process.addr
    finally:
        process.stop()


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return load_matrix(ROOT / "versions.yaml")


def report_of(matrix: Matrix, version: str) -> PublishReport:
    """What a publish of `version`'s default-Python base image reports (made-up digests)."""
    [image] = select_images(matrix, [matrix.release(version)], default_python=True, variants=(Variant.BASE,))
    fake = "sha256:" + version.replace(".", "").ljust(64, "0")
    return PublishReport(images=[PublishedImage(image, fake, {p.value: fake for p in image.platforms})])


def immutable_tags(report: PublishReport) -> set[tuple[str, str]]:
    return {(str(p.image.release.version), tag.name) for p in report.images for tag in p.image.tags
            if tag.kind is TagKind.IMMUTABLE}


def published(target: Target) -> set[tuple[str, str]]:
    """(version, tag) of every row the feed in the registry holds for `target`."""
    document = Registry(Target(target.host, feed.repository(target.repository))).artifact(feed.ARTIFACT_TAG)
    return {(version, tag) for version, tag, *_ in feed.published_rows(json.loads(document)).get(str(target), [])}


def seeded(registry_addr: str, matrix: Matrix, tmp_path: Path, name: str) -> Target:
    """A repository whose feed an earlier publish (14.0.4) wrote."""
    target = Target(registry_addr, f"{name}/runtime")
    record(tmp_path / "seed", matrix, target, report_of(matrix, "14.0.4"), write_committed=False)
    return target


def in_threads(**runs: Callable[[], object]) -> dict[str, BaseException]:
    """Run each callable in a thread named by its keyword; the exceptions they raised, by name."""
    failures: dict[str, BaseException] = {}

    def guarded(name: str, run: Callable[[], object]) -> None:
        try:
            run()
        except BaseException as error:  # reported to the test, which fails on it
            failures[name] = error

    threads = [threading.Thread(target=guarded, args=(name, run), name=name) for name, run in runs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * WAIT)
    return failures


def test_two_publishes_that_read_the_same_feed_both_keep_their_rows(
        registry_addr: str, matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A and B both read the feed before either writes; A writes first, then B (two CI jobs, one
    registry). Today's lost update: B's write, made from what B read, drops A's rows."""
    target = seeded(registry_addr, matrix, tmp_path, "race")
    first, second = report_of(matrix, "14.1.1"), report_of(matrix, "14.2.0")
    b_read, a_done = threading.Event(), threading.Event()
    reads: dict[str, int] = {}
    read = Registry.artifact

    def artifact(self: Registry, reference: str) -> bytes | None:
        found = read(self, reference)
        me = threading.current_thread().name
        reads[me] = reads.get(me, 0) + 1
        if reads[me] == 1 and me == "A":
            assert b_read.wait(WAIT), "B never read the feed"
        elif reads[me] == 1 and me == "B":
            b_read.set()
            assert a_done.wait(WAIT), "A never finished"
        return found

    monkeypatch.setattr(Registry, "artifact", artifact)

    def publish_a() -> None:
        try:
            record(tmp_path / "a", matrix, target, first, write_committed=False)
        finally:
            a_done.set()

    failures = in_threads(A=publish_a, B=lambda: record(tmp_path / "b", matrix, target, second,
                                                          write_committed=False))
    assert not failures, failures
    monkeypatch.undo()
    held = published(target)
    assert immutable_tags(first) <= held, "A's rows were lost"
    assert immutable_tags(second) <= held, "B's rows were lost"
    assert immutable_tags(report_of(matrix, "14.0.4")) <= held, "the earlier publish's rows were lost"


def stale_writer(matrix: Matrix, target: Target, seed: dict, versions: list[str]) -> Callable[[Registry], None]:
    """Right after a feed write of the run under test, another publish's write lands: made from the
    feed as it was before (its check passed before our write), so without our rows."""
    writes = iter(versions)
    put = Registry.put_manifest

    def land(registry: Registry) -> None:
        version = next(writes)
        document = feed.dumps(feed.record_images(feed.build_feed(matrix, seed), str(target),
                                                 rows(report_of(matrix, version))))
        put(registry, feed.ARTIFACT_TAG, registry.prepare_artifact(
            document.encode(), artifact_type=feed.ARTIFACT_TYPE, media_type="application/json", title=feed.FEED_FILE))

    return land


def after_each_feed_write(monkeypatch: pytest.MonkeyPatch, land: Callable[[Registry], None], times: int) -> None:
    put = Registry.put_manifest
    landed = []

    def put_manifest(self: Registry, reference: str, manifest: object) -> str:
        digest = put(self, reference, manifest)
        if self.target.repository.endswith(feed.ARTIFACT_SUFFIX) and reference == feed.ARTIFACT_TAG \
                and len(landed) < times:
            landed.append(reference)
            land(self)
        return digest

    monkeypatch.setattr(Registry, "put_manifest", put_manifest)


def test_a_write_that_lands_right_after_ours_is_seen_and_our_rows_merged_into_it(
        registry_addr: str, matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = seeded(registry_addr, matrix, tmp_path, "after")
    seed = json.loads(Registry(Target(target.host, target.repository + "-feed")).artifact(feed.ARTIFACT_TAG))
    after_each_feed_write(monkeypatch, stale_writer(matrix, target, seed, ["14.2.0"]), times=1)
    mine = report_of(matrix, "14.1.1")
    record(tmp_path / "mine", matrix, target, mine, write_committed=False)
    monkeypatch.undo()
    held = published(target)
    assert immutable_tags(mine) <= held, "our rows were lost to the write that landed after ours"
    assert immutable_tags(report_of(matrix, "14.2.0")) <= held, "the other publish's rows were lost"


def test_a_feed_that_never_settles_fails_naming_it(
        registry_addr: str, matrix: Matrix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = seeded(registry_addr, matrix, tmp_path, "busy")
    seed = json.loads(Registry(Target(target.host, target.repository + "-feed")).artifact(feed.ARTIFACT_TAG))
    others = ["14.2.0", "14.2.1", "14.1.0", "14.0.3", "14.0.2", "13.1.0"]
    after_each_feed_write(monkeypatch, stale_writer(matrix, target, seed, others), times=len(others))
    reference = f"{registry_addr}/busy/runtime-feed:latest"
    with pytest.raises(RegistryError, match=rf"the feed {reference} changed under this publish \d+ times") as error:
        record(tmp_path / "mine", matrix, target, report_of(matrix, "14.1.1"), write_committed=False)
    assert f" {record_module.WRITE_ATTEMPTS} times" in str(error.value)
