"""Release notes: the diffs, the rendered Markdown, `build.py notes`, and their place in `render`."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import PurePosixPath

import pytest

from runtime_builder.generate import feed, notes, render
from runtime_builder.lock.locks import read_locks
from runtime_builder.lock.resolver import pins
from runtime_builder.matrix.model import Release, Version

from .support import REPO_ROOT, edit, fixture_text, load_text, problems, release

TEMPLATES = REPO_ROOT / "templates"
NOTES_FILE = "RELEASE_NOTES.md"


def rendered(release_: Release, since: Release | None, locks) -> str:
    files = render.render_notes(TEMPLATES, release_, since, locks)
    assert list(files) == [PurePosixPath("distributions", str(release_.version), NOTES_FILE)]
    return next(iter(files.values())).content.decode()


def section(text: str, heading: str) -> list[str]:
    """The lines of one `## heading` section, up to the next one."""
    lines = text.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def subsection(lines: list[str], heading: str) -> list[str]:
    """The `- ` items under `### heading` in a section's lines."""
    start = lines.index(f"### {heading}") + 1
    items = []
    for entry in lines[start:]:
        if entry.startswith("#"):
            break
        if entry.startswith("- "):
            items.append(entry)
    return items


@pytest.fixture(scope="module")
def committed_locks(committed_matrix):
    return read_locks(REPO_ROOT)


# --- the baseline -------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "since"), [
    pytest.param("14.0.2", "14.0.0", id="skips-the-yanked-14.0.1"),
    pytest.param("14.0.1", "14.0.0", id="a-yanked-release-has-notes-too"),
    pytest.param("14.0.0", "13.1.0", id="first-of-a-line-newest-of-the-previous-line"),
    pytest.param("14.1.0", "14.0.4", id="a-minor-compared-with-the-newest-patch-before-it"),
    pytest.param("14.0.3", "14.0.2", id="a-patched-release-compared-with-the-previous-patch"),
    pytest.param("14.0.4", "14.0.2", id="a-yanked-release-is-skipped"),
    pytest.param("13.0.0", "12.0.0", id="not-a-release-made-after-it"),  # 12.0.1 and 12.1.0 came later
    pytest.param("11.0.1", "11.0.0", id="previous-patch"),
    pytest.param("11.0.0", None, id="the-first-release"),
])
def test_default_since(committed_matrix, version, since):
    found = notes.default_since(committed_matrix, committed_matrix.release(version))
    assert (str(found.version) if found else None) == since


# --- real consecutive versions ------------------------------------------------------------------


def test_notes_14_0_0_to_14_0_2(committed_matrix, committed_locks):
    text = rendered(committed_matrix.release("14.0.2"), committed_matrix.release("14.0.0"), committed_locks)
    assert "# Airflow Runtime 14.0.2 (2026-09-21)" in text.splitlines()
    assert "Channel: **stable**." in text.splitlines()
    assert "Changes since Runtime 14.0.0 (released 2026-07-08)." in text.splitlines()
    assert section(text, "Airflow") == ["", "- Apache Airflow 3.3.0 → 3.3.2", ""]
    pinned = section(text, "Pinned packages")
    assert subsection(pinned, "Upgraded") == [
        "- `apache-airflow-providers-common-sql` 2.0.1 → 2.0.3",
        "- `apache-airflow-providers-http` 6.0.4 → 6.0.5",
    ]
    assert "5 other pinned packages unchanged." in pinned
    assert "- Default Python: 3.13 (unchanged)" in section(text, "Python")
    assert section(text, "Base image")[:2] == ["", "- Debian 13 (trixie) (unchanged)"]
    assert "facts of a publication" in section(text, "Base image")[2]
    assert section(text, "Known issues") == ["", "None known."]
    assert "Yanked" not in text


def test_notes_13_1_0_to_14_0_0(committed_matrix, committed_locks):
    text = rendered(committed_matrix.release("14.0.0"), committed_matrix.release("13.1.0"), committed_locks)
    assert "- Apache Airflow 3.1.8 → 3.3.0" in section(text, "Airflow")
    upgraded = subsection(section(text, "Pinned packages"), "Upgraded")
    assert "- `apache-airflow-providers-celery` 3.17.1 → 3.21.0" in upgraded
    assert "- `apache-airflow-providers-common-sql` 1.33.0 → 2.0.1" in upgraded
    assert "- `apache-airflow-providers-http` 5.6.4 → 6.0.4" in upgraded
    assert "- `apache-airflow-providers-postgres` 6.6.1 → 6.8.0" in upgraded
    assert len(upgraded) == 7
    python = section(text, "Python")
    assert "- Supported Pythons: 3.10, 3.11, 3.12, 3.13, 3.14" in python
    assert "- Added: 3.14" in python
    assert not any(entry.startswith("- Removed") for entry in python)


