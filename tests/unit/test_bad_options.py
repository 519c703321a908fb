"""Option values are checked when the arguments are parsed (issue 31): exit 2 and one message naming
the option, before a matrix is read, the host checked or the engine asked; never Python's words
(`dev start --platform x` was a ValueError traceback; a port, a --tail, a --cacert, a --env-file
that could not work reached the host checks first)."""

from __future__ import annotations

import pytest

from runtime_builder.cli import main
from runtime_builder.images import host

from .support import REPO_ROOT


@pytest.fixture(autouse=True)
def no_host(monkeypatch):
    """Nothing here may get as far as checking the host or starting anything."""

    def refuse(**_):
        raise AssertionError("bad input reached the host checks")

    monkeypatch.setattr(host, "require", refuse)
    monkeypatch.setattr(host, "setup", refuse)


def _refused(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["--root", str(REPO_ROOT), *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "Traceback" not in err and "ValueError" not in err
    return err.strip().splitlines()[-1]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "folder").mkdir()
    return tmp_path


PROJECT = str(REPO_ROOT / "tests" / "deploy" / "project")
BAD = [
    (["dev", "start", "--project", PROJECT, "--platform", "x"],
     "argument --platform: unknown platform 'x'; allowed: linux/amd64, linux/arm64"),
    (["dev", "pytest", "--project", PROJECT, "--platform", "s390x"], "argument --platform: unknown platform 's390x'"),
    (["run", "--project", PROJECT, "--platform", ""], "argument --platform: unknown platform ''"),
    (["push", "14.2.1", "--platform", "x", "--registry", "127.0.0.1:5000/r"], "argument --platform: unknown platform"),
    (["bootstrap", "--platform", "riscv64"], "argument --platform: unknown platform 'riscv64'"),
    (["matrix", "--platform", "linux/386"], "argument --platform: unknown platform 'linux/386'"),
    (["dev", "start", "--project", PROJECT, "--port", "-1"], "argument --port: -1 is not a TCP port (1 to 65535)"),
    (["dev", "restart", "--project", PROJECT, "--port", "70000"], "argument --port: 70000 is not a TCP port"),
    (["run", "--project", PROJECT, "--port", "0"], "argument --port: 0 is not a TCP port (1 to 65535)"),
    (["run", "--project", PROJECT, "--port", "http"], "argument --port: 'http' is not a whole number"),
    (["dev", "logs", "--project", PROJECT, "--tail", "-5"], "argument --tail: -5 must be 0 or more"),
    (["build", "--cacert", "{files}/missing.pem"], "argument --cacert: {files}/missing.pem: no such file"),
    (["build", "--cacert", ""], "argument --cacert: an empty path; give a file"),
    (["upstream", "--cacert", "{files}/folder"], "argument --cacert: {files}/folder: a folder; give a file"),
    (["publish", "14.2.1", "--registry", "127.0.0.1:5000/r", "--cacert", "{files}/no"], "argument --cacert: "),
    (["run", "--project", PROJECT, "--cacert", "{files}/no"], "argument --cacert: {files}/no: no such file"),
    (["dev", "start", "--project", PROJECT, "--env-file", "{files}/.env"], "argument --env-file: {files}/.env: "),
    (["dev", "start", "--project", PROJECT, "--env-file", "{files}/folder"], "argument --env-file: {files}/folder: a "
                                                                             "folder; give a file"),
    (["dev", "parse", "--project", PROJECT, "--settings-file", "{files}/s.yaml"], "argument --settings-file: "),
    (["dev", "import", "--project", PROJECT, "--settings-file", "{files}/s.yaml"], "argument --settings-file: "),
    (["publish", "14.2.1", "--registry", "127.0.0.1:5000/r", "--unsigned", "--signing-key", "{files}/folder"],
     "argument --signing-key: not allowed with argument --unsigned"),  # a key was silently ignored
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a[:2] + a[-2:-1]) for a, _ in BAD])
def test_a_bad_option_value_is_refused_when_parsed_naming_the_option(capsys, files, argv, message):
    last = _refused(capsys, [arg.format(files=files) for arg in argv])
    assert message.format(files=files) in last, last


