"""The layered venv (the `layered-venv` image change): each image layer that adds to the venv adds
exactly the distributions of its part of the lock, in the order the build context renders them,
and the venv's own files come once. Facts from `docker save` (the layers as the engine stores them)."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import PurePosixPath

import pytest
from packaging.utils import canonicalize_name

from runtime_builder import layout
from runtime_builder.contract import Change
from runtime_builder.generate.venv_layers import Layer
from runtime_builder.lock.resolver import pins

from . import checks
from .support import REPO_ROOT, Docker, Target, assert_ok

pytestmark = pytest.mark.image

VENV = checks.VENV.lstrip("/")
DIST_INFO = re.compile(rf"^{re.escape(VENV)}/lib/python[0-9.]+/site-packages/([^/]+?)-[^/-]+\.dist-info/METADATA$")


def venv_layers(docker: Docker, image: str) -> tuple[list[set[str]], list[int]]:
    """(canonical names of the distributions each image layer adds, for the layers that add any,
    bottom up; the indices among those of the layers holding pyvenv.cfg)."""
    by_path: dict[str, tuple[set[str], bool]] = {}
    order: list[str] = []
    with subprocess.Popen([docker.client, "save", image], stdout=subprocess.PIPE) as save, \
            tarfile.open(fileobj=save.stdout, mode="r|") as outer:
        for member in outer:
            if member.name.endswith("layer.tar") and member.isfile():
                names, skeleton = set(), False
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as layer:
                    for entry in layer:
                        if match := DIST_INFO.match(entry.name):
                            names.add(canonicalize_name(match[1]))
                        skeleton |= entry.name == f"{VENV}/pyvenv.cfg"
                by_path[member.name] = (names, skeleton)
            elif member.name == "manifest.json":
                order = json.load(outer.extractfile(member))[0]["Layers"]
    assert save.returncode == 0, f"docker save {image} failed"
    layers = [by_path[path] for path in order if by_path.get(path, (set(), False))[0]]
    return [names for names, _ in layers], [i for i, (_, skeleton) in enumerate(layers) if skeleton]


def test_each_venv_layer_adds_its_part_of_the_lock(docker: Docker, target: Target) -> None:
    expected = target.expected
    if Change.LAYERED_VENV.value not in expected.changes:
        pytest.skip(f"Runtime {expected.runtime_version} predates the layered-venv change: one venv layer")
    if not target.variant.is_base:
        pytest.skip("an ONBUILD image is its -base image's layers and its triggers: checked on the -base image")
    context = REPO_ROOT / layout.context_dir(expected.runtime_version, expected.python, target.variant.value)
    parts = []
    for layer in Layer:
        path = context / layout.CONTEXT_LOCKS / layer.value / f"{target.platform.arch}.txt"
        if path.exists():
            names = set(pins(path.read_text()))
            if layer is Layer.PROVIDERS:
                names |= {canonicalize_name(name) for name, _, _ in expected.in_house}
            parts.append((layer.value, names))
    assert parts, f"no layer lock files under {PurePosixPath(context.relative_to(REPO_ROOT)) / 'locks'}"
    found, skeleton = venv_layers(docker, target.image_id)
    assert_ok(checks.check_venv_layers(parts, found, skeleton))
