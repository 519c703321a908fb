"""A malformed releases.json, or a `feed --merge` folder of anything but release feeds, is bad
input (exit 2) naming the file, the field and what is expected, never Python's own words
(issue 31: it was a JSONDecodeError, KeyError or TypeError traceback, or a silent success)."""

from __future__ import annotations

import pytest

from .support import fixture_text, write_matrix

PYTHON_WORDS = ("Traceback", "KeyError", "TypeError", "object has no attribute", "not subscriptable", "NoneType")


@pytest.fixture
def root(tmp_path):
    write_matrix(tmp_path, fixture_text())
    return tmp_path


@pytest.mark.parametrize(("content", "message"), [
    ("", "releases.json: not a release feed: not JSON (line 1, column 1"),
    ("{\"releases\": [", "releases.json: not a release feed: not JSON (line 1"),
    ("[]", "releases.json: not a release feed: a JSON object with `releases` is expected, not a list"),
    ('"x"', "releases.json: not a release feed: a JSON object with `releases` is expected, not str"),
    ('{"releases": null}', "releases.json: not a release feed: releases: a list is expected, not null"),
    ('{"releases": {}}', "releases.json: not a release feed: releases: a list is expected, not a mapping"),
    ('{"releases": [1]}', "releases.json: not a release feed: releases[0]: a mapping is expected, not int"),
    ('{"releases": [{"images": {}}]}', "releases[0] > version: a string is expected, not null"),
    ('{"releases": [{"version": "14.0.1", "images": []}]}',
     "releases[0] (14.0.1) > images: a mapping of repository to tags is expected, not a list"),
    ('{"releases": [{"version": "14.0.1", "images": {"quay.io/o/r": ["14.0.1"]}}]}',
     "releases[0] (14.0.1) > images > quay.io/o/r: a mapping of tag to image is expected, not a list"),
    ('{"releases": [{"version": "14.0.1", "images": {"quay.io/o/r": {"14.0.1": {}}}}]}',
     "releases[0] (14.0.1) > images > quay.io/o/r > 14.0.1 > digest: a string is expected, not null"),
    ('{"releases": [{"version": "14.0.1", "images": {"r": {"t": {"digest": "sha256:1", "platforms": []}}}}]}',
     "releases[0] (14.0.1) > images > r > t > platforms: a mapping of platform to digest is expected, not a list"),
])
@pytest.mark.parametrize("argv", [("feed",), ("feed", "--check")])
def test_a_malformed_releases_json_is_bad_input_naming_the_field(cli, root, content, message, argv):
    (root / "releases.json").write_text(content)
    result = cli("--root", root, *argv)
    assert result.code == 2, result.err
    assert message in result.err and "restore it" in result.err
    assert not any(word in result.err for word in PYTHON_WORDS), result.err
    assert (root / "releases.json").read_text() == content, "nothing was written"


def test_feed_merge_of_a_folder_without_feeds_is_refused(cli, root, tmp_path_factory):
    empty = tmp_path_factory.mktemp("published")
    result = cli("--root", root, "feed", "--merge", empty)
    assert result.code == 2
    assert f"--merge: {empty} holds no release feed (*.json" in result.err
    assert not (root / "releases.json").exists(), "nothing was written"


@pytest.mark.parametrize(("content", "message"), [
    ("{}", "releases: a list is expected, not null"),
    ("not json", "not JSON (line 1, column 1: Expecting value)"),
    ('{"releases": [{"version": "14.0.1", "images": {"r": {"t": {"digest": 1}}}}]}',
     "releases[0] (14.0.1) > images > r > t > digest: a string is expected, not int"),
])
def test_feed_merge_names_the_file_that_is_not_a_feed_and_its_field(cli, root, tmp_path_factory, content, message):
    folder = tmp_path_factory.mktemp("published")
    (folder / "feed-quay.io_o_r").mkdir()
    bad = folder / "feed-quay.io_o_r" / "quay.io_o_r.json"
    bad.write_text(content)
    result = cli("--root", root, "feed", "--merge", folder)
    assert result.code == 2
    assert f"{bad}: not a release feed: {message}; nothing was written" in result.err, result.err
    assert not (root / "releases.json").exists()
