"""The one way this project asks uv to resolve: `uv pip compile`, for a Python version and a
platform it need not have, seeing only what was published by a given day.

uv reaches the index with the host's own configuration (its environment and settings), so
nothing here names an index host. `build.py lock` and the package-index questions of
`new-version` (`pkgindex`) both resolve through `resolve`. It never downloads an interpreter:
the Python version is a target to resolve for, not one to run (uv would otherwise try to fetch a
managed Python for every version the host lacks, ~10 s per resolution even where it cannot).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from packaging.utils import canonicalize_name

from ..errors import ResolutionError
from ..matrix.model import Platform

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def exclude_newer(released: date) -> str:
    """Only what was published by the day after a release's date: re-resolving an old release
    gives the answer it gave then."""
    return (released + timedelta(days=1)).isoformat()


def resolve(requirements: str, python: str, platform: Platform, newer_than: str, *, constraints: str = "",
            preferred: str = "", hashes: bool = True, extra: tuple[str, ...] = ()) -> str:
    """uv's resolution of `requirements`, pinned (with hashes unless told not to).

    `constraints`: bounds on what may be chosen; `preferred`: a lock whose pins uv keeps
    wherever they still satisfy (uv prefers the versions an existing output file pins).
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "requirements.in").write_text(requirements)
        (folder / "constraints.txt").write_text(constraints)
        (folder / "lock.txt").write_text(preferred)
        argv = [sys.executable, "-m", "uv", "pip", "compile", str(folder / "requirements.in"), "--quiet",
                "--no-header", "--no-annotate", "--no-python-downloads",
                "--python-version", python, "--python-platform", platform.uv_platform,
                "--exclude-newer", newer_than, "--constraint", str(folder / "constraints.txt"),
                "--output-file", str(folder / "lock.txt"), *(("--generate-hashes",) if hashes else ()), *extra]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ResolutionError(result.stderr.strip() or result.stdout.strip() or f"uv exited {result.returncode}")
        return (folder / "lock.txt").read_text()


def pins(text: str) -> dict[str, str]:
    """Canonical name -> version of every `name==version` line of a lock or compiled text."""
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}
