"""`build.py bisect` end to end (issue 32, item 4): a local index layers a newer, broken
`rich-argparse` over the real index; the nightly, re-locked against it, fails `docker run IMAGE
version`; bisect names exactly that package within log2(n) + 2 image builds; its `constraints:`
entry, applied, makes the nightly green again. Real images, real resolutions; nothing of the
repository is written (a worktree of HEAD)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from runtime_builder.errors import EngineError
from runtime_builder.images import bisect_run
from runtime_builder.images.builder import BuildOptions
from runtime_builder.images.engine import Engine
from runtime_builder.images.secrets import for_build
from runtime_builder.layout import Layout
from runtime_builder.lock import candidates
from runtime_builder.lock.bisect import Verdict
from runtime_builder.matrix.load import load_matrix

from .scenario import PACKAGE, SELECTION, apply_constraint, build_good, relock, scenario

pytestmark = [pytest.mark.image, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine() -> Engine:
    try:
        engine = Engine.detect()
    except EngineError as error:
        pytest.skip(f"no Docker client: {error}")
    if not engine.info():
        pytest.skip("no Docker engine answers")
    return engine


def test_bisect_names_the_broken_package_and_its_constraint_makes_the_nightly_green(tmp_path, engine):
    with scenario(REPO_ROOT, tmp_path) as found:
        build_good(found, engine)
        matrix = load_matrix(found.root / "versions.yaml")
        with for_build(Layout(found.root).secrets, found.index.cacert, found.index.build_url) as secrets:
            options = bisect_run.Options(SELECTION, found.python, found.platform,
                                         build=BuildOptions(secrets=secrets))
            report = bisect_run.run(found.root, matrix, str(found.good), str(found.release.version), options,
                                    engine).report
            print(candidates.as_text(report))
            moved = len(report.moves)
            assert (report.result.verdict, report.result.culprits) == (Verdict.CULPRIT, (PACKAGE,))
            assert report.move(PACKAGE).new == found.broken
            assert report.result.probes <= math.log2(moved) + 2, candidates.as_text(report)
            entry = report.entries()[PACKAGE]
            assert entry is not None and f'requirement: "{PACKAGE}<{found.broken}"' in entry

            apply_constraint(found.root, found.release.line, entry)
            relock(found.root, found.release, found.python, found.platform, fresh=False)
            matrix = load_matrix(found.root / "versions.yaml")
            release = matrix.release(str(found.release.version))
            assert [c.requirement for c in release.constraints if c.name == PACKAGE] == [f"{PACKAGE}<{found.broken}"]
            fixed = candidates.side(matrix, found.root, str(release.version), found.python, found.platform)
            assert fixed.pins[PACKAGE] != found.broken
            probe = bisect_run.image_probe(found.root, matrix, fixed, fixed, (), options, engine)
            try:
                assert not probe(frozenset()).red  # the nightly, with the constraint, passes
            finally:
                probe.cleanup()


DEPLOYMENT = ("tests/deploy/test_deployment.py", "--deploy-executor", "local",
              "-k", "components_use_the_default_environment")


@pytest.mark.deploy
def test_bisect_of_the_nightlys_red_deployment_test_names_the_broken_package(tmp_path, engine):
    """Item 4 as the nightly meets it: the nightly's deployment test is red (every Airflow component
    imports rich-argparse); each probe deploys the fixture project on BAD's ONBUILD image built on
    the probe image, and bisect names rich-argparse within log2(n) + 2 builds."""
    with scenario(REPO_ROOT, tmp_path) as found:
        build_good(found, engine)
        matrix = load_matrix(found.root / "versions.yaml")
        with for_build(Layout(found.root).secrets, found.index.cacert, found.index.build_url) as secrets:
            options = bisect_run.Options(DEPLOYMENT, found.python, found.platform, build=BuildOptions(secrets=secrets))
            report = bisect_run.run(found.root, matrix, str(found.good), str(found.release.version), options,
                                    engine).report
        print(candidates.as_text(report))
        assert (report.result.verdict, report.result.culprits) == (Verdict.CULPRIT, (PACKAGE,))
        assert report.result.probes <= math.log2(len(report.moves)) + 2, candidates.as_text(report)
        assert "tests/deploy/test_deployment.py" in (report.entries()[PACKAGE] or "")
