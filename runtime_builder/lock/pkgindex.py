"""Questions for the package index, asked through uv the way `build.py lock` asks them.

uv reaches the index with the host's own configuration (its environment and settings), so
nothing here names an index host. Like the lock files, every answer only sees what was
published by the day after the release date (`--exclude-newer`): a release may only pin
what existed when it came out. Both functions need the network; `newversion` takes them
as parameters so that everything else can be tested offline.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

from packaging.utils import canonicalize_name

from ..matrix.model import Platform, Version
from .locks import _uv, pins

PLATFORM = Platform.AMD64  # the platform the questions are asked for


class PackageIndexError(Exception):
    """uv could not answer (no such version, no compatible versions, or no index)."""


def exclude_newer(released: date) -> str:
    return (released + timedelta(days=1)).isoformat()


def compile_requirements(requirements: str, python: str, released: date, *extra: str) -> str:
    """`uv pip compile` of `requirements` for `python` on linux/amd64; the compiled text."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text(requirements)
        result = subprocess.run(
            [*_uv(), "pip", "compile", str(source), "--quiet", "--no-header", "--no-annotate",
             "--python-version", python, "--python-platform", PLATFORM.uv_platform,
             "--exclude-newer", exclude_newer(released), *extra],
            capture_output=True, text=True, check=False,
        )
    if result.returncode != 0:
        raise PackageIndexError(result.stderr.strip() or result.stdout.strip() or f"uv exited {result.returncode}")
    return result.stdout


def airflow_unavailable(airflow: Version, python: str, released: date) -> str | None:
    """Why apache-airflow==`airflow` cannot be installed for `python` as of `released`; None if it can."""
    try:
        compile_requirements(f"apache-airflow=={airflow}\n", python, released, "--no-deps")
    except PackageIndexError as error:
        return str(error)
    return None


def newest_compatible(airflow: Version, wanted: Mapping[str, str], python: str, released: date) -> dict[str, str]:
    """The newest version of each package in `wanted` (name -> specifier, "" for any) that
    resolves together with apache-airflow==`airflow`, for `python` and newer."""
    requirements = [f"apache-airflow=={airflow}", *(f"{name}{spec}" for name, spec in sorted(wanted.items()))]
    resolved = pins(compile_requirements("\n".join(requirements) + "\n", python, released))
    missing = [name for name in wanted if canonicalize_name(name) not in resolved]
    if missing:
        raise PackageIndexError(f"uv's resolution has no {', '.join(sorted(missing))}")
    return {name: resolved[canonicalize_name(name)] for name in wanted}
