"""The image contract: user, home, entrypoint and init, labels, and nothing left from the build."""

from __future__ import annotations

import json
import time

import pytest
import testinfra

from runtime_builder import contract

from . import checks
from .support import Docker, Prober, Target, assert_ok, base_image, require_native

pytestmark = pytest.mark.image


def test_runs_as_uid_50000_gid_0(target: Target, facts: dict, host: testinfra.host.Host) -> None:
    assert_ok(checks.check_identity(facts))
    user = host.user()
    assert (user.uid, user.gid) == (checks.UID, checks.GID), f"docker exec runs as {user.name} {user.uid}:{user.gid}"


def test_image_config(target: Target) -> None:
    assert_ok(checks.check_image_config(target.expected, target.config))


def test_airflow_home(target: Target, host: testinfra.host.Host) -> None:
    home = host.file(checks.AIRFLOW_HOME)
    assert host.environment()["AIRFLOW_HOME"] == checks.AIRFLOW_HOME
    assert home.is_directory
    assert (home.uid, home.gid) == (checks.UID, checks.GID), f"{checks.AIRFLOW_HOME} is owned by {home.uid}:{home.gid}"
    for folder in ("dags", "plugins", "include"):
        assert host.file(f"{checks.AIRFLOW_HOME}/{folder}").is_directory, f"{checks.AIRFLOW_HOME}/{folder} is missing"
    # Writable by the user, and by group 0 (an arbitrary uid in group 0, as on OpenShift).
    host.check_output(f"touch {checks.AIRFLOW_HOME}/.write-test && rm {checks.AIRFLOW_HOME}/.write-test")
    assert home.mode & 0o070 == 0o070, f"{checks.AIRFLOW_HOME} mode {oct(home.mode)} is not group-writable"


def test_python_and_pip_are_the_venv(host: testinfra.host.Host) -> None:
    assert host.check_output("command -v python") == f"{checks.VENV}/bin/python"
    assert host.check_output("command -v pip") == f"{checks.VENV}/bin/pip"
    assert host.check_output("command -v airflow") == f"{checks.VENV}/bin/airflow"


# Seconds the entrypoint may take before it exec's the command (its start-up runs Python, which
# under QEMU emulation takes several seconds on a busy host).
ENTRYPOINT_SETTLES = 60


def _program_argv(cmdline: list[str]) -> list[str]:
    """A process's own argv: under QEMU (binfmt with the P flag) /proc shows the emulator, the
    program's path and then its original argv; the emulator and the path are not the program's."""
    if cmdline and "qemu" in cmdline[0]:
        return cmdline[2:]
    return cmdline


def test_tini_is_pid_1(target: Target, host: testinfra.host.Host) -> None:
    init = _program_argv(host.file("/proc/1/cmdline").content_string.split("\0"))
    assert init[:3] == list(target.expected.entrypoint), f"PID 1 is {init}"
    # The entrypoint exec's the command given to `docker run`, as tini's child. Until it has done
    # its work (slowly, under emulation) tini's child is still the entrypoint itself: wait for the
    # exec, but never accept an entrypoint that stays.
    deadline = time.monotonic() + ENTRYPOINT_SETTLES
    while True:
        listing = host.check_output(
            "for d in /proc/[0-9]*; do echo \"$(cut -d' ' -f4 $d/stat) $(tr '\\0' ' ' < $d/cmdline)\"; done")
        children = [_program_argv(line.split()[1:]) for line in listing.splitlines() if line.split()[0] == "1"]
        if ["sleep", "infinity"] in children or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ["sleep", "infinity"] in children, f"tini's children after {ENTRYPOINT_SETTLES} s: {children}"


def test_entrypoint_passes_bash_and_python_through(target: Target, docker: Docker) -> None:
    bash = docker.oneshot(target.ref, target.platform, "bash", "-c", 'echo "bash:$0:$(id -u)"')
    assert bash.returncode == 0 and bash.stdout.strip() == f"bash:bash:{checks.UID}", bash.output
    python = docker.oneshot(target.ref, target.platform, "python", "-c", "import sys; print(sys.prefix)")
    assert python.returncode == 0 and python.stdout.strip() == checks.VENV, python.output