@pytest.mark.parametrize("command", ["start", "restart", "pytest", "parse", "upgrade-test"])
def test_a_dev_command_that_builds_refuses_a_folder_that_is_not_a_project_before_the_host(cli, files, command):
    extra = ["--to", "14.3.0"] if command == "upgrade-test" else []
    result = cli("--root", REPO_ROOT, "dev", command, "--project", files / "missing", *extra)
    assert result.code == 2 and f"--project {files / 'missing'}: no such folder" in result.err
    result = cli("--root", REPO_ROOT, "dev", command, "--project", files / "folder", *extra)
    assert result.code == 2 and "not an Airflow Runtime project, it has no Dockerfile" in result.err


def test_export_may_name_a_settings_file_to_be_written(files):
    from runtime_builder.arguments import parse_arguments

    args = parse_arguments(["dev", "export", "--settings-file", str(files / "new.yaml")])
    assert args.settings_file == files / "new.yaml"


def test_a_platform_is_taken_by_its_short_name_too():
    from runtime_builder.arguments import parse_arguments

    assert parse_arguments(["matrix", "--platform", "arm64"]).platform == ["linux/arm64"]


@pytest.mark.parametrize(("argv", "message"), [
    (["99.0.0"], "no Runtime version '99.0.0' in the matrix"),
    (["14.0.1", "--python", "2.7"], "Runtime 14.0.1 has no cell python 2.7 linux/amd64"),
    (["14.0.1", "--registry", "r"], "--registry 'r': expected a registry host"),
    (["14.0.1", "--result", "{files}/folder"], "--result {files}/folder: cannot be read as a cell's result "
                                               "(Is a directory)"),
    (["14.0.1", "--result", "{files}/bad.json"], "--result {files}/bad.json: cannot be read as a cell's result "
                                                 "(not JSON)"),
    (["14.0.1", "--result", "{files}/list.json"], "--result {files}/list.json: a JSON object of the cell's results "
                                                  "is expected, not list"),
])
def test_push_refuses_bad_input_before_the_host_and_the_push(cli, repo, files, argv, message):
    """It checked the host first, and read an existing --result file only after pushing (a traceback then)."""
    (files / "bad.json").write_text('{"built": ')
    (files / "list.json").write_text("[]")
    argv = [arg.format(files=files) for arg in argv]
    registry = [] if "--registry" in argv else ["--registry", "127.0.0.1:5000/airflow-runtime"]
    result = cli("--root", repo, "push", *argv, "--platform", "linux/amd64", *registry)
    assert result.code == 2 and message.format(files=files) in result.err, result.err


@pytest.mark.parametrize("url", ["", "pypi.org/simple", "ftp://mirror/simple", "http://", "https://user:s3cret@[::1"])
@pytest.mark.parametrize("command", [["upstream"], ["build"], ["run", "--project", PROJECT], ["dev", "start"]])
def test_an_index_url_that_is_not_one_is_refused_without_showing_it(capsys, url, command):
    """An empty --index-url fell back to the default index (PyPI); `notaurl` was urllib's ValueError
    traceback; a bracket in the host, urlsplit's 'Invalid IPv6 URL'."""
    last = _refused(capsys, [*command, "--index-url", url])
    assert "argument --index-url: not an http:// or https:// URL with a host" in last
    assert "s3cret" not in last


def test_an_index_url_with_credentials_is_taken():
    from runtime_builder.arguments import parse_arguments

    url = "https://user:token@mirror.example/simple"
    assert parse_arguments(["upstream", "--index-url", url]).index_url == url


@pytest.mark.parametrize("command", [["matrix"], ["tags", "14.0.1"], ["build"], ["lock"], ["test"],
                                     ["push", "14.0.1", "--platform", "linux/amd64", "--registry", "127.0.0.1:5000/r"],
                                     ["publish", "14.0.1", "--registry", "127.0.0.1:5000/r"]])
@pytest.mark.parametrize("value", ["", "3", "three", "3.13.1", "py3.13"])
def test_a_python_that_is_not_major_minor_is_refused_when_parsed(capsys, command, value):
    """`tags 14.0.1 --python ""` printed every Python's tags: an empty value read as no value."""
    last = _refused(capsys, [*command, "--python", value])
    assert f"argument --python: {value!r} is not a Python version such as 3.13" in last


def test_freeze_of_a_nightly_is_bad_input_said_before_rendering(cli, repo, monkeypatch):
    """It was exit 1, after rendering every build context of the matrix."""
    from runtime_builder.generate import render

    monkeypatch.setattr(render, "repository_tree", lambda *_: pytest.fail("rendered before refusing"))
    result = cli("--root", repo, "freeze", "14.1.0")
    assert result.code == 2
    assert "error: Runtime 14.1.0 is a nightly build: only a released version is frozen" in result.err


