"""How a project's `.env` is read (runtime_builder/deploy/envfile.py): Docker Compose's rules as
python-dotenv implements them, and what is refused before anything starts, never showing a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime_builder.deploy.envfile import MAX_TOTAL_BYTES, MAX_VARIABLE_BYTES, check_sizes, parse, read
from runtime_builder.errors import UsageError

SECRET = "S3cr3t"


@pytest.mark.parametrize(("text", "expected"), [
    ("FOO=bar # x\n", {"FOO": "bar"}),
    ("FOO=a#b\n", {"FOO": "a#b"}),
    ('FOO="bar" # x\n', {"FOO": "bar"}),
    ("FOO='bar' # x\n", {"FOO": "bar"}),
    ('FOO="a\\nb"\n', {"FOO": "a\nb"}),
    ('FOO="tab\\there \\"quoted\\" back\\\\slash"\n', {"FOO": 'tab\there "quoted" back\\slash'}),
    ("A=1\nB=${A}/x\n", {"A": "1", "B": "1/x"}),
    ('A=1\nB="${A}/x"\n', {"A": "1", "B": "1/x"}),
    ("A=1\nS='${A}\\n'\n", {"A": "1", "S": "${A}\\n"}),
    ("export FOO=1\n", {"FOO": "1"}),
    ("  SPACED = kept inside  \n", {"SPACED": "kept inside"}),
    ("EMPTY=\nCOMMENTED= # nothing\n", {"EMPTY": "", "COMMENTED": ""}),
    ("# a comment\n\n   \nA=1 = 2\n", {"A": "1 = 2"}),
    ("A=pa$5 and $ and {x}\n", {"A": "pa$5 and $ and {x}"}),
])
def test_a_value_is_read_as_compose_reads_it(text, expected):
    assert parse(text, "p/.env") == expected


def test_a_double_quoted_value_may_span_lines():
    text = 'KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----" # a key\nNEXT=1\n'
    assert parse(text, "p/.env") == {"KEY": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "NEXT": "1"}


def test_references_take_their_default_when_unset_or_empty():
    text = "EMPTY=\nA=${UNSET:-fallback}\nB=${EMPTY:-fallback}\nC=${UNSET}|${EMPTY}\nD=${LATER}\nLATER=x\n"
    assert parse(text, "p/.env") == {"EMPTY": "", "A": "fallback", "B": "fallback", "C": "|", "D": "", "LATER": "x"}


def test_references_look_in_the_outside_environment_first_and_never_replace_a_value():
    text = "HOST=file-host\nURL=postgres://${HOST}:${PORT:-5432}/${DB}\n"
    outside = {"HOST": "shell-host", "DB": "airflow"}
    assert parse(text, "p/.env", outside) == {"HOST": "file-host", "URL": "postgres://shell-host:5432/airflow"}
    assert parse(text, "p/.env") == {"HOST": "file-host", "URL": "postgres://file-host:5432/"}


def test_without_an_outside_environment_the_process_environment_is_not_read(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENVFILE_TEST_OUTSIDE", "from the process")
    assert parse("A=${ENVFILE_TEST_OUTSIDE}\n", "p/.env") == {"A": ""}


def test_crlf_line_endings_are_line_endings():
    assert parse("A=1\r\nB=\"x\" # c\r\nC=y # c\r\n\r\nD='z'\r\n", "p/.env") == {"A": "1", "B": "x", "C": "y", "D": "z"}
    with pytest.raises(UsageError, match=r"p/\.env line 3: A is set again \(first on line 1\)"):
        parse("A=1\r\n\r\nA=2\r\n", "p/.env")


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path):
    assert parse("\ufeffA=1\nB=2\n", "p/.env") == {"A": "1", "B": "2"}
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbfA=1\r\nB=2\r\n")
    assert read(tmp_path / ".env") == {"A": "1", "B": "2"}


@pytest.mark.parametrize(("text", "message"), [
    # python-dotenv cannot parse it: an unclosed quote (which takes the lines after it), a space in a name
    (f'A=1\n\n# c\nPASSWORD="{SECRET}\nB=2\n', "p/.env line 4: cannot be read as NAME=value"),
    (f"DB URL=postgres://admin:{SECRET}@db/airflow\n", "p/.env line 1: cannot be read as NAME=value"),
    (f"A='{SECRET}' trailing\n", "p/.env line 1: cannot be read as NAME=value"),
    # no `=`
    (f"A=1\nJUST_A_NAME\npostgres://admin:{SECRET}@db/airflow\n", "p/.env line 2: no `=`"),
    (f"A=1\npostgres://admin:{SECRET}@db/airflow\n", "p/.env line 2: no `=`"),
    # not a variable name (the name is not shown either: it may be a pasted secret)
    (f"1X={SECRET}\n", "p/.env line 1: the name is not a variable name"),
    (f"A-B={SECRET}\n", "p/.env line 1: the name is not a variable name"),
    (f"{SECRET}.x=1\n", "p/.env line 1: the name is not a variable name"),
    (f"'QUOTED'={SECRET}\n", "p/.env line 1: the name is not a variable name"),
    # set twice, lines counted across a multi-line value and blank lines
    (f'A="{SECRET}\nstill A"\n\nB=1\nA={SECRET}2\n', "p/.env line 5: A is set again (first on line 1)"),
    # a `$` Compose would expand and python-dotenv would not, or would expand otherwise
    (f"A=pa$word{SECRET}\n", "p/.env line 1: A's value has a `$` that Compose would read otherwise"),
    (f'A="$${SECRET}"\n', "p/.env line 1: A's value has a `$` that Compose would read otherwise"),
    (f"A=${{B-{SECRET}}}\n", "p/.env line 1: A's value has a `$` that Compose would read otherwise"),
    (f"A=${{B:?{SECRET}}}\n", "p/.env line 1: A's value has a `$` that Compose would read otherwise"),
    (f"A=${{B:-${{C}}}}{SECRET}\n", "p/.env line 1: A's value has a `$` that Compose would read otherwise"),
    # no environment variable holds a NUL
    (f"A={SECRET}\0tail\n", "p/.env line 1: A's value has a NUL character"),
])
def test_a_bad_env_file_is_refused_naming_the_line_never_the_value(text, message):
    with pytest.raises(UsageError) as caught:
        parse(text, "p/.env")
    assert str(caught.value).startswith(message)
    assert SECRET not in str(caught.value) and "admin" not in str(caught.value)


def test_single_quotes_keep_what_would_be_refused_unquoted():
    assert parse(f"A='pa$word{SECRET}$${{B-x}}'\n", "p/.env") == {"A": f"pa$word{SECRET}$${{B-x}}"}


def _variables(*sizes: int) -> dict[str, str]:
    """Variables V0, V1, ... whose `NAME=value` strings are `sizes` bytes long."""
    names = [f"V{index}" for index in range(len(sizes))]
    return {name: "x" * (size - len(name) - 1) for name, size in zip(names, sizes, strict=True)}


def test_one_variable_may_be_as_long_as_linux_lets_it_be():
    assert MAX_VARIABLE_BYTES == 131071  # MAX_ARG_STRLEN, 131072 with the terminating NUL
    check_sizes({"A": "x" * (MAX_VARIABLE_BYTES - 2)}, "p/.env")
    with pytest.raises(UsageError) as caught:
        check_sizes({"A": "x" * (MAX_VARIABLE_BYTES - 1)}, "p/.env")
    assert str(caught.value).startswith("p/.env: A is 131072 bytes as NAME=value")
    assert "xxx" not in str(caught.value)


def test_a_variables_size_is_counted_in_bytes_not_characters():
    value = "é" * 65534  # 2 bytes each: with `A=`, 131070 bytes in 65536 characters
    check_sizes({"A": value}, "p/.env")
    with pytest.raises(UsageError, match=r"^p/\.env: A is 131072 bytes as NAME=value"):
        check_sizes({"A": value + "é"}, "p/.env")


def test_all_variables_together_may_take_the_budget_and_no_more():
    assert MAX_TOTAL_BYTES == 1024 * 1024
    # Seven of the longest, then what is left of the budget, each with its NUL.
    full = [MAX_VARIABLE_BYTES] * 7
    rest = MAX_TOTAL_BYTES - 7 * (MAX_VARIABLE_BYTES + 1)
    check_sizes(_variables(*full, rest - 1), "p/.env")
    check_sizes(_variables(*full, rest - 1 - 10, 9), "p/.env")
    with pytest.raises(UsageError) as caught:
        check_sizes(_variables(*full, rest - 1 - 10, 10), "p/.env")
    assert str(caught.value).startswith(f"p/.env: its variables take {MAX_TOTAL_BYTES + 1} bytes, over the "
                                        f"{MAX_TOTAL_BYTES}")
    assert "the largest: V0 (131071 bytes), V1 (131071 bytes), V2 (131071 bytes)" in str(caught.value)


def test_a_10_mb_value_is_refused_when_the_file_is_read(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text("SMALL=1\nHUGE=" + "x" * 10_000_000 + "\n")
    with pytest.raises(UsageError) as caught:
        read(path)
    assert str(caught.value).startswith(f"{path}: HUGE is 10000005 bytes as NAME=value")
    assert "xxx" not in str(caught.value)


def test_read_is_parse_and_check_sizes_of_the_file(tmp_path: Path):
    path = tmp_path / ".env"
    assert read(path) == {}
    path.write_bytes(b"A=1\r\nB=\"two\nlines\"\r\nC=${A}${OUTSIDE}\n")
    assert read(path, {"OUTSIDE": "+"}) == {"A": "1", "B": "two\nlines", "C": "1+"}
    path.write_text(f"A=1\nA={SECRET}\n")
    with pytest.raises(UsageError, match=rf"^{path} line 2: A is set again \(first on line 1\)"):
        read(path)


def test_a_file_that_is_not_utf8_text_is_refused_naming_it(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_bytes(f"A=1\nB={SECRET}".encode() + b"\xff\xfe\n")
    with pytest.raises(UsageError) as caught:
        read(path)
    assert str(caught.value) == f"{path} line 2: not UTF-8 text; save the file as UTF-8"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_folder_in_place_of_the_file_is_refused(tmp_path: Path):
    (tmp_path / ".env").mkdir()
    with pytest.raises(UsageError, match=r"\.env: cannot be read"):
        read(tmp_path / ".env")
