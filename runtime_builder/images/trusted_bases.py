"""What this host's bootstrap published: each base image's digest, in a file only its user reads
and writes (`~/.local/state/airflow-runtime/bases.json`, 0600 in a 0700 folder).

The bases live in the local registry (`layout.LOCAL_REGISTRY`), which any process of the host can write
to. Before a build or a deployment takes a base from there, its digest is compared with the one
recorded when this host made it (or first used it): a base that another process replaced stops
the run, naming both digests, instead of becoming every image's first layer.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import BootstrapError

# The record's place; the tests (and a host that keeps state elsewhere) set it.
RECORD_VARIABLE = "RUNTIME_BASES_RECORD"


def record_path() -> Path:
    if os.environ.get(RECORD_VARIABLE):
        return Path(os.environ[RECORD_VARIABLE])
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "airflow-runtime" / "bases.json"


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    mode = path.stat().st_mode & 0o777
    if mode & 0o022 or path.stat().st_uid != os.getuid():
        raise BootstrapError(f"{path} (the digests of the bases this host made) can be written by others "
                             f"(mode {mode:o}, owner uid {path.stat().st_uid}): it can no longer vouch for them. "
                             "Remove it; the next build records the bases again")
    try:
        found = json.loads(text)
    except ValueError as error:
        raise BootstrapError(f"{path} is not JSON ({error}); remove it, the next build records the bases again") \
            from None
    return {str(ref): str(digest) for ref, digest in found.items()} if isinstance(found, dict) else {}


def recorded(reference: str, path: Path | None = None) -> str | None:
    """The digest this host recorded for the base `reference` (a tag), or None."""
    return _read(path or record_path()).get(reference)


def record(reference: str, digest: str, path: Path | None = None) -> None:
    """Record `reference` -> `digest`, written whole (a temporary file renamed over the record)."""
    path = path or record_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    found = _read(path)
    if found.get(reference) == digest:
        return
    found[reference] = digest
    descriptor, temporary = tempfile.mkstemp(prefix=".bases-", dir=path.parent)  # mode 0600
    with os.fdopen(descriptor, "w") as handle:
        json.dump(dict(sorted(found.items())), handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def check(reference: str, digest: str, path: Path | None = None) -> None:
    """Stop when the registry's `reference` names another digest than this host recorded for it."""
    known = recorded(reference, path)
    if known is not None and known != digest:
        raise BootstrapError(
            f"the base image {reference} in the registry is {digest}, but this host made {known} (recorded in "
            f"{path or record_path()}): something else replaced it. Make it again with `python3 build.py bootstrap "
            "--force` (which records the new one), after finding out what wrote to the registry")
