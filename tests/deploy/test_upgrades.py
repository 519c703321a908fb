"""Upgrades and rollbacks on one real PostgreSQL database: release A deployed with the fixture
project gives it history, release B runs on it (after `airflow db downgrade` for a rollback),
and every history row, the variable and the encrypted connection must survive, and a new run
succeed. CI runs the default pair (the release before the default one → the default);
`--upgrade-pair all` (the nightly workflow) runs every pair the matrix promises.

The outcome must be the one the committed evidence (evidence/upgrades.json, shown in the
reference tables) records, and `ok` where nothing is recorded: a step Airflow refuses, or one
that needs a package Airflow asks for, passes only where that evidence already says so, and a
failure never passes.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from runtime_builder import layout
from runtime_builder.deploy import services, upgrades
from runtime_builder.deploy.deployment import DeployError
from runtime_builder.generate import upgrade_matrix
from runtime_builder.images.engine import Engine
from runtime_builder.images.secrets import for_build
from runtime_builder.matrix.load import load_matrix

from .conftest import PROJECT, REPO_ROOT, REPORTS

pytestmark = pytest.mark.deploy

MATRIX = load_matrix(REPO_ROOT / "versions.yaml")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pair" in metafunc.fixturenames:
        found = upgrade_matrix.chosen(MATRIX, metafunc.config.getoption("--upgrade-pair"))
        metafunc.parametrize("pair", found, ids=[p.id for p in found])


@dataclass(frozen=True)
class Projects:
    images: dict[str, str]  # the fixture project on each release: {version: image}
    provide: upgrades.Provide  # the project on a release with a package Airflow asked for


@pytest.fixture(scope="session")
def projects(request: pytest.FixtureRequest, engine: Engine,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projects]:
    """The fixture project on every release the chosen pairs name (their ONBUILD images built first)."""
    chosen = upgrade_matrix.chosen(MATRIX, request.config.getoption("--upgrade-pair"))
    releases = [release for pair in chosen for release in (pair.source, pair.target)]
    workdir = tmp_path_factory.mktemp("upgrades")
    with for_build(workdir / "secrets") as secrets:
        images = upgrades.project_images(MATRIX, REPO_ROOT, releases, engine, secrets, PROJECT)
        yield Projects(images, functools.partial(upgrades.project_with, MATRIX, REPO_ROOT, engine, secrets, PROJECT))
    shutil.rmtree(workdir, ignore_errors=True)


def test_the_database_keeps_the_users_data(pair: upgrade_matrix.Pair, projects: Projects,
                                          service_images: services.ServiceImages) -> None:
    try:
        result = upgrades.run_pair(pair, projects.images, service_images, origin="test", provide=projects.provide)
    except DeployError as error:
        pytest.fail(f"{pair.kind} {pair.id}: {error}", pytrace=False)
    upgrade_matrix.record(REPORTS / "upgrades.json", [result])  # what this run saw, beside the evidence
    recorded = upgrade_matrix.result_of(pair, upgrade_matrix.load(REPO_ROOT / layout.UPGRADE_RESULTS))
    expected = recorded.status if recorded and recorded.status != "failed" else "ok"
    assert result.status == expected, (
        f"{pair.kind} {pair.id} (Airflow {result.airflow_source} → {result.airflow_target}): {result.status}, "
        f"evidence/upgrades.json says {recorded.status if recorded else 'nothing'}: {result.detail}")
    if result.status in ("ok", "needs"):
        assert all(after >= before for before, after in result.history.values()), result.history
