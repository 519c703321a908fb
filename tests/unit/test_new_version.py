"""`build.py new-version`: cutting a patch, minor and major from the committed matrix.

Every test works on a copy of the repository's versions.yaml, templates/, distributions/
and releases.json. The package index is replaced by fakes and no lock files are written,
so nothing here needs the network, except the one `slow` test of the real index.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path, PurePosixPath

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version as Pep440

from runtime_builder.contract import Change
from runtime_builder.generate import frozen, render
from runtime_builder.lock import pkgindex
from runtime_builder.lock.locks import LockError, slim_problems, stale_locks, verify
from runtime_builder.lock.locks import cells as lock_cells
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel, Matrix, Release, Version
from runtime_builder.release import newversion
from runtime_builder.release.newversion import Bump, NewVersionError, Request

from .support import REPO_ROOT, line, parse, release


@pytest.fixture
def root(checkout: Path) -> Path:
    return checkout


@pytest.fixture
def before(root: Path) -> Matrix:
    return load_matrix(root / "versions.yaml")


class FakeIndex:
    """The package index's answers, recorded: every Airflow exists; pins move as told."""

    def __init__(self, moves: dict[str, str] | None = None, missing_airflow: str | None = None) -> None:
        self.moves = moves or {}
        self.missing_airflow = missing_airflow
        self.airflow_asked: list[tuple[Version, str, date]] = []
        self.upgrade_asked: list[tuple[Version, dict[str, str], str, date]] = []
        self.current: dict[str, str] = {}  # the base's pins, set by `cut`

    def airflow_check(self, airflow: Version, python: str, released: date) -> str | None:
        self.airflow_asked.append((airflow, python, released))
        return self.missing_airflow

    def upgrader(self, airflow: Version, wanted, python: str, released: date) -> dict[str, str]:
        self.upgrade_asked.append((airflow, dict(wanted), python, released))
        return {name: self.moves.get(name, self.current[name]) for name in wanted}


def newest_released(matrix: Matrix, runtime: int) -> Release:
    return max((r for r in matrix.line(runtime) if r.channel is not Channel.NIGHTLY), key=lambda r: r.version)


def a_day_for(matrix: Matrix, runtime: int) -> date:
    """A release date the line accepts: not before its newest release, not after its nightly."""
    return max(r.released for r in matrix.line(runtime))


def cut(root: Path, request: Request, index: FakeIndex | None = None, write: bool = True) -> newversion.Plan:
    index = index or FakeIndex()
    matrix = load_matrix(root / "versions.yaml")
    base = newversion.base_release(matrix, request)
    index.current = dict(base.packages)
    source = (root / "versions.yaml").read_bytes().decode()
    plan = newversion.plan(source, request, index.airflow_check, index.upgrader, root=root)
    if write:
        newversion.apply(root, plan, lock_writer=None)
    return plan


def offline_plan(source: str, request: Request) -> newversion.Plan:
    index = FakeIndex()
    return newversion.plan(source, request, index.airflow_check, index.upgrader, root=REPO_ROOT)


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def assert_old_releases_unchanged(old: Matrix, new: Matrix) -> None:
    for previous in old.releases:
        assert new.release(str(previous.version)) == previous


def assert_written(root: Path, original: str, version: str) -> Matrix:
    """versions.yaml keeps every comment, loads, and distributions/ and releases.json include `version`."""
    text = (root / "versions.yaml").read_text()
    assert comment_lines(text) == comment_lines(original)  # every one, in order
    matrix = load_matrix(root / "versions.yaml")
    new = matrix.release(version)
    for python in new.pythons:
        assert (root / "distributions" / version / f"python-{python}" / "base" / "Dockerfile").is_file()
        assert (root / "distributions" / version / f"python-{python}" / "onbuild" / "Dockerfile").is_file()
    assert (root / "distributions" / version / "RELEASE_NOTES.md").is_file()
    feed = json.loads((root / "releases.json").read_text())
    assert version in [entry["version"] for entry in feed["releases"]]
    assert render.check(root, render.repository_tree(root, matrix)).clean
    assert version in frozen.read(root), "a new release's build context is frozen as it is written"
    return matrix


