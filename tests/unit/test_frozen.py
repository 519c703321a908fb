"""Released build contexts are frozen: render keeps them as they are once `freeze` recorded them,
a template change reaches only what is not released, and a changed frozen context is an error."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import pytest

from runtime_builder import layout
from runtime_builder.generate import frozen, render
from runtime_builder.generate.frozen import FrozenContextError, RenderedFile
from runtime_builder.matrix.load import load_matrix

from .conftest import PROBE_SH_NAME

PROBE = f"distributions/14.0.0/python-3.13/base/{PROBE_SH_NAME}"


@pytest.fixture
def frozen_repo(rendered: Path, cli) -> Path:
    """The rendered fixture repository with 14.0.0 released and frozen."""
    assert cli("--root", rendered, "freeze", "14.0.0").code == 0
    return rendered


def test_digest_covers_path_mode_and_content() -> None:
    one = {PurePosixPath("distributions/1.0.0/python-3.13/base/a"): RenderedFile(b"x", False)}
    assert frozen.digest(one) == frozen.digest(dict(one))
    assert frozen.digest(one) != frozen.digest({path: RenderedFile(b"y", False) for path in one})
    assert frozen.digest(one) != frozen.digest({path: RenderedFile(b"x", True) for path in one})
    assert frozen.digest(one) != frozen.digest({PurePosixPath("distributions/1.0.0/python-3.13/base/b"):
                                                RenderedFile(b"x", False)})


def test_only_the_contexts_are_frozen_not_the_notes() -> None:
    assert frozen.is_context(PurePosixPath("distributions/14.0.0/python-3.13/base/Dockerfile"), "14.0.0")
    assert not frozen.is_context(PurePosixPath("distributions/14.0.0/RELEASE_NOTES.md"), "14.0.0")
    assert not frozen.is_context(PurePosixPath("distributions/14.0.0/python-3.13/base/Dockerfile"), "14.0.1")


def test_a_template_change_leaves_a_frozen_context_as_released(frozen_repo: Path, cli) -> None:
    probe = frozen_repo / "templates" / "base" / f"{PROBE_SH_NAME}.j2"
    probe.write_text(probe.read_text() + "# a change for the releases to come\n")
    released = (frozen_repo / PROBE).read_bytes()
    assert cli("--root", frozen_repo, "render").code == 0
    assert (frozen_repo / PROBE).read_bytes() == released, "the frozen context kept its file"
    others = (frozen_repo / "distributions" / "14.1.0" / "python-3.13" / "base" / PROBE_SH_NAME).read_text()
    assert others.endswith("# a change for the releases to come\n"), "an unfrozen context took the change"
    assert cli("--root", frozen_repo, "render", "--check").code == 0


def test_a_changed_frozen_context_is_an_error_naming_it(frozen_repo: Path, cli) -> None:
    (frozen_repo / PROBE).write_text("edited by hand\n")
    before = {path: path.read_bytes() for path in (frozen_repo / "distributions").rglob("*") if path.is_file()}
    for argv in (("render",), ("render", "--check"), ("freeze", "--check")):
        result = cli("--root", frozen_repo, *argv)
        assert result.code == 1 and "distributions/14.0.0/python-*/ is not the build context Runtime 14.0.0 was " \
                                    "released with" in result.err, (argv, result.err)
    after = {path: path.read_bytes() for path in (frozen_repo / "distributions").rglob("*") if path.is_file()}
    assert after == before, "nothing was written"


def test_a_missing_frozen_context_is_an_error(frozen_repo: Path, cli) -> None:
    shutil.rmtree(frozen_repo / "distributions" / "14.0.0" / "python-3.13")
    shutil.rmtree(frozen_repo / "distributions" / "14.0.0" / "python-3.12", ignore_errors=True)
    for folder in (frozen_repo / "distributions" / "14.0.0").glob("python-*"):
        shutil.rmtree(folder)
    result = cli("--root", frozen_repo, "render")
    assert result.code == 1 and "is missing: Runtime 14.0.0 is released" in result.err, result.err


def test_freeze_check_names_what_is_released_but_not_frozen(frozen_repo: Path, cli) -> None:
    result = cli("--root", frozen_repo, "freeze", "--check")
    assert result.code == 1 and "released but not frozen:" in result.err and "14.0.0," not in result.err, result.err
    assert cli("--root", frozen_repo, "freeze").code == 0
    assert cli("--root", frozen_repo, "freeze", "--check").code == 0


def test_only_what_render_made_is_frozen(rendered: Path, cli) -> None:
    (rendered / PROBE).write_text("not what render makes\n")
    result = cli("--root", rendered, "freeze", "14.0.0")
    assert result.code == 1 and "run `python build.py render` first" in result.err, result.err
    assert not (rendered / layout.RELEASED_CONTEXTS).exists()


def test_a_nightly_is_not_frozen(rendered: Path, cli) -> None:
    matrix = load_matrix(rendered / "versions.yaml")
    nightly = next((r for r in matrix.releases if r.channel.value == "nightly"), None)
    if nightly is None:
        pytest.skip("the fixture matrix has no nightly")
    result = cli("--root", rendered, "freeze", str(nightly.version))
    assert result.code == 2 and "only a released version is frozen" in result.err, result.err


@pytest.mark.parametrize("line", ["sha256:abc  14.0.0", "14.0.0", f"sha256:{'0' * 64}"])
def test_a_bad_record_line_is_named(line: str) -> None:
    with pytest.raises(FrozenContextError, match="line 2"):
        frozen.parse(f"# header\n{line}\n")


def test_the_committed_record_matches_the_committed_contexts() -> None:
    from .support import REPO_ROOT

    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    contexts = frozen.load(REPO_ROOT, matrix)
    assert frozen.unfrozen(matrix, frozen.read(REPO_ROOT)) == [], "every released version is frozen"
    tree = render.repository_tree(REPO_ROOT, matrix)
    for version, files in contexts.items():
        assert {path: tree[path] for path in files} == files, version


def test_branches_end_with_the_lines_that_need_them(committed_matrix) -> None:
    """docs/architecture/image-changes.md: with released contexts frozen, a branch of the templates
    is needed while the next releases of the supported lines differ on its change."""
    from datetime import date

    from runtime_builder import contract
    from runtime_builder.matrix.evolution import branches_needed

    last_line = max(committed_matrix.lines)
    older_lines_end = max(release.end_of_basic_support for release in committed_matrix.releases
                          if release.line < last_line)
    assert branches_needed(committed_matrix, date(2026, 12, 6)) == {
        change for change in contract.Change
        if any(change.value in {c.name for c in release.changes} for release in committed_matrix.releases)}
    after = date.fromordinal(older_lines_end.toordinal() + 1)
    assert branches_needed(committed_matrix, after) == set(), "one line left: nothing to branch on"


def test_a_released_versions_locks_are_not_written_again(frozen_repo: Path, cli) -> None:
    result = cli("--root", frozen_repo, "lock", "14.0.0")
    assert result.code == 2 and "14.0.0: released, and the lock files are part of the frozen build context" \
        in result.err, result.err
