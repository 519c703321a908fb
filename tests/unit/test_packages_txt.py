"""packages.txt as the ONBUILD step reads it: the rendered onbuild-install.sh of a release, run by
bash on this host with a stand-in apt-get that records what it was asked (issue 30, finding 6)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.matrix.load import load_matrix

ROOT = Path(__file__).resolve().parents[2]
MATRIX = load_matrix(ROOT / "versions.yaml")


def script_of(change_on: bool) -> Path:
    """The ONBUILD script of the newest release with (or, strict but without) onbuild-packages-exact."""
    for release in reversed(MATRIX.releases):
        if release.has(contract.Change.STRICT_PACKAGES) and release.has(contract.Change.PACKAGES_EXACT) == change_on:
            return ROOT / "distributions" / str(release.version) / f"python-{release.python}" / "onbuild" / \
                "onbuild-install.sh"
    raise AssertionError(f"no release {'with' if change_on else 'without'} {contract.Change.PACKAGES_EXACT.value}")


def install(script: Path, tmp_path: Path, packages: str) -> tuple[int, str, list[str]]:
    """Run `onbuild-install.sh packages FILE` in a project folder: (exit code, stderr, apt-get calls)."""
    project = tmp_path / "project"
    for name in ("dags", "plugins", "packages.txt", "requirements.txt"):  # what `*` would expand to
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).mkdir() if "." not in name else (project / name).write_text("")
    (project / "packages.txt").write_text(packages)
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "apt-get.calls"
    (tools / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (tools / "apt-get").chmod(0o755)
    result = subprocess.run(["bash", str(script), "packages", "packages.txt"], cwd=project, capture_output=True,
                            text=True, env={**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}, check=False)
    return result.returncode, result.stderr, calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize(("line", "why"), [
    ("tini-", "apt removes tini"), ("jq+", "apt installs jq"), ("*", "globbed to the project's files"),
    ("jq*", "an apt pattern"), ("j?", "an apt pattern"), ("python3-", "apt removes python3"),
])
def test_names_apt_reads_as_actions_or_patterns_are_refused(tmp_path, line, why):
    code, err, calls = install(script_of(True), tmp_path, f"jq\n{line}\n")
    assert code == 1, f"{line!r} ({why}) was accepted: apt-get {calls}"
    assert f"packages.txt line 2: '{line}' is not a Debian package name" in err, err
    assert calls == [], "apt-get ran before the names were checked"


def test_the_old_check_let_them_through(tmp_path):
    """What the change fixes, on the release before it (released images stay as published)."""
    code, _, calls = install(script_of(False), tmp_path, "jq\ntini-\n*\n")
    assert code == 0 and calls[1].endswith("-- jq tini- *"), calls


@pytest.mark.parametrize("names", ["jq", "g++ libstdc++6", "tini=0.19.0-1 jq:amd64", "jq # a comment\r\nlibpq5"])
def test_package_names_reach_apt_get_as_written(tmp_path, names):
    code, err, calls = install(script_of(True), tmp_path, names + "\n")
    assert code == 0, err
    expected = " ".join(names.replace("# a comment\r\n", "").split())
    assert calls == ["update", f"install -y --no-install-recommends -- {expected}", "clean"]