def test_notes_11_1_0_to_12_0_0_report_a_removed_package_and_python(committed_matrix, committed_locks):
    text = rendered(committed_matrix.release("12.0.0"), committed_matrix.release("11.1.0"), committed_locks)
    pinned = section(text, "Pinned packages")
    assert subsection(pinned, "Removed") == ["- `astronomer-providers` 1.19.4"]
    assert "- `apache-airflow-providers-cncf-kubernetes` 8.4.2 → 10.5.0" in subsection(pinned, "Upgraded")
    assert "- Removed: 3.9" in section(text, "Python")
    assert "- Apache Airflow 2.10.5 → 2.11.0" in section(text, "Airflow")


def test_a_yanked_release_says_so_with_its_reason(committed_matrix, committed_locks):
    text = rendered(committed_matrix.release("14.0.1"), committed_matrix.release("14.0.0"), committed_locks)
    assert ("> **Yanked:** Image published with a broken build; superseded by 14.0.2. Upgrade to 14.0.2."
            in text.splitlines())


def test_known_issues_of_the_committed_matrix(committed_matrix, committed_locks):
    release_ = committed_matrix.release("14.1.0")
    assert release_.known_issues, "14.1.0 has known issues: the test needs some"
    text = rendered(release_, notes.default_since(committed_matrix, release_), committed_locks)
    assert section(text, "Known issues")[1:] == [f"- {issue}" for issue in release_.known_issues]


def test_the_lock_files_changes_are_listed(committed_matrix, committed_locks):
    new, old = committed_matrix.release("14.0.2"), committed_matrix.release("14.0.0")
    before, after = pins(committed_locks[notes.lock_file(old)]), pins(committed_locks[notes.lock_file(new)])
    own = {"apache-airflow", *dict(old.packages), *dict(new.packages)}
    moved = sorted(n for n in set(before) & set(after) if before[n] != after[n] and n not in own)
    added = sorted(n for n in set(after) - set(before) if n not in own)
    assert moved and added
    others = section(rendered(new, old, committed_locks), "Other packages")
    assert (f"From the lock files of the default Python on linux/amd64: `{notes.lock_file(old)}` → "
            f"`{notes.lock_file(new)}`.") in others
    assert subsection(others, "Changed") == [f"- `{n}` {before[n]} → {after[n]}" for n in moved]
    assert subsection(others, "Added") == [f"- `{n}` {after[n]}" for n in added]
    # Airflow and the pins have their own sections
    assert not any("`apache-airflow`" in entry or "providers-http`" in entry for entry in others)


def test_the_first_release_lists_its_pins_as_added(committed_matrix, committed_locks):
    first = committed_matrix.releases[0]
    text = rendered(first, None, committed_locks)
    assert "The first Runtime release in versions.yaml: nothing earlier to compare with." in text.splitlines()
    assert "- Apache Airflow 2.10.2" in section(text, "Airflow")
    assert "- `astronomer-providers` 1.19.4" in subsection(section(text, "Pinned packages"), "Added")


# --- a synthetic pair: downgrades, removals, lock changes ---------------------------------------


@pytest.fixture
def pair(matrix) -> tuple[Release, Release]:
    """A made-up release before and after: pins downgraded, removed, upgraded, added and kept."""
    old = dataclasses.replace(matrix.release("14.0.0"), packages=(
        ("pkg-downgraded", "2.0.0"), ("pkg-kept", "4.0.0"), ("pkg-removed", "1.0.0"), ("pkg-upgraded", "1.0.0")))
    new = dataclasses.replace(old, version=Version(14, 9, 0), airflow=Version(3, 3, 9), released=date(2027, 1, 1),
                              python="3.12", pythons=("3.12", "3.13"),
                              packages=(("pkg-added", "1.2.3"), ("pkg-downgraded", "1.9.9"), ("pkg-kept", "4.0.0"),
                                        ("pkg-upgraded", "1.0.1")),
                              known_issues=("Something users should know.",), yanked="Broken on purpose.")
    return old, new


