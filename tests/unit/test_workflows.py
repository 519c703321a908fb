"""The GitHub workflows, checked as data: no network, no runner, no actionlint.

What a runner would only find out after a push: an action not pinned to a commit, write
permissions granted to the whole workflow, a hand-written build matrix, and `build.py`
called with a command or an option the CLI does not have.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runtime_builder.arguments import parser as cli_parser
from runtime_builder.generate.specs import all_specs, matrix_row
from runtime_builder.matrix.load import load_matrix

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


def test_two_publications_of_one_version_never_run_at_once():
    release = load(GITHUB / "workflows" / "release.yml")
    assert "inputs.version" in release["concurrency"]["group"]
    publishing = [job for job in release["jobs"].values()
                  if any("build.py publish" in s.get("run", "") for s in job.get("steps", []))]
    assert publishing, "release.yml has no job running `build.py publish`"
    for job in publishing:
        assert "matrix.version" in job["concurrency"]["group"]
        assert job["concurrency"]["cancel-in-progress"] is False


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
    """(line, arguments after `build.py`) for every call in a shell script, variables substituted."""
    row = sample_row()
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in re.finditer(r"\bbuild\.py\b", line):
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
    assert used == {"validate", "render", "matrix", "build", "test", "push", "publish", "feed"}


@pytest.mark.parametrize(("where", "line", "args"), all_invocations())
def test_build_py_accepts_the_call(where, line, args):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            parsed = workflow_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: `build.py {' '.join(args)}` is not accepted:\n{stderr.getvalue()}")
    assert parsed.command == args[0], f"{where}: top-level options before the command in {line!r}"
