"""Publish Runtime versions: build or reuse, test, push per platform, then list and tag.

The order is what makes a failure harmless and a re-run cheap:

1. every (image, platform) is built, or reused when its build record proves the local image
   was built from the same inputs;
2. every one is tested (`build.py test`); a pass is recorded per image id, so a re-run does
   not test the same image twice; any failure stops here, before the registry is touched;
3. every platform image is pushed under an internal *staging tag* (see `staging_tag`), or
   skipped when the registry already has it;
4. one manifest list per image is made here from the registry's per-platform manifests: it
   names exactly the platforms of the matrix, never the `unknown/unknown` attestation
   entries a buildx push may add;
5. the tag plan (`plan_tags`, pure) compares wanted and current digests and refuses to
   overwrite an immutable tag before anything is written; then immutable and nightly tags
   are written, and floating tags last, so they move only once everything else is done.

Tags come from `tags.image_tags` only. Floating tags are moved by copying the manifest list
the registry already holds, so nothing is pulled.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import layout, log
from ..errors import PublishError
from ..generate.specs import ImageSpec
from ..generate.tags import TagKind
from ..images.builder import BuildOptions, build, build_args, git_metadata, python_bases, record_path
from ..images.engine import Engine
from ..matrix.model import Matrix, Platform
from . import evidence, signing, staging
from .plan import (
    Image,
    PlatformManifest,
    TagPlan,
    manifest_list,
    plan_tags,
    staging_tag,
)
from .registry import Manifest, Registry, Target
from .signing import Signer

# The gate every image passes before a tag moves: the repository's image test suite (tests/image,
# through `build.py test`), run as a separate process on the built image. Publishing depends on the
# test tree only through this command line (the import graph has no edge from here to tests/);
# `--test-command` replaces it, e.g. with a quicker selection or another suite.
DEFAULT_TEST_COMMAND = f"{shlex.quote(sys.executable)} build.py test --image {{image}}"


# -- build reuse and test records (pure parts) -------------------------------------------------


def record_proves_reuse(record: Mapping | None, local_id: str | None, args_now: Mapping[str, str]) -> bool:
    """A build record proves a local image current when it names that image and today's inputs.

    A `-dirty` revision proves nothing (the context may have changed since), so such images
    go through the builder again; BuildKit's cache makes an unchanged image a cache hit with
    the same id, and its recorded test pass still counts.
    """
    return (
        record is not None
        and local_id is not None
        and record.get("image_id") == local_id
        and record.get("build_args") == dict(args_now)
        and not args_now["REVISION"].endswith("-dirty")
        and not args_now["REVISION"].startswith("unknown")
    )


def image_test_argv(command: str, ref: str) -> list[str]:
    """The test command for one image: `{image}` is replaced, else `--image REF` is appended."""
    argv = shlex.split(command)
    if any("{image}" in part for part in argv):
        return [part.replace("{image}", ref) for part in argv]
    return [*argv, "--image", ref]


# -- the run (thin: engine, registry, subprocess) ------------------------------------------------


@dataclass(frozen=True)
class PublishOptions:
    target: Target
    build: BuildOptions
    force: bool = False
    test_command: str = DEFAULT_TEST_COMMAND
    retest: bool = False
    signer: Signer | None = None  # signs every platform image and list before a tag names it (signing.py)


@dataclass(frozen=True)
class PublishedImage:
    image: Image
    list_digest: str
    platforms: dict[str, str]  # platform -> per-platform manifest digest
    bases: dict[str, str] = field(default_factory=dict)  # platform -> the base it was built FROM


@dataclass
class PublishReport:
    images: list[PublishedImage] = field(default_factory=list)
    plan: TagPlan | None = None
    built: int = 0
    reused: int = 0
    tested: int = 0
    tests_skipped: int = 0
    pushed: int = 0
    push_skipped: int = 0


def publish(matrix: Matrix, root: Path, images: Sequence[Image], engine: Engine, registry: Registry,
            options: PublishOptions) -> PublishReport:
    report = PublishReport()
    specs = [spec for image in images for spec in image.specs()]
    ids = _ensure_built(matrix, root, specs, engine, options, report)
    _ensure_tested(root, specs, ids, options, report)
    entries = {spec: _ensure_pushed(spec, ids[spec], engine, registry, options, report) for spec in specs}
    with log.step(f"attach the SBOM and provenance of {len(entries)} platform images"):
        for spec, entry in entries.items():
            evidence.attach(root, spec, entry.descriptor, registry, options.build.repository)
    return _list_and_tag(images, entries, registry, options, report)


# -- the CI split: cell jobs push, one job lists and tags ------------------------------------


def push_cell(root: Path, spec: ImageSpec, engine: Engine, registry: Registry, options: PublishOptions) -> dict:
    """Push one built and tested cell under its staging tag, with its SBOM and provenance; its result record.

    A CI cell job calls this after its tests passed; `publish --from-results` reads the
    records of every cell and makes the lists and tags without pulling or building.
    """
    reference = spec.reference(options.build.repository)
    image_id = engine.image_id(reference)
    if image_id is None:
        raise PublishError(f"no local image {reference}: build and test it first")
    entry = _ensure_pushed(spec, image_id, engine, registry, options, PublishReport())
    evidence.attach(root, spec, entry.descriptor, registry, options.build.repository)
    return {"version": str(spec.release.version), "python": spec.python, "variant": spec.variant.value,
            "platform": spec.platform.value, "image": reference, "image_id": image_id,
            "pushed": options.target.ref(staging_tag(spec, image_id)), "digest": entry.digest}


def entries_from_results(images: Sequence[Image], results: Sequence[Mapping], registry: Registry) -> dict[
        ImageSpec, PlatformManifest]:
    """Every platform image of `images` from the cell jobs' records, each checked in the registry.

    A cell without a record, whose tests did not pass, or that pushed nothing stops the
    publish here, before any tag is written, naming every such cell. A cell pushed to another
    repository (CI's build jobs push to a staging one) is promoted into the target first.
    """
    by_cell: dict[tuple, Mapping] = {}
    problems = []
    for record in results:
        key = (record.get("version"), record.get("python"), record.get("variant"), record.get("platform"))
        if key in by_cell and by_cell[key].get("digest") != record.get("digest"):
            # Two jobs (or two runs' files) pushed one cell: which image would be published is not for a dict to say.
            problems.append(f"{' '.join(map(str, key))}: two results, {by_cell[key].get('digest')} and "
                            f"{record.get('digest')}")
        by_cell[key] = record
    ready: dict[ImageSpec, Mapping] = {}
    for image in images:
        for spec in image.specs():
            key = (str(spec.release.version), spec.python, spec.variant.value, spec.platform.value)
            record = by_cell.get(key)
            if record is None:
                problems.append(f"{spec.name} {spec.platform.value}: no result from a cell job")
            elif record.get("test") != "success":
                problems.append(f"{spec.name} {spec.platform.value}: tests {record.get('test') or 'not run'}")
            elif not record.get("digest"):
                problems.append(f"{spec.name} {spec.platform.value}: tested but not pushed")
            else:
                ready[spec] = record
    if problems:
        raise PublishError("cannot publish, some cells are not ready:\n  " + "\n  ".join(problems)
                           + "\nno tag was changed")
    staging.promote_pushed(ready.values(), registry)
    return {spec: platform_manifest(registry, record["digest"], spec.platform) for spec, record in ready.items()}


def publish_results(images: Sequence[Image], results: Sequence[Mapping], registry: Registry,
                    options: PublishOptions) -> PublishReport:
    report = PublishReport()
    entries = entries_from_results(images, results, registry)
    report.push_skipped = len(entries)
    return _list_and_tag(images, entries, registry, options, report)


def _list_and_tag(images: Sequence[Image], entries: Mapping[ImageSpec, PlatformManifest], registry: Registry,
                  options: PublishOptions, report: PublishReport) -> PublishReport:
    lists = {image.label: manifest_list([entries[s] for s in image.specs()]) for image in images}
    wanted = [(image, tag, lists[image.label].digest) for image in images for tag in image.tags]
    with log.step(f"read {len(wanted)} tags from {options.target}"):
        current = {tag.name: registry.digest(tag.name) for _, tag, _ in wanted}
    plan = plan_tags(wanted, current, force=options.force)
    report.plan = plan
    if plan.refused:
        raise PublishError(plan.refusal(options.target) + "\nno tag was changed")
    if options.signer is not None:
        with log.step(f"sign {len(entries)} platform images and {len(lists)} manifest lists "
                      f"(key {options.signer.key_id[:16]})"):
            _sign(images, entries, lists, registry, options.signer)

    with log.step(f"write {len(plan.writes)} tags ({len(plan.changes) - len(plan.writes)} already right)"):
        for change in plan.writes:
            if change.tag.kind is TagKind.FLOATING:
                # The list is in the registry by now (an immutable tag of the image holds it).
                registry.copy(change.wanted, change.tag.name)
            else:
                registry.put_manifest(change.tag.name, lists[change.image])
            log.info(f"    {change.action.value:<6} {options.target.ref(change.tag.name)} -> {change.wanted}"
                     + (f" (was {change.current})" if change.current else ""))
    for image in images:
        report.images.append(PublishedImage(image, lists[image.label].digest,
                                            {s.platform.value: entries[s].digest for s in image.specs()},
                                            {s.platform.value: entries[s].base for s in image.specs()
                                             if entries[s].base}))
    return report


def _sign(images: Sequence[Image], entries: Mapping[ImageSpec, PlatformManifest], lists: Mapping[str, Manifest],
          registry: Registry, signer: Signer) -> None:
    """Attach a signature to every platform image (binding its SBOM and provenance) and to every
    manifest list (binding its version, tags and platform images), before any tag names them.
    Deterministic: a second publish attaches the same artifacts, so nothing new."""
    for spec, entry in entries.items():
        attached = {kind: registry.referrers(entry.digest, kind)
                    for kind in (evidence.SBOM_TYPE, evidence.PROVENANCE_TYPE)}
        if any(len(found) != 1 for found in attached.values()):
            counts = ", ".join(f"{len(found)} {kind}" for kind, found in attached.items())
            raise PublishError(f"{registry.target.ref(entry.digest)} ({spec.name} {spec.platform.value}) has {counts} "
                               "attached, not one of each: nothing to sign; no tag was changed")
        predicate = signing.image_predicate(spec.platform.value, attached[evidence.SBOM_TYPE][0]["digest"],
                                            attached[evidence.PROVENANCE_TYPE][0]["digest"])
        signing.attach_signature(registry, entry.descriptor, signer, predicate)
    for image in images:
        listed = lists[image.label]
        registry.put_manifest(listed.digest, listed)  # by digest: the signature's subject exists before any tag
        predicate = signing.list_predicate(str(image.release.version), [tag.name for tag in image.tags],
                                           {s.platform.value: entries[s].digest for s in image.specs()})
        signing.attach_signature(registry, listed.descriptor, signer, predicate)


def _ensure_built(matrix: Matrix, root: Path, specs: list[ImageSpec], engine: Engine, options: PublishOptions,
                  report: PublishReport) -> dict[ImageSpec, str]:
    build_options = options.build
    bases = python_bases(matrix, specs, engine, build_options, layout.Layout(root).bases)
    revision, created = git_metadata(root)
    ids: dict[ImageSpec, str] = {}
    stale = []
    # Bases first: an ONBUILD image is only as current as the base it was built on.
    for spec in sorted(specs, key=lambda s: not s.variant.is_base):
        reference = spec.reference(build_options.repository)
        path = record_path(root, reference)
        record = json.loads(path.read_text()) if path.exists() else None
        args = build_args(spec, bases[(spec.release.suite.name, spec.python)], revision, created,
                          build_options.repository, ids.get(spec.base_spec()))
        local_id = engine.image_id(reference)
        base_fresh = spec.variant.is_base or spec.base_spec() in ids or spec.base_spec() not in specs
        if base_fresh and record_proves_reuse(record, local_id, args):
            assert local_id is not None
            ids[spec] = local_id
        else:
            stale.append(spec)
    report.reused = len(ids)
    if stale:
        names = ", ".join(s.name for s in stale)
        with log.step(f"build {len(stale)} images not proven current by build/records: {names}"):
            for built in build(matrix, root, stale, engine, build_options):
                if built.spec in set(specs):
                    ids[built.spec] = built.image_id
        report.built = len(stale)
    else:
        log.info(f"reusing {len(ids)} local images: their build records match today's inputs")
    return ids


def _ensure_tested(root: Path, specs: list[ImageSpec], ids: Mapping[ImageSpec, str], options: PublishOptions,
                   report: PublishReport) -> None:
    """Test every image without a recorded pass of the same test command. Native images first,
    one by one, their output as it comes: they fail fast. Then the emulated ones side by side,
    one per core (an image's tests under QEMU are minutes of mostly one busy core), each one's
    output printed when it ends; each pass is recorded even when another image fails, so the
    re-run tests only what failed."""
    directory = layout.Layout(root).test_passes
    directory.mkdir(parents=True, exist_ok=True)
    native = Platform.native()

    def pass_path(spec: ImageSpec) -> Path:
        return directory / f"{ids[spec].removeprefix('sha256:')}.json"

    untested = []
    for spec in specs:
        path = pass_path(spec)
        if not options.retest and path.exists() and json.loads(path.read_text()).get("command") == options.test_command:
            log.info(f"tests passed before for {spec.reference(options.build.repository)} ({ids[spec][:19]}): skipped")
            report.tests_skipped += 1
        else:
            untested.append(spec)

    def test(spec: ImageSpec, capture: bool) -> str | None:
        """None when the image's tests pass (recorded); else the failure, naming the image."""
        ref, image_id, path = spec.reference(options.build.repository), ids[spec], pass_path(spec)
        with log.step(f"test {ref}"):
            result = subprocess.run(image_test_argv(options.test_command, ref), cwd=root, check=False,
                                    capture_output=capture, text=True)
            if capture:
                sys.stdout.write(result.stdout)
                sys.stderr.write(result.stderr)
        if result.returncode != 0:
            path.unlink(missing_ok=True)  # an earlier pass no longer vouches for this image
            return f"{ref} ({spec.platform.value}, {image_id[:19]})"
        path.write_text(json.dumps({"image_id": image_id, "reference": ref, "platform": spec.platform.value,
                                    "command": options.test_command,
                                    "passed_at": datetime.now(UTC).replace(microsecond=0).isoformat()},
                                   indent=2) + "\n")
        return None

    failed: list[str] = []
    for spec in (spec for spec in untested if spec.platform is native):
        if failure := test(spec, False):
            failed.append(failure)
            break
        report.tested += 1
    emulated = [spec for spec in untested if spec.platform is not native]
    if emulated and not failed:
        with ThreadPoolExecutor(max_workers=max(1, min(len(emulated), os.cpu_count() or 1))) as pool:
            outcomes = list(pool.map(lambda spec: test(spec, True), emulated))
        failed = [failure for failure in outcomes if failure]
        report.tested += outcomes.count(None)
    if failed:
        raise PublishError(f"the image tests failed for {', '.join(failed)}; nothing was pushed and no tag was "
                           "changed. Fix it and run publish again: images and test passes already done are reused.")


def _ensure_pushed(spec: ImageSpec, image_id: str, engine: Engine, registry: Registry, options: PublishOptions,
                   report: PublishReport) -> PlatformManifest:
    tag = staging_tag(spec, image_id)
    remote = options.target.ref(tag)
    # The tag's name holds the image id, but anyone who can push can write any tag: what it names
    # counts as pushed only when its config is that image's.
    existing = platform_manifest(registry, tag, spec.platform) if registry.digest(tag) is not None else None
    if existing is not None and existing.config == image_id:
        report.push_skipped += 1
        return existing
    with log.step(f"push {spec.name} -> {remote}"):
        engine.tag(spec.reference(options.build.repository), remote)
        try:
            engine.push(remote)
        finally:
            engine.remove_image(remote)  # only the name; the image stays under its local name
    report.pushed += 1
    entry = platform_manifest(registry, tag, spec.platform)
    if entry.config != image_id:
        raise PublishError(f"{remote} names the image {entry.config} after pushing {image_id} to it: something else "
                           "writes to that repository; no tag was changed")
    return entry


def platform_manifest(registry: Registry, reference: str, platform: Platform) -> PlatformManifest:
    """The single-platform manifest behind `reference`, checked against its image config.

    A push from a containerd image store may produce an index (with attestation entries):
    then the entry for `platform` is taken from it.
    """
    manifest = registry.manifest(reference)
    if manifest is None:
        raise PublishError(f"{registry.target.ref(reference)} vanished after the push")
    if manifest.is_list:
        for entry in manifest.json()["manifests"]:
            found = entry.get("platform", {})
            if (found.get("os"), found.get("architecture")) == ("linux", platform.arch):
                return platform_manifest(registry, entry["digest"], platform)
        raise PublishError(f"{registry.target.ref(reference)} has no {platform.value} manifest")
    config = json.loads(registry.blob(manifest.json()["config"]["digest"]))
    if (config.get("os"), config.get("architecture")) != ("linux", platform.arch):
        raise PublishError(f"{registry.target.ref(reference)} is {config.get('os')}/{config.get('architecture')}, "
                           f"expected {platform.value}")
    labels = (config.get("config") or {}).get("Labels") or {}
    return PlatformManifest(platform, manifest.media_type, manifest.digest, len(manifest.body),
                            labels.get("org.opencontainers.image.base.name") or None,
                            manifest.json()["config"]["digest"])