def added_lines(old: str, new: str) -> list[str]:
    """`new` must be `old` with lines inserted; returns the inserted ones."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    added, position = [], 0
    for text in new_lines:
        if position < len(old_lines) and text == old_lines[position]:
            position += 1
        else:
            added.append(text)
    assert position == len(old_lines), "an existing line was changed or removed"
    return added


# --- patch -------------------------------------------------------------------------------------


def test_a_patch_adds_one_entry_after_the_newest_release_of_the_default_line(root, before):
    original = (root / "versions.yaml").read_text()
    default = before.default_release()
    base = newest_released(before, default.line)
    day = a_day_for(before, base.line)
    plan = cut(root, Request(Bump.PATCH, day))

    expected = Version(base.version.major, base.version.minor, base.version.patch + 1)
    assert plan.version == expected
    # Pins the line does not share (a package the base's minor added) are the entry's own.
    own = {name: version for name, version in base.packages
           if name not in line(parse(original), base.line).get("packages", {})}
    assert added_lines(original, (root / "versions.yaml").read_text()) == [
        f"      - version: {expected}",
        f"        airflow: {base.airflow}",
        f"        released: {day.isoformat()}",
        "        channel: stable",
        *(["        packages:"] if own else []),
        *(f'          {name}: "{version}"' for name, version in sorted(own.items())),
        *([f"        in_house: [{', '.join(p.name for p in base.in_house)}]"] if base.in_house else []),
        *(["        patches:"] if base.patches else []),
        *(line for b in base.patches for line in (f"          - file: {json.dumps(b.file)}",
                                                   f"            summary: {json.dumps(b.summary)}")),
    ]
    after = assert_written(root, original, str(expected))
    new = after.release(str(expected))
    assert (new.airflow, new.packages, new.channel, new.released) == (base.airflow, base.packages, Channel.STABLE, day)
    assert (new.pythons, new.python) == (base.pythons, base.python)
    assert (new.suite, new.platforms) == (base.suite, base.platforms)
    assert_old_releases_unchanged(before, after)
    # Right after the entry of the release it follows (before the comments of whatever comes next).
    text = (root / "versions.yaml").read_text().splitlines()
    at = text.index(f"      - version: {expected}")
    entries = [i for i, content in enumerate(text[:at]) if content.startswith("      - version: ")]
    assert text[entries[-1]] == f"      - version: {base.version}"
    assert text[at - 1].startswith("        ") and not text[at - 1].lstrip().startswith("#")


def nightlies_ahead(root: Path, matrix: Matrix, runtime: int, names: list[str]) -> Matrix:
    """The copy's versions.yaml with line `runtime`'s nightlies pinning `names` one patch higher
    than the newest release (a nightly is ahead of the patch cut below it; pinning the same, it
    would go back on a pin the patch moves, which the rules refuse)."""
    path = root / "versions.yaml"
    lines = path.read_text().splitlines(keepends=True)
    base = newest_released(matrix, runtime)
    for nightly in (r for r in matrix.line(runtime) if r.channel is Channel.NIGHTLY):
        at = lines.index(f"      - version: {nightly.version}\n") + 1
        end = next((i for i in range(at, len(lines)) if lines[i].startswith("      - version:")
                    or not lines[i].startswith("        ")), len(lines))
        pins = [f'          {name}: "{_next_patch(base.package_version(name))}"\n' for name in names]
        if "        packages:\n" in lines[at:end]:  # the nightly pins some already: add to them
            at = lines.index("        packages:\n", at) + 1
            lines[at:at] = pins
            end += len(pins)
            lines[at + len(pins):end] = [entry for entry in lines[at + len(pins):end]
                                         if not any(entry.startswith(f"          {name}:") for name in names)]
        else:
            lines[at:at] = ["        packages:\n", *pins]
    path.write_text("".join(lines))
    return load_matrix(path)


def test_a_patch_with_new_pins_moves_the_line_pins_and_old_releases_keep_theirs(root, before):
    line_of = before.default_release().line
    before = nightlies_ahead(root, before, line_of, [name for name, _ in newest_released(before, line_of).packages][:2])
    original = (root / "versions.yaml").read_text()
    base = newest_released(before, line_of)
    nightlies = [r for r in before.line(base.line) if r.channel is Channel.NIGHTLY]
    # Move the patch of packages every nightly of the line pins higher anyway (else it would go back).
    movable = [name for name, version in base.packages
               if all(Pep440(n.package_version(name)) > Pep440(version) for n in nightlies)][:2]
    assert movable, "the committed matrix has no package to move"
    moves = {name: _next_patch(base.package_version(name)) for name in movable}
    index = FakeIndex(moves)
    plan = cut(root, Request(Bump.PATCH, a_day_for(before, base.line), upgrade_providers=True), index)

    # Asked once, for the lowest Python of the line, with patch-only ranges.
    [(airflow, wanted, python, released)] = index.upgrade_asked
    assert airflow == base.airflow and released == plan.release.released
    assert python == min(base.pythons, key=lambda p: tuple(map(int, p.split("."))))
    for name, version in base.packages:
        major, minor = Pep440(version).release[:2]
        assert wanted[name] == f">={version},<{major}.{minor + 1}"

    assert [(c.name, c.old, c.new) for c in plan.changes] == [(n, base.package_version(n), moves[n]) for n in movable]
    after = assert_written(root, original, str(plan.version))
    assert_old_releases_unchanged(before, after)
    new = after.release(str(plan.version))
    assert dict(new.packages) == dict(base.packages) | moves
    doc = parse((root / "versions.yaml").read_text())
    # Pin convention: the line's pins are the new release's; the new entry states only those the
    # line does not share (a package the base's minor added).
    line_pins = line(doc, base.line)["packages"]
    assert {k: line_pins[k] for k in movable} == moves
    assert release(doc, str(plan.version)).get("packages", {}) == {
        name: version for name, version in base.packages if name not in line_pins}
    for other in before.line(base.line):
        for name in movable:
            assert release(doc, str(other.version))["packages"][name] == other.package_version(name)
    # Overrides went exactly to the releases that had inherited a moved pin.
    inherited = {str(r.version) for r in before.line(base.line)
                 if set(movable) - set(release(parse(original), str(r.version)).get("packages", {}))}
    assert set(plan.overridden) == inherited


def _next_patch(version: str) -> str:
    major, minor, patch = Pep440(version).release[:3]
    return f"{major}.{minor}.{patch + 1}"


# --- minor -------------------------------------------------------------------------------------


def _line_for_a_minor(matrix: Matrix) -> int:
    """A line whose next minor is not taken yet (e.g. by a nightly)."""
    versions = {r.version for r in matrix.releases}
    for runtime in matrix.lines:
        base = newest_released(matrix, runtime)
        if Version(base.version.major, base.version.minor + 1, 0) not in versions:
            return runtime
    raise AssertionError("every line's next minor exists already")


def test_a_minor_from_an_older_line_moves_package_minors(root, before):
    original = (root / "versions.yaml").read_text()
    runtime = _line_for_a_minor(before)
    base = newest_released(before, runtime)
    name, version = base.packages[0]
    major, minor = Pep440(version).release[:2]
    moves = {name: f"{major}.{minor + 1}.0"}
    index = FakeIndex(moves)
    plan = cut(root, Request(Bump.MINOR, a_day_for(before, runtime), base=str(base.version),
                             upgrade_providers=True), index)

    assert plan.version == Version(base.version.major, base.version.minor + 1, 0)
    assert index.upgrade_asked[0][1][name] == f">={version},<{major + 1}"
    assert index.airflow_asked == []  # Airflow did not move: nothing to ask
    after = assert_written(root, original, str(plan.version))
    assert_old_releases_unchanged(before, after)
    new = after.release(str(plan.version))
    assert new.airflow == base.airflow
    assert dict(new.packages) == dict(base.packages) | moves
    assert line(parse((root / "versions.yaml").read_text()), runtime)["packages"][name] == moves[name]


def test_a_patch_may_move_airflow_s_patch(root, before):
    # In a line without a nightly (a nightly ahead on the old Airflow would have Airflow go back).
    runtime = next(n for n in before.lines if newest_released(before, n) == before.line(n)[-1])
    base = newest_released(before, runtime)
    airflow = Version(base.airflow.major, base.airflow.minor, base.airflow.patch + 1)
    index = FakeIndex()
    plan = cut(root, Request(Bump.PATCH, a_day_for(before, runtime), base=str(base.version), airflow=str(airflow)),
               index)
    assert plan.release.airflow == airflow
    assert index.airflow_asked == [(airflow, base.python, plan.release.released)]
    assert f"        airflow: {airflow}" in (root / "versions.yaml").read_text().splitlines()


# --- major -------------------------------------------------------------------------------------


def with_airflow_pythons(root: Path, minor: str, pythons: tuple[str, ...]) -> str:
    """Add `minor: pythons` to airflow_pythons, after the entry of the newest line's Airflow minor."""
    path = root / "versions.yaml"
    text = path.read_text()
    matrix = load_matrix(path)
    after = newest_released(matrix, max(matrix.lines)).airflow.minor_line
    lines = text.splitlines(keepends=True)
    at = next(i for i, text_line in enumerate(lines) if text_line.startswith(f'  "{after}":'))
    lines.insert(at + 1, f'  "{minor}": [{", ".join(json.dumps(p) for p in pythons)}]\n')
    path.write_text("".join(lines))
    return "".join(lines)


