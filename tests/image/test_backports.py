"""Backports: a patched release's images carry its patches, and a patch that does not apply
stops the build with a message naming it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_builder.images.secrets import build_secrets, host_cacert, host_index_url
from runtime_builder.in_image import patching

from . import checks
from .support import REPO_ROOT, TEST_REPOSITORY, Docker, Target, assert_ok, require_base, require_native

pytestmark = pytest.mark.image


def test_backports_are_applied_and_recorded(target: Target, facts: dict) -> None:
    """Patched release: every hunk's result is installed, Airflow's distribution records the
    patches and carries the local version (test_pins). Any other: no distribution claims one."""
    assert_ok(checks.check_patches(target.expected, facts))


def _broken(text: str, name: str) -> str:
    """The patch with one context line of its first hunk changed, as if Airflow had moved on."""
    first = patching.parse(text, name)[0].hunks[0]
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip("\r\n") == first.header)
    for i in range(start + 1, len(lines)):
        if lines[i].startswith(" ") and lines[i].strip():
            lines[i] = lines[i].rstrip("\r\n") + "  # changed upstream\n"
            return "".join(lines)
    raise AssertionError(f"{name}: its first hunk has no context line to change")


@pytest.fixture
def broken_build(target: Target, docker: Docker, tmp_path: Path) -> Iterator[tuple[str, str]]:
    require_base(target)
    require_native(target, "building with a broken patch")
    expected = target.expected
    if not expected.patches:
        pytest.skip(f"Runtime {expected.runtime_version} carries no backport patches")
    name, text = expected.patches[0]
    source = REPO_ROOT / "distributions" / expected.runtime_version / f"python-{expected.python}" / "base"
    context = tmp_path / "context"
    shutil.copytree(source, context)
    (context / "patches" / name).write_text(_broken(text, name), encoding="utf-8")
    base = target.config.get("Labels", {}).get("org.opencontainers.image.base.name", "")
    assert base, f"{target.ref} has no org.opencontainers.image.base.name label to build FROM"
    tag = f"{TEST_REPOSITORY}/broken-patch:{uuid.uuid4().hex[:12]}"
    secrets = build_secrets(tmp_path / "secrets", host_cacert(), host_index_url())
    result = docker.build(context, tag, target.platform, {"PYTHON_BASE": base}, secrets)
    yield name, result.output if result.returncode else ""
    docker.remove_image(tag)


def test_patch_that_does_not_apply_fails_the_build_naming_it(broken_build: tuple[str, str]) -> None:
    name, output = broken_build
    assert output, f"the build succeeded although {name} no longer applies"
    assert f"error: backport patch failed: {name}: " in output, output[-3000:]
    assert "hunk #1" in output and "does not apply" in output, output[-3000:]
