"""`build.py attach IMAGE FILE --artifact-type TYPE`: one file attached to a pushed image as an OCI
referrer, through the one registry adapter (its credential rules; the referrers API or its tag
fallback). CI attaches the nightlies' vulnerability reports this way, to the digest it scanned;
promoting an image from staging copies its referrers with it."""

from __future__ import annotations

import argparse
import os
import re

from ..errors import UsageError
from .registry import Registry, RegistryError
from .verify import parse_reference

MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def run(args: argparse.Namespace) -> int:
    target, reference = parse_reference(args.reference)
    if not reference.startswith("sha256:"):
        raise UsageError(f"{args.reference}: attach to an image by digest (HOST/REPOSITORY@sha256:...), the one "
                         "that was checked; a tag may name another image by the time the file is attached")
    if not MEDIA_TYPE.match(args.artifact_type):
        raise UsageError(f"--artifact-type {args.artifact_type!r} is not a media type (e.g. "
                         "application/vnd.aquasec.trivy.report.v1+json)")
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise UsageError(f"{args.file}: {error.strerror}") from None
    registry = Registry(target, os.environ)
    manifest = registry.manifest(reference)
    if manifest is None:  # (one of other bytes is refused by the adapter)
        raise RegistryError(f"{target.ref(reference)} does not exist")
    digest = registry.attach(manifest.descriptor, data,
                             artifact_type=args.artifact_type, media_type=args.artifact_type,
                             title=args.title or args.file.name)
    print(f"attached {args.file} to {target.ref(reference)} as {target.ref(digest)}")
    return 0