def _next_airflow_minor(matrix: Matrix) -> Version:
    newest = newest_released(matrix, max(matrix.lines)).airflow
    return Version(newest.major, newest.minor + 1, 0)


def test_a_major_adds_a_line_after_the_last_one(root, before):
    base = newest_released(before, max(before.lines))
    airflow = _next_airflow_minor(before)
    original = with_airflow_pythons(root, airflow.minor_line, base.pythons)
    index = FakeIndex()
    day = a_day_for(before, base.line)
    plan = cut(root, Request(Bump.MAJOR, day, airflow=str(airflow)), index)

    version = Version(base.version.major + 1, 0, 0)
    assert plan.version == version
    assert index.airflow_asked == [(airflow, base.python, day)]
    text = (root / "versions.yaml").read_text()
    added = added_lines(original, text)
    source = line(parse(original), base.line)
    assert added == [
        "",
        f"  - runtime: {version.major}",
        f'    airflow: "{airflow.minor_line}"',
        f"    suite: {source['suite']}",
        f'    python: "{source["python"]}"',
        f"    pythons: [{', '.join(json.dumps(p) for p in source['pythons'])}]",
        f"    architectures: [{', '.join(source['architectures'])}]",
        "    packages:",
        *(f'      {name}: "{pin}"' for name, pin in base.packages),
        *(["    slim_packages:", *(f"      - {name}" for name, _ in base.slim_packages)] if base.has_slim else []),
        "    releases:",
        f"      - version: {version}",
        f"        airflow: {airflow}",
        f"        released: {day.isoformat()}",
        "        channel: stable",
        *([f"        in_house: [{', '.join(p.name for p in base.in_house)}]"] if base.in_house else []),
    ]
    assert text.endswith("\n".join(added) + "\n")  # after the last line
    after = assert_written(root, original, str(version))
    assert_old_releases_unchanged(before, after)
    new = after.release(str(version))
    assert (new.airflow, new.packages, new.channel) == (airflow, base.packages, Channel.STABLE)
    assert (new.pythons, new.python) == (base.pythons, base.python)
    assert (new.suite, new.platforms) == (base.suite, base.platforms)
    assert after.lines == (*before.lines, version.major)


