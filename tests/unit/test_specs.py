"""Build-matrix cells: `specs.select` with each filter, and the rows CI reads.

The fixture has 40 cells: line 11 = 2 releases x 2 Pythons x 2 variants x 2 platforms,
line 14 = 4 releases x 3 Pythons x 2 variants x 1 platform (amd64 only).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from runtime_builder.generate.specs import Filters, ImageSpec, all_specs, context_dir, matrix_row, select
from runtime_builder.lock.locks import LockCell
from runtime_builder.matrix.model import Channel, Platform, Variant

BASE, ONBUILD = Variant.BASE, Variant.ONBUILD
AMD, ARM = Platform.AMD64, Platform.ARM64

ROW_KEYS = {
    "version", "line", "channel", "yanked", "airflow", "variant", "python", "default_python", "platform", "arch",
    "suite", "context", "image", "tags", "cache_scope",
}


def cells(specs):
    return {(str(s.release.version), s.python, s.variant.value, s.platform.arch) for s in specs}


def test_no_filter_selects_every_cell(matrix):
    specs = select(matrix, Filters())
    assert len(specs) == 40
    assert specs == all_specs(matrix)
    assert len(cells(specs)) == 40


def test_filter_by_version(matrix):
    assert cells(select(matrix, Filters(versions=("11.0.0",)))) == {
        ("11.0.0", python, variant, arch)
        for python in ("3.9", "3.11") for variant in ("base", "onbuild") for arch in ("amd64", "arm64")
    }


def test_several_values_of_one_filter_are_alternatives(matrix):
    specs = select(matrix, Filters(versions=("11.0.0", "14.0.2")))
    assert {str(s.release.version) for s in specs} == {"11.0.0", "14.0.2"}
    assert len(specs) == 8 + 6


def test_filter_by_line(matrix):
    specs = select(matrix, Filters(lines=(14,)))
    assert {str(s.release.version) for s in specs} == {"14.0.0", "14.0.1", "14.0.2", "14.1.0"}
    assert len(specs) == 24


def test_filter_by_channel(matrix):
    assert {str(s.release.version) for s in select(matrix, Filters(channels=(Channel.NIGHTLY,)))} == {"14.1.0"}
    assert {str(s.release.version) for s in select(matrix, Filters(channels=(Channel.DEPRECATED,)))} == {"11.0.0"}
    stable = select(matrix, Filters(channels=(Channel.STABLE,)))
    assert {str(s.release.version) for s in stable} == {"11.1.0", "14.0.0", "14.0.1", "14.0.2"}


def test_filter_by_variant(matrix):
    specs = select(matrix, Filters(variants=(BASE,)))
    assert len(specs) == 20 and {s.variant for s in specs} == {BASE}


def test_filter_by_python(matrix):
    specs = select(matrix, Filters(pythons=("3.11",)))
    assert {s.python for s in specs} == {"3.11"}
    assert len(specs) == 2 * 2 * 2 + 4 * 2 * 1
    assert {str(s.release.version) for s in select(matrix, Filters(pythons=("3.9",)))} == {"11.0.0", "11.1.0"}


def test_filter_by_platform(matrix):
    specs = select(matrix, Filters(platforms=(ARM,)))
    assert {str(s.release.version) for s in specs} == {"11.0.0", "11.1.0"}  # line 14 is amd64 only
    assert len(specs) == 8


def test_filter_default_python_only(matrix):
    specs = select(matrix, Filters(default_python_only=True))
    assert {(s.release.line, s.python) for s in specs} == {(11, "3.11"), (14, "3.13")}
    assert len(specs) == 2 * 2 * 2 + 4 * 2


def test_filters_combine_with_and(matrix):
    specs = select(matrix, Filters(lines=(14,), variants=(BASE,), default_python_only=True))
    assert cells(specs) == {
        (version, "3.13", "base", "amd64") for version in ("14.0.0", "14.0.1", "14.0.2", "14.1.0")
    }


def test_filters_that_exclude_each_other_select_nothing(matrix):
    assert select(matrix, Filters(lines=(14,), platforms=(ARM,))) == []
    assert select(matrix, Filters(versions=("11.1.0",), pythons=("3.13",))) == []


def test_spec_paths_and_names(matrix):
    spec = ImageSpec(matrix.release("14.0.1"), "3.12", BASE, AMD)
    assert spec.context == PurePosixPath("distributions/14.0.1/python-3.12/base")
    assert spec.name == "14.0.1-python-3.12-base linux/amd64"
    assert spec.reference() == "airflow-runtime:14.0.1-python-3.12-base-amd64"
    assert spec.reference("ghcr.io/acme/rt") == "ghcr.io/acme/rt:14.0.1-python-3.12-base-amd64"
    assert not spec.is_default_python
    onbuild = ImageSpec(matrix.release("14.0.1"), "3.13", ONBUILD, ARM)
    assert onbuild.reference() == "airflow-runtime:14.0.1-python-3.13-arm64"
    assert onbuild.base_spec() == ImageSpec(matrix.release("14.0.1"), "3.13", BASE, ARM)
    assert context_dir(matrix.release("11.0.0"), "3.9", ONBUILD) == PurePosixPath(
        "distributions/11.0.0/python-3.9/onbuild"
    )
    assert LockCell(matrix.release("11.0.0"), "3.9", ARM).path == "locks/11.0.0/python-3.9/arm64.txt"


def test_matrix_row(matrix):
    spec = ImageSpec(matrix.release("14.0.1"), "3.13", ONBUILD, AMD)
    assert matrix_row(matrix, spec, "airflow-runtime") == {
        "version": "14.0.1",
        "line": 14,
        "channel": "stable",
        "yanked": False,
        "airflow": "3.3.1",
        "variant": "onbuild",
        "python": "3.13",
        "default_python": True,
        "platform": "linux/amd64",
        "arch": "amd64",
        "suite": "trixie",
        "context": "distributions/14.0.1/python-3.13/onbuild",
        "image": "airflow-runtime:14.0.1-python-3.13-amd64",
        "tags": ["14.0.1", "14.0.1-python-3.13", "14.0", "14", "latest", "14.0-python-3.13", "14-python-3.13",
                 "latest-python-3.13"],
        "cache_scope": "14.0.1-python-3.13-onbuild-amd64",
    }


def test_matrix_row_of_a_yanked_release(matrix):
    row = matrix_row(matrix, ImageSpec(matrix.release("14.0.2"), "3.11", BASE, AMD), "r")
    assert row["yanked"] is True
    assert row["tags"] == ["14.0.2-python-3.11-base"]


# --- `build.py matrix` ------------------------------------------------------------------------


@pytest.fixture
def matrix_json(cli, repo):
    def run(*argv):
        result = cli("--root", repo, "matrix", "--json", *argv)
        assert result.code == 0, result.err
        return json.loads(result.out)

    return run


def test_cli_matrix_json_shape(matrix_json):
    document = matrix_json()
    assert list(document) == ["include"]
    assert len(document["include"]) == 40
    for row in document["include"]:
        assert set(row) == ROW_KEYS


def test_cli_matrix_json_filters(matrix_json):
    rows = matrix_json("--line", "11", "--variant", "base", "--platform", "arm64", "--default-python")["include"]
    assert [(r["version"], r["python"], r["variant"], r["platform"]) for r in rows] == [
        ("11.0.0", "3.11", "base", "linux/arm64"),
        ("11.1.0", "3.11", "base", "linux/arm64"),
    ]


def test_cli_matrix_json_version_channel_and_python(matrix_json):
    rows = matrix_json("--version", "14.1.0", "--python", "3.12", "--channel", "nightly")["include"]
    assert {r["variant"]: (r["version"], r["python"], r["channel"], r["tags"]) for r in rows} == {
        "base": ("14.1.0", "3.12", "nightly", ["14.1.0-nightly-20261205-python-3.12-base"]),
        "onbuild": ("14.1.0", "3.12", "nightly", ["14.1.0-nightly-20261205-python-3.12"]),
    }


def test_cli_matrix_repository_names_the_images(cli, repo):
    result = cli("--root", repo, "--repository", "ghcr.io/acme/rt", "matrix", "--json", "--version", "11.0.0")
    assert {row["image"].split(":")[0] for row in json.loads(result.out)["include"]} == {"ghcr.io/acme/rt"}


def test_cli_matrix_compact_is_one_line(cli, repo):
    result = cli("--root", repo, "matrix", "--json", "--compact", "--version", "14.0.1")
    assert result.code == 0
    assert result.out.count("\n") == 1
    assert len(json.loads(result.out)["include"]) == 6


def test_cli_matrix_text_lists_one_cell_per_line(cli, repo):
    result = cli("--root", repo, "matrix", "--version", "14.0.2", "--python", "3.13")
    assert result.code == 0
    assert result.out.splitlines() == [
        "  14.0.2  base     python 3.13  linux/amd64  14.0.2-base 14.0.2-python-3.13-base",
        "  14.0.2  onbuild  python 3.13  linux/amd64  14.0.2 14.0.2-python-3.13",
    ]


def test_cli_matrix_unknown_version_exits_2(cli, repo):
    result = cli("--root", repo, "matrix", "--json", "--version", "99.0.0")
    assert result.code == 2
    assert result.out == ""
    assert "error: no Runtime version '99.0.0' in the matrix; known: 11.0.0, 11.1.0, 14.0.0" in result.err


def test_cli_matrix_unknown_platform_exits_2(cli, repo, capsys):
    with pytest.raises(SystemExit) as exited:  # refused when the arguments are parsed (issue 31)
        cli("--root", repo, "matrix", "--platform", "linux/s390x")
    assert exited.value.code == 2
    assert ("argument --platform: unknown platform 'linux/s390x'; allowed: linux/amd64, linux/arm64"
            in capsys.readouterr().err)


def test_cli_matrix_with_no_matching_cell_says_so(cli, repo):
    result = cli("--root", repo, "matrix", "--json", "--line", "14", "--platform", "linux/arm64")
    assert result.code == 0
    assert json.loads(result.out) == {"include": []}
    assert "no matrix cell matches these filters" in result.err


def test_cli_matrix_unknown_channel_is_an_argparse_error(cli, repo):
    with pytest.raises(SystemExit) as caught:
        cli("--root", repo, "matrix", "--channel", "beta")
    assert caught.value.code == 2
