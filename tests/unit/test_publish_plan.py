"""The pure parts of publishing: which tags move, which are refused, nightly, staging, the feed.

No engine, no registry: these run with the unit tests in a second.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

import pytest

from runtime_builder.generate import feed
from runtime_builder.generate.specs import ImageSpec, nightly_releases
from runtime_builder.generate.tags import TagKind, tag_table
from runtime_builder.images.builder import BuildOptions
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel, Matrix, Platform, Variant
from runtime_builder.publish.plan import (
    STAGING_PREFIX,
    Action,
    Image,
    PlatformManifest,
    manifest_list,
    plan_tags,
    select_images,
    staging_tag,
)
from runtime_builder.publish.publish import (
    PublishError,
    PublishOptions,
    image_test_argv,
    publish_results,
    record_proves_reuse,
)
from runtime_builder.publish.registry import MANIFEST_LIST, MANIFEST_V2, OCI_INDEX, OCI_MANIFEST, Manifest, Target

from .support import fixture_text, load_text

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW, OTHER = "sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64
DOCKER_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return load_matrix(ROOT / "versions.yaml")


@pytest.fixture(scope="module")
def with_nightly(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """The fixture matrix (tests/unit/data), which has a nightly build whatever the committed one has."""
    found = load_text(tmp_path_factory.mktemp("nightly"), fixture_text())
    assert any(r.channel is Channel.NIGHTLY for r in found.releases)
    return found


@pytest.fixture(scope="module")
def images(matrix: Matrix) -> list[Image]:
    return select_images(matrix, [matrix.default_release()], default_python=True)


def wanted(images: list[Image], digest: str = NEW) -> list:
    return [(image, tag, digest) for image in images for tag in image.tags]


def test_first_publish_creates_every_tag_immutable_first(images: list[Image]) -> None:
    plan = plan_tags(wanted(images), {})
    assert {c.action for c in plan.changes} == {Action.CREATE}
    kinds = [c.tag.kind for c in plan.writes]
    assert kinds == sorted(kinds, key=lambda k: k is TagKind.FLOATING), "floating tags must be written last"
    assert TagKind.FLOATING in kinds and TagKind.IMMUTABLE in kinds


def test_rerun_with_same_digests_writes_nothing(images: list[Image]) -> None:
    current = {tag.name: NEW for image in images for tag in image.tags}
    plan = plan_tags(wanted(images), current)
    assert plan.writes == () and plan.refused == ()
    assert {c.action for c in plan.changes} == {Action.KEEP}


def test_floating_tags_move_from_an_older_image(images: list[Image]) -> None:
    current = {tag.name: OLD for image in images for tag in image.tags if tag.kind is TagKind.FLOATING}
    plan = plan_tags(wanted(images), current)
    moved = {c.tag.name for c in plan.changes if c.action is Action.MOVE}
    assert moved == set(current)
    assert all(c.current == OLD and c.wanted == NEW for c in plan.changes if c.action is Action.MOVE)


def test_an_immutable_tag_naming_another_image_is_refused_with_both_digests(images: list[Image]) -> None:
    immutable = next(t for t in images[0].tags if t.kind is TagKind.IMMUTABLE)
    plan = plan_tags(wanted(images), {immutable.name: OLD})
    assert [c.tag for c in plan.refused] == [immutable]
    message = plan.refusal(Target("quay.io", "org/runtime"))
    assert f"quay.io/org/runtime:{immutable.name}" in message and OLD in message and NEW in message


def test_force_overwrites_an_immutable_tag(images: list[Image]) -> None:
    immutable = next(t for t in images[0].tags if t.kind is TagKind.IMMUTABLE)
    plan = plan_tags(wanted(images), {immutable.name: OLD}, force=True)
    assert plan.refused == ()
    assert next(c for c in plan.changes if c.tag == immutable).action is Action.MOVE


def test_a_tag_wanted_by_two_images_is_an_error(images: list[Image]) -> None:
    with pytest.raises(ValueError, match="wanted by both"):
        plan_tags([(images[0], images[0].tags[0], NEW), (images[1], images[0].tags[0], OTHER)], {})


def test_default_python_publish_is_every_variant_on_both_platforms(matrix: Matrix, images: list[Image]) -> None:
    release = matrix.default_release()
    assert [(i.variant, i.python) for i in images] == [(variant, release.python) for variant in release.variants]
    assert all(i.platforms == (Platform.AMD64, Platform.ARM64) for i in images)
    assert {t.name for t in images[1].tags} >= {str(release.version), "latest"}


def test_slim_images_are_published_under_the_same_tag_rules(committed_matrix: Matrix) -> None:
    """The default release has slim images: their tags are the full ones' with -slim after the
    Python part, the floating ones by the same rules, each in its own manifest list."""
    release = committed_matrix.default_release()
    assert release.has_slim
    images = {i.variant: i for i in select_images(committed_matrix, [release], default_python=True)}
    assert set(images) == set(Variant)
    for full, slim in ((Variant.BASE, Variant.SLIM_BASE), (Variant.ONBUILD, Variant.SLIM)):
        expected = [t.name.replace(full.suffix, "", 1) + slim.suffix if full.suffix else t.name + slim.suffix
                    for t in images[full].tags]
        assert [t.name for t in images[slim].tags] == expected
        assert [t.kind for t in images[slim].tags] == [t.kind for t in images[full].tags]
        assert images[slim].platforms == images[full].platforms
    only = select_images(committed_matrix, [release], default_python=True, variants=[Variant.SLIM])
    assert [i.variant for i in only] == [Variant.SLIM]
    assert "latest-slim" in {t.name for t in only[0].tags}


def test_a_release_without_slim_images_publishes_none(committed_matrix: Matrix) -> None:
    older = committed_matrix.release("14.0.4")
    assert not older.has_slim
    assert [i.variant for i in select_images(committed_matrix, [older], default_python=True)] == \
        [Variant.BASE, Variant.ONBUILD]
    with pytest.raises(ValueError, match=r"Runtime 14\.0\.4 has no slim images; it has: base, onbuild"):
        select_images(committed_matrix, [older], default_python=True, variants=[Variant.SLIM])


def test_nightly_publish_has_only_dated_nightly_tags(with_nightly: Matrix) -> None:
    releases = nightly_releases(with_nightly, newest_of_each_line=True)
    images = select_images(with_nightly, releases, default_python=True, nightly=date(2026, 11, 23))
    names = [t.name for i in images for t in i.tags]
    assert names and all("-nightly-20261123" in n for n in names)
    assert {t.kind for i in images for t in i.tags} == {TagKind.NIGHTLY}
    stable = {t.name for _, _, _, tags in tag_table(with_nightly) for t in tags if t.kind is not TagKind.NIGHTLY}
    assert not stable & set(names), "a nightly publish must not touch a stable tag"


def test_a_nightly_tag_of_the_same_day_may_be_replaced(with_nightly: Matrix) -> None:
    images = select_images(with_nightly, nightly_releases(with_nightly, newest_of_each_line=False), default_python=True,
                           nightly=date(2026, 11, 23))
    tag = images[0].tags[0]
    plan = plan_tags(wanted(images), {tag.name: OLD})
    assert plan.refused == () and next(c for c in plan.changes if c.tag == tag).action is Action.MOVE


def test_nightly_releases(with_nightly: Matrix) -> None:
    nightly = nightly_releases(with_nightly, newest_of_each_line=False)
    assert nightly and all(r.channel is Channel.NIGHTLY for r in nightly)
    with_lines = nightly_releases(with_nightly, newest_of_each_line=True)
    for line in with_nightly.lines:
        eligible = [r for r in with_nightly.line(line) if r.channel is not Channel.NIGHTLY and not r.is_yanked]
        if eligible:
            assert max(eligible, key=lambda r: r.version) in with_lines
    assert not any(r.is_yanked for r in with_lines)


def test_unsupported_python_or_platform_is_refused(matrix: Matrix) -> None:
    with pytest.raises(ValueError, match=r"does not support Python 2\.7"):
        select_images(matrix, [matrix.default_release()], pythons=["2.7"])


def test_staging_tags_are_valid_internal_and_never_public(matrix: Matrix) -> None:
    public = {t.name for _, _, _, tags in tag_table(matrix) for t in tags}
    release = matrix.default_release()
    for variant in release.variants:
        for platform in release.platforms:
            tag = staging_tag(ImageSpec(release, release.python, variant, platform), "sha256:" + "ab" * 32)
            assert tag.startswith(STAGING_PREFIX) and DOCKER_TAG.match(tag) and tag not in public
            assert tag.endswith(f"-{platform.arch}-" + "ab" * 6)


def test_manifest_list_names_exactly_the_platforms_deterministically() -> None:
    entries = [PlatformManifest(Platform.ARM64, MANIFEST_V2, OTHER, 20),
               PlatformManifest(Platform.AMD64, MANIFEST_V2, NEW, 10)]
    first, again = manifest_list(entries), manifest_list(list(reversed(entries)))
    assert first.body == again.body and first.digest == again.digest and first.media_type == MANIFEST_LIST
    document = json.loads(first.body)
    assert [(m["platform"]["os"], m["platform"]["architecture"], m["digest"]) for m in document["manifests"]] == [
        ("linux", "amd64", NEW), ("linux", "arm64", OTHER)]
    oci = manifest_list([PlatformManifest(Platform.AMD64, OCI_MANIFEST, NEW, 10)])
    assert oci.media_type == OCI_INDEX


def test_a_build_record_proves_reuse_only_for_a_clean_revision() -> None:
    args = {"REVISION": "abc123", "CREATED": "2026-01-01T00:00:00+00:00", "PYTHON_BASE": "r@" + NEW}
    record = {"image_id": NEW, "build_args": args}
    assert record_proves_reuse(record, NEW, args)
    assert not record_proves_reuse(record, OLD, args), "another local image under the same name"
    assert not record_proves_reuse(None, NEW, args)
    assert not record_proves_reuse(record, NEW, {**args, "PYTHON_BASE": "r@" + OLD}), "a new base"
    dirty = {**args, "REVISION": "abc123-dirty"}
    assert not record_proves_reuse({"image_id": NEW, "build_args": dirty}, NEW, dirty)


def test_test_argv() -> None:
    assert image_test_argv("python build.py test --image {image}", "a:b")[-2:] == ["--image", "a:b"]
    assert image_test_argv("check.sh", "a:b") == ["check.sh", "--image", "a:b"]


@pytest.mark.parametrize(("text", "host", "repository", "secure"), [
    ("127.0.0.1:5000/airflow-runtime", "127.0.0.1:5000", "airflow-runtime", False),
    ("localhost:5000", "localhost:5000", "airflow-runtime", False),
    ("[::1]:5000/a/b", "[::1]:5000", "a/b", False),
    ("quay.io/astronomer/runtime", "quay.io", "astronomer/runtime", True),
    ("registry.example.com:8443/runtime", "registry.example.com:8443", "runtime", True),
])
def test_registry_targets(text: str, host: str, repository: str, secure: bool) -> None:
    target = Target.parse(text, "airflow-runtime")
    assert (target.host, target.repository, target.secure) == (host, repository, secure)


def test_registry_target_needs_a_host() -> None:
    with pytest.raises(ValueError, match="registry host"):
        Target.parse("airflow-runtime", "airflow-runtime")


def test_committed_feed_matches_the_matrix(matrix: Matrix) -> None:
    path = ROOT / feed.FEED_FILE
    assert path.read_text() == feed.dumps(feed.build_feed(matrix, feed.load(path))), \
        "releases.json drifted from versions.yaml: run `python build.py feed`"


def test_feed_records_digests_and_moves_floating_tags(matrix: Matrix) -> None:
    base = feed.build_feed(matrix)
    older, newer = (str(r.version) for r in matrix.releases[-3:-1])
    repo = "quay.io/org/runtime"
    platforms = {"linux/arm64": OTHER, "linux/amd64": NEW}
    first = feed.record_images(base, repo, [(older, older, OLD, platforms), (older, "latest", OLD, platforms)])
    second = feed.record_images(first, repo, [(newer, "latest", NEW, platforms)])
    by_version = {e["version"]: e for e in second["releases"]}
    assert set(by_version[older]["images"][repo]) == {older}
    assert by_version[newer]["images"][repo]["latest"] == {
        "digest": NEW, "platforms": {"linux/amd64": NEW, "linux/arm64": OTHER}}
    assert feed.build_feed(matrix, second) == second, "regenerating from the matrix keeps published digests"
    assert base == feed.build_feed(matrix), "record_images must not change its input"


# -- publish --from-results: lists and tags from what CI cell jobs pushed ---------------------


class FakeRegistry:
    """An in-memory registry with the v2 semantics publish relies on: manifests by tag and digest."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.by_digest: dict[str, Manifest] = {}
        self.tagged: dict[str, str] = {}
        self.blobs: dict[str, bytes] = {}
        self.writes: list[str] = []

    def add_platform_image(self, platform: Platform) -> str:
        config = json.dumps({"os": "linux", "architecture": platform.arch}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[config_digest] = config
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                           "config": {"digest": config_digest}, "layers": []}).encode()
        manifest = Manifest(MANIFEST_V2, body)
        self.by_digest[manifest.digest] = manifest
        return manifest.digest

    def manifest(self, reference: str) -> Manifest | None:
        return self.by_digest.get(self.tagged.get(reference, reference))

    def digest(self, reference: str) -> str | None:
        found = self.manifest(reference)
        return found.digest if found else None

    def blob(self, digest: str) -> bytes:
        return self.blobs[digest]

    def put_manifest(self, reference: str, manifest: Manifest) -> str:
        self.by_digest[manifest.digest] = manifest
        self.tagged[reference] = manifest.digest
        self.writes.append(reference)
        return manifest.digest

    def copy(self, source: str, tag: str) -> str:
        found = self.manifest(source)
        assert found is not None, source
        return self.put_manifest(tag, found)


