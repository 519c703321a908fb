"""The GitHub workflows, checked as data: no network, no runner, no actionlint.

What a runner would only find out after a push: an action not pinned to a commit, write
permissions granted to the whole workflow, a hand-written build matrix, and `build.py`
called with a command or an option the CLI does not have. And what no run would show at all:
registry credentials present while third-party code is built and tested, or given to steps
that do not use them (or not given the way `build.py` reads them), the credential that writes
the tags users pull held by a job that builds or tests (those hold a staging credential), a
secret outside a GitHub environment, tags written without an environment's approval, two
publishes of one repository at once, and a release tagged without a vulnerability scan that
can fail it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runtime_builder.arguments import parser as cli_parser
from runtime_builder.generate.specs import all_specs, matrix_row
from runtime_builder.matrix.load import load_matrix
from runtime_builder.publish import staging
from runtime_builder.publish.registry import Registry, Target

from .support import FIXTURE, REPO_ROOT

GITHUB = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
FILES = WORKFLOWS + ACTIONS

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^#\s*v\d+\.\d+\.\d+$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(.*)$")
FROM_PLAN = re.compile(r"^\$\{\{\s*fromJSON\(needs\.([\w-]+)\.outputs\.([\w-]+)\)\s*\}\}$")
STEP_OUTPUT = re.compile(r"^\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SHELL_VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")
CELL_FIELD = re.compile(r"^(?:matrix|fromJSON\(inputs\.cell\))\.(\w+)$")


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name}: not a YAML mapping"
    return document


def triggers(document: dict) -> dict:
    # YAML 1.1 reads a bare `on` key as the boolean true.
    return document.get("on", document.get(True)) or {}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@dataclass(frozen=True)
class Step:
    file: Path
    job: str  # "" in a composite action
    step: dict
    env: dict  # workflow, job and step env, the innermost winning


def steps(path: Path) -> list[Step]:
    document = load(path)
    if path.name == "action.yml":
        return [Step(path, "", s, s.get("env") or {}) for s in document["runs"].get("steps", [])]
    found = []
    for name, job in document["jobs"].items():
        for step in job.get("steps", []):
            env = {**(document.get("env") or {}), **(job.get("env") or {}), **(step.get("env") or {})}
            found.append(Step(path, name, step, env))
    return found


# -- the files ----------------------------------------------------------------------------


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "nightly.yml", "release.yml"}


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_parses_as_yaml(path):
    document = load(path)
    if path.name == "action.yml":
        assert document["runs"]["using"] == "composite"
    else:
        assert triggers(document), f"{rel(path)}: no `on:` triggers"
        assert document["jobs"], f"{rel(path)}: no jobs"


def test_triggers():
    pull_request = triggers(load(GITHUB / "workflows" / "pull-request.yml"))
    nightly = triggers(load(GITHUB / "workflows" / "nightly.yml"))
    release = triggers(load(GITHUB / "workflows" / "release.yml"))
    assert "pull_request" in pull_request
    assert nightly["schedule"] and "workflow_dispatch" in nightly
    assert release["push"] == {"branches": ["main"], "paths": ["versions.yaml"]}
    assert release["workflow_dispatch"]["inputs"]["version"]["required"] is True


# -- actions are pinned -------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    lines = [USES_LINE.match(line) for line in path.read_text(encoding="utf-8").splitlines()]
    used = [(m.group(1), m.group(2)) for m in lines if m]
    # Every `uses:` the YAML holds is on a line of its own, so the comment can be read.
    assert sorted(u for u, _ in used) == sorted(s.step["uses"] for s in steps(path) if "uses" in s.step)
    for ref, comment in used:
        if ref.startswith("./"):
            assert (REPO_ROOT / ref / "action.yml").is_file(), f"{rel(path)}: {ref} has no action.yml"
            continue
        assert PINNED.match(ref), f"{rel(path)}: {ref} is not pinned to a full commit SHA"
        assert VERSION_COMMENT.match(comment), f"{rel(path)}: {ref} needs a `# vX.Y.Z` comment, has {comment!r}"


def test_one_commit_per_action_across_files():
    pins: dict[str, set[str]] = {}
    for path in FILES:
        for step in steps(path):
            ref = step.step.get("uses", "")
            if "@" in ref:
                action, _, commit = ref.partition("@")
                pins.setdefault(action, set()).add(commit)
    assert pins, "no pinned actions found"
    assert {action: commits for action, commits in pins.items() if len(commits) > 1} == {}


# -- permissions and concurrency ----------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_top_level_permissions_are_read_only(path):
    permissions = load(path).get("permissions")
    assert isinstance(permissions, dict), f"{rel(path)}: set `permissions:` explicitly (contents: read)"
    assert permissions.get("contents") == "read"
    assert set(permissions.values()) <= {"read", "none"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_concurrency_is_set(path):
    concurrency = load(path).get("concurrency")
    assert isinstance(concurrency, dict) and concurrency.get("group"), f"{rel(path)}: no concurrency group"
    assert concurrency["cancel-in-progress"] is (path.name == "pull-request.yml"), (
        "pull requests cancel superseded runs; nightly and release runs are never cancelled half-published")


def test_pull_requests_group_by_pull_request():
    group = load(GITHUB / "workflows" / "pull-request.yml")["concurrency"]["group"]
    assert "github.event.pull_request.number" in group


def test_two_releases_of_one_version_never_run_at_once():
    assert "inputs.version" in load(GITHUB / "workflows" / "release.yml")["concurrency"]["group"]


def test_every_publish_to_a_repository_is_in_its_one_concurrency_group():
    """Release and nightly publishes write one repository's tags and feed: one at a time (the feed's
    write is checked too, runtime_builder/publish/record.py). GitHub keeps one pending job per group
    and cancels an older pending one, so a matrix of publish jobs would cancel its own."""
    groups = {}
    for path in (GITHUB / "workflows" / "release.yml", GITHUB / "workflows" / "nightly.yml"):
        document = load(path)
        for name, found in jobs_of(path).items():
            if any("publish" in commands(step) for step in found):
                job = document["jobs"][name]
                concurrency = job.get("concurrency") or {}
                assert concurrency.get("cancel-in-progress") is False, f"{rel(path)}:{name}"
                assert "matrix" not in job.get("strategy", {}), f"{rel(path)}:{name}: a matrix would cancel itself"
                repository = EXPRESSION.search(document["env"]["REGISTRY"]).group(0)
                assert repository in str(concurrency.get("group")), (
                    f"{rel(path)}:{name}: its group is not the target repository's {repository}")
                groups[f"{path.name}:{name}"] = concurrency["group"]
    assert set(groups) == {"release.yml:publish", "nightly.yml:publish"}
    assert len(set(groups.values())) == 1, f"release and nightly publishes in different groups: {groups}"


# -- the matrix comes from build.py -------------------------------------------------------


def matrix_jobs() -> list:
    found = []
    for path in WORKFLOWS:
        jobs = load(path)["jobs"]
        found += [pytest.param(path, name, job, jobs, id=f"{path.name}:{name}")
                  for name, job in jobs.items() if "matrix" in job.get("strategy", {})]
    return found


def test_the_build_jobs_have_a_matrix():
    names = {param.id for param in matrix_jobs()}
    assert {"pull-request.yml:build", "nightly.yml:build", "release.yml:build"} <= names


@pytest.mark.parametrize(("path", "name", "job", "jobs"), matrix_jobs())
def test_matrix_is_the_output_of_build_py_matrix_json(path, name, job, jobs):
    matrix = job["strategy"]["matrix"]
    expressions = [matrix] if isinstance(matrix, str) else list(matrix.values())
    for expression in expressions:
        found = FROM_PLAN.match(str(expression))
        assert found, f"{rel(path)} {name}: matrix {expression!r} is not fromJSON(needs.<job>.outputs.<name>)"
        producer, output = found.groups()
        needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
        assert producer in needs
        source = STEP_OUTPUT.match(jobs[producer]["outputs"][output])
        assert source, f"{rel(path)} {producer}: output {output} does not come from a step"
        step_id = source.group(1)
        step = next(s for s in jobs[producer]["steps"] if s.get("id") == step_id)
        commands = [args for _, args in invocations(step["run"], {})]
        assert any(args[:1] == ["matrix"] and "--json" in args for args in commands), (
            f"{rel(path)} {producer}.{step_id} does not run `build.py matrix --json`")


# -- build.py is called the way the CLI reads it ------------------------------------------


def sample_row() -> dict:
    matrix = load_matrix(FIXTURE)
    return matrix_row(matrix, all_specs(matrix)[0], "airflow-runtime")


def resolve(expression: str, row: dict) -> str:
    """A realistic value for a workflow expression: a matrix cell's field, else a placeholder."""
    field = CELL_FIELD.match(expression)
    if field:
        return str(row[field.group(1)])
    if expression == "inputs.version":
        return row["version"]
    return "placeholder"


