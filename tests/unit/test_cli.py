"""`build.py validate` and `build.py tags`: output and exit codes."""

from __future__ import annotations

import json
import shlex

import pytest

from runtime_builder.arguments import EXAMPLES, parse_arguments
from runtime_builder.cli import COMMANDS

from .support import REPO_ROOT, edit, fixture_text, line, release, write_matrix


def test_validate_a_valid_matrix_exits_0(cli, repo):
    result = cli("--root", repo, "validate")
    assert result.code == 0
    assert result.out == "versions.yaml is valid: 6 releases in 2 Runtime lines\n"
    assert result.err == ""


def test_validate_an_invalid_matrix_exits_2_listing_every_problem(cli, repo):
    def break_two(doc):
        line(doc, 14)["architectures"] = ["linux/s390x"]
        release(doc, "14.0.0")["channel"] = "beta"

    write_matrix(repo, edit(break_two)(fixture_text()))
    result = cli("--root", repo, "validate")
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines() == [
        "versions.yaml is invalid (2 problems):",
        "  versions.yaml: lines[1] (Runtime 14) > architectures[0]: unknown platform 'linux/s390x'; "
        "allowed: linux/amd64, linux/arm64",
        "  versions.yaml: lines[1] (Runtime 14) > releases[0] (14.0.0) > channel: 'beta' is not a channel; "
        "allowed: stable, deprecated, nightly",
    ]


def test_validate_reports_a_versioning_policy_violation(cli, repo):
    write_matrix(repo, edit(lambda doc: release(doc, "14.0.1").__setitem__(
        "packages", {"apache-airflow-providers-celery": "3.15.0"}))(fixture_text()))
    result = cli("--root", repo, "validate")
    assert result.code == 2
    assert ("versions.yaml: Runtime 14.0.0 -> 14.0.1 (patch release) > packages > apache-airflow-providers-celery: "
            "minor moved 3.14.0 -> 3.15.0") in result.err


def test_validate_a_yaml_syntax_error_exits_2(cli, repo):
    write_matrix(repo, "schema: 1\nlines: [\n")
    result = cli("--root", repo, "validate")
    assert result.code == 2
    assert "YAML syntax error" in result.err


def test_validate_without_versions_yaml_exits_2(cli, tmp_path):
    result = cli("--root", tmp_path, "validate")
    assert result.code == 2
    assert "cannot read the file: No such file or directory" in result.err


def test_a_problem_without_a_location_renders_cleanly(cli, tmp_path):
    result = cli("--root", tmp_path, "validate")
    assert "versions.yaml: cannot read the file" in result.err


def test_validate_the_committed_matrix(cli):
    result = cli("validate")
    assert result.code == 0, result.err


# --- tags -------------------------------------------------------------------------------------


def test_tags_of_one_image(cli, repo):
    result = cli("--root", repo, "tags", "14.0.1", "--python", "3.12", "--variant", "base")
    assert result.code == 0
    assert result.out.splitlines() == [
        "airflow-runtime:14.0.1-python-3.12-base\timmutable\tpython-3.12\tbase",
        "airflow-runtime:14.0-python-3.12-base\tfloating\tpython-3.12\tbase",
        "airflow-runtime:14-python-3.12-base\tfloating\tpython-3.12\tbase",
        "airflow-runtime:latest-python-3.12-base\tfloating\tpython-3.12\tbase",
    ]


def test_tags_of_every_image_of_a_version(cli, repo):
    result = cli("--root", repo, "--repository", "ghcr.io/acme/rt", "tags", "11.0.0")
    assert result.code == 0
    assert [row.split("\t")[0] for row in result.out.splitlines()] == [
        "ghcr.io/acme/rt:11.0.0-python-3.9-base",
        "ghcr.io/acme/rt:11.0-python-3.9-base",
        "ghcr.io/acme/rt:11.0.0-python-3.9",
        "ghcr.io/acme/rt:11.0-python-3.9",
        "ghcr.io/acme/rt:11.0.0-base",
        "ghcr.io/acme/rt:11.0.0-python-3.11-base",
        "ghcr.io/acme/rt:11.0-base",
        "ghcr.io/acme/rt:11.0-python-3.11-base",
        "ghcr.io/acme/rt:11.0.0",
        "ghcr.io/acme/rt:11.0.0-python-3.11",
        "ghcr.io/acme/rt:11.0",
        "ghcr.io/acme/rt:11.0-python-3.11",
    ]


@pytest.mark.parametrize("day", ["20261123", "2026-11-23"])
def test_tags_nightly_with_a_date(cli, repo, day):
    result = cli("--root", repo, "tags", "14.0.1", "--python", "3.13", "--nightly", "--date", day)
    assert result.code == 0
    assert result.out.splitlines() == [
        "airflow-runtime:14.0.1-nightly-20261123-base\tnightly\tpython-3.13\tbase",
        "airflow-runtime:14.0.1-nightly-20261123-python-3.13-base\tnightly\tpython-3.13\tbase",
        "airflow-runtime:14.0.1-nightly-20261123\tnightly\tpython-3.13\tonbuild",
        "airflow-runtime:14.0.1-nightly-20261123-python-3.13\tnightly\tpython-3.13\tonbuild",
    ]


def test_tags_of_a_nightly_channel_release_are_nightly_without_the_flag(cli, repo):
    result = cli("--root", repo, "tags", "14.1.0", "--python", "3.11", "--variant", "onbuild")
    assert result.out == "airflow-runtime:14.1.0-nightly-20261205-python-3.11\tnightly\tpython-3.11\tonbuild\n"


