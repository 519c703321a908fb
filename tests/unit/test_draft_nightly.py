"""`build.py new-version --from-upstream`: a line's nightly drafted from the upstream report (issue 32).

On a copy of the repository (its versions.yaml, locks/, distributions/, releases.json), with the
index's answers made up: the report is `upstream.compare` over `Project`s written here (the command:
the index adapter returning them), the pins a fake upgrader within the
specifiers it is given, and lock files a fake lock writer. Nothing here needs the network or uv.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version as Pep440

from runtime_builder import layout
from runtime_builder.errors import LockError, NothingToDraft
from runtime_builder.generate import frozen
from runtime_builder.images import secrets
from runtime_builder.lock import upstream
from runtime_builder.lock.locks import cells, read_locks
from runtime_builder.lock.upstream import Project
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel, Matrix, Version
from runtime_builder.release import draft, newversion

from .test_upstream import LOCKED, write_locks

TODAY = date(2026, 12, 7)


@pytest.fixture
def root(checkout: Path) -> Path:
    return checkout


@pytest.fixture
def locked_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture matrix with line 14's lock files; no pip configuration of this host's asked."""
    monkeypatch.setattr(secrets, "_pip_config", lambda key: None)
    write_locks(repo, LOCKED)
    return repo
CELERY_PROVIDER = "apache-airflow-providers-celery"
POSTGRES = "apache-airflow-providers-postgres"


def projects(root: Path, matrix: Matrix, line: int, extra: dict[str, tuple[str, ...]],
             yanked: dict[str, tuple[str, ...]] | None = None) -> dict[str, Project]:
    """The index: every version the line's locks pin, and `extra` (the newer ones), some `yanked`."""
    yanked = yanked or {}
    locks = read_locks(root)
    seen: dict[str, set[str]] = {}
    for release in {*upstream.compared(matrix, line), *upstream.released(matrix, line)}:
        for found in upstream.lock_pins(release, locks).values():
            for name, version in found.items():
                seen.setdefault(name, set()).add(version)
    for name, versions in extra.items():
        seen.setdefault(name, set()).update(versions)
    return {name: Project(name, tuple(sorted(versions, key=Pep440)), tuple((v, "broken") for v in yanked.get(name, ())))
            for name, versions in seen.items()}


def report(root: Path, line: int, extra: dict[str, tuple[str, ...]],
           yanked: dict[str, tuple[str, ...]] | None = None) -> upstream.Report:
    matrix = load_matrix(root / "versions.yaml")
    return upstream.compare(matrix, [line], read_locks(root), projects(root, matrix, line, extra, yanked), "fake")


class Index:
    """uv's answers: each package at the newest `offered` version its specifier allows (else where it is)."""

    def __init__(self, offered: dict[str, tuple[str, ...]]) -> None:
        self.offered = offered
        self.airflow_asked: list[Version] = []
        self.wanted: dict[str, str] = {}

    def airflow_check(self, airflow: Version, python: str, released: date) -> str | None:
        self.airflow_asked.append(airflow)
        return None

    def upgrader(self, airflow: Version, wanted, python: str, released: date) -> dict[str, str]:
        self.wanted = dict(wanted)
        chosen = {}
        for name, spec in wanted.items():
            floor = spec.split(",")[0].removeprefix(">=")
            allowed = [v for v in self.offered.get(name, ()) if Pep440(v) in SpecifierSet(spec)]
            chosen[name] = max(allowed, key=Pep440, default=floor)
        return chosen


def draft_of(root: Path, line: int, found: upstream.Report, index: Index) -> draft.Draft | draft.Nothing:
    source = (root / "versions.yaml").read_text()
    return draft.plan(source, found, line, TODAY, index.airflow_check, index.upgrader, root=root)


def fake_locks(third_party: dict[str, str]):
    """A lock writer: every full lock of the version pins its Airflow, its pins and `third_party`."""

    def write(matrix: Matrix, root: Path, version: str) -> list[str]:
        written = []
        for cell in cells(matrix, (version,)):
            pins = {"apache-airflow": str(cell.release.airflow), **dict(cell.release.packages), **third_party}
            path = root / cell.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# fake\n" + "".join(f"{n}=={v} \\\n    --hash=sha256:{'0' * 64}\n"
                                                 for n, v in sorted(pins.items())))
            written.append(cell.path)
        return written

    return write


# -- a line with a nightly: refreshed in place -----------------------------------------------------


