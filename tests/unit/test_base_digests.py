"""A base given by tag is resolved to its digest before anything is built FROM it, on every path."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from runtime_builder.generate.specs import ImageSpec
from runtime_builder.images.builder import BuildOptions, python_bases
from runtime_builder.images.engine import Engine, EngineError
from runtime_builder.matrix.model import Platform, Variant

DIGEST = "sha256:" + "ab" * 32


def fake_docker(tmp_path: Path, pull_ok: bool = True) -> Engine:
    """A docker client that pulls (or fails to) and reports a RepoDigest, recording its calls."""
    script = tmp_path / "docker"
    log = tmp_path / "calls"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {log}
case "$1" in
  pull) {'exit 0' if pull_ok else 'echo "pull access denied" >&2; exit 1'} ;;
  image) echo "python@{DIGEST}" ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return Engine(str(script), "embedded")


def test_a_tag_is_resolved_to_the_digest_it_names(tmp_path):
    engine = fake_docker(tmp_path)
    assert engine.resolve("python:3.12-slim-bookworm") == f"python@{DIGEST}"
    assert (tmp_path / "calls").read_text().splitlines()[0] == "pull --quiet python:3.12-slim-bookworm"


def test_a_digest_is_used_as_it_is(tmp_path):
    engine = fake_docker(tmp_path)
    assert engine.resolve(f"quay.io/x/python@{DIGEST}") == f"quay.io/x/python@{DIGEST}"
    assert not (tmp_path / "calls").exists()


def test_a_base_that_cannot_be_resolved_stops_the_build(tmp_path):
    with pytest.raises(EngineError, match=r"cannot resolve python:3\.12-slim-bookworm to a digest"):
        fake_docker(tmp_path, pull_ok=False).resolve("python:3.12-slim-bookworm")


def test_the_build_uses_and_records_the_digest_never_the_tag(tmp_path, matrix):
    release = matrix.release("14.0.1")
    specs = [ImageSpec(release, "3.12", Variant.BASE, Platform.AMD64)]
    bases = python_bases(matrix, specs, fake_docker(tmp_path), BuildOptions(python_base="python:3.12-slim-trixie"),
                         tmp_path)
    assert bases == {(release.suite.name, "3.12"): f"python@{DIGEST}"}
