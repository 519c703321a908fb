"""Publish the default release's slim images (default Python, amd64 and arm64) to a real registry:
the same manifest-list and tag rules as the full images (test_publish_e2e.py), under the
`-slim` and `-slim-base` tags of `build.py tags`, and the pulled image is the slim one.

The images come from the build the suite ran before (BuildKit's cache makes the build here a
matter of seconds) and were tested by the image tests; the test step of this publish checks
what each image's labels say it is (`image_check.py --labels-only`).
"""

from __future__ import annotations

import json
import sys

import pytest

from runtime_builder import contract
from runtime_builder.generate import feed
from runtime_builder.images.engine import Engine
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Variant
from runtime_builder.publish.registry import Registry, Target, referrers_tag

from .support import HOOK, REPOSITORY, ROOT, run, tags_of

pytestmark = [pytest.mark.image, pytest.mark.registry, pytest.mark.slow]

MATRIX = load_matrix(ROOT / "versions.yaml")
RELEASE = MATRIX.default_release()
VERSION = str(RELEASE.version)
SLIM = (Variant.SLIM_BASE, Variant.SLIM)


def test_slim_images_publish_under_their_own_tags_in_multi_arch_lists(registry: str) -> None:
    assert RELEASE.has_slim, f"the default release {VERSION} has no slim images"
    target = Target.parse(f"{registry}/{REPOSITORY}", REPOSITORY)
    remote = Registry(target)
    wanted = tags_of(VERSION, RELEASE.python, SLIM)
    assert {"latest-slim", "latest-slim-base", f"{VERSION}-slim", f"{VERSION}-python-{RELEASE.python}-slim-base"} \
        <= set(wanted)

    published = run("publish", VERSION, "--default-python", "--variant", "slim-base", "--variant", "slim",
                    "--registry", str(target), "--test-command",
                    f"{sys.executable} {HOOK} --labels-only --image {{image}}")
    try:
        assert published.returncode == 0, published.stderr
        assert "pushed 4" in published.stdout, "two slim images on two platforms"

        tags = remote.tags()
        lists: dict[Variant, str] = {}
        images: dict[Variant, set[str]] = {}
        for tag, variant in wanted.items():
            manifest = remote.manifest(tag)
            assert manifest is not None and manifest.is_list, tag
            entries = manifest.json()["manifests"]
            assert {(m["platform"]["os"], m["platform"]["architecture"]) for m in entries} == \
                {(p.value.split("/")[0], p.arch) for p in RELEASE.platforms}, tag
            assert lists.setdefault(variant, manifest.digest) == manifest.digest, f"{tag} names another list"
            images[variant] = {m["digest"] for m in entries}
        # Nothing but the slim tags, the staging tags of the platform images and, on a registry
        # without the referrers API, the fallback tags of their SBOMs and provenance.
        fallback = {referrers_tag(digest) for found in images.values() for digest in found}
        others = {t for t in tags if not t.startswith("staging-")} - set(wanted) - fallback
        assert others == set(), f"tags beyond the slim ones: {sorted(others)}"
        assert not any(t in tags for t in (VERSION, "latest", f"{VERSION}-base")), "no full image was published"

        # Each platform image is the slim kind its tag says, by its labels in the registry.
        for variant, digests in images.items():
            for digest in digests:
                config = json.loads(remote.blob(remote.manifest(digest).json()["config"]["digest"]))
                labels = config["config"]["Labels"]
                assert labels["org.opencontainers.image.title"] == contract.image_title(
                    onbuild=not variant.is_base, slim=True), (variant, digest)
                assert labels["io.airflow-runtime.version"] == VERSION

        # The pulled `latest-slim` runs Airflow without the providers slim images leave out.
        engine = Engine.detect()
        pulled = target.ref("latest-slim")
        try:
            assert engine.cli(["pull", "--platform", "linux/amd64", pulled]).returncode == 0
            version = engine.oneshot(pulled, ["airflow", "version"], platform="linux/amd64").stdout.strip()
            assert version == RELEASE.airflow_build_version
            script = ("import importlib.util as u; print(u.find_spec('airflow.providers.postgres') is not None, "
                      "u.find_spec('airflow.providers.celery') is not None)")
            out = engine.oneshot(pulled, ["-c", script], platform="linux/amd64", entrypoint="python")
            assert out.returncode == 0 and out.stdout.split() == ["True", "False"], out.stdout + out.stderr
        finally:
            engine.remove_image(pulled)
    finally:
        path = feed.published_path(ROOT, str(target))
        path.unlink(missing_ok=True)
