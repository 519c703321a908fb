"""`new-version --release X.Y.Z`: a nightly build becomes a stable release, by editing versions.yaml's
text (two values), validated, and written with everything that follows from it; nothing is written
when it cannot be."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from runtime_builder.generate import frozen
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel
from runtime_builder.release import newversion, promote
from runtime_builder.release.newversion import Bump, NewVersionError, Request

from .test_new_version import a_day_for, assert_old_releases_unchanged, cut, newest_released


@pytest.fixture
def root(checkout: Path) -> Path:
    return checkout


def with_nightly(root: Path) -> tuple[str, date]:
    """A nightly of the default line's next patch, cut here (`new-version --patch --nightly`)."""
    matrix = load_matrix(root / "versions.yaml")
    base = newest_released(matrix, matrix.default_release().line)
    day = a_day_for(matrix, base.line)
    plan = cut(root, Request(Bump.PATCH, day, nightly=True))
    return str(plan.version), day


def test_a_nightly_is_released_with_its_channel_and_date_only(root: Path) -> None:
    version, built = with_nightly(root)
    before = load_matrix(root / "versions.yaml")
    source = (root / "versions.yaml").read_text()
    day = built + timedelta(days=3)
    plan = promote.plan(source, version, day, root)
    newversion.apply(root, plan, lock_writer=None)
    text = (root / "versions.yaml").read_text()
    changed = [(old, new) for old, new in zip(source.splitlines(), text.splitlines(), strict=True) if old != new]
    assert changed == [(f"        released: {built.isoformat()}", f"        released: {day.isoformat()}"),
                       ("        channel: nightly", "        channel: stable")]
    after = load_matrix(root / "versions.yaml")
    released = after.release(version)
    assert (released.channel, released.released) == (Channel.STABLE, day)
    assert after.default_release() == released
    assert version in frozen.read(root), "released: its build context is frozen"
    assert_old_releases_unchanged(
        type(before)(tuple(r for r in before.releases if str(r.version) != version), before.policy,
                     before.uv_version, before.airflow_pythons, before.flit_core_version, before.pytest_version),
        after)
    assert "channel stable" in promote.report(plan)


def test_only_a_nightly_is_released(root: Path) -> None:
    source = (root / "versions.yaml").read_text()
    stable = str(load_matrix(root / "versions.yaml").default_release().version)
    with pytest.raises(NewVersionError, match=f"Runtime {stable} is not a nightly build"):
        promote.plan(source, stable, date(2027, 1, 1), root)
    with pytest.raises(NewVersionError, match=r"no Runtime version '99\.0\.0'"):
        promote.plan(source, "99.0.0", date(2027, 1, 1), root)


def test_a_release_date_before_the_lines_newest_release_is_refused(root: Path) -> None:
    version, _ = with_nightly(root)
    matrix = load_matrix(root / "versions.yaml")
    newest = newest_released(matrix, matrix.release(version).line)
    source = (root / "versions.yaml").read_text()
    with pytest.raises(NewVersionError, match=f"before {newest.version}'s release"):
        promote.plan(source, version, newest.released - timedelta(days=1), root)
    assert (root / "versions.yaml").read_text() == source
