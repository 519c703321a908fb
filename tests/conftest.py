"""Options shared by every test suite (`pytest tests ...` runs the unit and the image tests)."""

from __future__ import annotations

import pytest

from runtime_builder.matrix.model import Platform


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("airflow-runtime", "Airflow Runtime image tests")
    group.addoption(
        "--image", action="append", default=[], metavar="REF",
        help="an image to test (repeatable); default: the newest stable release's default Python, "
             "base and ONBUILD, for each --platform",
    )
    group.addoption(
        "--platform", action="append", default=[], metavar="PLATFORM",
        help="linux/amd64 or linux/arm64 (repeatable) for the default images; default: the native one",
    )
    group.addoption(
        "--deploy-version", action="append", default=[], metavar="VERSION",
        help="a Runtime version the deployment tests deploy (repeatable); `lines`: the newest release of every "
             "line and every nightly; default: the default release",
    )
    group.addoption(
        "--deploy-onbuild-image", metavar="REF",
        help="the ONBUILD image tests/deploy/test_deployment.py builds the project on, in place of the release's "
             "own (one --deploy-version; its full-image cases only): `build.py bisect` passes its probe's",
    )
    group.addoption(
        "--deploy-executor", action="append", default=[], choices=["celery", "local"],
        help="the executors to deploy with (repeatable); default: celery, and local too for the default release",
    )
    group.addoption(
        "--deploy-platform", choices=[platform.value for platform in Platform], metavar="PLATFORM",
        help="the platform of the images the deployment tests deploy (default: the native one; the other runs "
             "under QEMU: minutes slower, for a release engineer without a host of that architecture)",
    )
    group.addoption(
        "--postgres-image", metavar="REF",
        help="the deployments' PostgreSQL image (default: made from Debian's postgresql package by bootstrap)",
    )
    group.addoption(
        "--redis-image", metavar="REF",
        help="the deployments' Redis image (default: made from Debian's redis-server package by bootstrap)",
    )
    group.addoption(
        "--upgrade-pair", action="append", default=[], metavar="PAIR",
        help="an upgrade or rollback the deployment tests run (repeatable): `A-to-B` as versions.yaml's matrix "
             "names them, `all` (nightly), or `default`: the release before the default one → the default",
    )
    group.addoption(
        "--fault-points", choices=["sample", "all"], default="sample",
        help="the publish fault-injection test: a sample of the registry writes to kill after (CI), or all (nightly)",
    )