def test_a_nightly_is_refreshed_in_place_airflow_pins_date_and_locks(root: Path):
    before = load_matrix(root / "versions.yaml")
    nightly = draft.nightly_of(before, 14)
    assert nightly is not None and str(nightly.version) == "14.3.0" and nightly.patches
    found = report(root, 14, {"apache-airflow": ("3.3.3",), "apache-airflow-core": ("3.3.3",),
                              CELERY_PROVIDER: ("3.25.0",), POSTGRES: ("7.1.1",), "babel": ("2.19.0",)})
    index = Index({CELERY_PROVIDER: ("3.25.0",), POSTGRES: ("6.9.0", "7.1.1")})
    made = draft_of(root, 14, found, index)
    assert isinstance(made, draft.Draft) and not made.cut
    after = made.edit.release
    assert (str(after.version), after.channel, after.released) == ("14.3.0", Channel.NIGHTLY, TODAY)
    assert str(after.airflow) == "3.3.3" and index.airflow_asked == [Version.parse("3.3.3")]
    # A minor nightly: pins move within their major (postgres 7.x is a new major: not taken).
    assert index.wanted[POSTGRES] == ">=6.8.0,<7"
    assert after.package_version(CELERY_PROVIDER) == "3.25.0" and after.package_version(POSTGRES) == "6.9.0"
    assert not after.patches and made.edit.dropped == nightly.patches, "backports were made for Airflow 3.3.2"
    for release in before.releases:  # the line's pins and every other release stay as they are
        if release.version != nightly.version:
            assert made.edit.matrix.release(str(release.version)) == release
    text = draft.report(made)
    assert "apache-airflow: 3.3.2 -> 3.3.3" in text and f"{CELERY_PROVIDER}: 3.24.1 -> 3.25.0" in text

    frozen_before = (root / layout.RELEASED_CONTEXTS).read_bytes()
    newversion.apply(root, made.edit, fake_locks({"babel": "2.19.0"}))
    matrix = load_matrix(root / "versions.yaml")
    assert matrix.release("14.3.0") == after
    assert (root / layout.RELEASED_CONTEXTS).read_bytes() == frozen_before, "a nightly is not frozen"
    assert "14.3.0" not in frozen.read(root)
    assert draft.locked(after, read_locks(root))["babel"] == "2.19.0"
    feed = {entry["version"]: entry for entry in json.loads((root / "releases.json").read_text())["releases"]}
    assert feed["14.3.0"]["airflow"] == "3.3.3"


def test_a_failed_refresh_puts_versions_yaml_and_the_nightlys_locks_back(root: Path):
    found = report(root, 14, {CELERY_PROVIDER: ("3.25.0",)})
    made = draft_of(root, 14, found, Index({CELERY_PROVIDER: ("3.25.0",)}))
    assert isinstance(made, draft.Draft)
    folder = root / layout.locks_dir("14.3.0")
    locks_before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    yaml_before = (root / "versions.yaml").read_bytes()

    def failing(matrix: Matrix, where: Path, version: str) -> list[str]:
        fake_locks({})(matrix, where, version)  # half the work done, then the index fails
        raise LockError("cannot lock Runtime 14.3.0: the index answered 503")

    with pytest.raises(LockError, match="put back"):
        newversion.apply(root, made.edit, failing)
    assert (root / "versions.yaml").read_bytes() == yaml_before
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == locks_before


# -- a line without one: cut --------------------------------------------------------------------------


def test_a_line_without_a_nightly_gets_one_cut_the_next_patch_with_the_newest_airflow_patch(root: Path):
    before = load_matrix(root / "versions.yaml")
    assert draft.nightly_of(before, 12) is None
    found = report(root, 12, {"apache-airflow": ("2.11.3", "2.12.0"), "apache-airflow-providers-celery": ("3.25.0",)})
    made = draft_of(root, 12, found, Index({}))
    assert isinstance(made, draft.Draft) and made.cut
    new = made.edit.release
    assert (str(new.version), new.channel, new.released) == ("12.1.2", Channel.NIGHTLY, TODAY)
    assert str(new.airflow) == "2.11.3", "the newest patch of the line's Airflow minor, not 2.12.0"
    assert made.compared == "12.1.1"
    assert "line 12 has no nightly: cut Runtime 12.1.2 (nightly) from 12.1.1" in draft.report(made)


# -- nothing new; a yanked version -------------------------------------------------------------------


def test_nothing_newer_drafts_nothing(root: Path):
    assert isinstance(draft_of(root, 14, report(root, 14, {}), Index({})), draft.Nothing)


def test_moves_the_constraints_hold_back_draft_nothing_and_say_why(root: Path):
    made = draft_of(root, 14, report(root, 14, {"celery": ("5.7.0",)}), Index({}))
    assert isinstance(made, draft.Nothing)
    assert "held back: celery" in draft.nothing_text(made) and "celery<5.7" in draft.nothing_text(made)


def test_a_yanked_newest_airflow_patch_is_skipped(root: Path):
    found = report(root, 14, {"apache-airflow": ("3.3.3", "3.3.4"), "apache-airflow-core": ("3.3.3", "3.3.4")},
                   yanked={"apache-airflow": ("3.3.4",), "apache-airflow-core": ("3.3.4",)})
    made = draft_of(root, 14, found, Index({}))
    assert isinstance(made, draft.Draft) and str(made.edit.release.airflow) == "3.3.3"


