"""Questions for the package index, asked through uv the way `build.py lock` asks them.

uv reaches the index with the host's own configuration (its environment and settings), so
nothing here names an index host. Like the lock files, every answer only sees what was
published by the day after the release date (`--exclude-newer`): a release may only pin
what existed when it came out. Both functions need the network; `newversion` takes them
as parameters so that everything else can be tested offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from packaging.utils import canonicalize_name

from ..matrix.model import Platform, Version
from .resolver import ResolutionError, exclude_newer, pins, resolve

PLATFORM = Platform.AMD64  # the platform the questions are asked for


def compile_requirements(requirements: str, python: str, released: date, *extra: str) -> str:
    """`uv pip compile` of `requirements` for `python` on linux/amd64; the compiled text."""
    return resolve(requirements, python, PLATFORM, exclude_newer(released), hashes=False, extra=extra)


def airflow_unavailable(airflow: Version, python: str, released: date) -> str | None:
    """Why apache-airflow==`airflow` cannot be installed for `python` as of `released`; None if it can."""
    try:
        compile_requirements(f"apache-airflow=={airflow}\n", python, released, "--no-deps")
    except ResolutionError as error:
        return str(error)
    return None


def newest_compatible(airflow: Version, wanted: Mapping[str, str], python: str, released: date) -> dict[str, str]:
    """The newest version of each package in `wanted` (name -> specifier, "" for any) that
    resolves together with apache-airflow==`airflow`, for `python` and newer."""
    requirements = [f"apache-airflow=={airflow}", *(f"{name}{spec}" for name, spec in sorted(wanted.items()))]
    resolved = pins(compile_requirements("\n".join(requirements) + "\n", python, released))
    missing = [name for name in wanted if canonicalize_name(name) not in resolved]
    if missing:
        raise ResolutionError(f"uv's resolution has no {', '.join(sorted(missing))}")
    return {name: resolved[canonicalize_name(name)] for name in wanted}
