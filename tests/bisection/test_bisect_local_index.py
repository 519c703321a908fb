"""`build.py bisect` end to end (issue 32, item 4): a local index layers a newer, broken
`rich-argparse` over the real index (every `airflow` command imports it); the nightly, re-locked
against it, fails its deployment test and `docker run IMAGE version`; bisect names exactly that
package within log2(n) + 2 image builds, probing with either test; its `constraints:` entry,
applied, makes the nightly green again. Real images, real deployments, real resolutions; nothing
of the repository is written (a worktree of HEAD, shared by the module's tests).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime_builder.cli import main
from runtime_builder.errors import EngineError
from runtime_builder.images import bisect_run
from runtime_builder.images.builder import BuildOptions
from runtime_builder.images.engine import Engine
from runtime_builder.images.secrets import for_build
from runtime_builder.layout import Layout
from runtime_builder.lock import candidates
from runtime_builder.lock.bisect import Verdict
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel

from .scenario import PACKAGE, SELECTION, Scenario, build_good, constrained, scenario

pytestmark = [pytest.mark.image, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
# The deployment test the nightly fails: the fixture project on BAD's ONBUILD image, LocalExecutor
# on PostgreSQL (its components never start: each runs an `airflow` command).
DEPLOYMENT = ("tests/deploy/test_deployment.py", "--deploy-executor", "local",
              "-k", "components_use_the_default_environment")


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        engine = Engine.detect()
    except EngineError as error:
        pytest.fail(f"no Docker client: {error}", pytrace=False)
    if not engine.info():
        pytest.fail("no Docker engine answers: `python3 build.py setup` starts it", pytrace=False)
    return engine


@pytest.fixture(scope="module")
def found(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with scenario(REPO_ROOT, tmp_path_factory.mktemp("bisection")) as made:
        build_good(made, engine)
        yield made


def bisect(found: Scenario, engine: Engine, selection: tuple[str, ...]) -> candidates.Report:
    """`build.py bisect GOOD BAD -- selection` on the scenario; the report, checked: exactly the
    broken package, within log2(n) + 2 probes, its constraint naming the failing test."""
    matrix = load_matrix(found.root / "versions.yaml")
    with for_build(Layout(found.root).secrets, found.index.cacert, found.index.build_url) as secrets:
        options = bisect_run.Options(selection, found.python, found.platform, build=BuildOptions(secrets=secrets))
        report = bisect_run.run(found.root, matrix, str(found.good), str(found.release.version), options,
                                engine).report
    print(candidates.as_text(report))
    assert (report.result.verdict, report.result.culprits) == (Verdict.CULPRIT, (PACKAGE,)), candidates.as_text(report)
    assert report.move(PACKAGE).new == found.broken
    assert report.result.probes <= math.log2(len(report.moves)) + 2, candidates.as_text(report)
    entry = report.entries()[PACKAGE]
    assert entry is not None and f'requirement: "{PACKAGE}<{found.broken}"' in entry
    assert selection[0] in entry  # the reason names the failing test
    return report


def green_with(found: Scenario, engine: Engine, report: candidates.Report, selection: tuple[str, ...]) -> None:
    """The constraint applied and the nightly re-locked: the selection passes on it."""
    with constrained(found, report.entries()[PACKAGE] or "") as release:
        assert [c.requirement for c in release.constraints if c.name == PACKAGE] == [f"{PACKAGE}<{found.broken}"]
        matrix = load_matrix(found.root / "versions.yaml")
        fixed = candidates.side(matrix, found.root, str(release.version), found.python, found.platform)
        assert fixed.pins[PACKAGE] != found.broken
        with for_build(Layout(found.root).secrets) as secrets:
            options = bisect_run.Options(selection, found.python, found.platform, build=BuildOptions(secrets=secrets))
            probe = bisect_run.image_probe(found.root, matrix, fixed, fixed, (), options, engine)
            try:
                assert not probe(frozenset()).red, f"{selection} still fails on the constrained nightly"
            finally:
                probe.cleanup()


@pytest.mark.deploy
def test_bisect_of_the_nightlys_red_deployment_test_names_the_package_and_its_constraint_fixes_it(found, engine):
    """Item 4 as the nightly meets it: each probe deploys the fixture project on BAD's ONBUILD image
    built on the probe image."""
    report = bisect(found, engine, DEPLOYMENT)
    green_with(found, engine, report, DEPLOYMENT)


def test_bisect_with_an_image_test_names_the_package_and_its_constraint_fixes_it(found, engine):
    """The same break found with an image test (`docker run IMAGE airflow version`): seconds a probe."""
    report = bisect(found, engine, SELECTION)
    green_with(found, engine, report, SELECTION)


def upstream(found: Scenario, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """`build.py upstream --line N --json` asking the scenario's index: its exit and report."""
    capsys.readouterr()
    code = main(["--root", str(found.root), "upstream", "--line", str(found.release.line), "--json",
                 "--index-url", found.index.host_url])
    return code, json.loads(capsys.readouterr().out)


def test_upstream_asking_the_index_shows_the_new_version_and_fails_on_a_yanked_shipped_one(found, capsys):
    """Item 4's `upstream` half, against the same index: the broken version shows up as newer than
    what the line's newest release locks; once the index yanks the version that release ships,
    the command exits 1 naming it, the reason and the lock files."""
    matrix = load_matrix(found.root / "versions.yaml")
    newest = max((r for r in matrix.releases if r.line == found.release.line and r.channel is not Channel.NIGHTLY
                  and not r.yanked), key=lambda r: r.version)
    shipped = candidates.side(matrix, found.root, str(newest.version), found.python, found.platform).pins[PACKAGE]
    code, report = upstream(found, capsys)
    assert code == 0, report
    (line,) = report["lines"]
    moves = {(r["version"], m["package"]): m for r in line["releases"] for m in r["moves"]}
    assert moves[(str(newest.version), PACKAGE)]["newest"] == found.broken
    assert moves[(str(newest.version), PACKAGE)]["locked"] == shipped
    assert line["yanked"] == []

    found.index.yanked[shipped] = "breaks the CLI (the bisection test's yank)"
    try:
        code, report = upstream(found, capsys)
    finally:
        found.index.yanked.clear()
    assert code == 1
    (line,) = report["lines"]
    (yanked,) = [y for y in line["yanked"] if y["package"] == PACKAGE]
    assert (yanked["version"], yanked["reason"]) == (shipped, "breaks the CLI (the bisection test's yank)")
    assert any(f"locks/{newest.version}/" in lock for lock in yanked["locks"])