def test_tags_unknown_version_exits_2(cli, repo):
    result = cli("--root", repo, "tags", "14.0.9")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("error: no Runtime version '14.0.9' in the matrix; known: 11.0.0, 11.1.0,")


def test_tags_unsupported_python_exits_2(cli, repo):
    result = cli("--root", repo, "tags", "14.0.1", "--python", "3.9")
    assert result.code == 2
    assert "error: Runtime 14.0.1 does not support Python 3.9; supported: 3.11, 3.12, 3.13" in result.err


def test_tags_on_an_invalid_matrix_exits_2(cli, repo):
    write_matrix(repo, edit(lambda doc: doc.__setitem__("schema", 2))(fixture_text()))
    result = cli("--root", repo, "tags", "14.0.1")
    assert result.code == 2
    assert "schema: 2 is not supported" in result.err


def test_tags_invalid_nightly_date_exits_2(cli, repo):
    result = cli("--root", repo, "tags", "14.0.1", "--nightly", "--date", "20261323")
    assert result.code == 2
    assert "20261323" in result.err


def test_tags_as_json(cli, repo):
    result = cli("--root", repo, "tags", "14.0.1", "--python", "3.13", "--variant", "base", "--json")
    assert result.code == 0
    rows = json.loads(result.out)
    assert {"image": "airflow-runtime:14.0.1-python-3.13-base", "tag": "14.0.1-python-3.13-base",
            "kind": "immutable", "python": "3.13", "variant": "base"} in rows
    text = cli("--root", repo, "tags", "14.0.1", "--python", "3.13", "--variant", "base").out.splitlines()
    assert [row["image"] for row in rows] == [line.split("\t")[0] for line in text], "the same tags, in order"


def test_a_date_without_nightly_is_refused_not_ignored(cli, repo):
    result = cli("--root", repo, "tags", "14.0.1", "--date", "2026-01-01")
    assert result.code == 2 and "--date 2026-01-01: a date names nightly tags only; add --nightly" in result.err


def test_a_nightly_date_keeps_four_year_digits(cli, repo):
    result = cli("--root", repo, "tags", "14.0.1", "--nightly", "--date", "0999-01-02")
    assert result.code == 0 and "-nightly-09990102" in result.out


@pytest.mark.parametrize(("argv", "message"), [
    (("matrix", "--python", "2.7"), "error: no release of the matrix has Python '2.7'; known: 3.9,"),
    (("matrix", "--line", "9"), "error: no Runtime line 9 in the matrix; known: 11, 14"),
    (("matrix", "--version", "99.0.0"), "error: no Runtime version '99.0.0' in the matrix; known: 11.0.0,"),
    (("lock", "--python", "2.7"), "error: no release of the matrix has Python '2.7'"),
    (("test", "--version", "99.0.0"), "error: no Runtime version '99.0.0' in the matrix"),
])
def test_a_filter_that_can_select_nothing_is_a_usage_error(cli, repo, argv, message):
    """A filter naming what no release has is a typo, not an empty selection (issue 31)."""
    result = cli("--root", repo, *argv)
    assert result.code == 2 and result.err.startswith(message), result.err


def test_lock_jobs_must_be_positive(cli, repo, capsys):
    with pytest.raises(SystemExit) as exited:
        cli("--root", repo, "lock", "--jobs", "0")
    assert exited.value.code == 2 and "argument --jobs: 0 must be at least 1" in capsys.readouterr().err


# --- `build.py test` tests what `build.py build` builds, and refuses what does not exist --------


class _NoImages:
    client = "docker"

    def image_id(self, ref: str) -> None:
        return None


def test_test_without_filters_selects_what_build_builds_and_refuses_missing_images(cli, monkeypatch):
    from runtime_builder.images import builder, host
    from runtime_builder.images.engine import Engine
    from runtime_builder.matrix.load import load_matrix

    monkeypatch.setattr(host, "require", lambda **_: None)
    monkeypatch.setattr(Engine, "detect", classmethod(lambda cls: _NoImages()))
    wanted = [spec.reference() for spec in builder.select(load_matrix(REPO_ROOT / "versions.yaml"))]
    assert len(wanted) == 4 and all("-python-" in ref for ref in wanted)  # every variant (slim too), default Python
    result = cli("--root", REPO_ROOT, "test")
    assert result.code == 2
    first, second = result.err.splitlines()[:2]
    assert first == f"error: no such images: {', '.join(wanted)}"
    assert second.startswith("build them first with `python build.py build`")


@pytest.mark.parametrize(("command", "line"), [(c, line) for c, lines in EXAMPLES.items() for line in lines])
def test_every_help_example_is_a_command_line_build_py_takes(command, line):
    """The examples --help ends with parse as written (issue 31): an example never rots."""
    argv = shlex.split(line.split("  #")[0].split(" > ")[0])  # the command, without a comment or a redirection
    assert argv[:2] == ["python3", "build.py"] and argv[2] == command
    args = parse_arguments(argv[2:])
    assert args.command == command


def test_every_command_says_what_it_does_in_its_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            parse_arguments([name, "--help"])
        out = capsys.readouterr().out
        assert out.split("\n\n")[1].strip(), f"`build.py {name} --help` has no description"
        assert "\nexamples:\n  python3 build.py " + name in out, f"`build.py {name} --help` ends with no example"