def test_a_major_with_upgraded_providers_takes_any_newer_version(root, before):
    base = newest_released(before, max(before.lines))
    airflow = _next_airflow_minor(before)
    with_airflow_pythons(root, airflow.minor_line, base.pythons)
    name, version = base.packages[-1]
    moves = {name: f"{Pep440(version).major + 1}.0.0"}  # a new major: only a Runtime major may take it
    index = FakeIndex(moves)
    plan = cut(root, Request(Bump.MAJOR, a_day_for(before, base.line), airflow=str(airflow),
                             upgrade_providers=True), index)
    assert set(index.upgrade_asked[0][1].values()) == {""}
    assert plan.release.package_version(name) == moves[name]
    assert line(parse((root / "versions.yaml").read_text()), plan.version.major)["packages"][name] == moves[name]


# --- refusals: each one leaves versions.yaml (and everything else) as it was -------------------


def refused(root: Path, request: Request, index: FakeIndex | None = None) -> str:
    files = {path: path.read_bytes() for path in (root / "versions.yaml", root / "releases.json")}
    listing = sorted((root / "distributions").iterdir())
    with pytest.raises(NewVersionError) as caught:
        cut(root, request, index)
    assert {path: path.read_bytes() for path in files} == files
    assert sorted((root / "distributions").iterdir()) == listing
    return str(caught.value)