def test_downgrades_removals_and_additions_of_pins(pair):
    old, new = pair
    pinned = section(rendered(new, old, {}), "Pinned packages")
    assert subsection(pinned, "Downgraded") == ["- `pkg-downgraded` 2.0.0 → 1.9.9"]
    assert subsection(pinned, "Removed") == ["- `pkg-removed` 1.0.0"]
    assert subsection(pinned, "Upgraded") == ["- `pkg-upgraded` 1.0.0 → 1.0.1"]
    assert subsection(pinned, "Added") == ["- `pkg-added` 1.2.3"]
    assert "1 other pinned package unchanged." in pinned
    assert not any("pkg-kept" in entry for entry in pinned)
    headings = [entry for entry in pinned if entry.startswith("### ")]
    assert headings == ["### Upgraded", "### Downgraded", "### Added", "### Removed"]


def test_python_airflow_yanked_and_known_issues_of_the_synthetic_pair(pair):
    old, new = pair
    assert (old.python, old.pythons) == ("3.13", ("3.11", "3.12", "3.13"))  # the fixture's line 14
    text = rendered(new, old, {})
    assert section(text, "Airflow") == ["", "- Apache Airflow 3.3.0 → 3.3.9", ""]
    python = section(text, "Python")
    assert "- Default Python: 3.13 → 3.12" in python
    assert "- Removed: 3.11" in python
    assert not any(entry.startswith("- Added") for entry in python)
    assert "> **Yanked:** Broken on purpose." in text.splitlines()
    assert section(text, "Known issues")[1:] == ["- Something users should know."]


def test_lock_changes_of_the_synthetic_pair(pair):
    old, new = pair
    locks = {
        notes.lock_file(old): "apache-airflow==3.3.0\npkg-upgraded==1.0.0\nshared==1.0 \\\n    --hash=sha256:00\n"
                              "gone==2.0\nsame==5.0\nbackwards==3.0\n",
        # pkg-removed is no longer pinned but still installed: the pins section reports it, not this one
        notes.lock_file(new): "apache-airflow==3.3.9\npkg-upgraded==1.0.1\npkg-removed==1.0.0\n"
                              "shared==1.1 \\\n    --hash=sha256:11\n"
                              "fresh==0.1\nsame==5.0\nbackwards==2.9\n",
    }
    others = section(rendered(new, old, locks), "Other packages")
    assert subsection(others, "Added") == ["- `fresh` 0.1"]
    assert subsection(others, "Removed") == ["- `gone` 2.0"]
    assert subsection(others, "Changed") == ["- `backwards` 3.0 → 2.9", "- `shared` 1.0 → 1.1"]


def test_without_lock_files_the_other_packages_are_not_listed(pair):
    old, new = pair
    others = section(rendered(new, old, {}), "Other packages")
    assert (f"Not listed: the lock file `{notes.lock_file(new)}` is missing "
            "(`python build.py lock 14.9.0` writes it).") in others
    only_new = {notes.lock_file(new): "x==1\n"}
    assert (f"Not listed: the lock file `{notes.lock_file(old)}` of Runtime 14.0.0 is missing."
            in section(rendered(new, old, only_new), "Other packages"))


def test_no_change_at_all(matrix):
    same = matrix.release("14.0.0")
    text = rendered(dataclasses.replace(same, version=Version(14, 0, 9)), same, {})
    assert "No pinned package changed." in section(text, "Pinned packages")
    assert f"- Apache Airflow {same.airflow} (unchanged)" in section(text, "Airflow")


def test_diff_kinds():
    changes = notes.diff({"a": "1.0", "b": "2.0", "c": "1.0", "d": "1"}, {"a": "1.1", "b": "1.9", "d": "1", "e": "3"})
    assert [(c.name, c.kind) for c in changes] == [("a", "upgraded"), ("b", "downgraded"), ("c", "removed"),
                                                    ("e", "added")]


# --- known_issues in versions.yaml --------------------------------------------------------------


