"""The reference tables users read, as plain rows for `templates/reference/*.j2`."""

from __future__ import annotations

from itertools import groupby

from ..matrix.model import Matrix
from .tags import image_tags


def reference_context(matrix: Matrix) -> dict:
    releases = list(reversed(matrix.releases))  # newest first, as users look for them
    return {
        "parity": [
            {
                "runtime": str(r.version),
                "airflow": str(r.airflow),
                "channel": r.channel.value,
                "released": r.released.isoformat(),
                "end_of_maintenance": r.end_of_maintenance.isoformat(),
                "end_of_basic_support": r.end_of_basic_support.isoformat(),
                "yanked": r.yanked or "",
            }
            for r in releases
        ],
        "pythons": [
            {"runtime": str(r.version), "default": r.python, "supported": ", ".join(r.pythons)} for r in releases
        ],
        "platforms": [
            {
                "runtime": str(r.version),
                "suite": r.suite.name,
                "debian": r.suite.debian,
                "architectures": ", ".join(p.value for p in r.platforms),
            }
            for r in releases
        ],
        "environment": environment_rows(matrix),
        "packages": [
            {"runtime": str(r.version), "packages": ", ".join(f"{n}=={v}" for n, v in r.packages)} for r in releases
        ],
        "image_changes": image_change_rows(matrix),
        "constraints": [
            {"runtime": str(r.version), "requirement": c.requirement, "reason": c.reason}
            for r in releases
            for c in r.constraints
        ],
        "slim": [{"runtime": str(r.version), "packages": ", ".join(f"{n}=={v}" for n, v in r.slim_packages)}
                 for r in releases if r.has_slim],
        "tags": [
            {
                "runtime": str(r.version),
                "python": python,
                "variant": variant.value,
                "tags": ", ".join(f"`{t.name}`" for t in image_tags(matrix, r, python, variant)),
            }
            for r in releases
            for python in r.pythons
            for variant in r.variants
        ],
    }


def environment_rows(matrix: Matrix) -> list[dict]:
    """One row per (variable, value), naming the Runtime versions that set it, compressed to
    runs of consecutive versions (`11.0.0 – 12.1.0`)."""
    order = [str(r.version) for r in matrix.releases]
    values: dict[tuple[str, str], list[str]] = {}
    for release in matrix.releases:
        for name, value in release.environment:
            values.setdefault((name, value), []).append(str(release.version))
    rows = []
    for (name, value), versions in sorted(values.items()):
        runs = []
        positions = [order.index(v) for v in versions]
        for _, run in groupby(enumerate(positions), key=lambda pair: pair[1] - pair[0]):
            indexes = [p for _, p in run]
            first, last = order[indexes[0]], order[indexes[-1]]
            runs.append(first if first == last else f"{first} – {last}")
        rows.append({"name": name, "value": value, "versions": ", ".join(runs)})
    return rows


def image_change_rows(matrix: Matrix) -> list[dict]:
    """Each image change once, with the releases that made it and every release that has it."""
    changes = {change.name: change for release in matrix.releases for change in release.changes}
    return [
        {
            "name": change.name,
            "summary": change.summary,
            "since": ", ".join(str(version) for version in change.since),
            "releases": ", ".join(str(r.version) for r in matrix.releases if change in r.changes),
        }
        for change in sorted(changes.values(), key=lambda c: (c.since, c.name))
    ]
