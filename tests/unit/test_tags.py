"""Image tags of the fixture matrix, written out by hand, and the rules behind them.

Fixture recap (tests/unit/data/versions.yaml):
  11.0.0 deprecated | 11.1.0 stable                       Pythons 3.9, 3.11 (default 3.11)
  14.0.0 stable | 14.0.1 stable | 14.0.2 stable, yanked  Pythons 3.11, 3.12, 3.13 (default 3.13)
  14.1.0 nightly, released 2026-12-05
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from runtime_builder.generate.tags import TagKind, image_of_tag, image_tags, suffixes, tag_table
from runtime_builder.matrix.model import Channel, Variant

from .support import edit, fixture_text, line, load_text, release

BASE, ONBUILD = Variant.BASE, Variant.ONBUILD


def names(matrix, version, python, variant, nightly=None):
    return [t.name for t in image_tags(matrix, matrix.release(version), python, variant, nightly)]


EXPECTED = [
    pytest.param("14.0.1", "3.13", ONBUILD, [
        "14.0.1", "14.0.1-python-3.13",
        "14.0", "14", "latest", "14.0-python-3.13", "14-python-3.13", "latest-python-3.13",
    ], id="newest-stable-default-python-gets-latest"),
    pytest.param("14.0.1", "3.13", BASE, [
        "14.0.1-base", "14.0.1-python-3.13-base",
        "14.0-base", "14-base", "latest-base", "14.0-python-3.13-base", "14-python-3.13-base",
        "latest-python-3.13-base",
    ], id="newest-stable-base"),
    pytest.param("14.0.1", "3.11", BASE, [
        "14.0.1-python-3.11-base", "14.0-python-3.11-base", "14-python-3.11-base", "latest-python-3.11-base",
    ], id="newest-stable-non-default-python-only-python-forms"),
    pytest.param("14.0.2", "3.13", ONBUILD, ["14.0.2", "14.0.2-python-3.13"], id="yanked-gets-only-immutable-tags"),
    pytest.param("14.0.2", "3.12", BASE, ["14.0.2-python-3.12-base"], id="yanked-non-default-python"),
    pytest.param("14.0.0", "3.13", ONBUILD, ["14.0.0", "14.0.0-python-3.13"], id="superseded-gets-only-immutable-tags"),
    pytest.param("14.1.0", "3.13", BASE, [
        "14.1.0-nightly-20261205-base", "14.1.0-nightly-20261205-python-3.13-base",
    ], id="nightly-channel-gets-only-nightly-tags"),
    pytest.param("14.1.0", "3.11", ONBUILD, ["14.1.0-nightly-20261205-python-3.11"], id="nightly-channel-non-default"),
    pytest.param("11.0.0", "3.11", ONBUILD, [
        "11.0.0", "11.0.0-python-3.11", "11.0", "11.0-python-3.11",
    ], id="deprecated-keeps-its-minor-floating-tags"),
    pytest.param("11.0.0", "3.9", BASE, ["11.0.0-python-3.9-base", "11.0-python-3.9-base"], id="deprecated-python-3.9"),
    pytest.param("11.1.0", "3.11", BASE, [
        "11.1.0-base", "11.1.0-python-3.11-base", "11.1-base", "11-base", "11.1-python-3.11-base",
        "11-python-3.11-base",
    ], id="older-line-newest-gets-line-tags-not-latest"),
    pytest.param("11.1.0", "3.9", ONBUILD, [
        "11.1.0-python-3.9", "11.1-python-3.9", "11-python-3.9",
    ], id="python-only-in-older-line-gets-no-latest"),
]


@pytest.mark.parametrize(("version", "python", "variant", "expected"), EXPECTED)
def test_image_tags(matrix, version, python, variant, expected):
    assert names(matrix, version, python, variant) == expected


def test_tag_kinds(matrix):
    tags = image_tags(matrix, matrix.release("14.0.1"), "3.13", ONBUILD)
    kinds = {t.name: t.kind for t in tags}
    assert kinds["14.0.1"] is kinds["14.0.1-python-3.13"] is TagKind.IMMUTABLE
    assert {kinds[n] for n in ("14.0", "14", "latest", "latest-python-3.13")} == {TagKind.FLOATING}
    nightly = image_tags(matrix, matrix.release("14.1.0"), "3.13", ONBUILD)
    assert {t.kind for t in nightly} == {TagKind.NIGHTLY}


def test_floating_tags_go_back_to_the_previous_release_when_the_newest_is_yanked(tmp_path, matrix):
    unyanked = load_text(tmp_path, edit(lambda doc: release(doc, "14.0.2").pop("yanked"))(fixture_text()))
    assert "latest" in names(unyanked, "14.0.2", "3.13", ONBUILD)
    assert "latest" not in names(unyanked, "14.0.1", "3.13", ONBUILD)
    assert "latest" in names(matrix, "14.0.1", "3.13", ONBUILD)


def test_nightly_release_does_not_take_floating_tags_from_stable_ones(matrix):
    every = [name for *_, tags in tag_table(matrix) for name in (t.name for t in tags)]
    assert "14.1" not in every and "14.1-base" not in every
    assert Counter(every)["14"] == 1 and "14" in names(matrix, "14.0.1", "3.13", ONBUILD)


def test_deprecated_release_keeps_its_lines_floating_tags(tmp_path):
    def deprecate(doc):
        release(doc, "11.1.0")["channel"] = "deprecated"

    matrix = load_text(tmp_path, edit(deprecate)(fixture_text()))
    assert names(matrix, "11.1.0", "3.11", ONBUILD) == [
        "11.1.0", "11.1.0-python-3.11", "11.1", "11", "11.1-python-3.11", "11-python-3.11",
    ]


def test_latest_falls_back_to_the_newest_stable_line_when_the_newest_line_is_deprecated(tmp_path):
    def deprecate_line_14(doc):
        for raw in line(doc, 14)["releases"]:
            if raw["channel"] == "stable":
                raw["channel"] = "deprecated"

    matrix = load_text(tmp_path, edit(deprecate_line_14)(fixture_text()))
    assert "latest" in names(matrix, "11.1.0", "3.11", ONBUILD)
    assert "latest-python-3.9" in names(matrix, "11.1.0", "3.9", ONBUILD)
    assert "14" in names(matrix, "14.0.1", "3.13", ONBUILD)  # the deprecated line keeps its own tags
    assert "latest" not in names(matrix, "14.0.1", "3.13", ONBUILD)


def test_no_latest_python_tag_for_a_python_only_an_older_line_supports(matrix):
    every = {t.name for *_, tags in tag_table(matrix) for t in tags}
    assert "11-python-3.9" in every
    assert not {name for name in every if name.startswith("latest-python-3.9")}


@pytest.mark.parametrize(
    ("day", "stamp"),
    [(date(2026, 11, 23), "20261123"), (date(2027, 1, 2), "20270102"), (date(2030, 10, 9), "20301009")],
)
def test_nightly_tags_of_any_release_use_the_given_date(matrix, day, stamp):
    assert names(matrix, "14.0.1", "3.13", ONBUILD, nightly=day) == [
        f"14.0.1-nightly-{stamp}", f"14.0.1-nightly-{stamp}-python-3.13",
    ]
    assert names(matrix, "14.0.1", "3.12", BASE, nightly=day) == [f"14.0.1-nightly-{stamp}-python-3.12-base"]


def test_nightly_date_overrides_a_nightly_releases_own_date(matrix):
    assert names(matrix, "14.1.0", "3.11", BASE, nightly=date(2027, 3, 4)) == [
        "14.1.0-nightly-20270304-python-3.11-base"
    ]


def test_unsupported_python_is_an_error(matrix):
    with pytest.raises(ValueError, match=r"Runtime 14\.0\.1 does not support Python 3\.9; supported: 3\.11, 3\.12"):
        image_tags(matrix, matrix.release("14.0.1"), "3.9", ONBUILD)


def test_suffixes_include_the_bare_form_only_for_the_default_python(matrix):
    assert suffixes(matrix.release("14.0.1"), "3.13", ONBUILD) == ["", "-python-3.13"]
    assert suffixes(matrix.release("14.0.1"), "3.13", BASE) == ["-base", "-python-3.13-base"]
    assert suffixes(matrix.release("14.0.1"), "3.12", BASE) == ["-python-3.12-base"]


def test_tag_table_has_one_row_per_release_python_and_variant(matrix):
    rows = [(version, python, variant) for version, python, variant, _ in tag_table(matrix)]
    assert len(rows) == len(set(rows)) == 2 * 2 * 2 + 4 * 3 * 2
    assert rows[:4] == [
        ("11.0.0", "3.9", BASE), ("11.0.0", "3.9", ONBUILD), ("11.0.0", "3.11", BASE), ("11.0.0", "3.11", ONBUILD),
    ]


# --- properties, of the fixture and of the committed versions.yaml ------------------------------


def _assert_tags_unique(matrix, nightly=None):
    owners: dict[str, list[str]] = {}
    for each in matrix.releases:
        for python in each.pythons:
            for variant in each.variants:
                for tag in image_tags(matrix, each, python, variant, nightly):
                    owners.setdefault(tag.name, []).append(f"{each.version} python {python} {variant.value}")
    claimed_twice = {name: images for name, images in owners.items() if len(images) > 1}
    assert not claimed_twice, claimed_twice


def test_fixture_tags_are_each_assigned_to_one_image(matrix):
    _assert_tags_unique(matrix)


def test_committed_matrix_tags_are_each_assigned_to_one_image(committed_matrix):
    """No two images claim the same floating tag, and every immutable tag is unique."""
    _assert_tags_unique(committed_matrix)


def test_committed_matrix_nightly_tags_are_unique_for_a_date(committed_matrix):
    _assert_tags_unique(committed_matrix, nightly=date(2026, 11, 23))


def test_committed_matrix_every_published_image_has_its_full_python_tag(committed_matrix):
    for version, python, variant, tags in tag_table(committed_matrix):
        kinds = {t.kind for t in tags}
        if kinds == {TagKind.NIGHTLY}:
            continue
        assert f"{version}-python-{python}{variant.suffix}" in [t.name for t in tags]


def test_committed_matrix_latest_is_on_the_newest_stable_release_only(committed_matrix):
    owners = {(version, variant) for version, _, variant, tags in tag_table(committed_matrix)
              if f"latest{variant.suffix}" in [t.name for t in tags]}
    stable = [r for r in committed_matrix.releases if r.channel is Channel.STABLE and not r.is_yanked]
    newest = max(stable, key=lambda r: r.version)
    expected = {(str(newest.version), v) for v in newest.variants} if stable else set()
    assert owners == expected


def test_every_tag_names_its_image_back(matrix):
    """image_of_tag inverts the tag function: each tag of the table names the image it is on."""
    for version, python, variant, tags in tag_table(matrix):
        for tag in tags:
            release, found_python, found_variant = image_of_tag(matrix, tag.name)
            assert (str(release.version), found_python, found_variant) == (version, python, variant), tag.name


def test_a_tag_no_image_has_names_nothing(matrix):
    assert image_of_tag(matrix, "99.0.0") is None
    assert image_of_tag(matrix, "latest-python-2.7") is None
