"""A rendered distribution folder builds as it stands, with a plain `docker build` and only the
build arguments its header documents, as docker-library's folders do (no build.py around it)."""

from __future__ import annotations

import pytest

from runtime_builder.generate.specs import ImageSpec, image_name
from runtime_builder.images.secrets import build_secrets, host_cacert, host_index_url
from runtime_builder.layout import DEFAULT_REPOSITORY
from runtime_builder.matrix.load import load_matrix

from .support import REPO_ROOT, Docker, Target, require_base, require_native

pytestmark = pytest.mark.image


def test_base_and_onbuild_folders_build_with_plain_docker_build(target: Target, docker: Docker, tmp_path) -> None:
    require_base(target)
    require_native(target, "building the folders")
    expected = target.expected
    release = load_matrix(REPO_ROOT / "versions.yaml").release(expected.runtime_version)
    base_spec = ImageSpec(release, expected.python, target.variant, target.platform)  # base or slim-base
    onbuild_spec = ImageSpec(release, expected.python, target.variant.onbuild, target.platform)
    base_tag = f"{DEFAULT_REPOSITORY}:{image_name(release, expected.python, base_spec.variant)}"
    onbuild_tag = f"{DEFAULT_REPOSITORY}:{image_name(release, expected.python, onbuild_spec.variant)}"
    for header, tag in ((REPO_ROOT / base_spec.context / "Dockerfile", base_tag),
                        (REPO_ROOT / onbuild_spec.context / "Dockerfile", onbuild_tag)):
        assert f"docker build -t {tag} ." in header.read_text(), f"{header}: its header does not say how to build it"
    # The one argument given: the default base (the official python image) cannot be pulled here,
    # so the digest-pinned base this image was built FROM stands in for it.
    python_base = target.config["Labels"]["org.opencontainers.image.base.name"]
    secrets = build_secrets(tmp_path / "secrets", host_cacert(), host_index_url())
    try:
        built = docker.build(REPO_ROOT / base_spec.context, base_tag, target.platform, {"PYTHON_BASE": python_base},
                             secrets)
        assert built.returncode == 0, built.output[-3000:]
        built = docker.build(REPO_ROOT / onbuild_spec.context, onbuild_tag, target.platform)  # BASE_IMAGE: default
        assert built.returncode == 0, built.output[-3000:]
        version = docker.oneshot(onbuild_tag, target.platform, "airflow", "version")
        assert version.returncode == 0 and version.stdout.strip().splitlines()[-1] == expected.reported, \
            version.output[-2000:]
    finally:
        docker.remove_image(onbuild_tag)
        docker.remove_image(base_tag)
