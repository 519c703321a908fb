"""`build.py upstream`: what moved on the package index since a line was locked, and what a released
lock ships that the index now marks yanked.

The comparison is tested with made-up index answers; the command end to end against a simple
index this test serves on 127.0.0.1 (PEP 691 JSON pages written here), on the fixture matrix
(line 14: 14.0.0, 14.0.1, 14.0.2 yanked, the nightly 14.1.0; Pythons 3.11-3.13, amd64 only).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pip._internal.models.index import PyPI

from runtime_builder import layout
from runtime_builder.images import secrets
from runtime_builder.lock import upstream
from runtime_builder.lock.upstream import Kind, Move, Project
from runtime_builder.matrix.model import Matrix

from .support import edit, fixture_text, line, write_matrix

PYTHONS = ("3.11", "3.12", "3.13")
AIRFLOW = ("apache-airflow", "apache-airflow-core")  # Airflow 3: the core distribution installs `airflow`
CELERY_PROVIDER = "apache-airflow-providers-celery"
FAB = "apache-airflow-providers-fab"

# What the fixture's line 14 locks: the releases' and the nightly's pins (every Python alike unless told).
LOCKED = {
    "14.0.0": {**dict.fromkeys(AIRFLOW, "3.3.0"), CELERY_PROVIDER: "3.14.0", "celery": "5.6.0"},
    "14.0.1": {**dict.fromkeys(AIRFLOW, "3.3.1"), CELERY_PROVIDER: "3.14.0", "celery": "5.6.0"},
    "14.0.2": {**dict.fromkeys(AIRFLOW, "3.3.2"), CELERY_PROVIDER: "3.14.1", "celery": "5.6.1"},
    "14.1.0": {**dict.fromkeys(AIRFLOW, "3.3.2"), CELERY_PROVIDER: "3.15.0", FAB: "2.0.1", "celery": "5.6.1"},
}
ON_THE_INDEX = {
    **dict.fromkeys(AIRFLOW, ("3.3.0", "3.3.1", "3.3.2", "3.3.3", "3.3.4rc1", "3.4.0")),
    CELERY_PROVIDER: ("3.14.0", "3.14.1", "3.15.0", "3.15.1", "3.16.0rc1"),
    FAB: ("2.0.1", "2.1.0"),
    "celery": ("5.5.9", "5.6.0", "5.6.1", "5.7.0"),
}


def page(name: str, versions: tuple[str, ...], yanked: dict[str, bool | str] | None = None) -> dict:
    """A PEP 691 project page: a wheel and an sdist of each version, both yanked as `yanked` says."""
    yanked = yanked or {}
    stem = name.replace("-", "_")
    files = [{"filename": filename, "url": f"../../files/{filename}", "hashes": {"sha256": "0" * 64},
              "yanked": yanked.get(version, False)}
             for version in versions
             for filename in (f"{stem}-{version}-py3-none-any.whl", f"{stem}-{version}.tar.gz")]
    return {"meta": {"api-version": "1.1"}, "name": name, "versions": list(versions), "files": files}


def lock_text(pins: dict[str, str]) -> str:
    """A lock file as uv writes it: hash-pinned `name==version` lines."""
    return "# Lock of a test.\n" + "".join(f"{name}=={version} \\\n    --hash=sha256:{'0' * 64}\n"
                                           for name, version in sorted(pins.items()))


def write_locks(root: Path, locked: dict[str, dict[str, str]]) -> None:
    for version, pins in locked.items():
        for python in PYTHONS:
            path = root / layout.lock_file(version, python, "amd64")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(lock_text(pins))


class FakeIndex:
    """What the local index serves (`pages`, by name; `status`: an error status or a content type instead),
    and what it was asked."""

    def __init__(self) -> None:
        self.pages = {name: page(name, versions) for name, versions in ON_THE_INDEX.items()}
        self.status: dict[str, int | str] = {}
        self.failing: Counter[str] = Counter()  # answers of 503 to give a name before its page
        self.asked: Counter[str] = Counter()
        self.authorization: set[str | None] = set()
        self.url = ""


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    """A simple index on 127.0.0.1 serving FakeIndex's pages at /simple/<name>/."""
    state = FakeIndex()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.removeprefix("/simple/").rstrip("/")
            state.asked[name] += 1
            state.authorization.add(self.headers.get("Authorization"))
            answer = state.status.get(name)
            if state.failing[name] > 0:
                state.failing[name] -= 1
                answer = 503
            if isinstance(answer, int):
                self.send_error(answer)
                return
            if name not in state.pages:
                self.send_error(404)
                return
            body = json.dumps(state.pages[name]).encode()
            self.send_response(200)
            self.send_header("Content-Type", answer or upstream.ACCEPT)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def locked_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scratch repository with line 14's lock files; no proxy between the command and 127.0.0.1, and
    no pip configuration of this host's in the way (asking pip for it takes a subprocess a run)."""
    monkeypatch.setattr(secrets, "_pip_config", lambda key: None)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    write_locks(repo, LOCKED)
    return repo


