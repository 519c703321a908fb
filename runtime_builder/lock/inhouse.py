"""In-house packages: what a build context carries of them and what the lock records. Pure.

A release's `in_house:` packages (source under inhouse/<name>/) are copied by `render` into
each of its -base contexts as `inhouse/<name>/...` (with the do-not-edit header where the
file's kind allows one). `build.py lock` records, beside the release's lock files,
`locks/<version>/in-house.txt` (each package at its version, as uv installs it) and
`in-house.sha256` (the digest of every source file as the context holds it, in sha256sum's
format); `render` copies both into the contexts' `locks/`. The builder stage refuses sources
that differ from the digests, builds the wheels with the hash-locked flit_core and installs
exactly the recorded versions from them.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from ..headers import can_carry, with_header
from ..layout import IN_HOUSE_MANIFEST, IN_HOUSE_PINS
from ..layout import INHOUSE as DIR
from ..matrix.model import InHouse, Release


def context_files(package: InHouse) -> dict[PurePosixPath, bytes]:
    """Its files as a build context holds them, by path relative to the context."""
    files = {}
    for path, text in package.files:
        origin = f"{DIR}/{package.name}/{path}"
        content = with_header(text, path, origin, origin) if can_carry(path) else text
        files[PurePosixPath(DIR, package.name, path)] = content.encode()
    return files


def pins_text(release: Release) -> str:
    head = (f"# The in-house packages of Runtime {release.version}, built from this repository's {DIR}/ in the\n"
            "# builder stage. Written by `build.py lock`; do not edit.\n")
    return head + "".join(f"{package.name}=={package.version}\n" for package in release.in_house)


def manifest_text(release: Release) -> str:
    """`sha256sum --check` input: every in-house file of the context, sorted as `LC_ALL=C sort` sorts."""
    files = {str(path): content for package in release.in_house for path, content in context_files(package).items()}
    return "".join(f"{hashlib.sha256(files[path]).hexdigest()}  {path}\n" for path in sorted(files))


def lock_files(release: Release) -> dict[str, str]:
    """File name under the release's locks/ -> text; empty for a release without in-house packages."""
    return {IN_HOUSE_PINS: pins_text(release), IN_HOUSE_MANIFEST: manifest_text(release)} if release.in_house else {}
