"""Text edits of YAML that keep comments: where nodes end, how edits combine, how scalars are written."""

from __future__ import annotations

import pytest
import yaml

from runtime_builder.release import yamltext

DOC = """\
# top comment
items:
  - name: a
    notes: |
      first
      second
    # a comment between entries
  - name: b   # trailing comment
    tags: [x, y]
    pins:
      p: "1.0"
      r: "2.0"

other: 1
"""


def test_last_line_follows_the_last_child_not_the_comments_after_it():
    doc = yamltext.compose(DOC)
    first, second = yamltext.get(doc, "items").value
    assert yamltext.last_line(first) == 5  # the block scalar's last line, not the comment
    assert yamltext.last_line(second) == 11
    assert yamltext.last_line(yamltext.get(second, "tags")) == 8


def test_inserts_at_one_place_keep_their_order_and_replacements_keep_the_line():
    doc = yamltext.compose(DOC)
    second = yamltext.get(doc, "items").value[1]
    pins = yamltext.get(second, "pins")
    edits = [
        yamltext.insert_after(second, ["    first: 1"]),
        yamltext.insert_after(second, ["    second: 2"]),
        yamltext.Replace(yamltext.get(pins, "r"), '"2.1"'),
        yamltext.Insert(pins.value[1][0].start_mark.line, ('      q: "1.5"',)),
        yamltext.Replace(yamltext.get(second, "name"), "c"),
    ]
    text = yamltext.apply(DOC, edits)
    assert text.splitlines()[6:15] == [
        "    # a comment between entries",
        "  - name: c   # trailing comment",
        "    tags: [x, y]",
        "    pins:",
        '      p: "1.0"',
        '      q: "1.5"',
        '      r: "2.1"',
        "    first: 1",
        "    second: 2",
    ]
    assert yaml.safe_load(text)["items"][1] == {"name": "c", "tags": ["x", "y"], "pins": {"p": "1.0", "q": "1.5",
                                                                                          "r": "2.1"},
                                                "first": 1, "second": 2}


def test_apply_keeps_crlf_and_a_missing_final_newline():
    assert yamltext.apply("a: 1\r\nb: 2", [yamltext.Insert(2, ("c: 3",))]) == "a: 1\r\nb: 2\r\nc: 3\r\n"


def test_flow_style_is_refused():
    doc = yamltext.compose("m: {a: 1}\n")
    with pytest.raises(yamltext.TextEditError, match="flow style"):
        yamltext.require_block(yamltext.get(doc, "m"), "m")


@pytest.mark.parametrize(("value", "written"), [
    ("trixie", "trixie"), ("linux/amd64", "linux/amd64"), ("3.10", '"3.10"'), ("yes", '"yes"'),
    ("null", '"null"'), ("a: b", '"a: b"'), ("", '""'), ("- x", '"- x"'), ("2026-01-01", '"2026-01-01"'),
])
def test_plain_quotes_what_yaml_would_read_as_something_else(value, written):
    assert yamltext.plain(value) == written
    assert yaml.safe_load(f"k: {written}")["k"] == value