@pytest.mark.parametrize(("command", "message"), [
    ("pytest -k 'onbuild", "argument --test-command: \"pytest -k 'onbuild\": an unclosed quote or a trailing "
                           "backslash"),
    ("", "argument --test-command: an empty command"),
    ("  ", "argument --test-command: an empty command"),
])
def test_a_test_command_that_cannot_be_split_is_refused_when_parsed(capsys, command, message):
    """shlex's 'No closing quotation' ValueError came when the first image was tested, after building."""
    last = _refused(capsys, ["publish", "14.0.1", "--registry", "127.0.0.1:5000/r", "--test-command", command])
    assert message in last, last


@pytest.mark.parametrize(("argv", "message"), [
    (["bootstrap", "--registry", ""], "argument --registry: '' is not a registry: host[:port][/path]"),
    (["bootstrap", "--registry", "http://127.0.0.1:5000"], "argument --registry: 'http://127.0.0.1:5000' is not a "
                                                           "registry"),
    (["build", "--base-registry", "my registry"], "argument --base-registry/--registry: 'my registry' is not a "
                                                  "registry"),
    (["publish", "14.0.1", "--registry", "127.0.0.1:5000/r", "--base-registry", ""], "argument --base-registry: ''"),
    (["build", "--python-base", ""], "argument --python-base: '' is not an image reference"),
    (["build", "--python-base", "python:3.12 slim"], "argument --python-base: 'python:3.12 slim' is not an image "
                                                     "reference"),
    (["test", "--image", ""], "argument --image: '' is not an image reference"),
    (["dev", "start", "--project", PROJECT, "--postgres-image", "", "--redis-image", "redis:7"],
     "argument --postgres-image: '' is not an image reference"),
])
def test_a_registry_or_image_that_is_not_one_is_refused_when_parsed(capsys, argv, message):
    """An empty --python-base read as none (the bootstrapped base was used); an empty registry made
    references such as '/debian:bookworm' the engine refused after the host checks."""
    last = _refused(capsys, argv)
    assert message in last, last


@pytest.mark.parametrize("reference", ["python:3.12-slim-bookworm", "127.0.0.1:5000/airflow-runtime:14.2.1-python-3.13",
                                       "quay.io:443/org/x@sha256:" + "0" * 64, "[::1]:5000/a/b_c:1.0"])
def test_image_references_docker_takes_are_taken(reference):
    from runtime_builder.arguments import parse_arguments

    assert parse_arguments(["build", "--python-base", reference]).python_base == reference


@pytest.mark.parametrize("argv", [["notes", "14.0.1"], ["render", "--check"], ["build", "14.0.1"]])
def test_a_lock_file_that_is_not_utf8_is_named(cli, repo, argv):
    """It was a UnicodeDecodeError traceback ('utf-8' codec can't decode byte 0xff)."""
    lock = repo / "locks" / "14.0.1" / "python-3.13" / "amd64.txt"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(b"a==1 \\\n    --hash=sha256:\xff\xfe\n")
    result = cli("--root", repo, *argv)
    assert result.code == 2, result.err
    assert "locks/14.0.1/python-3.13/amd64.txt: not UTF-8 text; lock files are written by `build.py lock`" \
        in result.err and "codec" not in result.err


@pytest.mark.parametrize(("argv", "message"), [
    (["14.1.0", "--python", "3.9"], "error: no lock cell matches 14.1.0, Python 3.9: Runtime 14.1.0 has Python 3.11, "
                                    "3.12, 3.13 on linux/amd64"),
    (["14.1.0", "--platform", "linux/arm64"], "error: no lock cell matches 14.1.0, linux/arm64: Runtime 14.1.0 has"),
])
def test_lock_filters_that_match_no_cell_together_are_bad_input(cli, repo, monkeypatch, argv, message):
    """Each filter names what the matrix has, but no cell has them together: it locked 0 cells (and
    the build tools) and said nothing."""
    from runtime_builder.lock import locks

    monkeypatch.setattr(locks, "write_locks", lambda *_, **__: pytest.fail("locked an empty selection"))
    result = cli("--root", repo, "lock", *argv)
    assert result.code == 2 and result.err.startswith(message), result.err


