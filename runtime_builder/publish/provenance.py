"""The provenance of one pushed image: an in-toto Statement with a SLSA v1 provenance predicate.

It says what the image (its manifest digest, the subject) was built from: the source revision,
the release's entry of versions.yaml as resolved, the digest of the rendered build context, the
digest-pinned base, the lock files' digests, the build arguments and the builder. `publish`
attaches it, with the SBOM, to the image in the registry (see `record` and `registry`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from .. import layout
from ..generate.feed import release_facts
from ..generate.specs import ImageSpec
from ..lock.locks import LockCell
from ..matrix.model import Release

STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/airflow-runtime/airflow-runtime/build-py/v1"
MEDIA_TYPE = "application/vnd.in-toto+json"


def release_entry(release: Release) -> dict:
    """The release as versions.yaml resolves it: what the image was asked to be."""
    return {**release_facts(release), "packages": dict(release.packages), "environment": dict(release.environment),
            "constraints": [c.requirement for c in release.constraints],
            "image_changes": [c.name for c in release.changes]}


def tree_digest(folder: Path) -> str:
    """sha256 over every file of a folder (its relative path and content), in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def statement(root: Path, spec: ImageSpec, repository: str, manifest_digest: str, record: Mapping,
              builder_id: str) -> dict:
    """The statement for one platform image. `record`: its build record (what builder wrote)."""
    args = dict(record.get("build_args", {}))
    revision = args.get("REVISION", "unknown")
    base = record.get("python_base") or args.get("PYTHON_BASE", "")
    # A tree with uncommitted changes is no commit: its source is named without a digest (claiming
    # the commit's would say the image was built from what anyone can check out).
    source = {"uri": f"git+{args.get('SOURCE', '')}@{revision}", "digest": {"gitCommit": revision}}
    if revision.endswith("-dirty") or revision.startswith("unknown"):
        source = {"uri": source["uri"], "annotations": {"uncommitted": "distributions/, templates/ or versions.yaml "
                                                                        "differed from the commit"}}
    dependencies = [
        source,
        {"uri": str(spec.context), "digest": {"sha256": tree_digest(root / spec.context)}},
        {"uri": base, "digest": {"sha256": base.rpartition("@sha256:")[2]}},
    ]
    locks = [LockCell(spec.release, spec.python, spec.platform).path, str(layout.build_tools_file())]
    dependencies += [{"uri": path, "digest": {"sha256": file_digest(root / path)}} for path in locks
                     if (root / path).exists()]
    return {
        "_type": STATEMENT,
        "subject": [{"name": repository, "digest": {"sha256": manifest_digest.removeprefix("sha256:")}}],
        "predicateType": PREDICATE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"version": str(spec.release.version), "python": spec.python,
                                       "variant": spec.variant.value, "platform": spec.platform.value,
                                       "versions.yaml": release_entry(spec.release)},
                "internalParameters": {"build_args": args},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": builder_id},
                "metadata": {"invocationId": record.get("image_id", ""), "startedOn": args.get("CREATED", "")},
            },
        },
    }