def cell_results(images: list[Image], registry: FakeRegistry) -> list[dict]:
    return [{"version": str(spec.release.version), "python": spec.python, "variant": spec.variant.value,
             "platform": spec.platform.value, "test": "success", "digest": registry.add_platform_image(spec.platform)}
            for image in images for spec in image.specs()]


def results_options(target: Target) -> PublishOptions:
    return PublishOptions(target, BuildOptions())


def test_publish_from_results_lists_both_platforms_and_writes_every_tag(images: list[Image]) -> None:
    target = Target.parse("127.0.0.1:5000/airflow-runtime", "airflow-runtime")
    registry = FakeRegistry(target)
    report = publish_results(images, cell_results(images, registry), registry, results_options(target))
    wanted_tags = {tag.name for image in images for tag in image.tags}
    assert set(registry.tagged) == wanted_tags
    for image in images:
        for tag in image.tags:
            listed = registry.manifest(tag.name)
            assert listed is not None and listed.is_list
            assert {m["platform"]["architecture"] for m in listed.json()["manifests"]} == {"amd64", "arm64"}
    floating = [name for name in registry.writes if name in {t.name for i in images for t in i.tags
                                                             if t.kind is TagKind.FLOATING}]
    assert registry.writes[-len(floating):] == floating, "floating tags are written last"
    assert len(report.images) == len(images)


