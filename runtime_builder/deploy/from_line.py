"""Which of our images a project's Dockerfile means by its FROM line. Pure.

    FROM airflow-runtime:14.2.1              our image of that tag (any tag of the tag function)
    FROM quay.io/astronomer/astro-runtime:12.1.1
                                             the same tag of ours: a managed runtime's image name,
                                             kept so an Astro-style project runs unchanged
    FROM apache/airflow:2.11.2-python3.12    the newest release of ours that ships that Airflow
                                             (and that Python, when the tag names one)

A FROM that names a tag, release line or Airflow we do not have is refused, naming the releases
nearest to what it asked for: a project is never moved to another Airflow major without being
told. A FROM naming no Airflow image at all (`python:3.12`, `${BASE}`) is refused too; a
version given on the command line decides instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError
from ..generate.tags import image_of_tag
from ..matrix.model import Channel, Matrix, Release, Variant, Version

# Names a project's FROM may give our images by, besides our own repository's: a managed
# runtime's (the Astro CLI writes `FROM quay.io/astronomer/astro-runtime:<version>`).
RUNTIME_ALIASES = ("astro-runtime",)
AIRFLOW_REPOSITORY = "apache/airflow"  # Apache Airflow's own images, on Docker Hub
_VERSION_PREFIX = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_AIRFLOW_TAG = re.compile(r"^(?:slim-)?(\d+\.\d+\.\d+)(?:-python(\d+\.\d+))?$")
NEAREST = 3


@dataclass(frozen=True)
class Chosen:
    release: Release
    python: str
    variant: Variant  # the ONBUILD image to build on: Variant.ONBUILD or Variant.SLIM
    why: str


def split(reference: str) -> tuple[str, str]:
    """(repository path, tag) of an image reference; `latest` when it names none; a digest is left out."""
    name = reference.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        path, _, tag = name.rpartition(":")
        return path, tag
    return name, "latest"


def choose(matrix: Matrix, reference: str, repository: str, where: str) -> Chosen:
    """The image a FROM reference means; UsageError (naming `where`, the Dockerfile) when it means none of ours."""
    path, tag = split(reference)
    last = path.rsplit("/", 1)[-1]
    if last in (repository.rsplit("/", 1)[-1], *RUNTIME_ALIASES):
        found = image_of_tag(matrix, tag)
        if found is None:
            raise UsageError(f"{where}: FROM {reference}: no image of versions.yaml has the tag {tag!r}; "
                             f"{_nearest_text(matrix, tag)} (`python build.py tags VERSION` lists an image's tags)")
        release, python, variant = found
        slim = ", slim" if variant.is_slim else ""
        return Chosen(release, python, variant.onbuild,
                      f"Runtime {release.version}, Python {python}{slim} (its FROM names {reference})")
    if path.endswith(AIRFLOW_REPOSITORY) and (match := _AIRFLOW_TAG.match(tag)):
        return _by_airflow(matrix, reference, Version.parse(match.group(1)), match.group(2), where)
    raise UsageError(f"{where}: FROM {reference} is not an Airflow Runtime image (nor {AIRFLOW_REPOSITORY}:<version>), "
                     f"so it says nothing about which Airflow the project needs: write `FROM {repository}:<version>` "
                     "(the Runtime version) or give the version on the command line")


def nearest(matrix: Matrix, asked: str) -> list[Release]:
    """The released versions nearest to a version-like tag (`12.3.0`, `10-python-3.12`): those of its
    line, else the newest of the lines either side; newest first. Pure."""
    match = _VERSION_PREFIX.match(asked)
    released = [r for r in matrix.releases if not r.is_yanked and r.channel is not Channel.NIGHTLY]
    if match is None:
        return sorted(released, key=lambda r: r.version, reverse=True)[:NEAREST]
    major = int(match.group(1))
    same_line = [r for r in released if r.line == major]
    if same_line:
        wanted = Version(major, int(match.group(2) or 0), int(match.group(3) or 0))
        return sorted(same_line, key=lambda r: (abs(_distance(r.version, wanted)), -r.version.patch))[:NEAREST]
    below = [r for r in released if r.line < major]
    above = [r for r in released if r.line > major]
    lines = ([max(r.line for r in below)] if below else []) + ([min(r.line for r in above)] if above else [])
    # The newest release of the line either side (what a project moving there would take).
    return [max((r for r in released if r.line == line), key=lambda r: r.version) for line in sorted(lines,
                                                                                                  reverse=True)]

def _nearest_text(matrix: Matrix, asked: str) -> str:
    releases = nearest(matrix, asked)
    return "the nearest releases here: " + ", ".join(f"{r.version} (Airflow {r.airflow})" for r in releases)


def _distance(have: Version, wanted: Version) -> int:
    return (have.minor - wanted.minor) * 1000 + (have.patch - wanted.patch)


def _by_airflow(matrix: Matrix, reference: str, airflow: Version, python: str | None, where: str) -> Chosen:
    shipping = [r for r in matrix.releases if r.airflow == airflow and not r.is_yanked
                and (python is None or python in r.pythons)]
    if not shipping:
        around = sorted((r for r in matrix.releases if not r.is_yanked and r.airflow.major == airflow.major),
                        key=lambda r: (abs(_distance(r.airflow, airflow)), -r.version.major, -r.version.minor,
                                       -r.version.patch))
        names = ", ".join(f"{r.version} (Airflow {r.airflow})" for r in around[:NEAREST]) or "none"
        wanted = f"Airflow {airflow}" + (f" on Python {python}" if python else "")
        raise UsageError(f"{where}: FROM {reference}: no Runtime release ships {wanted}; the nearest of Airflow "
                         f"{airflow.major}: {names}; write `FROM airflow-runtime:<version>` with one of them")
    release = max(shipping, key=lambda r: r.version)
    chosen_python = python or release.python
    return Chosen(release, chosen_python, Variant.ONBUILD,
                  f"Runtime {release.version}, Python {chosen_python}: the newest release shipping Airflow {airflow} "
                  f"(its FROM names {reference})")