def test_known_issues_as_a_string_or_a_list(tmp_path):
    one = edit(lambda doc: release(doc, "14.0.0").__setitem__("known_issues", "One thing."))(fixture_text())
    assert load_text(tmp_path, one).release("14.0.0").known_issues == ("One thing.",)
    two = edit(lambda doc: release(doc, "14.0.0").__setitem__("known_issues", ["One.", "Two."]))(fixture_text())
    matrix = load_text(tmp_path, two)
    assert matrix.release("14.0.0").known_issues == ("One.", "Two.")
    assert matrix.release("14.0.2").known_issues == ()


@pytest.mark.parametrize(("value", "message"), [
    ("  ", "known_issues: a known issue needs its text (a non-empty string)"),
    ([], "known_issues: must be a string or a non-empty list of strings, got list []"),
    (["ok", 3], "known_issues[1]: must be a string, got int 3"),
    ({"a": "b"}, "known_issues: must be a string or a non-empty list of strings, got dict {'a': 'b'}"),
])
def test_bad_known_issues_are_reported(tmp_path, value, message):
    text = edit(lambda doc: release(doc, "14.0.0").__setitem__("known_issues", value))(fixture_text())
    reported = problems(tmp_path, text)
    assert len(reported) == 1
    assert reported[0].endswith(message), reported


# --- build.py notes, and render ------------------------------------------------------------------


def test_notes_command_prints_the_committed_notes(cli):
    result = cli("--root", REPO_ROOT, "notes", "14.0.2")
    assert result.code == 0, result.err
    assert result.out == (REPO_ROOT / "distributions/14.0.2" / NOTES_FILE).read_text()


def test_notes_command_check_of_the_committed_notes(cli):
    result = cli("--root", REPO_ROOT, "notes", "14.0.2", "--check")
    assert result.code == 0, result.err
    assert result.out == f"distributions/14.0.2/{NOTES_FILE}: up to date\n"


def test_notes_command_since_another_version(cli):
    result = cli("--root", REPO_ROOT, "notes", "14.0.2", "--since", "14.0.1")
    assert result.code == 0, result.err
    assert "Changes since Runtime 14.0.1 (released 2026-08-14)." in result.out.splitlines()
    assert "- Apache Airflow 3.3.1 → 3.3.2" in result.out.splitlines()


def test_notes_command_json_has_the_facts_the_notes_show(cli):
    result = cli("--root", REPO_ROOT, "notes", "14.0.2", "--since", "14.0.1", "--json")
    assert result.code == 0, result.err
    facts = json.loads(result.out)
    assert (facts["version"], facts["since"]) == ("14.0.2", "14.0.1")
    assert facts["airflow"] == {"old": "3.3.1", "new": "3.3.2"}
    assert facts["lock"]["file"] == "locks/14.0.2/python-3.13/amd64.txt" and facts["lock"]["packages"] > 100
    notes_text = cli("--root", REPO_ROOT, "notes", "14.0.2", "--since", "14.0.1").out
    for change in facts["lock"]["changes"]["changed"]:  # each moved package is in the notes too
        assert f"`{change['name']}` {change['old']} → {change['new']}" in notes_text, change
    assert set(facts) == {"version", "since", "airflow", "default_python", "pythons_added", "pythons_removed",
                          "debian", "pins", "lock", "in_house", "patches", "patches_dropped", "image_changes",
                          "constraints", "known_issues"}


@pytest.mark.parametrize(("argv", "error"), [
    (["14.0.2", "--json", "--check"], "error: --json prints the notes' facts; --check compares the committed "
                                      "notes: give one\n"),
    (["14.0.2", "--since", "14.0.2"], "error: --since 14.0.2: a release is not compared with itself\n"),
    (["14.0.1", "--since", "14.0.2"], "error: --since 14.0.2: a later release than 14.0.1; the notes say what "
                                      "changed since an earlier one\n"),
    (["14.0.2", "--since", "13.1.0", "--check"], "error: --check compares the committed notes, which are since "
                                                 "the default release; drop --since\n"),
    (["14.9.9"], "error: no Runtime version '14.9.9' in the matrix; known: "),
])
def test_notes_command_usage_errors(cli, argv, error):
    result = cli("--root", REPO_ROOT, "notes", *argv)
    assert result.code == 2
    assert result.err.startswith(error)


def test_render_writes_notes_for_every_release(rendered, matrix):
    for release_ in matrix.releases:
        text = (rendered / "distributions" / str(release_.version) / NOTES_FILE).read_text()
        assert f"# Airflow Runtime {release_.version} ({release_.released.isoformat()})" in text.splitlines()