@pytest.mark.parametrize("broken", ["missing", "failed", "not-pushed", "twice"])
def test_publish_from_results_refuses_unready_cells_and_writes_nothing(images: list[Image], broken: str) -> None:
    target = Target.parse("127.0.0.1:5000/airflow-runtime", "airflow-runtime")
    registry = FakeRegistry(target)
    results = cell_results(images, registry)
    arm64 = next(r for r in results if r["platform"] == "linux/arm64")
    if broken == "missing":
        results.remove(arm64)
    elif broken == "failed":
        arm64["test"] = "failure"
    elif broken == "twice":  # another job's result for the same cell, another image (issue 30)
        results.append({**arm64, "digest": "sha256:" + "f" * 64})
    else:
        del arm64["digest"]
    with pytest.raises(PublishError, match="no tag was changed") as error:
        publish_results(images, results, registry, results_options(target))
    assert "linux/arm64" in str(error.value)
    assert registry.writes == []


def test_publish_from_results_refuses_a_digest_of_the_wrong_platform(images: list[Image]) -> None:
    target = Target.parse("127.0.0.1:5000/airflow-runtime", "airflow-runtime")
    registry = FakeRegistry(target)
    results = cell_results(images, registry)
    amd64 = next(r["digest"] for r in results if r["platform"] == "linux/amd64")
    next(r for r in results if r["platform"] == "linux/arm64")["digest"] = amd64
    with pytest.raises(PublishError, match="expected linux/arm64"):
        publish_results(images, results, registry, results_options(target))
    assert registry.writes == []
