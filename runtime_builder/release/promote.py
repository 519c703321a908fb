"""`build.py new-version --release X.Y.Z`: a nightly build becomes a stable release.

A line's next minor (or patch) is often built nightly before it is released, under its own
version (`channel: nightly`, `released:` its newest build's day). Releasing it changes two values
of its entry in versions.yaml, by editing the text (every comment stays): the channel becomes
`stable` and `released` the release day. Its lock files are resolved again as of that day,
keeping every pin they hold that still satisfies (as any lock does), then distributions/ and
releases.json follow; `newversion.apply` writes it all, and puts everything back if a step fails.

A release must not come before the line's newest release, and the line's pins must be its own
(the pin convention: a line's `packages` are those of its newest release); otherwise nothing is
written and the message says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..matrix.model import Channel, Matrix, Release, Version
from . import yamltext
from .edits import release_node
from .newversion import MATRIX_FILE, NewVersionError, newest_released, validate_edit, validate_text


@dataclass(frozen=True)
class Promotion:
    """What `newversion.apply` writes: versions.yaml's text before and after, and what they mean."""

    release: Release  # the release, as it is once released
    source: str
    text: str
    previous: Matrix
    matrix: Matrix

    @property
    def version(self) -> Version:
        return self.release.version


def plan(source: str, version: str, released: date, root: Path | None = None) -> Promotion:
    """The nightly `version` released on `released`, validated; NewVersionError when it cannot be."""
    previous = validate_text(source, root)
    try:
        nightly = previous.release(version)
    except LookupError as error:
        raise NewVersionError(f"--release: {error}") from error
    if nightly.channel is not Channel.NIGHTLY:
        raise NewVersionError(f"--release {version}: Runtime {version} is not a nightly build (channel "
                              f"{nightly.channel.value}); only a nightly is released this way")
    newest = newest_released(previous, nightly.line)
    if newest is not None and newest.version > nightly.version:
        raise NewVersionError(f"--release {version}: line {nightly.line} has released {newest.version} already, "
                              "which is newer")
    if newest is not None and released < newest.released:
        raise NewVersionError(f"--date {released}: before {newest.version}'s release on {newest.released}")
    node = release_node(yamltext.compose(source), nightly.line, nightly.version)
    edits = [yamltext.Replace(_scalar(node, "channel"), Channel.STABLE.value),
             yamltext.Replace(_scalar(node, "released"), released.isoformat())]
    text = yamltext.apply(source, edits)
    matrix = validate_edit(text, root, previous, nightly.version, "releasing")
    return Promotion(matrix.release(version), source, text, previous, matrix)


def _scalar(node: yamltext.Node, key: str) -> yamltext.Node:
    value = yamltext.get(node, key)
    if value is None or yamltext.scalar_value(value) is None:
        raise NewVersionError(f"cannot edit {MATRIX_FILE}: the release has no one-line `{key}:`")
    return value


def report(promotion: Promotion) -> str:
    before = promotion.previous.release(str(promotion.version))
    return (f"Runtime {promotion.version}: released on {promotion.release.released} (was a nightly build of "
            f"{before.released}), channel {promotion.release.channel.value}\n")