def test_refuses_a_version_that_exists(root, before):
    day = a_day_for(before, before.default_release().line)
    # A nightly build of the next patch: the newest release is still the base, whose next patch exists.
    first = cut(root, Request(Bump.PATCH, day, nightly=True))
    message = refused(root, Request(Bump.PATCH, day))
    assert message == (f"Runtime {first.version} already exists in versions.yaml, channel nightly "
                       f"(a nightly build: release it with `new-version --release {first.version}`); nothing was "
                       "written")


def test_refuses_a_version_that_exists_even_as_a_nightly(root, before):
    """A nightly build of the next minor (written here after the newest release of the default
    line) is taken: cutting that minor is refused, pointing at the channel."""
    base = newest_released(before, before.default_release().line)
    nightly = Version(base.version.major, base.version.minor + 1, 0)
    day = a_day_for(before, base.line)
    path = root / "versions.yaml"
    if not any(r.version == nightly for r in before.line(base.line)):  # the committed matrix may have it
        lines = path.read_text().splitlines(keepends=True)
        at = lines.index(f"      - version: {base.version}\n") + 1
        while at < len(lines) and lines[at].startswith("        "):
            at += 1
        own = {name: version for name, version in base.packages
               if name not in line(parse(path.read_text()), base.line).get("packages", {})}
        lines[at:at] = [f"      - version: {nightly}\n", f"        airflow: {base.airflow}\n",
                        f"        released: {day.isoformat()}\n", "        channel: nightly\n",
                        *(["        packages:\n"] if own else []),
                        *(f'          {name}: "{version}"\n' for name, version in sorted(own.items())),
                        *([f"        in_house: [{', '.join(p.name for p in base.in_house)}]\n"]
                          if base.in_house else [])]
        path.write_text("".join(lines))
    assert load_matrix(path).release(str(nightly)).channel is Channel.NIGHTLY
    message = refused(root, Request(Bump.MINOR, day, base=str(base.version)))
    assert message == (f"Runtime {nightly} already exists in versions.yaml, channel nightly "
                       f"(a nightly build: release it with `new-version --release {nightly}`); nothing was written")


def test_a_nightly_cut_keeps_the_line_pins_and_is_not_frozen(root, before):
    """`--nightly`: the entry is channel nightly and states the pins that differ; the line's pins stay
    its newest release's; its build context renders from the templates until it is released."""
    base = newest_released(before, before.default_release().line)
    moves = {name: _next_patch(version) for name, version in base.packages[:1]}
    before = nightlies_ahead(root, before, base.line, list(moves))  # a nightly minor may be ahead already
    original = (root / "versions.yaml").read_text()
    plan = cut(root, Request(Bump.PATCH, a_day_for(before, base.line), upgrade_providers=True, nightly=True),
               FakeIndex(moves))
    after = load_matrix(root / "versions.yaml")
    new = after.release(str(plan.version))
    assert new.channel is Channel.NIGHTLY and dict(new.packages) == dict(base.packages) | moves
    doc = parse((root / "versions.yaml").read_text())
    assert line(doc, base.line)["packages"] == line(parse(original), base.line)["packages"]
    assert set(moves) <= set(release(doc, str(plan.version))["packages"])
    assert str(plan.version) not in frozen.read(root)
    assert after.default_release() == base


def test_refuses_a_major_without_airflow(root, before):
    message = refused(root, Request(Bump.MAJOR, date(2026, 11, 23)))
    assert message.startswith("a new Runtime major ships a new Airflow minor: give it with --airflow A.B.C")


def test_refuses_a_major_with_the_same_airflow_minor(root, before):
    base = newest_released(before, max(before.lines))
    message = refused(root, Request(Bump.MAJOR, date(2026, 11, 23), airflow=str(base.airflow)))
    assert f"a new Runtime major ships a newer Airflow minor than line {base.line}'s" in message


@pytest.mark.parametrize("bump", [Bump.PATCH, Bump.MINOR])
def test_refuses_a_patch_or_minor_moving_the_airflow_minor(root, before, bump):
    base = newest_released(before, _line_for_a_minor(before))
    airflow = Version(base.airflow.major, base.airflow.minor + 1, 0)
    message = refused(root, Request(bump, a_day_for(before, base.line), base=str(base.version),
                                    airflow=str(airflow)))
    assert message.startswith(f"--airflow {airflow}: a {bump.value} release may only move Airflow's patch")
    assert "needs a new Runtime major" in message


