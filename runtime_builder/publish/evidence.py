"""What is attached to every pushed platform image: its SBOM and its provenance, as OCI artifacts
whose `subject` is the image's manifest (found with the referrers API, or its tag fallback).

Both are made from what the build wrote (`build/sbom/`, `build/records/`) and are deterministic,
so publishing again attaches nothing new. A platform image without them is not published: a
missing SBOM or build record stops the run before any tag is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import EvidenceError
from ..generate.specs import ImageSpec
from ..images import sbom
from ..images.builder import PROJECT_SOURCE, record_path, sbom_path
from . import provenance
from .registry import Descriptor, Registry

SBOM_TYPE = sbom.MEDIA_TYPE
PROVENANCE_TYPE = provenance.MEDIA_TYPE
SBOM_TITLE = "sbom.cdx.json"
PROVENANCE_TITLE = "provenance.intoto.json"


@dataclass(frozen=True)
class Attached:
    sbom: str  # the artifacts' manifest digests
    provenance: str


def attach(root: Path, spec: ImageSpec, subject: Descriptor, registry: Registry, local_repository: str) -> Attached:
    """Attach the SBOM and the provenance of one pushed platform image (`subject`)."""
    reference = spec.reference(local_repository)
    bom, record = sbom_path(root, reference), record_path(root, reference)
    if not bom.exists() or not record.exists():
        raise EvidenceError(f"{reference} has no {'SBOM' if not bom.exists() else 'build record'} "
                            f"({(bom if not bom.exists() else record).relative_to(root)}): build it with "
                            "`python build.py build` on this host before publishing it; no tag was changed")
    built = json.loads(record.read_text())
    created = built.get("build_args", {}).get("CREATED", "")
    annotations = {"org.opencontainers.image.created": created} if created else {}
    statement = provenance.statement(root, spec, str(registry.target), subject.digest, built,
                                     f"{PROJECT_SOURCE}/build.py@{built.get('build_args', {}).get('REVISION', '')}")
    return Attached(
        sbom=registry.attach(subject, bom.read_bytes(), artifact_type=SBOM_TYPE, media_type=SBOM_TYPE,
                             title=SBOM_TITLE, annotations=annotations),
        provenance=registry.attach(subject, (json.dumps(statement, indent=2, sort_keys=True) + "\n").encode(),
                                   artifact_type=PROVENANCE_TYPE, media_type=PROVENANCE_TYPE,
                                   title=PROVENANCE_TITLE, annotations=annotations),
    )
