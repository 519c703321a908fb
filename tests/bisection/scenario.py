"""The broken-dependency scenario of issue 32, item 4, for the engine test and bench/bisect_bench.py:
a copy of the repository (a git worktree of HEAD), a local index with a newer, broken
`rich-argparse` (Airflow's CLI imports it: `airflow version` fails), the nightly re-locked
against it (`lock --fresh`, so it also moves every other package the index has newer), GOOD the
nightly's committed lock. Nothing of the real repository is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from runtime_builder.cli import main
from runtime_builder.images import bisect_run
from runtime_builder.images.builder import BuildOptions
from runtime_builder.images.engine import Engine
from runtime_builder.images.secrets import for_build, host_cacert, host_index_url
from runtime_builder.layout import Layout
from runtime_builder.lock.locks import LockCell
from runtime_builder.lock.upstream import SimpleIndex, default_index
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel, Platform, Release

from .local_index import LocalIndex, bridge_gateway, broken_wheel, serve

PACKAGE, MODULE, REQUIRES = "rich-argparse", "rich_argparse", ("rich>=11.0.0",)
SELECTION = ("tests/image/test_python_airflow.py::test_docker_run_version_runs_airflow_version",)


@dataclass(frozen=True)
class Scenario:
    root: Path  # the worktree
    release: Release  # the nightly
    python: str
    platform: Platform
    good: Path  # the committed lock of the nightly's cell, laid out as under locks/
    broken: str  # the broken version the index serves
    index: LocalIndex


def nightly(root: Path) -> Release:
    """The newest nightly release."""
    matrix = load_matrix(root / "versions.yaml")
    return max((r for r in matrix.releases if r.channel is Channel.NIGHTLY), key=lambda r: r.version)


def relock(root: Path, release: Release, python: str, platform: Platform, *, fresh: bool) -> None:
    argv = ["--root", str(root), "lock", str(release.version), "--python", python, "--platform", platform.value]
    if main([*argv, *(["--fresh"] if fresh else [])]) != 0:
        raise RuntimeError(f"build.py lock {release.version} failed in {root}")


@contextmanager
def scenario(repository: Path, workdir: Path) -> Iterator[Scenario]:
    """The scenario set up under `workdir`; the worktree and the index go away when the block ends."""
    root = workdir / "repo"
    subprocess.run(["git", "-C", str(repository), "worktree", "add", "--detach", str(root), "HEAD"], check=True,
                   capture_output=True)
    saved = {name: os.environ.get(name) for name in ("UV_EXTRA_INDEX_URL", "UV_INDEX_STRATEGY")}
    try:
        release = nightly(root)
        python, platform = release.python, Platform.native()
        cell = LockCell(release, python, platform)
        good = workdir / "good" / str(release.version) / f"python-{python}" / f"{platform.arch}.txt"
        good.parent.mkdir(parents=True)
        shutil.copyfile(root / cell.path, good)
        upstream = default_index(host_index_url())
        project = SimpleIndex(upstream, host_cacert()).project(PACKAGE)
        newest = max(Version(v) for v in project.versions) if project else Version("1.0")
        broken = f"{newest.major}.{newest.minor}.{newest.micro + 1}"
        filename, wheel = broken_wheel(PACKAGE, broken, MODULE, REQUIRES)
        uploaded = f"{release.released.isoformat()}T00:00:00Z"
        with serve(upstream, PACKAGE, filename, wheel, uploaded, bridge_gateway(), host_cacert()) as index:
            os.environ.update(index.environment)
            relock(root, release, python, platform, fresh=True)
            yield Scenario(root, release, python, platform, good, broken, index)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        subprocess.run(["git", "-C", str(repository), "worktree", "remove", "--force", str(root)], check=False,
                       capture_output=True)


def apply_constraint(root: Path, line: int, entry: str) -> None:
    """Add a `constraints:` entry (bisect's text) to line `line` of the worktree's versions.yaml."""
    path = root / "versions.yaml"
    text = path.read_text()
    start = text.index(f"  - runtime: {line}\n")
    at = text.index("    constraints:\n", start) + len("    constraints:\n")
    path.write_text(text[:at] + entry + text[at:])


@contextmanager
def constrained(found: Scenario, entry: str) -> Iterator[Release]:
    """The nightly with bisect's `constraints:` entry applied to its line and re-locked (not fresh:
    only what the constraint moves), until the block ends; then versions.yaml and the nightly's
    locks are BAD's again, for the next test of the scenario."""
    locks = found.root / "locks" / str(found.release.version)
    versions = (found.root / "versions.yaml").read_bytes()
    with tempfile.TemporaryDirectory(prefix="bisection-locks-") as saved:
        shutil.copytree(locks, Path(saved) / "locks")
        try:
            apply_constraint(found.root, found.release.line, entry)
            relock(found.root, found.release, found.python, found.platform, fresh=False)
            yield load_matrix(found.root / "versions.yaml").release(str(found.release.version))
        finally:
            (found.root / "versions.yaml").write_bytes(versions)
            shutil.rmtree(locks)
            shutil.copytree(Path(saved) / "locks", locks)


def build_good(found: Scenario, engine: Engine) -> float:
    """Build GOOD's image as the search's probes lay it out (the moves in a layer of their own) with
    the host's own index, and run the selection on it (green), before the search: so the builder
    stage's tools come from the host's index (pip, there, cannot verify an index served on an IP
    address over TLS), and the first build, after a pruned cache, is the cold one. Its seconds."""
    matrix = load_matrix(found.root / "versions.yaml")
    with for_build(Layout(found.root).secrets) as secrets:
        options = bisect_run.Options(SELECTION, found.python, found.platform, build=BuildOptions(secrets=secrets))
        good, bad, moves = bisect_run.sides(found.root, matrix, str(found.good), str(found.release.version), options)
        probe = bisect_run.image_probe(found.root, matrix, good, bad, moves, options, engine)
        try:
            if probe(frozenset()).red:
                raise RuntimeError(f"{SELECTION} fails on GOOD ({found.good}) already")
        finally:
            probe.cleanup()
    return probe.builds[0].seconds