def test_refuses_airflow_going_back(root, before):
    base = next(newest_released(before, n) for n in before.lines if newest_released(before, n).airflow.patch > 0)
    airflow = Version(base.airflow.major, base.airflow.minor, base.airflow.patch - 1)
    message = refused(root, Request(Bump.PATCH, a_day_for(before, base.line), base=str(base.version),
                                    airflow=str(airflow)))
    assert f"Airflow may not go back from {base.airflow}" in message


def test_refuses_an_airflow_minor_whose_pythons_do_not_cover_the_line(root, before):
    base = newest_released(before, max(before.lines))
    airflow = _next_airflow_minor(before)
    lowest = min(base.pythons, key=lambda p: tuple(map(int, p.split("."))))
    with_airflow_pythons(root, airflow.minor_line, tuple(p for p in base.pythons if p != lowest))
    message = refused(root, Request(Bump.MAJOR, date(2026, 11, 23), airflow=str(airflow)))
    assert f"Airflow {airflow.minor_line} does not support Python {lowest} of line {base.line}" in message


def test_refuses_an_airflow_minor_without_airflow_pythons(root, before):
    airflow = _next_airflow_minor(before)
    message = refused(root, Request(Bump.MAJOR, date(2026, 11, 23), airflow=str(airflow)))
    assert f"Airflow {airflow.minor_line} has no entry under airflow_pythons" in message


def test_refuses_an_airflow_the_index_does_not_have(root, before):
    base = newest_released(before, before.default_release().line)
    airflow = Version(base.airflow.major, base.airflow.minor, base.airflow.patch + 1)
    index = FakeIndex(missing_airflow="no version of apache-airflow==" + str(airflow))
    message = refused(root, Request(Bump.PATCH, a_day_for(before, base.line), airflow=str(airflow)), index)
    assert message.startswith(f"--airflow {airflow}: apache-airflow=={airflow} cannot be installed")
    assert f"  no version of apache-airflow=={airflow}" in message


def test_refuses_from_a_release_that_is_not_the_newest_of_its_line(root, before):
    runtime = next(n for n in before.lines if len(before.line(n)) > 1)
    oldest = before.line(runtime)[0]
    message = refused(root, Request(Bump.PATCH, date(2026, 11, 23), base=str(oldest.version)))
    assert f"--from {oldest.version} is not the newest release of its line" in message


def test_a_date_before_the_line_s_releases_is_refused_alone(root, before):
    """Said first and alone (issue 31): not a page of every release's dates out of order."""
    line = before.line(before.default_release().line)
    newest = max(line, key=lambda r: r.released)
    message = refused(root, Request(Bump.PATCH, date(2000, 1, 1)))
    assert message == (f"--date 2000-01-01: before Runtime {newest.version}'s release ({newest.released}); a "
                       "release of a line cannot come out before the ones it follows")


def test_refuses_what_the_validator_refuses(root, before):
    """A date after the line's releases but past another rule: the validator's own words, all of them."""
    base = newest_released(before, before.default_release().line)
    message = refused(root, Request(Bump.PATCH, date(9999, 1, 1)))
    assert message.startswith(f"Runtime {base.version.major}.{base.version.minor}.{base.version.patch + 1} "
                              "would make versions.yaml invalid; nothing was written:")


# --- failures after writing put everything back -------------------------------------------------


def test_a_failing_lock_step_puts_versions_yaml_back(root, before):
    files = {path: path.read_bytes() for path in (root / "versions.yaml", root / "releases.json")}
    listing = sorted((root / "distributions").rglob("*"))
    day = a_day_for(before, before.default_release().line)
    plan = offline_plan(files[root / "versions.yaml"].decode(), Request(Bump.PATCH, day))

    def failing_lock(matrix, where, version):
        lock = where / "distributions" / version / f"python-{plan.release.python}" / "base" / "locks" / "amd64.txt"
        lock.parent.mkdir(parents=True)
        lock.write_text("half written\n")
        raise LockError("no index")

    with pytest.raises(LockError):
        newversion.apply(root, plan, failing_lock)
    assert {path: path.read_bytes() for path in files} == files
    assert sorted((root / "distributions").rglob("*")) == listing