@pytest.mark.parametrize(("argv", "message"), [
    (["dev", "upgrade-test", "--project", PROJECT, "--to", "14.3.0", "--json", "{files}/no/report.json"],
     "argument --json: {files}/no/report.json: no folder {files}/no to write it in"),
    (["dev", "upgrade-test", "--project", PROJECT, "--to", "14.3.0", "--json", "{files}/folder"],
     "argument --json: {files}/folder: a folder; give a file"),
    (["dev", "export", "--project", PROJECT, "--settings-file", "{files}/no/airflow_settings.yaml"],
     "argument --settings-file: {files}/no/airflow_settings.yaml: no folder {files}/no to write it in"),
])
def test_a_file_to_write_where_no_folder_is_is_refused_when_parsed(capsys, files, argv, message):
    """upgrade-test wrote its --json report after minutes of work: a FileNotFoundError traceback then."""
    last = _refused(capsys, [arg.format(files=files) for arg in argv])
    assert message.format(files=files) in last, last


@pytest.mark.parametrize(("content", "message"), [
    ("{bad", "--from-results {path}: cannot be read as a cell's result (not JSON)"),
    ("[1]", "--from-results {path}: a JSON object of the cell's results is expected, not list"),
    ('{"version": "14.0.1", "python": 3.13, "variant": "base", "platform": "linux/amd64"}',
     "--from-results {path}: python: a string is expected in a cell's result"),
    ('{"version": "14.0.1", "python": "3.13", "variant": "base", "platform": "linux/amd64", "digest": 5}',
     "--from-results {path}: digest: a string is expected in a cell's result"),
])
def test_publish_from_results_names_a_result_file_that_is_not_one(cli, repo, files, content, message):
    """A list was "'list' object has no attribute 'get'" in a traceback (issue 31's own example)."""
    path = files / "results" / "cell.json"
    path.parent.mkdir()
    path.write_text(content)
    result = cli("--root", repo, "publish", "14.0.1", "--registry", "127.0.0.1:5000/r", "--unsigned",
                 "--from-results", path.parent)
    assert result.code == 2 and message.format(path=path) in result.err, result.err


@pytest.mark.parametrize("name", ["", "Bad Name", "quay.io/org/rt:14", "-x"])
def test_a_repository_name_that_is_not_one_is_refused_when_parsed(capsys, name):
    """`--repository "" tags ...` printed tags such as ':14.2.1-base' and exited 0."""
    with pytest.raises(SystemExit) as exited:
        main(["--root", str(REPO_ROOT), f"--repository={name}", "tags", "14.0.1"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument --repository: {name!r} is not an image repository name" in err, err


@pytest.mark.parametrize("rev", ["", "  ", "-x"])
def test_an_empty_changed_since_is_refused_not_read_as_the_whole_matrix(capsys, rev):
    """`matrix --changed-since "$BASE_SHA"` with an empty variable printed every cell of the matrix."""
    last = _refused(capsys, ["matrix", "--json", f"--changed-since={rev}"])
    assert f"argument --changed-since: {rev!r} is not a git revision" in last, last


@pytest.mark.parametrize(("name", "content", "message"), [
    (".env", "A B=1\n", ".env line 1: cannot be read as NAME=value"),
    ("airflow_settings.yaml", "airflow:\n  pools: {a: 1}\n", "airflow_settings.yaml: airflow.pools: a list of entries "
                                                             "is expected, not a mapping"),
])
@pytest.mark.parametrize("command", ["start", "restart"])
def test_dev_start_refuses_a_project_file_it_cannot_read_before_the_host(cli, tmp_path, name, content, message,
                                                                          command):
    """`dev start` asked the engine for the deployment it had made first (a host without Docker said so
    instead); `run` already read them first."""
    import shutil

    project = shutil.copytree(PROJECT, tmp_path / "project")
    (project / name).write_text(content)
    result = cli("--root", REPO_ROOT, "dev", command, "--project", project)
    assert result.code == 2 and f"{project / name}{message.removeprefix(name)}" in result.err, result.err


@pytest.mark.parametrize("argv", [["run", "--stop", "--name", "my deployment"], ["dev", "stop", "--name", ""],
                                  ["dev", "kill", "--name", "x" * 64]])
def test_a_deployment_name_docker_cannot_take_is_refused_when_parsed(capsys, argv):
    """`run --stop --name 'my deployment'` checked the host first, then found nothing by that name."""
    last = _refused(capsys, argv)
    assert f"argument --name: {argv[-1]!r}: letters, digits" in last, last
