"""The provenance statement of a pushed image (publish/provenance.py): what it says the image was
built from, and that a tree with uncommitted changes is not passed off as its commit (issue 30)."""

from __future__ import annotations

import pytest

from runtime_builder.generate.specs import ImageSpec
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform, Variant
from runtime_builder.publish import provenance

from .support import REPO_ROOT

MATRIX = load_matrix(REPO_ROOT / "versions.yaml")
RELEASE = MATRIX.default_release()
SPEC = ImageSpec(RELEASE, RELEASE.python, Variant.BASE, Platform.AMD64)
COMMIT = "4a0b530c1d2e3f40516273849a0b1c2d3e4f5061"


def statement(revision: str) -> dict:
    record = {"build_args": {"REVISION": revision, "SOURCE": "https://github.com/airflow-runtime/airflow-runtime",
                             "CREATED": "2026-12-06T00:00:00+00:00"}, "image_id": "sha256:" + "1" * 64,
              "python_base": "127.0.0.1:5000/runtime-bases/python@sha256:" + "2" * 64}
    return provenance.statement(REPO_ROOT, SPEC, "quay.io/org/airflow-runtime", "sha256:" + "3" * 64, record,
                                "https://github.com/airflow-runtime/airflow-runtime/build.py@" + revision)


def test_a_clean_build_names_its_commit_and_its_locks():
    built = statement(COMMIT)
    dependencies = built["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0] == {"uri": f"git+https://github.com/airflow-runtime/airflow-runtime@{COMMIT}",
                               "digest": {"gitCommit": COMMIT}}
    lock = f"locks/{RELEASE.version}/python-{RELEASE.python}/amd64.txt"
    assert any(d["uri"] == lock and len(d["digest"]["sha256"]) == 64 for d in dependencies)
    assert built["subject"] == [{"name": "quay.io/org/airflow-runtime", "digest": {"sha256": "3" * 64}}]


@pytest.mark.parametrize("revision", [f"{COMMIT}-dirty", "unknown"])
def test_uncommitted_changes_claim_no_commit(revision):
    source = statement(revision)["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    assert "digest" not in source, "a dirty tree would claim the commit's digest"
    assert source["uri"].endswith(f"@{revision}") and "uncommitted" in source["annotations"]