def upstream_json(cli, root: Path, index: FakeIndex, *argv: str):
    result = cli("--root", root, "upstream", "--line", "14", "--json", "--index-url", index.url, *argv)
    return result, json.loads(result.out) if result.out else None


def moves_of(report: dict, version: str) -> dict[str, tuple[str, str, list[str]]]:
    (found,) = [r for line in report["lines"] for r in line["releases"] if r["version"] == version]
    return {m["package"]: (m["kind"], m["locked"], m["newer"]) for m in found["moves"]}


# -- the index's answers, pure ---------------------------------------------------------------------


def test_a_version_is_yanked_when_every_file_of_it_is():
    name = "celery"
    served = page(name, ("5.6.0", "5.6.1", "5.7.0", "5.8.0"), {"5.6.0": "breaks the workers", "5.8.0": True})
    served["files"][2]["yanked"] = "only the wheel of 5.6.1"  # its sdist is not yanked
    project = upstream.project_of(name, served)
    assert project.versions == ("5.6.0", "5.6.1", "5.7.0", "5.8.0")
    assert project.yanked == (("5.6.0", "breaks the workers"), ("5.8.0", ""))
    assert project.yank_reason("5.6.0") == "breaks the workers"
    assert project.yank_reason("5.6.1") is None
    assert project.yank_reason("5.8.0") == ""  # yanked without a reason


def test_a_page_of_api_1_0_has_its_versions_in_its_files():
    served = page("six", ("1.16.0", "1.17.0"))
    del served["versions"]
    served["files"].append({"filename": "six-1.15.0-py2.7.egg", "url": "x", "hashes": {}, "yanked": False})
    assert upstream.project_of("six", served).versions == ("1.16.0", "1.17.0")


def test_newer_is_final_releases_above_the_locked_one_none_yanked():
    project = Project("celery", ("5.5.0", "5.6.0", "5.6.1", "5.7.0b1", "5.7.0", "5.7.1.dev0", "5.8.0"),
                      (("5.8.0", "broken"),))
    assert upstream.newer("5.6.0", project) == ("5.6.1", "5.7.0")
    assert upstream.newer("5.7.0b1", project) == ("5.7.0", "5.7.1.dev0")  # a locked pre-release sees pre-releases
    assert upstream.newer("5.6.0", project, same_minor=True) == ("5.6.1",)
    assert upstream.newer("5.7.0", project) == ()


def test_moves_compare_the_highest_version_any_lock_pins_and_group_by_kind(matrix: Matrix):
    release = matrix.release("14.0.1")
    pinned = {"a.txt": {"apache-airflow": "3.3.1", "celery": "5.5.9", "zope": "1.0"},
              "b.txt": {"apache-airflow": "3.3.1", "celery": "5.6.0", CELERY_PROVIDER: "3.14.0"}}
    projects = {name: Project(name, versions) for name, versions in ON_THE_INDEX.items()}
    assert upstream.moves(release, pinned, projects) == (
        Move("apache-airflow", Kind.AIRFLOW, "3.3.1", ("3.3.2", "3.3.3")),
        Move(CELERY_PROVIDER, Kind.PROVIDER, "3.14.0", ("3.14.1", "3.15.0", "3.15.1")),
        Move("celery", Kind.PACKAGE, "5.6.0", ("5.6.1", "5.7.0")),
    )  # zope: no page on the index, left out


def test_the_newest_release_not_yanked_and_the_nightly_are_compared(matrix: Matrix):
    assert [str(r.version) for r in upstream.compared(matrix, 14)] == ["14.0.1", "14.1.0"]
    assert [str(r.version) for r in upstream.released(matrix, 14)] == ["14.0.0", "14.0.1", "14.0.2"]
    assert [str(r.version) for r in upstream.compared(matrix, 11)] == ["11.1.0"]


def test_without_a_configured_index_pip_names_its_default():
    assert upstream.default_index(None) == PyPI.simple_url
    assert upstream.default_index("https://mirror.example/simple") == "https://mirror.example/simple"