# Enough configuration for Airflow 2 to offer `airflow celery` and `airflow kubernetes` (its executors
# add them) and build its command line; nothing connects to the database for --help.
EXECUTOR_CLI = ("-e", "AIRFLOW__CORE__EXECUTOR=CeleryExecutor,KubernetesExecutor",
                "-e", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://runtime:test@localhost/runtime")
SUBCOMMANDS = """\
import argparse, json
from airflow.cli.cli_parser import get_parser
print(json.dumps(sorted({name for action in get_parser()._actions
                         if isinstance(action, argparse._SubParsersAction) for name in action.choices})))
"""


def test_entrypoint_runs_airflow_subcommands_as_airflow(target: Target, docker: Docker, prober: Prober) -> None:
    """`docker run IMAGE celery worker` starts Airflow's worker, not the bare celery program; `users`
    is Airflow's, not coreutils'. Images released before the change keep running them as given."""
    require_native(target, "running Airflow's command line through the entry point")
    celery, users = prober.once(target, "celery-and-users-help", lambda image: tuple(
        docker.oneshot(image.ref, image.platform, command, "--help", options=EXECUTOR_CLI)
        for command in ("celery", "users")))
    celery_help, users_help = celery.output.lower(), users.output.lower()  # "usage:" (2) or "Usage:" (3)
    if contract.Change.AIRFLOW_COMMANDS.value in target.expected.changes and target.variant.is_slim:
        # No Celery provider in a slim image: `celery` still goes to Airflow, whose CLI has no
        # celery group without it, and says so with its own usage (never a bare celery program).
        assert "apache-airflow-providers-celery" not in target.expected.pins
        assert celery.returncode != 0 and "usage: airflow" in celery_help, celery.output[-2000:]
        assert "usage: airflow" in users_help, users.output[-2000:]
    elif contract.Change.AIRFLOW_COMMANDS.value in target.expected.changes:
        assert celery.returncode == 0 and "usage: airflow celery" in celery_help, celery.output[-2000:]
        assert "usage: airflow" in users_help, users.output[-2000:]
    else:
        assert "usage: celery" in celery_help, celery.output[-2000:]  # the bare celery program's help
        assert "usage: users" in users_help, users.output[-2000:]  # coreutils


def test_entrypoint_knows_every_airflow_subcommand(target: Target, docker: Docker, prober: Prober) -> None:
    """The entry point's list of Airflow's sub-commands covers this Airflow's, executors' included."""
    if contract.Change.AIRFLOW_COMMANDS.value not in target.expected.changes:
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.AIRFLOW_COMMANDS.value}: its entry point has no list to check")
    require_native(target, "building Airflow's command line")
    result = prober.once(target, "subcommands", lambda image: docker.oneshot(
        image.ref, image.platform, "python", "-c", SUBCOMMANDS, options=EXECUTOR_CLI))
    assert result.returncode == 0, result.output[-2000:]
    commands = set(json.loads(result.stdout.strip().splitlines()[-1]))
    changes = frozenset(c for c in contract.Change if c.value in target.expected.changes)
    missing = sorted(commands - set(contract.airflow_commands_of(changes)))
    assert not missing, f"Airflow sub-commands the entry point does not know: {missing}"


def test_labels(target: Target) -> None:
    assert_ok(checks.check_labels(target.expected, target.config.get("Labels")))


def test_onbuild_names_its_base_image_digest(target: Target, docker: Docker) -> None:
    base_id = (base_image(docker, target) or {}).get("Id")
    assert_ok(checks.check_base_image_digest(target.expected, target.config.get("Labels"), base_id,
                                             not target.variant.is_base))


def test_no_compiler(fs_facts: dict, host: testinfra.host.Host) -> None:
    assert_ok(checks.check_no_compilers(fs_facts))
    for compiler in ("gcc", "cc", "g++"):
        assert not host.exists(compiler), f"{compiler} is on PATH"


def test_the_floor_is_slim(fs_facts: dict) -> None:
    """Built on a slim Python base (the official `python:X.Y-slim-<suite>`, or bootstrap's made the
    same way): no manuals, documentation but copyright files, or message catalogues."""
    assert_ok(checks.check_slim_floor(fs_facts))


def test_no_package_caches(fs_facts: dict) -> None:
    assert_ok(checks.check_no_caches(fs_facts))


def test_no_build_secrets_in_file_system(fs_facts: dict, root_host: testinfra.host.Host) -> None:
    assert_ok(checks.check_no_secrets(fs_facts))
    secrets = root_host.file("/run/secrets")
    assert not secrets.exists or not secrets.listdir(), f"/run/secrets holds {secrets.listdir()}"


def test_no_build_secrets_in_history(target: Target, docker: Docker) -> None:
    assert_ok(checks.check_history(docker.history(target.ref)))