def substitute(text: str, env: dict, row: dict) -> str:
    def variable(match: re.Match) -> str:
        value = env.get(match.group(1))
        return "placeholder" if value is None else substitute(str(value), {}, row)

    text = EXPRESSION.sub(lambda m: resolve(m.group(1), row), text)
    return SHELL_VARIABLE.sub(variable, text)


def invocations(script: str, env: dict) -> list[tuple[str, list[str]]]:
    """(line, arguments after `build.py` or `python -m runtime_builder`) for every call in a shell
    script, variables substituted."""
    row = sample_row()
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in re.finditer(r"\bbuild\.py\b|\bpython -m runtime_builder\b", line):
            lexer = shlex.shlex(substitute(line[match.end():], env, row), posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            args = []
            for token in lexer:
                if set(token) <= set("();<>|&"):
                    break  # the end of this command: a pipe, a redirection, `)` ...
                args.append(token)
            found.append((line.strip(), args))
    return found


def workflow_parser() -> argparse.ArgumentParser:
    return cli_parser()


def all_invocations() -> list:
    found = []
    for path in FILES:
        for step in steps(path):
            for line, args in invocations(step.step.get("run", ""), step.env):
                where = f"{rel(path)}:{step.job or 'action'}"
                found.append(pytest.param(where, line, args, id=f"{where}:{' '.join(args[:1])}:{len(found)}"))
    return found


def test_workflows_use_the_commands_they_are_meant_to():
    used = {param.values[2][0] for param in all_invocations() if param.values[2]}
    assert used == {"validate", "render", "matrix", "build", "test", "push", "publish", "verify", "attach", "upstream",
                    "feed", "new-version", "bisect"}


@pytest.mark.parametrize(("where", "line", "args"), all_invocations())
def test_build_py_accepts_the_call(where, line, args):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            parsed = workflow_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: `build.py {' '.join(args)}` is not accepted:\n{stderr.getvalue()}")
    assert parsed.command == args[0], f"{where}: top-level options before the command in {line!r}"


# -- pytest is called with options the suite declares ------------------------------------

LONG_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
PYTEST_CALL = re.compile(r"-m\s+pytest\b(.*)")
TEST_COMMAND = REPO_ROOT / "scripts" / "test-all"


# Every option string pytest's parser takes with the suite's conftest loaded, aliases too
# (`--junitxml`, which `pytest --help` does not list); in a process of its own.
OPTIONS_SCRIPT = """
from _pytest.config import Config
config = Config.fromdictargs({}, ["tests"])
print("\\n".join(config._parser.optparser._option_string_actions))
"""


@functools.cache
def pytest_options() -> frozenset[str]:
    shown = subprocess.run([sys.executable, "-c", OPTIONS_SCRIPT], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout
    return frozenset(shown.split())


def pytest_calls() -> list:
    scripts = [(rel(path), step.step.get("run", "")) for path in FILES for step in steps(path)]
    scripts.append((rel(TEST_COMMAND), TEST_COMMAND.read_text(encoding="utf-8")))
    found = []
    for where, script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            call = PYTEST_CALL.search(line)
            if call and not line.lstrip().startswith("#"):
                found.append(pytest.param(where, line.strip(), id=f"{where}:{len(found)}"))
    return found


def test_the_workflows_and_the_test_command_run_pytest():
    assert {where for where, _ in (param.values for param in pytest_calls())} >= {
        ".github/workflows/nightly.yml", "scripts/test-all"}


@pytest.mark.parametrize(("where", "line"), pytest_calls())
def test_pytest_accepts_every_option_of_the_call(where, line):
    """A misspelt or removed suite option (`--deploy-platform`) fails a run on a runner; here, now."""
    used = LONG_OPTION.findall(PYTEST_CALL.search(line).group(1))
    unknown = sorted(set(used) - pytest_options())
    assert not unknown, f"{where}: pytest has no option {', '.join(unknown)}: {line}"


# -- registry credentials: only where they are used, and only after third-party code ran --

LOGIN_ACTION = "docker/login-action@"
DOCKER_LOGIN = re.compile(r"\bdocker\s+login\b")
DOCKER_LOGOUT = re.compile(r"\bdocker\s+logout\b")
# The registry secrets in a workflow; the inputs the build-cell action receives them as.
CREDENTIAL = re.compile(r"\bsecrets\.QUAY_\w+|\binputs\.registry-(?:username|password)\b")
WHOLE_EXPRESSION = re.compile(r"^\$\{\{\s*([\w.-]+)\s*\}\}$")
BUILD_CELL = "./.github/actions/build-cell"
ACTION = GITHUB / "actions" / "build-cell" / "action.yml"
RELEASE = GITHUB / "workflows" / "release.yml"
# Two credentials: one writes the tags users pull, the other only the staging repository.
TAG_WRITING = {"secrets.QUAY_USERNAME", "secrets.QUAY_PASSWORD"}
STAGING = {"secrets.QUAY_STAGING_USERNAME", "secrets.QUAY_STAGING_PASSWORD"}
# `build.py publish` reads the target's credential and, to promote from staging, staging's.
FROM_SECRETS = {"REGISTRY_USERNAME": "secrets.QUAY_USERNAME", "REGISTRY_PASSWORD": "secrets.QUAY_PASSWORD",
                f"{staging.CREDENTIALS}_USERNAME": "secrets.QUAY_STAGING_USERNAME",
                f"{staging.CREDENTIALS}_PASSWORD": "secrets.QUAY_STAGING_PASSWORD"}
FROM_INPUTS = {"REGISTRY_USERNAME": "inputs.registry-username", "REGISTRY_PASSWORD": "inputs.registry-password"}
TO_SCANNER = {"TRIVY_USERNAME": "secrets.QUAY_STAGING_USERNAME", "TRIVY_PASSWORD": "secrets.QUAY_STAGING_PASSWORD"}
# `build.py attach` puts a scan report beside the staging image it is of, with the staging credential.
TO_ATTACH = {"REGISTRY_USERNAME": "secrets.QUAY_STAGING_USERNAME", "REGISTRY_PASSWORD": "secrets.QUAY_STAGING_PASSWORD"}
TO_BUILD_CELL = {"push-to": "${{ env.STAGING }}", "registry-username": "${{ secrets.QUAY_STAGING_USERNAME }}",
                 "registry-password": "${{ secrets.QUAY_STAGING_PASSWORD }}"}
PUBLISHING_ENVIRONMENT = {"release.yml": "release", "nightly.yml": "nightly"}
# What a job holding the tag-writing credential may use: this tool's checkout and Python, the
# build jobs' results (data); nothing that builds, tests or restores a cache a build job wrote.
PUBLISH_JOB_ACTIONS = ("actions/checkout@", "actions/setup-python@", "actions/download-artifact@",
                       "actions/upload-artifact@")


def commands(step: Step) -> set[str]:
    """The `build.py` commands a step runs."""
    return {args[0] for _, args in invocations(step.step.get("run", ""), step.env) if args}


def logs_in(step: Step) -> bool:
    return step.step.get("uses", "").startswith(LOGIN_ACTION) or bool(DOCKER_LOGIN.search(step.step.get("run", "")))


def builds_or_tests(step: Step) -> bool:
    """Runs third-party code: builds an image (PyPI packages), tests one, runs pytest, or all of it (build-cell)."""
    return (bool(commands(step) & {"build", "test"}) or "pytest" in step.step.get("run", "")
            or step.step.get("uses") == BUILD_CELL)


def credentials(step: Step) -> set[str]:
    """The registry secrets (or, in the action, credential inputs) a step's process or action is given."""
    texts = [str(value) for value in step.env.values()]
    texts += [str(value) for value in (step.step.get("with") or {}).values()]
    texts.append(step.step.get("run", ""))
    return {match.group(0) for text in texts for match in CREDENTIAL.finditer(text)}


def registry_env(step: Step, names: dict[str, str]) -> dict[str, str | None]:
    """The step's own variables `names` (REGISTRY_USERNAME ...), as the expression each is set from."""
    own = step.step.get("env") or {}
    found = {}
    for name in names:
        expression = WHOLE_EXPRESSION.match(str(own.get(name, "")))
        found[name] = expression.group(1) if expression else None
    return found


def jobs_of(path: Path) -> dict[str, list[Step]]:
    grouped: dict[str, list[Step]] = {}
    for step in steps(path):
        grouped.setdefault(step.job, []).append(step)
    return grouped


def label(step: Step) -> str:
    return step.step.get("name") or step.step.get("uses") or step.step.get("run", "").strip().splitlines()[0]


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_registry_login_comes_after_every_build_and_test(path):
    for job, found in jobs_of(path).items():
        last_build = max((i for i, step in enumerate(found) if builds_or_tests(step)), default=-1)
        for i, step in enumerate(found):
            if logs_in(step):
                assert i > last_build, (
                    f"{rel(path)}:{job or 'action'}: `{label(step)}` logs in to the registry before "
                    f"`{label(found[last_build])}` builds or tests third-party code with the credentials on disk")


def test_the_action_logs_in_right_before_the_push_and_out_after_it():
    found = steps(ACTION)
    logins = [i for i, step in enumerate(found) if logs_in(step)]
    pushes = [i for i, step in enumerate(found) if "push" in commands(step)]
    assert len(logins) == 1 and len(pushes) == 1, "one login, one `build.py push`"
    login, push = found[logins[0]], found[pushes[0]]
    assert pushes[0] == logins[0] + 1, "the login is immediately followed by the push"
    assert "inputs.push-to != ''" in login.step.get("if", "")
    assert login.step.get("if") == push.step.get("if"), "a login only when the push runs"
    assert "--password-stdin" in login.step.get("run", ""), "the password through stdin, never in argv"
    logouts = [i for i, step in enumerate(found) if DOCKER_LOGOUT.search(step.step.get("run", ""))]
    assert logouts and min(logouts) > pushes[0], "`docker logout` after the push"
    assert "always()" in found[min(logouts)].step.get("if", ""), "the logout runs whether the push failed or not"


def test_no_workflow_job_logs_in_itself_before_build_cell_or_to_publish():
    for path in WORKFLOWS:
        for job, found in jobs_of(path).items():
            if any(step.step.get("uses") == BUILD_CELL or "publish" in commands(step) for step in found):
                assert not [label(step) for step in found if logs_in(step)], (
                    f"{rel(path)}:{job}: logs in; build-cell logs in for its push, `build.py publish` "
                    "reads REGISTRY_USERNAME/REGISTRY_PASSWORD")


def test_the_registry_client_reads_the_variables_the_workflows_set():
    target = Target("quay.io", "org/runtime")
    assert Registry(target, environ={"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "x"})._basic()
    assert Registry(target, environ={})._basic() is None
    promoting = {name: "x" for name in FROM_SECRETS}
    assert Registry(target, promoting, staging.CREDENTIALS)._basic() == Registry(target, promoting)._basic()
    assert Registry(target, {"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "x"}, staging.CREDENTIALS)._basic() \
        is None, "the staging client never reads the target's credential"


def test_registry_credentials_reach_exactly_the_steps_that_use_them():
    held = {}
    for path in FILES:
        found = steps(path)
        for i, step in enumerate(found):
            where = f"{rel(path)}:{step.job or 'action'}: `{label(step)}`"
            if "publish" in commands(step):
                # build.py's registry client reads the environment (runtime_builder/publish/registry.py).
                assert registry_env(step, FROM_SECRETS) == FROM_SECRETS, (
                    f"{where}: runs `build.py publish` without the target's and staging's credentials")
                held[where] = credentials(step)
            elif "push" in commands(step):
                # `docker push` reads the CLI's login, the client (staging tag, manifests) the environment.
                assert registry_env(step, FROM_INPUTS) == FROM_INPUTS, (
                    f"{where}: runs `build.py push` without credentials")
                assert i and logs_in(found[i - 1]) and credentials(found[i - 1]) == set(FROM_INPUTS.values()), (
                    f"{where}: not right after a login with the registry credentials")
                held[where] = credentials(step)
            elif logs_in(step) and i + 1 < len(found) and "push" in commands(found[i + 1]):
                held[where] = credentials(step)
            elif step.step.get("uses") == BUILD_CELL and (step.step.get("with") or {}).get("push-to"):
                given = step.step["with"]
                assert {key: given.get(key) for key in TO_BUILD_CELL} == TO_BUILD_CELL, (
                    f"{where}: does not push to the staging repository with the staging credential")
                held[where] = credentials(step)
            elif "attach" in commands(step):
                assert registry_env(step, TO_ATTACH) == TO_ATTACH, f"{where}: attaches without the staging credential"
                held[where] = credentials(step)
            elif scans(step):
                # Trivy reads the image in the staging repository.
                assert registry_env(step, TO_SCANNER) == TO_SCANNER, f"{where}: scans staging without its credential"
                held[where] = credentials(step)
            else:
                assert not credentials(step), f"{where}: has registry credentials it does not use"
    assert held and all(held.values())
    where_held = " ".join(held)
    for place in ("nightly.yml:publish", "release.yml:publish", "nightly.yml:build", "release.yml:build",
                  "release.yml:scan", "action.yml:action"):
        assert place in where_held, f"nothing in {place} uses the registry credentials"


def test_the_tag_writing_credential_is_held_only_by_publish_jobs_that_build_nothing():
    """QUAY_USERNAME/QUAY_PASSWORD write the tags users pull: only in the `release` (release.yml) or
    `nightly` (nightly.yml) environment, by a job that builds, tests and restores nothing a build
    job could have written; the build jobs (third-party code) hold the staging credential."""
    holders = []
    for path in WORKFLOWS:
        jobs = load(path)["jobs"]
        for name, found in jobs_of(path).items():
            if not any(credentials(step) & TAG_WRITING for step in found):
                continue
            where = f"{rel(path)}:{name}"
            holders.append(f"{path.name}:{name}")
            assert environment_name(jobs[name]) == PUBLISHING_ENVIRONMENT.get(path.name), (
                f"{where} holds the tag-writing credential outside the "
                f"`{PUBLISHING_ENVIRONMENT.get(path.name, 'release or nightly')}` environment")
            assert not [label(step) for step in found if builds_or_tests(step)], f"{where} builds or tests"
            for step in found:
                uses = step.step.get("uses", "")
                assert not uses or uses.startswith(PUBLISH_JOB_ACTIONS), f"{where}: runs the action {uses}"
                assert not (step.step.get("with") or {}).get("cache"), f"{where}: restores a cache a build job wrote"
                # publish, and `verify`, which reads what it published with no credential at all.
                assert commands(step) <= {"publish", "verify"}, f"{where}: runs `build.py {' '.join(commands(step))}`"
    assert sorted(holders) == ["nightly.yml:publish", "release.yml:publish"]


def test_the_staging_credential_is_held_by_staging_pushes_and_reads_only():
    """QUAY_STAGING_*: the build jobs' push to the staging repository and the scan of it, both in
    the `staging` environment; the publish job's promotion reads staging with it."""
    for path in WORKFLOWS:
        jobs = load(path)["jobs"]
        for name, found in jobs_of(path).items():
            for step in (step for step in found if credentials(step) & STAGING):
                where = f"{rel(path)}:{name}: `{label(step)}`"
                if "publish" in commands(step):
                    assert environment_name(jobs[name]) == PUBLISHING_ENVIRONMENT[path.name], where
                else:
                    assert environment_name(jobs[name]) == "staging", f"{where}: outside the `staging` environment"
                    pushes = (step.step.get("with") or {}).get("push-to") == TO_BUILD_CELL["push-to"]
                    assert scans(step) or pushes or commands(step) == {"attach"}, (
                        f"{where}: holds the staging credential without pushing to, scanning or attaching to staging")


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_every_secret_is_used_in_an_environment(path):
    """zizmor's `secrets-outside-env`, as data: an environment's secrets (and its branch rules and
    reviewers) are the boundary, a repository secret reaches any workflow on any branch."""
    for name, job in load(path)["jobs"].items():
        if re.search(r"\bsecrets\.", json.dumps(job)):
            assert environment_name(job), f"{rel(path)}:{name} uses secrets outside an environment"


@pytest.mark.skipif(shutil.which("zizmor") is None, reason="zizmor is not installed (pip install zizmor)")
def test_zizmor_in_auditor_mode_finds_no_secret_outside_an_environment():
    found = subprocess.run(["zizmor", "--offline", "--persona", "auditor", "--format", "json", str(GITHUB)],
                           capture_output=True, text=True, check=False)
    findings = json.loads(found.stdout)
    assert not [f for f in findings if f["ident"] == "secrets-outside-env"], found.stdout


# -- who may move a release's tags --------------------------------------------------------


def environment_name(job: dict) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def test_release_tags_are_written_only_in_the_release_environment():
    jobs = load(RELEASE)["jobs"]
    guarded = []
    for name, found in jobs_of(RELEASE).items():
        writes_tags = any("publish" in commands(step) for step in found)
        # The build and scan jobs push to and read staging; anything else holding the tag-writing
        # credential (the feed, should it ever touch the registry) is a publication.
        holds = any(credentials(step) & TAG_WRITING for step in found)
        if writes_tags or holds:
            assert environment_name(jobs[name]) == "release", (
                f"release.yml:{name} writes to the registry outside the protected `release` environment")
            guarded.append(name)
    assert "publish" in guarded
    url = jobs["publish"]["environment"].get("url", "https://")
    assert url.startswith("https://")


# -- the vulnerability gate before a release's tags move ----------------------------------

SCANNER = "aquasecurity/trivy-action@"
ALLOWLIST = GITHUB / "vulnerability-allowlist.yaml"
IGNORE_SECTIONS = {"vulnerabilities", "misconfigurations", "secrets", "licenses"}  # Trivy's .trivyignore.yaml
ENTRY_KEYS = {"id", "purls", "statement", "expired_at", "paths"}
VULNERABILITY_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|[A-Z][A-Z0-9]*-[\w.:-]+)$")
PURL = re.compile(r"^pkg:[a-z][a-z0-9.+-]*/\S+$")
BYPASS = re.compile(r"\b(always|failure|cancelled)\(\)")


def scans(step: Step) -> bool:
    return step.step.get("uses", "").startswith(SCANNER)


def needs(job: dict) -> list[str]:
    found = job.get("needs", [])
    return [found] if isinstance(found, str) else list(found)


def upstream(jobs: dict, name: str) -> set[str]:
    found: set[str] = set()
    todo = needs(jobs[name])
    while todo:
        job = todo.pop()
        if job not in found:
            found.add(job)
            todo += needs(jobs[job])
    return found


def test_a_vulnerability_scan_gates_every_release_publication():
    jobs = load(RELEASE)["jobs"]
    by_job = jobs_of(RELEASE)
    builds = [name for name, found in by_job.items() if any(s.step.get("uses") == BUILD_CELL for s in found)]
    publishing = [name for name, found in by_job.items() if any("publish" in commands(s) for s in found)]
    assert builds and publishing
    for name in publishing:
        found = by_job[name]
        publish_at = next(i for i, step in enumerate(found) if "publish" in commands(step))
        before = [step for step in found[:publish_at] if scans(step)]
        gates = sorted(job for job in upstream(jobs, name) if any(scans(step) for step in by_job.get(job, [])))
        assert before or gates, f"release.yml:{name} runs `build.py publish` with no vulnerability scan before it"
        # A failed (or skipped) scan must stop the publication: nothing may run it regardless.
        assert not BYPASS.search(str(jobs[name].get("if", ""))), f"release.yml:{name} runs even when the scan failed"
        for gate in gates:
            job = jobs[gate]
            assert not job.get("continue-on-error") and not BYPASS.search(str(job.get("if", "")))
            # Every cell the build jobs pushed, scanned by the digest its build job recorded: what
            # is scanned is what `publish --from-results` lists and tags.
            for build in builds:
                assert job["strategy"]["matrix"] == jobs[build]["strategy"]["matrix"], (
                    f"release.yml:{gate} does not scan every cell {build} pushed")
                uploaded = {s.step["with"]["name"] for s in by_job[build]
                            if "upload-artifact" in s.step.get("uses", "")}
                downloaded = {(s.step.get("with") or {}).get("name") for s in by_job[gate]
                              if "download-artifact" in s.step.get("uses", "")}
                assert uploaded & downloaded, f"release.yml:{gate} does not read the result {build} recorded"
            for step in (s for s in by_job[gate] if scans(s)):
                reference = STEP_OUTPUT.match(str(step.step["with"]["image-ref"]))
                assert reference, f"release.yml:{gate}: the scanned image is not a step's output"
                source = next(s for s in by_job[gate] if s.step.get("id") == reference.group(1))
                assert ".digest" in source.step["run"] and "$STAGING@" in source.step["run"], (
                    f"release.yml:{gate}: scans something else than the digest pushed to staging")


def scanner_steps() -> list[Step]:
    return [step for path in FILES for step in steps(path) if scans(step)]


def test_the_scanner_is_pinned_and_fails_the_job_on_high_and_critical_findings():
    found = scanner_steps()
    assert found, "no vulnerability scanner"
    pinned = {m.group(1): m.group(2) for m in map(USES_LINE.match, RELEASE.read_text(encoding="utf-8").splitlines())
              if m and m.group(1).startswith(SCANNER)}
    for step in found:
        where = f"{rel(step.file)}:{step.job}"
        settings = step.step.get("with") or {}
        assert PINNED.match(step.step["uses"]) and VERSION_COMMENT.match(pinned[step.step["uses"]]), (
            f"{where}: the scanner is not pinned to a commit with its `# vX.Y.Z`")
        assert str(settings.get("exit-code")) == "1", f"{where}: findings must fail the step (exit-code: 1)"
        assert {"HIGH", "CRITICAL"} <= set(str(settings.get("severity", "")).split(",")), where
        assert str(settings.get("ignore-unfixed", False)).lower() == "false", f"{where}: unfixed ones count too"
        assert "vuln" in str(settings.get("scanners", "vuln")).split(","), where
        assert settings.get("format", "table") != "sarif", f"{where}: SARIF reports every severity, see the action"
        assert settings.get("scan-type", "image") == "image", where
        assert not step.step.get("continue-on-error") and "if" not in step.step, f"{where}: the scan may not be skipped"
        assert not {key for key in step.env if key.startswith("TRIVY_")} - set(TO_SCANNER), (
            f"{where}: TRIVY_* overrides the settings")
        assert settings.get("trivyignores") == rel(ALLOWLIST), f"{where}: not pointed at the allow-list"


def allowlist_problems(document: object) -> list[str]:
    """What is wrong with an allow-list (Trivy's YAML ignore format, every entry with id, package, reason)."""
    if not isinstance(document, dict):
        return ["not a YAML mapping"]
    problems = [f"unknown section {key!r}" for key in document if key not in IGNORE_SECTIONS]
    problems += [f"section {key!r}: the gate scans vulnerabilities only" for key in document
                 if key in IGNORE_SECTIONS - {"vulnerabilities"}]
    entries = document.get("vulnerabilities")
    if not isinstance(entries, list):
        return [*problems, "`vulnerabilities:` must be a list ([] accepts nothing)"]
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            problems.append(f"entry {number}: not a mapping")
            continue
        where = f"entry {number} ({entry.get('id')})"
        problems += [f"{where}: unknown key {key!r}" for key in entry if key not in ENTRY_KEYS]
        if not isinstance(entry.get("id"), str) or not VULNERABILITY_ID.match(entry["id"]):
            problems.append(f"{where}: `id` is not a vulnerability id such as CVE-2024-12345")
        purls = entry.get("purls")
        if not isinstance(purls, list) or not purls or not all(isinstance(p, str) and PURL.match(p) for p in purls):
            problems.append(f"{where}: `purls` must name the package(s), e.g. [pkg:deb/debian/zlib1g]")
        if not isinstance(entry.get("statement"), str) or not entry["statement"].strip():
            problems.append(f"{where}: `statement` must say why it is accepted")
        if "expired_at" in entry and not isinstance(entry["expired_at"], datetime.date):
            problems.append(f"{where}: `expired_at` must be a date (2026-12-31, unquoted)")
    return problems


def test_the_allowlist_parses_and_every_entry_names_the_vulnerability_the_package_and_why():
    assert ALLOWLIST.suffix == ".yaml", "Trivy reads an ignore file as YAML by its extension"
    assert allowlist_problems(yaml.safe_load(ALLOWLIST.read_text(encoding="utf-8"))) == []


GOOD_ENTRY = {"id": "CVE-2023-45853", "purls": ["pkg:deb/debian/zlib1g"], "statement": "minizip, never called",
              "expired_at": datetime.date(2026, 12, 31)}


@pytest.mark.parametrize(("entry", "problem"), [
    ({**GOOD_ENTRY, "statement": "  "}, "`statement`"),
    ({key: value for key, value in GOOD_ENTRY.items() if key != "statement"}, "`statement`"),
    ({key: value for key, value in GOOD_ENTRY.items() if key != "purls"}, "`purls`"),
    ({**GOOD_ENTRY, "purls": []}, "`purls`"),
    ({**GOOD_ENTRY, "purls": ["zlib1g"]}, "`purls`"),
    ({**GOOD_ENTRY, "id": ""}, "`id`"),
    ({**GOOD_ENTRY, "expired_at": "soon"}, "`expired_at`"),
    ({**GOOD_ENTRY, "reason": "typo for statement"}, "unknown key"),
], ids=["blank-reason", "no-reason", "no-package", "empty-package", "not-a-purl", "no-id", "bad-expiry", "unknown-key"])
def test_the_allowlist_check_refuses_an_entry_without_what_or_why(entry, problem):
    assert allowlist_problems({"vulnerabilities": [GOOD_ENTRY]}) == []
    assert any(problem in found for found in allowlist_problems({"vulnerabilities": [entry]}))


SIGNING_KEY = "secrets.RUNTIME_SIGNING_KEY"


def test_the_signing_key_reaches_the_publish_steps_alone_and_the_release_is_verified():
    """The private key signs what `publish` writes: only its steps in the release and nightly
    environments hold it (a remote publish without one is refused); the release job then checks
    each published version with the public key, as docs/verify.md tells users to."""
    holders = []
    for path in WORKFLOWS:
        jobs = load(path)["jobs"]
        for name, found in jobs_of(path).items():
            for step in found:
                env = step.step.get("env") or {}
                holds = any(SIGNING_KEY in str(value) for value in env.values()) or SIGNING_KEY in json.dumps(step.step)
                if "publish" in commands(step):
                    assert env.get("RUNTIME_SIGNING_KEY") == "${{ secrets.RUNTIME_SIGNING_KEY }}", (
                        f"{rel(path)}:{name}: `{label(step)}` publishes unsigned")
                    assert environment_name(jobs[name]) == PUBLISHING_ENVIRONMENT[path.name]
                    holders.append(f"{path.name}:{name}")
                else:
                    assert not holds, f"{rel(path)}:{name}: `{label(step)}` holds the signing key and publishes nothing"
    assert sorted(holders) == ["nightly.yml:publish", "release.yml:publish"]
    publish = jobs_of(RELEASE)["publish"]
    ran = [commands(step) for step in publish]
    assert {"publish"} in ran and {"verify"} in ran and ran.index({"verify"}) > ran.index({"publish"}), ran


def test_every_nightly_image_is_scanned_before_its_tags_and_the_report_attached():
    """As a release: the nightly publish waits for the scan of every image it lists, the scan
    fails on HIGH and CRITICAL findings (except the allow-list's), and its JSON report is attached
    to the scanned digest in staging, even when it failed (promotion copies referrers)."""
    nightly = GITHUB / "workflows" / "nightly.yml"
    jobs = load(nightly)["jobs"]
    assert "scan" in jobs["publish"]["needs"]
    assert jobs["scan"]["strategy"]["matrix"] == jobs["build"]["strategy"]["matrix"]
    found = jobs_of(nightly)["scan"]
    trivy = next(step.step for step in found if scans(step))
    assert trivy["with"]["exit-code"] == "1" and trivy["with"]["severity"] == "HIGH,CRITICAL"
    assert trivy["with"]["format"] == "json" and trivy["with"]["trivyignores"] == ".github/vulnerability-allowlist.yaml"
    attach = next(step.step for step in found if commands(step) == {"attach"})
    assert attach["if"].startswith("always()") and trivy["with"]["output"] in attach["run"]
    assert found.index(next(s for s in found if commands(s) == {"attach"})) > found.index(
        next(s for s in found if scans(s)))


def test_every_cell_keeps_its_logs_and_writes_a_summary_whatever_happened():
    """A red cell is read from its BuildKit logs and test reports (an artifact per cell), and the
    run's summary says each cell's build and test outcome (issue 31)."""
    found = load(ACTION)["runs"]["steps"]
    upload = next(step for step in found if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and "build/logs/" in upload["with"]["path"]
    assert "build/reports/" in upload["with"]["path"]
    summary = next(step for step in found if "GITHUB_STEP_SUMMARY" in step.get("run", ""))
    assert summary["if"] == "always()" and "$BUILD" in summary["run"] and "$TEST" in summary["run"]


def test_the_nightly_reports_what_moved_upstream_and_fails_on_a_yanked_shipped_version():
    """Issue 32: `build.py upstream` every night, its report in the run's summary, its exit status
    (1: a released lock ships a version the index yanked) the job's."""
    job = load(GITHUB / "workflows" / "nightly.yml")["jobs"]["upstream"]
    run = next(step["run"] for step in job["steps"] if "upstream" in step.get("run", ""))
    assert "python build.py upstream" in run and "GITHUB_STEP_SUMMARY" in run and 'exit "$status"' in run
    assert not re.search(r"\bsecrets\.", json.dumps(job)), "it reads the public index: no secret"


NIGHTLY = GITHUB / "workflows" / "nightly.yml"
DRAFTED_PATHS = ("--include=versions.yaml", "--include='locks/*'", "--include='distributions/*'",
                 "--include=releases.json")
DRAFT_SHA = "${{ needs.draft-commit.outputs.sha }}"
DRAFT_COMMIT_ACTIONS = ("actions/checkout@", "actions/download-artifact@")


def test_the_nightly_is_drafted_from_upstream_once_and_every_job_builds_that_commit():
    """Issue 32: `new-version --from-upstream` in one job, its diff an artifact, which draft-commit makes a
    commit (data paths only) on the branch nightly-draft/<date>; the jobs that read the matrix (plan, build,
    deploy, bisect, publish) check out that commit, so an image's provenance names a commit anyone can
    fetch (an applied, uncommitted diff builds REVISION <sha>-dirty, which `build.py verify` refuses)."""
    jobs = load(NIGHTLY)["jobs"]
    draft = jobs["draft"]
    run = next(step["run"] for step in draft["steps"] if "new-version" in step.get("run", ""))
    assert "python build.py new-version --from-upstream" in run and "git diff --binary" in run
    assert "GITHUB_STEP_SUMMARY" in run
    upload = next(step for step in draft["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "nightly-draft" and upload["if"] == "always()"
    assert not re.search(r"\bsecrets\.|github\.token|GITHUB_TOKEN", json.dumps(draft)) and "environment" not in draft
    assert "permissions" not in draft, "it runs third-party code: the workflow's read-only token"
    assert set(needs(jobs["draft-commit"])) == {"draft"}
    assert set(needs(jobs["plan"])) == {"draft-commit"}, "the matrix is planned from the drafted commit"
    for name in ("plan", "build", "deploy", "bisect", "publish"):
        assert "draft-commit" in needs(jobs[name]), f"{name}: reads the draft's commit from draft-commit"
        (checkout,) = [step for step in jobs[name]["steps"] if step.get("uses", "").startswith("actions/checkout@")]
        assert checkout["with"]["ref"] == DRAFT_SHA, f"{name}: checks out the drafted commit"
        assert checkout["with"]["persist-credentials"] is False
    applying = [f"{step.job}: {label(step)}" for path in FILES for step in steps(path)
                if "git apply" in step.step.get("run", "") and (path, step.job) != (NIGHTLY, "draft-commit")]
    assert applying == [], "only draft-commit applies the draft: every other job builds a commit"
    assert not (GITHUB / "actions" / "apply-draft").exists()


def test_the_draft_is_committed_and_pushed_by_the_one_job_with_a_write_token_which_runs_no_build_code():
    """The draft's commit is pushed with the job's own token (contents: write, draft-commit alone), by a job
    that holds no secret and runs no third-party code: no build.py, no pip or uv, no setup-python, no
    action but checkout (not keeping the token) and download-artifact; the token reaches the push step alone."""
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if (path, name) == (NIGHTLY, "draft-commit"):
                assert job["permissions"] == {"contents": "write", "pull-requests": "read"}
            else:
                assert "permissions" not in job, f"{rel(path)}:{name}: job permissions beyond the workflow's read-only"
    job = load(NIGHTLY)["jobs"]["draft-commit"]
    text = json.dumps(job)
    assert not re.search(r"\bsecrets\.", text) and "environment" not in job
    found = jobs_of(NIGHTLY)["draft-commit"]
    for step in found:
        uses = step.step.get("uses", "")
        assert not uses or uses.startswith(DRAFT_COMMIT_ACTIONS), f"draft-commit: runs the action {uses}"
        if uses.startswith("actions/checkout@"):
            assert step.step["with"]["persist-credentials"] is False
            assert "ref" not in step.step["with"] and "token" not in step.step["with"]
        run = step.step.get("run", "")
        assert not invocations(run, step.env) and not commands(step), f"draft-commit: `{label(step)}` runs build.py"
        assert not re.search(r"\b(python3?|pip3?|uv|uvx|pytest|make|npm|docker)\b", run), (
            f"draft-commit: `{label(step)}` runs a tool that could run drafted or third-party code")
    (download,) = [step for step in found if step.step.get("uses", "").startswith("actions/download-artifact@")]
    assert download.step["with"]["name"] == "nightly-draft"
    (applying,) = [step.step["run"] for step in found if "git apply" in step.step.get("run", "")]
    assert all(path in applying for path in DRAFTED_PATHS), "the write-token job commits data, never code"
    assert "git status --porcelain" in applying and "exit 1" in applying, "a rename out of the code is refused"
    holding = [step for step in found if "github.token" in json.dumps(step.step)]
    assert [label(step) for step in holding] == ["Pushed as the branch nightly-draft/<date>", "Older drafts deleted"]
    push, prune = holding
    # Old drafts go, unless a pull request is open from one: the last 14 days' stay.
    assert "github.token" not in prune.step["run"] and prune.step["if"] == "steps.push.outcome == 'success'"
    assert "date -u -d '14 days ago' +%Y%m%d" in prune.step["run"]
    assert "'refs/heads/nightly-draft/*'" in prune.step["run"] and '--delete "$branch"' in prune.step["run"]
    assert 'gh pr list --repo "$GITHUB_REPOSITORY" --head "$branch" --state open' in prune.step["run"]
    assert push.step["env"]["GITHUB_TOKEN"] == "${{ github.token }}" and "github.token" not in push.step["run"]
    assert re.search(r'git push --force .*"https://x-access-token:\$\{GITHUB_TOKEN\}@github\.com/'
                     r'\$\{GITHUB_REPOSITORY\}\.git"', push.step["run"])
    assert "refs/heads/$BRANCH" in push.step["run"]
    assert re.search(r"branch=nightly-draft/\$date", applying) and 'date=$(date -u +%Y%m%d)' in applying
    result = next(step.step for step in found if step.step.get("id") == "result")
    assert job["outputs"]["sha"] == "${{ steps.result.outputs.sha }}"
    assert result["env"]["RUN_SHA"] == "${{ github.sha }}", "nothing drafted: the run's own commit"
    assert "GITHUB_STEP_SUMMARY" in result["run"] and "/compare/" in result["run"] and "expand=1" in result["run"]


def test_a_red_nightly_is_bisected_into_the_summary_and_an_issue_body():
    """Issue 32: the bisect job runs when the nightly's image tests or deployments are red, between the
    drafted line's newest release and its nightly, on the failing image tests, else on the failing amd64
    deployment tests a probe can deploy (bisect_run.DEPLOYING, with the executors of the failing cases);
    the others are listed; the result in the summary and an issue.md artifact; no secret."""
    from runtime_builder.images.bisect_run import DEPLOYING

    job = load(NIGHTLY)["jobs"]["bisect"]
    assert set(job["needs"]) == {"draft", "draft-commit", "build", "deploy"}
    assert "needs.build.result == 'failure'" in job["if"] and "needs.deploy.result == 'failure'" in job["if"]
    assert job["if"].startswith("always()")
    failing = next(step for step in job["steps"] if step.get("id") == "failing")
    assert 'glob(f"{nightly}-*.xml")' in failing["run"] and 'glob(f"deploy-{nightly}-*.xml")' in failing["run"]
    downloads = [step["with"]["pattern"] for step in job["steps"]
                 if str(step.get("uses", "")).startswith("actions/download-artifact@")]
    assert downloads == ["result-*", "deploy-*"]
    calls = [args for step in job["steps"] for _, args in invocations(step.get("run", ""), step.get("env") or {})]
    (bisect,) = [args for args in calls if args[:1] == ["bisect"]]
    assert "--json" in bisect and "--" in bisect
    assert "probing = (" + ", ".join(f'"{module}"' for module in DEPLOYING) + ")" in failing["run"]
    assert 'glob(f"deploy-{nightly}-amd64*.xml")' in failing["run"]
    assert '"--deploy-executor", e' in failing["run"] and "kind = \"deployment\"" in failing["run"]
    run_step = next(step for step in job["steps"] if "build.py bisect" in step.get("run", ""))
    assert run_step["if"] == "steps.failing.outputs.kind == 'image' || steps.failing.outputs.kind == 'deployment'"
    env = next(step["env"] for step in job["steps"] if "build.py bisect" in step.get("run", ""))
    assert env["GOOD"] == "${{ needs.draft.outputs.good }}" and env["NIGHTLY"] == "${{ needs.draft.outputs.nightly }}"
    summary = next(step for step in job["steps"] if "GITHUB_STEP_SUMMARY" in step.get("run", ""))
    assert "issue.md" in summary["run"] and summary["if"].startswith("always()")
    upload = next(step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "nightly-bisect" and "build/bisect/" in upload["with"]["path"]
    assert not re.search(r"\bsecrets\.", json.dumps(job)) and "environment" not in job