# -- the command, against a local index ------------------------------------------------------------


def test_what_moved_on_the_index_shows_up_for_the_newest_release(cli, locked_repo, index):
    result, report = upstream_json(cli, locked_repo, index)
    assert result.code == 0, result.err
    assert moves_of(report, "14.0.1") == {  # 14.0.2 is yanked: 14.0.1 is what users pull
        "apache-airflow": ("airflow", "3.3.1", ["3.3.2", "3.3.3"]),  # patches of 3.3 only; no rc
        "apache-airflow-core": ("airflow", "3.3.1", ["3.3.2", "3.3.3"]),
        CELERY_PROVIDER: ("provider", "3.14.0", ["3.14.1", "3.15.0", "3.15.1"]),
        "celery": ("package", "5.6.0", ["5.6.1", "5.7.0"]),
    }
    assert report["lines"][0]["yanked"] == []


def test_the_nightly_locks_newer_pins_are_compared_too(cli, locked_repo, index):
    result, report = upstream_json(cli, locked_repo, index)
    assert result.code == 0, result.err
    assert moves_of(report, "14.1.0") == {
        "apache-airflow": ("airflow", "3.3.2", ["3.3.3"]),
        "apache-airflow-core": ("airflow", "3.3.2", ["3.3.3"]),
        CELERY_PROVIDER: ("provider", "3.15.0", ["3.15.1"]),
        FAB: ("provider", "2.0.1", ["2.1.0"]),
        "celery": ("package", "5.6.1", ["5.7.0"]),
    }
    assert [(r["version"], r["channel"]) for r in report["lines"][0]["releases"]] == [
        ("14.0.1", "stable"), ("14.1.0", "nightly")]


def test_the_text_report_lists_each_move(cli, locked_repo, index):
    result = cli("--root", locked_repo, "upstream", "--line", "14", "--index-url", index.url)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"package index: {index.url} (5 packages)"
    assert "  14.0.1 (stable, the newest release): newer on the index: 2 airflow, 1 provider, 1 package" in lines
    assert "    provider  apache-airflow-providers-celery  3.14.0 -> 3.15.1 (3 newer)" in lines
    assert "  14.1.0 (nightly): newer on the index: 2 airflow, 2 provider, 1 package" in lines
    assert "  no version a released lock ships is yanked on the index" in lines


def test_a_move_the_lines_constraint_excludes_is_held_back(cli, locked_repo, index):
    hold = {"requirement": "celery<5.7", "reason": "celery 5.7.0 removed an import", "since": "14.0.1"}
    write_matrix(locked_repo, edit(lambda doc: line(doc, 14).__setitem__("constraints", [hold]))(fixture_text()))
    result, report = upstream_json(cli, locked_repo, index)
    assert result.code == 0, result.err
    (moves,) = [r["moves"] for r in report["lines"][0]["releases"] if r["version"] == "14.0.1"]
    assert {m["package"]: m["held"] for m in moves} == {"apache-airflow": None, "apache-airflow-core": None,
                                                       CELERY_PROVIDER: None, "celery": "celery<5.7"}
    text = cli("--root", locked_repo, "upstream", "--line", "14", "--index-url", index.url)
    assert "    package   celery                           5.6.0 -> 5.7.0 (2 newer), held back by celery<5.7" \
        in text.out.splitlines()


def test_a_yanked_version_a_released_lock_ships_fails_with_the_reason(cli, locked_repo, index):
    index.pages["celery"] = page("celery", ON_THE_INDEX["celery"], {"5.6.0": "workers reject every task"})
    index.pages[FAB] = page(FAB, ON_THE_INDEX[FAB], {"2.0.1": "only the nightly pins it"})
    result = cli("--root", locked_repo, "upstream", "--line", "14", "--index-url", index.url)
    assert result.code == 1, result.err
    shipped = [f"locks/{version}/python-{python}/amd64.txt" for version in ("14.0.0", "14.0.1") for python in PYTHONS]
    assert ("  YANKED: celery 5.6.0 (workers reject every task), shipped in 6 released lock files:\n"
            + "".join(f"    {path}\n" for path in shipped)) in result.out
    assert "celery 5.6.1" not in result.out and FAB + " 2.0.1 (" not in result.out  # a nightly is not released

    result, report = upstream_json(cli, locked_repo, index)
    assert result.code == 1
    assert report["lines"][0]["yanked"] == [
        {"package": "celery", "version": "5.6.0", "reason": "workers reject every task", "locks": shipped}]
    assert moves_of(report, "14.0.1")["celery"][2] == ["5.6.1", "5.7.0"]


