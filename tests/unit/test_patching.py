"""Backport patches: the strict applier (runtime_builder/in_image/patching.py), its place in versions.yaml,
in the rendered build contexts, in the release notes and in the image checks."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import re
from pathlib import Path

import pytest

from runtime_builder.generate import render
from runtime_builder.generate.specs import context_dir
from runtime_builder.in_image import patching
from runtime_builder.in_image.patching import PatchError
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform
from tests.image import checks

from .support import REPO_ROOT, edit, fixture_text, problems, release, write_matrix

MODULE = "".join(f"# line {n}\n" for n in range(1, 21))
ADD_AFTER_10 = """\
Subject: add a line after line 10

--- a/airflow/mod.py
+++ b/airflow/mod.py
@@ -9,4 +9,5 @@
 # line 9
 # line 10
+# added
 # line 11
 # line 12
"""


def _patch(path: str, old_start: int, body: list[str], header: str | None = None) -> str:
    old = sum(1 for line in body if line[0] in " -")
    new = sum(1 for line in body if line[0] in " +")
    new_start = old_start if old else old_start + 1
    head = header or f"@@ -{old_start},{old} +{new_start},{new} @@"
    return f"--- a/{path}\n+++ b/{path}\n{head}\n" + "".join(f"{line}\n" for line in body)


# -- parse -------------------------------------------------------------------------------------------

def test_parse_skips_the_description_and_strips_the_a_b_prefixes():
    [change] = patching.parse(ADD_AFTER_10, "0001.patch")
    assert change.path == "airflow/mod.py" and not change.creates
    [hunk] = change.hunks
    assert hunk.old_start == 9
    assert hunk.old == ("# line 9\n", "# line 10\n", "# line 11\n", "# line 12\n")
    assert hunk.new == ("# line 9\n", "# line 10\n", "# added\n", "# line 11\n", "# line 12\n")


def test_the_committed_patches_parse():
    for path in sorted((REPO_ROOT / "patches").rglob("*.patch")):
        changes = patching.parse(path.read_text(), path.name)
        assert changes and all(c.path.startswith("airflow/") for c in changes), path


@pytest.mark.parametrize(("text", "message"), [
    ("just words\n", "no file changes found"),
    ("--- a/airflow/x.py\nno plus line\n", "without its '+++ ' line"),
    ("--- a/airflow/x.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n", "deleting a file"),
    ("--- a/x\n+++ /etc/passwd\n@@ -1 +1 @@\n-x\n+y\n", "not a relative path"),
    ("--- a/x\n+++ b/../x\n@@ -1 +1 @@\n-x\n+y\n", "not a relative path"),
    ("--- a/airflow/x.py\n+++ b/airflow/x.py\n", "no hunks"),
    ("--- a/airflow/x.py\n+++ b/airflow/x.py\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n", "promises 3 old and 3 new lines"),
    ("--- a/airflow/x.py\n+++ b/airflow/x.py\n@@ bad @@\n a\n", "malformed hunk header"),
])
def test_parse_refuses_what_it_cannot_apply_naming_the_patch(text, message):
    with pytest.raises(PatchError, match=re.escape(message)) as raised:
        patching.parse(text, "0007-named.patch")
    assert str(raised.value).startswith("0007-named.patch")


# -- apply_text --------------------------------------------------------------------------------------

def test_a_hunk_applies_at_its_line():
    [change] = patching.parse(ADD_AFTER_10, "p")
    assert patching.apply_text(MODULE, change, "p") == MODULE.replace("line 10\n", "line 10\n# added\n")


def test_a_hunk_is_found_where_the_file_moved_it():
    moved = "new first line\nnew second line\n" + MODULE
    [change] = patching.parse(ADD_AFTER_10, "p")
    assert patching.apply_text(moved, change, "p") == moved.replace("line 10\n", "line 10\n# added\n")


def test_several_hunks_removals_and_a_missing_final_newline():
    body = [" # line 1", "-# line 2", "+# line two", " # line 3"]
    tail = [" # line 19", "-# line 20", "\\ No newline at end of file",
            "+# line twenty", "\\ No newline at end of file"]
    text = _patch("airflow/mod.py", 1, body) + _patch("airflow/mod.py", 19, tail).split("\n", 2)[2]
    [change] = patching.parse(text, "p")
    assert len(change.hunks) == 2
    result = patching.apply_text(MODULE.removesuffix("\n"), change, "p")
    assert result == MODULE.replace("line 2\n", "line two\n").replace("line 20\n", "line twenty")


def test_a_new_file_is_created_from_nothing():
    text = "--- /dev/null\n+++ b/airflow/new.py\n@@ -0,0 +1,2 @@\n+a\n+b\n"
    [change] = patching.parse(text, "p")
    assert change.creates and patching.apply_text("", change, "p") == "a\nb\n"


def test_context_that_is_not_in_the_file_fails_naming_patch_file_and_hunk():
    [change] = patching.parse(ADD_AFTER_10, "0001-x.patch")
    with pytest.raises(PatchError) as raised:
        patching.apply_text(MODULE.replace("line 11\n", "line eleven\n"), change, "0001-x.patch")
    assert str(raised.value) == ("0001-x.patch: airflow/mod.py: hunk #1 (@@ -9,4 +9,5 @@) does not apply: "
                                 "its context and removed lines are not in the file")


def test_a_patch_already_in_the_file_says_so():
    [change] = patching.parse(ADD_AFTER_10, "p")
    once = patching.apply_text(MODULE, change, "p")
    with pytest.raises(PatchError, match="already in the file: was it applied upstream"):
        patching.apply_text(once, change, "p")


def test_no_fuzz_whitespace_counts():
    [change] = patching.parse(ADD_AFTER_10, "p")
    with pytest.raises(PatchError, match="does not apply"):
        patching.apply_text(MODULE.replace("line 9\n", "line 9 \n"), change, "p")


# -- apply_to_tree: an installed distribution ----------------------------------------------------------

def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _install(site: Path) -> Path:
    """A fake apache-airflow-core 3.3.2 as an installer leaves it: files, METADATA, RECORD."""
    files = {
        "airflow/__init__.py": '"""Airflow."""\n__version__ = "3.3.2"\n',
        "airflow/mod.py": MODULE,
        "apache_airflow_core-3.3.2.dist-info/METADATA": "Metadata-Version: 2.4\nName: apache-airflow-core\n"
                                                         "Version: 3.3.2\n\nVersion: 3.3.2 in the description\n",
        "apache_airflow_core-3.3.2.dist-info/INSTALLER": "uv\n",
    }
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    rows = [[path, _hash(text.encode()), str(len(text.encode()))] for path, text in files.items()]
    rows.append(["apache_airflow_core-3.3.2.dist-info/RECORD", "", ""])
    with (site / "apache_airflow_core-3.3.2.dist-info" / "RECORD").open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return site


def test_applying_relabels_the_owner_and_keeps_its_record_true(tmp_path):
    site = _install(tmp_path)
    versions = patching.apply_to_tree(site, [("0001-add.patch", ADD_AFTER_10)], "runtime.14.0.3")
    assert versions == {"apache_airflow_core-3.3.2.dist-info": "3.3.2+runtime.14.0.3"}
    assert (site / "airflow/mod.py").read_text() == MODULE.replace("line 10\n", "line 10\n# added\n")
    assert '__version__ = "3.3.2+runtime.14.0.3"' in (site / "airflow/__init__.py").read_text()
    assert not (site / "apache_airflow_core-3.3.2.dist-info").exists()
    dist_info = site / "apache_airflow_core-3.3.2+runtime.14.0.3.dist-info"
    metadata = (dist_info / "METADATA").read_text()
    assert "\nVersion: 3.3.2+runtime.14.0.3\n" in metadata
    assert "Version: 3.3.2 in the description" in metadata  # only the header changes
    assert (dist_info / "RUNTIME_PATCHES").read_text() == "0001-add.patch\n"
    rows = list(csv.reader((dist_info / "RECORD").read_text().splitlines()))
    listed = {row[0] for row in rows}
    assert f"{dist_info.name}/RUNTIME_PATCHES" in listed and f"{dist_info.name}/RECORD" in listed
    assert not any(path.startswith("apache_airflow_core-3.3.2.dist-info/") for path in listed)
    for path, digest, size in rows:
        if digest:
            data = (site / path).read_bytes()
            assert (digest, int(size)) == (_hash(data), len(data)), path
    assert Path(site / importlib.util.cache_from_source("airflow/mod.py")).is_file()


def test_nothing_is_written_unless_every_patch_applies(tmp_path):
    site = _install(tmp_path)
    broken = ADD_AFTER_10.replace(" # line 12\n", " # line twelve\n")
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    with pytest.raises(PatchError, match=r"^0002-broken\.patch: airflow/mod\.py: hunk #1"):
        patching.apply_to_tree(site, [("0001-add.patch", ADD_AFTER_10), ("0002-broken.patch", broken)], "runtime.1")
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before


def test_patches_apply_in_order_each_on_the_result_of_the_last(tmp_path):
    site = _install(tmp_path)
    second = _patch("airflow/mod.py", 10, [" # line 10", " # added", "+# again", " # line 11"])
    patching.apply_to_tree(site, [("0001.patch", ADD_AFTER_10), ("0002.patch", second)], "runtime.1")
    assert "# line 10\n# added\n# again\n# line 11\n" in (site / "airflow/mod.py").read_text()
    marker = site / "apache_airflow_core-3.3.2+runtime.1.dist-info" / "RUNTIME_PATCHES"
    assert marker.read_text() == "0001.patch\n0002.patch\n"


def test_a_file_no_distribution_owns_is_refused(tmp_path):
    site = _install(tmp_path)
    (site / "airflow" / "stray.py").write_text(MODULE)
    with pytest.raises(PatchError, match=r"0001\.patch: airflow/stray\.py: no installed distribution owns it"):
        patching.apply_to_tree(site, [("0001.patch", ADD_AFTER_10.replace("mod.py", "stray.py"))], "runtime.1")


def test_the_script_exits_1_naming_the_patch(tmp_path, capsys):
    site = _install(tmp_path / "site")
    patch = tmp_path / "0003-stale.patch"
    patch.write_text(ADD_AFTER_10.replace(" # line 9\n", " # line nine\n"))
    assert patching.main(["--target", str(site), "--local-label", "runtime.1", str(patch)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: backport patch failed: 0003-stale.patch: airflow/mod.py: hunk #1")


# -- versions.yaml ---------------------------------------------------------------------------------------

def _with_patches(entries: list[dict]):
    return edit(lambda doc: release(doc, "14.0.2").__setitem__("patches", entries))


def _patches_dir(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / "patches" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "patches" / name).write_text(text)


def test_a_release_carries_its_patches_in_order(tmp_path):
    _patches_dir(tmp_path, {"airflow-3.3.2/0001-add.patch": ADD_AFTER_10})
    text = _with_patches([{"file": "airflow-3.3.2/0001-add.patch", "summary": "Adds a line."}])(fixture_text())
    matrix = load_matrix(write_matrix(tmp_path, text))
    patched = matrix.release("14.0.2")
    assert [(b.name, b.summary) for b in patched.patches] == [("0001-add.patch", "Adds a line.")]
    assert patched.airflow_build_version == "3.3.2+runtime.14.0.2"
    assert patched.airflow_distribution == "apache-airflow-core"
    assert matrix.release("14.0.0").airflow_build_version == "3.3.0"


@pytest.mark.parametrize(("files", "entries", "message"), [
    ({}, [{"file": "airflow-3.3.2/0001-missing.patch", "summary": "s"}],
     "patches[0].file: 'airflow-3.3.2/0001-missing.patch' cannot be read under patches/"),
    ({"p.patch": "not a diff\n"}, [{"file": "p.patch", "summary": "s"}], "patches[0].file: is not a usable patch"),
    ({"p.patch": ADD_AFTER_10.replace("airflow/mod.py", "celery/app.py")}, [{"file": "p.patch", "summary": "s"}],
     "changes 'celery/app.py': a Runtime patch may only change Airflow's own package"),
    ({"p.patch": ADD_AFTER_10.replace("airflow/mod.py", "airflow/providers/http/hooks/http.py")},
     [{"file": "p.patch", "summary": "s"}], "not airflow/providers/"),
    ({"a/p.patch": ADD_AFTER_10, "b/p.patch": ADD_AFTER_10},
     [{"file": "a/p.patch", "summary": "s"}, {"file": "b/p.patch", "summary": "s"}],
     "patches[1].file: 'b/p.patch': another patch of this release has the file name 'p.patch'"),
    ({"p.patch": ADD_AFTER_10}, [{"file": "p.patch", "summary": " "}], "patches[0].summary: a patch needs its summary"),
    ({}, [{"file": "../etc/p.patch", "summary": "s"}], "patches[0].file: '../etc/p.patch' is not a relative path"),
    ({}, [{"file": "p.diff", "summary": "s"}], "is not a relative path under patches/ ending in .patch"),
    ({}, [{"file": "p.patch"}], "patches[0]: missing required key 'summary'"),
    ({}, [], "patches: must be a non-empty list"),
])
def test_bad_patch_entries_are_named(tmp_path, files, entries, message):
    _patches_dir(tmp_path, files)
    found = problems(tmp_path, _with_patches(entries)(fixture_text()))
    assert any("14.0.2" in p and message in p for p in found), found


# -- rendering, notes, checks ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def committed():
    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    patched = [r for r in matrix.releases if r.patches]
    assert patched, "the committed matrix has no patched release to check"
    return matrix, patched[0]


def test_a_patched_release_renders_its_patches_and_the_applier_into_its_base_contexts(committed):
    matrix, patched = committed
    files = render.render_tree(matrix, REPO_ROOT / "templates")
    for python in patched.pythons:
        context = context_dir(patched, python, next(iter(render.Variant)))
        applier = files[context / "apply_patches.py"].content.decode()
        assert applier.startswith("# Generated by `build.py render` from runtime_builder/in_image/patching.py.")
        assert applier.endswith(Path(patching.__file__).read_text())
        for backport in patched.patches:
            assert files[context / "patches" / backport.name].content.decode().endswith(backport.text)
        dockerfile = files[context / "Dockerfile"].content.decode()
        assert f"--local-label {patched.local_label}" in dockerfile
        assert all(f"/tmp/patches/{b.name}" in dockerfile for b in patched.patches)
        assert f'io.airflow-runtime.airflow-version="{patched.airflow_build_version}"' in dockerfile
    unpatched = [path for path in files if path.name == "apply_patches.py"
                 and path.parts[1] not in {str(r.version) for r in matrix.releases if r.patches}]
    assert unpatched == []


def test_the_notes_list_the_patches_and_the_reported_version(committed):
    _, patched = committed
    notes = (REPO_ROOT / "distributions" / str(patched.version) / "RELEASE_NOTES.md").read_text()
    assert f"images report Airflow as `{patched.airflow_build_version}`" in notes
    for backport in patched.patches:
        assert f"- `{backport.name}`: {backport.summary}" in notes


def test_expected_values_of_a_patched_image(committed):
    _, patched = committed
    lock = (REPO_ROOT / "distributions" / str(patched.version) / f"python-{patched.python}" / "base" / "locks"
            / "amd64.txt").read_text()
    expected = checks.expected_for(patched, patched.python, Platform.AMD64, lock)
    assert expected.reported == patched.airflow_build_version
    assert expected.pins[patched.airflow_distribution] == patched.airflow_build_version
    assert expected.pins["apache-airflow"] == str(patched.airflow)  # the meta-package is not relabelled
    assert expected.labels["io.airflow-runtime.patches"] == " ".join(b.name for b in patched.patches)
    assert checks.probe_request(expected)["patched_files"] == expected.patched_files != []


def _facts(expected: checks.Expected, applied: bool, recorded: list[str]) -> dict:
    files = {}
    for name, text in expected.patches:
        for change in patching.parse(text, name):
            lines = [line for hunk in change.hunks for line in (hunk.new if applied else hunk.old)]
            files[change.path] = "# before\n" + "".join(lines) + "# after\n"
    dist = {"version": expected.reported, "runtime_patches": recorded}
    return {"distributions": {"distributions": {expected.patched_distribution: [dist], "other": [
        {"version": "1", "runtime_patches": []}]}, "patched_files": files}}


def test_check_patches_passes_an_applied_patch_and_catches_a_missing_one(committed):
    matrix, patched = committed
    lock = (REPO_ROOT / "distributions" / str(patched.version) / f"python-{patched.python}" / "base" / "locks"
            / "amd64.txt").read_text()
    expected = checks.expected_for(patched, patched.python, Platform.AMD64, lock)
    names = [name for name, _ in expected.patches]
    assert checks.check_patches(expected, _facts(expected, applied=True, recorded=names)) == []
    not_applied = checks.check_patches(expected, _facts(expected, applied=False, recorded=names))
    assert not_applied and "the patch was not applied" in not_applied[0]
    unrecorded = checks.check_patches(expected, _facts(expected, applied=True, recorded=[]))
    assert unrecorded and "records the patches none" in unrecorded[0]
    unpatched = checks.expected_for(matrix.release("14.0.2"), "3.13", Platform.AMD64, lock)
    stray = checks.check_patches(unpatched, _facts(expected, applied=True, recorded=names))
    assert stray and "but the release patches nothing" in stray[0]


def test_crlf_files_keep_their_line_endings_and_must_match_them(tmp_path):
    site = _install(tmp_path)
    (site / "airflow/mod.py").write_bytes(MODULE.replace("\n", "\r\n").encode())
    with pytest.raises(PatchError, match="does not apply"):  # the patch's lines end in LF
        patching.apply_to_tree(site, [("lf.patch", ADD_AFTER_10)], "runtime.1")
    crlf = ADD_AFTER_10.replace("\n", "\r\n")
    patching.apply_to_tree(site, [("crlf.patch", crlf)], "runtime.1")
    assert (site / "airflow/mod.py").read_bytes() == MODULE.replace("# line 10\n", "# line 10\n# added\n") \
        .replace("\n", "\r\n").encode()


def test_a_tree_patched_before_is_refused_before_anything_is_written(tmp_path):
    site = _install(tmp_path)
    patching.apply_to_tree(site, [("0001.patch", ADD_AFTER_10)], "runtime.1")
    second = _patch("airflow/mod.py", 1, [" # line 1", "+# more", " # line 2"])
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    with pytest.raises(PatchError, match="already carries a local version"):
        patching.apply_to_tree(site, [("0002.patch", second)], "runtime.2")
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