def test_a_yanked_only_newer_version_is_nothing_to_draft(root: Path):
    found = report(root, 14, {"apache-airflow": ("3.3.3",), "apache-airflow-core": ("3.3.3",)},
                   yanked={"apache-airflow": ("3.3.3",), "apache-airflow-core": ("3.3.3",)})
    assert isinstance(draft_of(root, 14, found, Index({})), draft.Nothing)


# -- the command ---------------------------------------------------------------------------------------


def test_the_command_says_nothing_to_draft_and_writes_nothing(cli, locked_repo, monkeypatch):
    """The command, on the fixture matrix, with an index (the one adapter, replaced) that has nothing newer."""
    matrix = load_matrix(locked_repo / "versions.yaml")
    found = projects(locked_repo, matrix, 14, {})
    monkeypatch.setattr(upstream.SimpleIndex, "projects", lambda self, names: found)
    before = (locked_repo / "versions.yaml").read_bytes()
    result = cli("--root", locked_repo, "new-version", "--from-upstream", "--line", "14",
                 "--index-url", "http://127.0.0.1:9/simple")
    assert result.code == 0, result.err
    assert "nothing to draft" in result.out
    assert (locked_repo / "versions.yaml").read_bytes() == before


@pytest.mark.parametrize("extra", [["--airflow", "3.3.3"], ["--upgrade-providers"], ["--from", "14.0.2"],
                                   ["--no-lock"]])
def test_what_the_draft_chooses_itself_is_refused(cli, locked_repo, extra):
    result = cli("--root", locked_repo, "new-version", "--from-upstream", *extra)
    assert result.code == 2 and "--from-upstream" in result.err


def test_line_goes_with_from_upstream_only(cli, locked_repo):
    result = cli("--root", locked_repo, "new-version", "--patch", "--line", "14", "--dry-run")
    assert result.code == 2 and "--from-upstream" in result.err


def test_the_lock_keeps_its_pins_but_for_what_the_report_lists(root: Path, monkeypatch: pytest.MonkeyPatch):
    """uv is asked to upgrade exactly the listed packages (a resolution anew moved others, backwards too)."""
    from runtime_builder.lock import locks

    made = draft_of(root, 14, report(root, 14, {"babel": ("2.19.0",), "celery": ("5.7.0",)}), Index({}))
    assert isinstance(made, draft.Draft)
    asked = []

    def resolve(requirements, python, platform, newer_than, *, constraints="", preferred="", hashes=True, extra=()):
        asked.append((preferred != "", "babel>=2.18.0\n" in constraints, extra))
        return "babel==2.19.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"

    monkeypatch.setattr(locks, "resolve", resolve)
    matrix = made.edit.matrix
    cell = locks.cells(matrix, ("14.3.0",))[0]
    locks.lock_text(cell, "babel==2.18.0\n", ("babel",))
    assert asked == [(True, True, ("--upgrade-package=babel",))], "kept, moved, and never below the old pin"
    written = []
    monkeypatch.setattr(locks, "write_locks", lambda m, r, selected, **options: written.append(options) or [])
    draft.moving_locks(made, {})(matrix, root, "14.3.0")
    assert written == [{"upgrade": ("babel",)}], "celery is held back by celery<5.7: not asked to move"


def test_release_takes_no_line(cli, locked_repo):
    result = cli("--root", locked_repo, "new-version", "--release", "14.1.0", "--line", "14", "--dry-run")
    assert result.code == 2 and "--line" in result.err


def test_a_draft_whose_locks_move_nothing_is_put_back_as_nothing_to_draft(root: Path, monkeypatch: pytest.MonkeyPatch):
    """The index has newer versions, but none the pins, the policy or the resolution take: the nightly
    would move only in its date, so nothing is drafted and every file stays as it was."""
    from runtime_builder.lock import locks

    made = draft_of(root, 14, report(root, 14, {POSTGRES: ("7.1.1",)}), Index({POSTGRES: ("7.1.1",)}))
    assert isinstance(made, draft.Draft) and not made.edit.changes, "postgres 7 is a new major: not taken"
    nightly = load_matrix(root / "versions.yaml").release("14.3.0")
    before = draft.locked(nightly, read_locks(root))
    yaml_before, feed_before = (root / "versions.yaml").read_bytes(), (root / "releases.json").read_bytes()
    monkeypatch.setattr(locks, "write_locks", lambda *args, **options: [])  # uv locks what it locked
    with pytest.raises(NothingToDraft, match="nothing to draft"):
        newversion.apply(root, made.edit, draft.moving_locks(made, before))
    assert (root / "versions.yaml").read_bytes() == yaml_before
    assert (root / "releases.json").read_bytes() == feed_before