def test_a_version_yanked_without_a_reason_says_so(cli, locked_repo, index):
    index.pages[CELERY_PROVIDER] = page(CELERY_PROVIDER, ON_THE_INDEX[CELERY_PROVIDER], {"3.14.1": True})
    result = cli("--root", locked_repo, "upstream", "--line", "14", "--index-url", index.url)
    assert result.code == 1  # 14.0.2 is a yanked release, but its images were out: its locks count
    assert "  YANKED: apache-airflow-providers-celery 3.14.1 (no reason given), shipped in 3 released lock files:" \
        in result.out


def test_a_package_the_index_has_no_page_for_is_reported(cli, locked_repo, index):
    del index.pages[FAB]
    result, report = upstream_json(cli, locked_repo, index)
    assert result.code == 0, result.err
    assert report["missing"] == [FAB]
    assert FAB not in moves_of(report, "14.1.0")
    text = cli("--root", locked_repo, "upstream", "--line", "14", "--index-url", index.url)
    assert f"not on the index (no page), not compared: {FAB}" in text.out


def test_each_package_is_asked_once(cli, locked_repo, index):
    result, _ = upstream_json(cli, locked_repo, index)
    assert result.code == 0
    assert index.asked == Counter(dict.fromkeys(ON_THE_INDEX, 1))


def test_a_passing_failure_of_the_index_is_asked_again(cli, locked_repo, index, monkeypatch):
    monkeypatch.setattr(upstream, "RETRY_SECONDS", 0.0)
    index.failing["celery"] = upstream.ATTEMPTS - 1
    result, _ = upstream_json(cli, locked_repo, index)
    assert result.code == 0 and index.asked["celery"] == upstream.ATTEMPTS
    index.failing["celery"] = upstream.ATTEMPTS
    result, _ = upstream_json(cli, locked_repo, index)
    assert result.code == 1 and "answered 503 Service Unavailable for celery" in result.err


@pytest.mark.parametrize(("answer", "said"), [
    (500, "answered 500 Internal Server Error for celery"),
    ("text/html", "answered text/html for celery, not the JSON of PEP 691"),
])
def test_an_index_that_fails_is_an_error_naming_it_and_the_package(cli, locked_repo, index, answer, said, monkeypatch):
    monkeypatch.setattr(upstream, "RETRY_SECONDS", 0.0)  # a 500 is asked again, then said
    index.status["celery"] = answer
    result, _ = upstream_json(cli, locked_repo, index)
    assert result.code == 1
    assert f"error: the package index {index.url} {said}" in result.err
    assert "Traceback" not in result.err and result.out == ""


def test_an_index_without_a_page_for_any_package_is_an_error(cli, locked_repo, index):
    index.pages.clear()
    result, _ = upstream_json(cli, locked_repo, index)
    assert result.code == 1
    assert f"the package index {index.url} has no page for any of the 5 locked packages" in result.err


def test_the_index_the_host_is_configured_with_is_asked(cli, locked_repo, index, monkeypatch):
    for name in ("UV_INDEX_URL", "UV_DEFAULT_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    result = cli("--root", locked_repo, "upstream", "--line", "14", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["index"] == index.url
    assert sum(index.asked.values()) == 5


def test_credentials_in_the_index_url_are_sent_not_shown(cli, locked_repo, index):
    with_credentials = index.url.replace("http://", "http://builder:s%40cret@")
    result = cli("--root", locked_repo, "upstream", "--line", "14", "--index-url", with_credentials)
    assert result.code == 0, result.err
    assert index.authorization == {"Basic YnVpbGRlcjpzQGNyZXQ="}  # builder:s@cret
    assert "cret" not in result.out + result.err
    assert result.out.startswith(f"package index: {index.url} ")


def test_an_unknown_line_is_a_usage_error(cli, locked_repo, index):
    result = cli("--root", locked_repo, "upstream", "--line", "99", "--index-url", index.url)
    assert result.code == 2
    assert "no Runtime line 99 in the matrix; known: 11, 14" in result.err
    assert not index.asked


def test_every_line_by_default_and_the_lock_files_not_written(cli, locked_repo, index):
    result = cli("--root", locked_repo, "upstream", "--json", "--index-url", index.url)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert [line["line"] for line in report["lines"]] == [11, 14]
    assert report["lines"][0]["unlocked"][:2] == ["locks/11.0.0/python-3.9/amd64.txt",
                                                  "locks/11.0.0/python-3.9/arm64.txt"]
    assert report["lines"][1]["unlocked"] == []
