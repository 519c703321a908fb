"""ONBUILD: a user's project built on the ONBUILD image, as `FROM <image>` and nothing else.

The projects are in tests/image/projects/. Builds need the network (apt over HTTP, PyPI with
the host's CA bundle passed as the `cacert` secret, see runtime_builder.images.secrets), and run on
the native platform only.
"""

from __future__ import annotations

import shutil
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

from runtime_builder import contract
from runtime_builder.images.secrets import build_secrets, host_cacert, host_index_url

from . import checks
from .support import (
    OWNER,
    OWNER_LABEL,
    PROJECTS,
    TEST_LABEL,
    TEST_REPOSITORY,
    Docker,
    Result,
    Target,
    assert_ok,
    base_image,
    onbuild_problems,
    require_native,
    require_onbuild,
)

pytestmark = pytest.mark.image

REQUIREMENT = ("pyjokes", "0.8.3")  # as in projects/good/requirements.txt
DEBIAN_PACKAGE = "jq"  # as in projects/good/packages.txt


@dataclass(frozen=True)
class Project:
    name: str
    context: Path
    tag: str


class Builds:
    """Project builds on one ONBUILD image, each built at most once per session."""

    def __init__(self, target: Target, docker: Docker, workdir: Path) -> None:
        self.target, self.docker, self.workdir = target, docker, workdir
        self.secrets = build_secrets(workdir / "secrets", host_cacert(), host_index_url())
        self.results: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Project, Result]] = {}

    def build(self, name: str, check_dags: bool | None = None, **args: str) -> tuple[Project, Result]:
        """Build project `name`; check_dags: RUNTIME_CHECK_DAGS true or false (None: the image's default)."""
        if check_dags is not None:
            args["RUNTIME_CHECK_DAGS"] = "true" if check_dags else "false"
        key = (name, tuple(sorted(args.items())))
        if key not in self.results:
            project = self._context(name, "-".join(f"{k}-{v}".lower() for k, v in sorted(args.items())))
            result = self.docker.build(project.context, project.tag, self.target.platform, args, self.secrets)
            self.results[key] = (project, result)
        return self.results[key]

    def _context(self, name: str, variant: str) -> Project:
        context = self.workdir / f"{name}{'-' + variant if variant else ''}"
        shutil.copytree(PROJECTS / name, context)
        packages = context / "packages.txt"
        # Saved on Windows: every line ends in CRLF.
        packages.write_bytes(packages.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        (context / "Dockerfile").write_text(
            f"FROM {self.target.ref}\nLABEL {TEST_LABEL}=1 {OWNER_LABEL}={OWNER}\n")
        return Project(name, context, f"{TEST_REPOSITORY}/{name}:{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def builds(target: Target, docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    require_onbuild(target)
    require_native(target, "building projects on the ONBUILD image")
    builds = Builds(target, docker, tmp_path_factory.mktemp("projects"))
    yield builds
    for project, _ in builds.results.values():
        docker.remove_image(project.tag)


@pytest.fixture(scope="module")
def good(builds: Builds) -> Project:
    project, result = builds.build("good")
    assert result.returncode == 0, f"the good project did not build:\n{result.output[-5000:]}"
    return project


@pytest.fixture(scope="module")
def good_host(good: Project, target: Target, docker: Docker) -> Iterator[testinfra.host.Host]:
    container = docker.start(good.tag, target.platform, "sleep", "infinity")
    yield testinfra.get_host(f"docker://{container}")
    docker.remove(container)


def test_packages_txt_with_crlf_installs(good_host: testinfra.host.Host) -> None:
    assert good_host.package(DEBIAN_PACKAGE).is_installed
    assert good_host.check_output(f"command -v {DEBIAN_PACKAGE}") == f"/usr/bin/{DEBIAN_PACKAGE}"


def test_requirements_txt_installs_under_the_constraint(good_host: testinfra.host.Host, target: Target) -> None:
    name, version = REQUIREMENT
    assert name not in target.expected.pins, f"{name} is in the lock now: pick another requirement for the test"
    script = ("import importlib.metadata as m; "
              f"print(m.version('{name}'), m.version('apache-airflow'))")
    assert good_host.check_output(f'python -c "{script}"').split() == [version, target.expected.airflow_version]


def test_project_files_owned_by_airflow(good_host: testinfra.host.Host) -> None:
    assert good_host.file(f"{checks.AIRFLOW_HOME}/include/project-note.txt").uid == checks.UID
    others = good_host.check_output(f"find {checks.AIRFLOW_HOME} ! -uid {checks.UID} -printf '%u:%g %p\\n'")
    assert others == "", f"files in the project not owned by uid {checks.UID}:\n{others}"


def test_dags_test_runs_bash_and_python_tasks(good: Project, target: Target, docker: Docker) -> None:
    script = ("set -e; airflow db migrate >/dev/null 2>&1; "
              "airflow dags test runtime_test_project 2>&1 | tail -40; "
              "echo ---; cat /tmp/runtime-test-markers/bash.json /tmp/runtime-test-markers/python.txt")
    result = docker.oneshot(good.tag, target.platform, "bash", "-c", script, timeout=600)
    assert result.returncode == 0, result.output[-5000:]
    markers = result.stdout.rpartition("---\n")[2].splitlines()
    assert markers[0] == '{"ok":true}', result.output[-3000:]
    assert markers[1].startswith(f"pyjokes {REQUIREMENT[1]} jq-"), result.output[-3000:]


def test_requirements_naming_airflow_are_refused(builds: Builds) -> None:
    _, result = builds.build("pins-airflow")
    assert result.returncode != 0, "a project pinning apache-airflow was built"
    assert "error: requirements.txt names apache-airflow" in result.output, result.output[-3000:]
    assert f"ships Apache Airflow {builds.target.expected.airflow_version}" in result.output, result.output[-3000:]


def test_check_dags_passes_for_a_good_project(builds: Builds, good: Project) -> None:
    # Where the check is the default, the plain build ran it (an explicit =true is a cache hit).
    default = _has(builds.target, contract.Change.DAG_CHECK_DEFAULT)
    _, result = builds.build("good") if default else builds.build("good", check_dags=True)
    assert result.returncode == 0, f"RUNTIME_CHECK_DAGS=true failed a good project:\n{result.output[-5000:]}"
    assert "runtime_test_project" in result.output, result.output[-3000:]


def test_check_dags_fails_for_a_broken_dag(builds: Builds) -> None:
    _, unchecked = builds.build("broken-dag", check_dags=False)
    assert unchecked.returncode == 0, f"without the check, the project must build:\n{unchecked.output[-3000:]}"
    assert "DAG import check skipped" in unchecked.output, unchecked.output[-3000:]
    _, checked = builds.build("broken-dag", check_dags=True)
    assert checked.returncode != 0, "RUNTIME_CHECK_DAGS=true built a project whose DAG does not import"
    assert "DAG import error in" in checked.output and "broken_dag.py" in checked.output, checked.output[-3000:]


def test_the_dag_check_is_on_by_default_from_its_release(builds: Builds) -> None:
    """From `dag-check-default` a plain build of a project with a broken DAG fails, naming the file."""
    _, plain = builds.build("broken-dag")
    if _has(builds.target, contract.Change.DAG_CHECK_DEFAULT):
        assert plain.returncode != 0, "a project whose DAG does not import was built"
        assert "DAG import error in" in plain.output and "broken_dag.py" in plain.output, plain.output[-3000:]
    else:  # released before the change: the check stays opt-in, as published
        assert plain.returncode == 0, plain.output[-3000:]


def require_project_tests(builds: Builds) -> None:
    if not _has(builds.target, contract.Change.PROJECT_TESTS):
        pytest.skip(f"Runtime {builds.target.expected.runtime_version} was released before "
                    f"{contract.Change.PROJECT_TESTS.value}; released images do not change")


def test_passing_project_tests_pass_the_build_and_leave_no_pytest(builds: Builds, target: Target,
                                                                  docker: Docker) -> None:
    require_project_tests(builds)
    project, result = builds.build("tests-passing", RUNTIME_RUN_TESTS="true")
    assert result.returncode == 0, result.output[-5000:]
    assert "2 passed" in result.output, result.output[-3000:]
    left = docker.oneshot(project.tag, target.platform, "python", "-c",
                          "import importlib.util as u; print(u.find_spec('pytest') is None)")
    assert left.stdout.strip().splitlines()[-1] == "True", "pytest was left in the image"


def test_a_failing_project_test_fails_the_build_with_pytests_summary(builds: Builds) -> None:
    require_project_tests(builds)
    _, result = builds.build("tests-failing", RUNTIME_RUN_TESTS="true")
    assert result.returncode != 0, "a project whose test fails was built"
    assert "FAILED tests/test_dags.py::test_the_project_expects_a_dag_it_does_not_have" in result.output, \
        result.output[-3000:]
    assert "project_goodbye is missing" in result.output and "1 failed" in result.output, result.output[-3000:]
    _, unchecked = builds.build("tests-failing")
    assert unchecked.returncode == 0, "without RUNTIME_RUN_TESTS=true the tests must not run"


def test_a_project_without_tests_passes_with_a_message(builds: Builds) -> None:
    require_project_tests(builds)
    _, result = builds.build("good", RUNTIME_RUN_TESTS="true")
    assert result.returncode == 0, result.output[-3000:]
    assert "the project has no tests/ folder: no tests to run" in result.output, result.output[-3000:]


def _has(target: Target, change: contract.Change) -> bool:
    return change.value in target.expected.changes


def test_packages_txt_takes_package_names_only(builds: Builds) -> None:
    """A line that apt-get would read as an option fails the build, naming the line (from the change on)."""
    if not _has(builds.target, contract.Change.STRICT_PACKAGES):
        pytest.skip(f"Runtime {builds.target.expected.runtime_version} was released before "
                    f"{contract.Change.STRICT_PACKAGES.value}; released images do not change")
    _, result = builds.build("option-packages")
    assert result.returncode != 0, "a packages.txt with an apt option was built"
    assert ("packages.txt line 4: '--allow-unauthenticated' is not a Debian package name" in result.output), \
        result.output[-3000:]
    if _has(builds.target, contract.Change.PACKAGES_EXACT):  # apt's remove action and a pattern, not globbed
        for number, token in ((5, "tini-"), (6, "*")):
            assert f"packages.txt line {number}: '{token}' is not a Debian package name" in result.output, \
                result.output[-3000:]


def test_a_projects_private_files_fail_its_build(builds: Builds) -> None:
    """A plain `docker build` of a project whose .env and airflow_settings.yaml are not in its
    .dockerignore would put their secrets in the image: the build fails, naming them."""
    if not _has(builds.target, contract.Change.PRIVATE_FILES):
        pytest.skip(f"Runtime {builds.target.expected.runtime_version} was released before "
                    f"{contract.Change.PRIVATE_FILES.value}; released images do not change")
    _, result = builds.build("private-files")
    assert result.returncode != 0, "a project with its .env and airflow_settings.yaml was built"
    assert "error: the project's .env airflow_settings.yaml would be in the image" in result.output, \
        result.output[-3000:]


# An sdist whose build backend (in the sdist itself: no index needed) notes the uid that ran it,
# and tries to write into the venv as that uid could if it were root.
UID_PROBE_BACKEND = """\
import base64, hashlib, io, os, zipfile

def _note():
    with open("/tmp/uid-probe-built-by", "a") as note:
        note.write(f"{os.getuid()}\\n")
    try:
        open("/opt/runtime/venv/uid-probe-was-here", "w").close()
    except OSError:
        pass

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _note()
    name, info = "uid_probe-1.0-py3-none-any.whl", "uid_probe-1.0.dist-info"
    files = {"uid_probe/__init__.py": b"",
             f"{info}/METADATA": b"Metadata-Version: 2.1\\nName: uid-probe\\nVersion: 1.0\\n",
             f"{info}/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}\\n")
    files[f"{info}/RECORD"] = ("".join(lines) + f"{info}/RECORD,,\\n").encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name
"""


def test_a_requirements_build_code_runs_as_nobody(target: Target, docker: Docker, tmp_path: Path) -> None:
    """The ONBUILD requirements step on an sdist: its build backend runs as nobody, not root, cannot
    write into the venv, and the package still ends up installed (the image's own script, run as
    the ONBUILD trigger runs it: as root, the requirements file mounted)."""
    require_onbuild(target)
    require_native(target, "running the ONBUILD requirements step")
    if not _has(target, contract.Change.UNPRIVILEGED_BUILDS):
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.UNPRIVILEGED_BUILDS.value}; released images do not change")
    source = tmp_path / "uid-probe-1.0"
    source.mkdir()
    (source / "backend.py").write_text(UID_PROBE_BACKEND)
    (source / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                           'backend-path = ["."]\n\n[project]\nname = "uid-probe"\nversion = "1.0"\n')
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    with tarfile.open(sdists / "uid_probe-1.0.tar.gz", "w:gz") as archive:
        archive.add(source, arcname="uid_probe-1.0")
    sdists.chmod(0o755)
    (tmp_path / "requirements.txt").write_text("--no-index\n--find-links /sdists\nuid-probe==1.0\n")
    result = docker.oneshot(
        target.ref, target.platform, "-c",
        f"bash {contract.ONBUILD_DIR}/onbuild-install.sh requirements /tmp/onbuild/requirements.txt >&2 "
        "&& cat /tmp/uid-probe-built-by && python -c 'import uid_probe' "
        "&& ls /opt/runtime/venv/uid-probe-was-here 2>/dev/null; true",
        options=("--user", "0", "--entrypoint", "bash", "-v", f"{sdists}:/sdists:ro",
                 "-v", f"{tmp_path / 'requirements.txt'}:/tmp/onbuild/requirements.txt:ro"), timeout=600)
    assert result.returncode == 0, result.output[-3000:]
    lines = result.stdout.split()
    assert lines and set(lines) == {str(contract.BUILD_UID)}, f"the sdist's build ran as uid(s) {lines}"
    assert "uid-probe-was-here" not in result.stdout, "the build wrote into the venv"


def test_a_project_on_an_image_without_byte_code_adds_none(good: Project, target: Target, docker: Docker) -> None:
    """On an image that ships no byte-code (slim, from slim-no-bytecode on), the ONBUILD steps install
    a project's requirements without it and the DAG check writes none: not in the venv, not
    beside the DAGs, not under PYTHONPYCACHEPREFIX in /tmp (it would stay in the image). A new
    container's files: the image's own, before anything in it runs Python."""
    if target.expected.bytecode:
        pytest.skip(f"{target.ref} ships byte-code: a project's packages are compiled as pip compiles them")
    result = docker.oneshot(good.tag, target.platform, "find", checks.VENV, checks.AIRFLOW_HOME, "/tmp",
                            "-name", "*.pyc", timeout=300)
    assert result.returncode == 0, result.output[-3000:]
    assert result.stdout.strip() == "", f"byte-code in the project image:\n{result.stdout[:1000]}"


def test_no_downloaded_packages_are_left(good_host: testinfra.host.Host, target: Target) -> None:
    left = good_host.check_output("find /var/cache/apt/archives -name '*.deb' | head -5")
    if _has(target, contract.Change.STRICT_PACKAGES):
        assert left == "", f".deb files left in the image:\n{left}"
    else:  # released before the change: apt's download cache stayed, as published
        assert left, "no .deb files: the released image changed"


def test_is_its_base_image_and_its_tools(target: Target, docker: Docker) -> None:
    """The -base image it names, unchanged underneath, plus one layer with its ONBUILD tools and
    metadata: a project built on it runs what the -base image's tests tested (and the image
    tests take the -base image's Airflow probes for this image's when both are under test)."""
    require_onbuild(target)
    base = base_image(docker, target)
    name = (target.config.get("Labels") or {}).get("org.opencontainers.image.base.name")
    assert base is not None, f"{target.ref} names {name!r} as its base image, and there is no such image here"
    assert_ok(onbuild_problems(docker, base, target))