def test_a_stale_note_fails_both_checks_until_rendered(rendered, cli):
    path = rendered / "distributions/14.0.0" / NOTES_FILE
    path.write_text(path.read_text() + "hand-edited\n")
    result = cli("--root", rendered, "notes", "14.0.0", "--check")
    assert result.code == 1
    assert result.err == f"distributions/14.0.0/{NOTES_FILE} is not up to date; run `python build.py render`\n"
    assert cli("--root", rendered, "render", "--check").err.splitlines()[1:] == [
        f"  changed: distributions/14.0.0/{NOTES_FILE}"]
    assert cli("--root", rendered, "render").code == 0
    assert cli("--root", rendered, "notes", "14.0.0", "--check").code == 0


def test_a_new_lock_file_makes_the_notes_stale_and_render_keeps_both(rendered, cli, matrix):
    release_ = matrix.release("14.0.0")
    lock = rendered / notes.lock_file(release_)
    lock.parent.mkdir(parents=True)
    lock.write_text("apache-airflow==3.3.0 \\\n    --hash=sha256:00\n")
    result = cli("--root", rendered, "render", "--check")
    assert result.code == 1
    assert result.err.splitlines()[1:] == [f"  changed: distributions/14.0.0/{NOTES_FILE}",
                                           "  missing: distributions/14.0.0/python-3.13/base/locks/amd64.txt"]
    assert cli("--root", rendered, "render").code == 0
    assert lock.exists()
    since = notes.default_since(matrix, release_)
    assert since is not None and str(since.version) == "11.1.0"
    assert (f"Not listed: the lock file `{notes.lock_file(since)}` of Runtime 11.1.0 is missing."
            in (rendered / "distributions/14.0.0" / NOTES_FILE).read_text().splitlines())
    assert cli("--root", rendered, "render", "--check").code == 0


def test_notes_need_a_template(cli, probe_rendered):
    # The small test repositories copy only templates/reference: no notes there, and no notes template.
    assert not list((probe_rendered / "distributions").glob(f"*/{NOTES_FILE}"))
    result = cli("--root", probe_rendered, "notes", "14.0.0")
    assert result.code == 2
    assert result.err.startswith("error: no release notes template in ")


def test_the_committed_notes_are_up_to_date(committed_matrix, committed_locks):
    files = render.render_tree(committed_matrix, TEMPLATES, committed_locks)
    for release_ in committed_matrix.releases:
        path = PurePosixPath("distributions", str(release_.version), NOTES_FILE)
        assert (REPO_ROOT / path).read_bytes() == files[path].content, f"{path}: run `python build.py render`"



def test_the_base_digests_a_publication_records_go_to_the_published_notes(committed_matrix, committed_locks,
                                                                          tmp_path):
    """Render reads nothing a publication wrote; publish writes the notes with the published digests."""
    from runtime_builder.publish.record import _published_notes

    release_ = committed_matrix.default_release()
    version = str(release_.version)
    pinned = {"linux/amd64": "127.0.0.1:5000/runtime-base/python:3.13-trixie@sha256:" + "a" * 64,
              "linux/arm64": "127.0.0.1:5000/runtime-base/python:3.13-trixie@sha256:" + "b" * 64}
    published = feed.record_images(feed.build_feed(committed_matrix), "registry/airflow-runtime", [
        (version, f"{version}-base", "sha256:" + "1" * 64, {"linux/amd64": "sha256:x", "linux/arm64": "sha256:y"},
         pinned),
    ])
    assert feed.base_images(published, version) == sorted(pinned.items())
    rendered_notes = REPO_ROOT / "distributions" / version / NOTES_FILE
    (tmp_path / "distributions" / version).mkdir(parents=True)
    (tmp_path / "distributions" / version / NOTES_FILE).write_bytes(rendered_notes.read_bytes())
    [written] = _published_notes(tmp_path, published, [version])
    text = written.read_text()
    assert text.startswith(rendered_notes.read_text()), "the published notes are the rendered ones, then more"
    for platform, ref in pinned.items():
        assert f"built FROM `{ref}`" in text and f"  - {platform}: `sha256:" in text
    assert f"`registry/airflow-runtime:{version}-base` `sha256:{'1' * 64}`" in text