def test_a_failure_after_rendering_renders_the_old_matrix_again(root, before, monkeypatch):
    files = {path: path.read_bytes() for path in (root / "versions.yaml", root / "releases.json")}
    day = a_day_for(before, before.default_release().line)
    plan = offline_plan(files[root / "versions.yaml"].decode(), Request(Bump.PATCH, day))
    real_write = render.write
    calls = []

    def write_then_fail(where, rendered):
        calls.append(where)
        result = real_write(where, rendered)
        if len(calls) == 1:
            raise OSError("disk full")
        return result

    monkeypatch.setattr(newversion.render, "write", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        newversion.apply(root, plan, lock_writer=None)
    assert {path: path.read_bytes() for path in files} == files
    assert not (root / "distributions" / str(plan.version)).exists()
    files_now = render.repository_tree(root, before)
    assert render.check(root, files_now).clean


def test_apply_refuses_a_plan_made_from_another_versions_yaml(root, before):
    day = a_day_for(before, before.default_release().line)
    plan = offline_plan((root / "versions.yaml").read_text(), Request(Bump.PATCH, day))
    (root / "versions.yaml").write_text((root / "versions.yaml").read_text() + "# edited meanwhile\n")
    with pytest.raises(NewVersionError, match="changed since the new version was planned"):
        newversion.apply(root, plan, lock_writer=None)


# --- the command line ---------------------------------------------------------------------------


def test_the_command_cuts_a_patch_and_the_checks_pass(cli, root, before):
    base = newest_released(before, before.default_release().line)
    day = a_day_for(before, base.line)
    result = cli("--root", root, "new-version", "--patch", "--date", day.isoformat(), "--no-lock")
    version = f"{base.version.major}.{base.version.minor}.{base.version.patch + 1}"
    assert result.code == 0, result.err
    assert result.out.startswith(f"Runtime {version}: patch release after {base.version}, Airflow {base.airflow}, "
                                 f"released {day.isoformat()}, channel stable\n")
    assert f"+      - version: {version}\n" in result.out
    assert "wrote versions.yaml, no lock files (--no-lock" in result.out
    for check in (("validate",), ("render", "--check"), ("feed", "--check")):
        assert cli("--root", root, *check).code == 0


def test_dry_run_writes_nothing(cli, root, before):
    original = (root / "versions.yaml").read_bytes()
    day = a_day_for(before, before.default_release().line)
    result = cli("--root", root, "new-version", "--patch", "--date", day.isoformat(), "--dry-run")
    assert result.code == 0, result.err
    assert result.out.endswith("dry run: nothing was written\n")
    assert (root / "versions.yaml").read_bytes() == original
    assert cli("--root", root, "render", "--check").code == 0


def test_the_command_refuses_with_exit_2(cli, root):
    original = (root / "versions.yaml").read_bytes()
    result = cli("--root", root, "new-version", "--major", "--dry-run")
    assert result.code == 2
    assert result.err.startswith("error: a new Runtime major ships a new Airflow minor")
    assert (root / "versions.yaml").read_bytes() == original


def test_the_command_needs_exactly_one_kind(cli, root):
    with pytest.raises(SystemExit):
        cli("--root", root, "new-version", "--patch", "--minor")


# --- the real package index ---------------------------------------------------------------------


@pytest.mark.slow
def test_upgrading_providers_asks_the_real_index(root, before):
    base = newest_released(before, before.default_release().line)
    source = (root / "versions.yaml").read_text()
    try:
        plan = newversion.plan(source, Request(Bump.PATCH, a_day_for(before, base.line), upgrade_providers=True),
                               root=root)
    except NewVersionError:
        # Tell "no index here" (skip) from a real failure: can the index give the base's own Airflow?
        reason = pkgindex.airflow_unavailable(base.airflow, base.python, base.released)
        if reason:
            pytest.skip(f"the package index is not reachable through uv here: {reason.splitlines()[-1].strip()}")
        raise
    for name, version in base.packages:
        new = plan.release.package_version(name)
        assert new is not None and Pep440(new) in SpecifierSet(newversion.allowed_range(version, Bump.PATCH))


@pytest.mark.slow
def test_a_cut_with_real_locks_locks_every_cell_of_the_new_version(cli, root, before):
    """`new-version` as a release engineer runs it: the lock files are resolved with uv."""
    base = newest_released(before, before.default_release().line)
    reason = pkgindex.airflow_unavailable(base.airflow, base.python, base.released)
    if reason:
        pytest.skip(f"the package index is not reachable through uv here: {reason.splitlines()[-1].strip()}")
    day = a_day_for(before, base.line)
    result = cli("--root", root, "new-version", "--patch", "--date", day.isoformat())
    assert result.code == 0, result.err
    after = load_matrix(root / "versions.yaml")
    new = next(r for r in after.releases if r not in before.releases)
    written = lock_cells(after, (str(new.version),))
    assert len(written) == len(new.pythons) * len(new.platforms)
    # Beside the cells: their slim locks, pytest for projects' tests per Python, the in-house
    # pins and digests.
    extra = (len(written) * new.has_slim + len(new.pythons) * new.has(Change.PROJECT_TESTS)
             + 2 * bool(new.in_house))
    assert f"wrote versions.yaml, {len(written) + extra} lock files" in result.out
    for cell in written:
        text = (root / cell.path).read_text()
        assert verify(cell, text) == [], cell.path  # Airflow and every pin at the versions.yaml versions
        assert "--hash=sha256:" in text and f"Runtime {new.version}" in text.splitlines()[0]
        if new.has_slim:  # the slim lock: a subset of the cell's, at its versions
            assert slim_problems(cell, (root / cell.slim_cell().path).read_text(), text) == [], cell.path
    assert [p for p in stale_locks(after, root) if f"/{new.version}/" in p] == []
    for check in (("validate",), ("render", "--check"), ("feed", "--check")):
        assert cli("--root", root, *check).code == 0
    notes_text = (root / "distributions" / str(new.version) / "RELEASE_NOTES.md").read_text()
    assert f"`locks/{base.version}/python-{base.python}/amd64.txt` → " in notes_text


# --- backports ---------------------------------------------------------------------------------


def add_patches(root: Path, release: Release, file: str) -> None:
    """Give `release` the committed patch `file` in the scratch versions.yaml (its entry as written)."""
    path = root / "versions.yaml"
    entry = (f"      - version: {release.version}\n        airflow: {release.airflow}\n"
             f"        released: {release.released.isoformat()}\n        channel: {release.channel.value}\n")
    text = path.read_text()
    assert text.count(entry) == 1, f"the entry of {release.version} is not written as expected"
    path.write_text(text.replace(entry, entry + f"        patches:\n          - file: {file}\n"
                                                "            summary: \"A backport.\"\n"))


def test_a_patch_keeping_airflow_carries_the_backports_over(root, before):
    base = newest_released(before, before.default_release().line)
    if not base.patches:  # give it a committed backport made for its Airflow
        file = next(b.file for r in before.releases for b in r.patches if r.airflow == base.airflow)
        add_patches(root, base, file)
    patched = load_matrix(root / "versions.yaml").release(str(base.version))
    plan = cut(root, Request(Bump.PATCH, a_day_for(before, patched.line), base=str(patched.version)))
    assert plan.release.airflow == patched.airflow
    assert plan.release.patches == patched.patches
    assert plan.release.airflow_build_version == f"{patched.airflow}+runtime.{plan.release.version}"
    assert "backports carried over from" in newversion.report(plan)
    assert load_matrix(root / "versions.yaml").release(str(plan.release.version)).patches == patched.patches


def test_moving_airflow_leaves_the_backports_behind_and_says_so(root, before):
    runtime = next(n for n in before.lines if newest_released(before, n) == before.line(n)[-1])
    base = newest_released(before, runtime)
    file = next(b.file for r in before.releases for b in r.patches)
    add_patches(root, base, file)
    airflow = Version(base.airflow.major, base.airflow.minor, base.airflow.patch + 1)
    plan = cut(root, Request(Bump.PATCH, a_day_for(before, runtime), base=str(base.version), airflow=str(airflow)))
    assert plan.base.patches and plan.release.patches == ()
    assert plan.release.airflow_build_version == str(airflow)
    report = newversion.report(plan)
    assert f"backports of {base.version} NOT carried over (made for Airflow {base.airflow}" in report
    assert PurePosixPath(file).name in report
