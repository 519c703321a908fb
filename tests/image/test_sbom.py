"""The SBOM the build wrote for this image describes it: every distribution of the venv and every
Debian package dpkg has, at their versions, each locked distribution with its hashes."""

from __future__ import annotations

import json

import pytest
import testinfra

from runtime_builder.images.builder import sbom_path

from . import checks
from .support import REPO_ROOT, Target, assert_ok

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def bom(target: Target) -> dict:
    path = sbom_path(REPO_ROOT, target.ref)
    if not path.exists():
        pytest.fail(f"no SBOM {path.relative_to(REPO_ROOT)} for {target.ref}: `python build.py build` writes it",
                    pytrace=False)
    return json.loads(path.read_text())


def test_the_sbom_is_of_this_image(bom: dict, target: Target) -> None:
    component = bom["metadata"]["component"]
    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert (component["name"], properties["airflow-runtime:image-id"]) == (target.ref, target.image_id), \
        "the SBOM was written for another build of this reference"
    assert component["version"] == target.expected.runtime_version


def test_the_sbom_lists_the_venv_exactly(bom: dict, facts: dict, target: Target) -> None:
    assert_ok(checks.check_sbom_python(target.expected, bom, facts))


def test_the_sbom_lists_the_debian_packages_exactly(bom: dict, host: testinfra.host.Host) -> None:
    installed = host.check_output("dpkg-query -W -f '${db:Status-Status} ${Package} ${Version}\\n'")
    assert_ok(checks.check_sbom_debian(bom, installed))
