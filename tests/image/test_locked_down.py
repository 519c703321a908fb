"""Locked down (from the `hardened` change on): any uid in group 0, a read-only root file system
with only the documented writable mounts, no setuid or setgid programs. Images released before
the change keep what they were published with; those tests say so and skip."""

from __future__ import annotations

import pytest

from runtime_builder import contract

from . import checks
from .support import Docker, Prober, Target, assert_ok, require_native

pytestmark = pytest.mark.image

# A database for the commands to run against: a real deployment names its own.
SQLITE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:////tmp/airflow.db"
# The DAG processor's work done by hand (`reserialize`), then the list from the database.
MIGRATE_AND_LIST = "airflow db migrate >/dev/null && airflow dags reserialize >/dev/null && airflow dags list -o plain"


def require_hardened(target: Target) -> None:
    if contract.Change.HARDENED.value not in target.expected.changes:
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.HARDENED.value}; released images do not change")


def require_any_uid_commands(target: Target) -> None:
    if contract.Change.ANY_UID_COMMANDS.value not in target.expected.changes:
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.ANY_UID_COMMANDS.value} (a known issue of it); released images do not change")


def test_airflow_subcommands_run_under_any_uid(target: Target, docker: Docker, prober: Prober) -> None:
    """`docker run --user 12345:0 IMAGE db migrate`: an Airflow sub-command as the command, the
    form a pod's `args: [scheduler]` takes, which the entry point runs without a shell."""
    require_hardened(target)
    require_any_uid_commands(target)
    require_native(target, "running Airflow commands")
    result = prober.once(target, "any-uid-subcommand", lambda image: docker.oneshot(
        image.ref, image.platform, "db", "migrate", options=("--user", contract.ARBITRARY_USER, "-e", SQLITE),
        timeout=600))
    assert result.returncode == 0, result.output[-3000:]
    assert "No username" not in result.output, result.output[-3000:]


def test_a_command_execd_under_any_uid_has_a_writable_home(target: Target, docker: Docker, prober: Prober) -> None:
    """What `docker exec` / `kubectl exec` start: no entry point, an arbitrary uid in group 0 with
    no entry in /etc/passwd. The image's HOME is AIRFLOW_HOME, writable to it (any-uid-home)."""
    require_hardened(target)
    if contract.Change.ANY_UID_HOME.value not in target.expected.changes:
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.ANY_UID_HOME.value}: such a command has HOME=/; released images do not change")
    require_native(target, "running commands in the image")
    command = ('echo "home: $HOME"; python -c "import pathlib; print(\'python home:\', pathlib.Path.home())"; '
               'mkdir -p ~/.cache/probe && touch ~/.cache/probe/written && echo "written: yes"')
    result = prober.once(target, "any-uid-exec-home", lambda image: docker.oneshot(
        image.ref, image.platform, "-c", command, options=("--user", contract.ARBITRARY_USER, "--entrypoint", "bash"),
        timeout=300))
    assert result.returncode == 0, result.output[-3000:]
    assert f"home: {checks.AIRFLOW_HOME}" in result.stdout, result.output[-3000:]
    assert f"python home: {checks.AIRFLOW_HOME}" in result.stdout, result.output[-3000:]
    assert "written: yes" in result.stdout, result.output[-3000:]


def test_any_uid_in_group_0_runs_airflow(target: Target, docker: Docker, prober: Prober) -> None:
    require_hardened(target)
    require_native(target, "running Airflow commands")
    command = f'echo "user: $USER"; {MIGRATE_AND_LIST} && stat -c "passwd: %a" /etc/passwd'
    result = prober.once(target, "any-uid", lambda image: docker.oneshot(
        image.ref, image.platform, "bash", "-c", command, options=("--user", contract.ARBITRARY_USER, "-e", SQLITE),
        timeout=600))
    assert result.returncode == 0, result.output[-3000:]
    assert checks.MONITORING_DAG in result.stdout, result.output[-3000:]
    assert f"user: {contract.USER}" in result.stdout, "the entry point gave the uid no name"
    assert "passwd: 644" in result.stdout, "/etc/passwd must not be writable to give the uid a name"


def test_a_read_only_root_needs_only_tmp_and_the_logs(target: Target, docker: Docker, prober: Prober) -> None:
    require_hardened(target)
    require_native(target, "running Airflow commands")
    writable = ("--read-only", "--tmpfs", "/tmp", "--tmpfs", f"{checks.AIRFLOW_HOME}/logs:uid={checks.UID},gid=0")
    result = prober.once(target, "read-only", lambda image: docker.oneshot(
        image.ref, image.platform, "bash", "-c", MIGRATE_AND_LIST, options=(*writable, "-e", SQLITE), timeout=600))
    assert result.returncode == 0, result.output[-3000:]
    assert checks.MONITORING_DAG in result.stdout, result.output[-3000:]


def test_no_setuid_or_setgid_programs(target: Target, fs_facts: dict) -> None:
    require_hardened(target)
    assert_ok(checks.check_no_setuid(fs_facts))


def test_no_file_every_user_may_write(target: Target, docker: Docker, fs_facts: dict) -> None:
    """No file (or folder without the sticky bit) outside /proc, /sys and /dev that any uid may write,
    and nothing of the runtime's own (/opt/runtime) that group 0, which every uid of a hardened image
    is in, may write: one could change what another, root too, reads or runs (uv's venv .lock was
    0666 before the change)."""
    if contract.Change.NO_WORLD_WRITABLE.value not in target.expected.changes:
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.NO_WORLD_WRITABLE.value}; released images do not change")
    assert_ok(checks.check_no_world_writable(fs_facts))
    found = docker.oneshot(target.ref, target.platform, contract.RUNTIME_DIR, "-perm", "/022", "!", "-type",
                           "l", options=("--entrypoint", "find"))
    assert found.returncode == 0 and found.stdout.strip() == "", found.output[-3000:]
