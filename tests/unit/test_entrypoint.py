"""The entry point of the airflow-image-contract change, decided without running anything: what it
runs for which arguments, and which variables of the official image's contract it acts on."""

from __future__ import annotations

import pytest

from runtime_builder import contract
from runtime_builder.in_image import entrypoint
from runtime_builder.in_image.entrypoint import ContractError, plan

ON_PATH = {"bash", "python", "airflow", "celery", "users", "sleep", "curl"}


def on_path(name: str) -> bool:
    return "/" in name or name in ON_PATH


def planned(argv: list[str], **environment: str) -> entrypoint.Plan:
    return plan(argv, environment, on_path)


@pytest.mark.parametrize(("argv", "command", "subcommand"), [
    ([], ("airflow",), None),
    (["scheduler"], ("airflow", "scheduler"), "scheduler"),
    (["celery", "worker"], ("airflow", "celery", "worker"), "celery"),  # not the bare celery program
    (["users", "list"], ("airflow", "users", "list"), "users"),  # not coreutils' users
    (["airflow", "version"], ("airflow", "version"), "version"),
    (["airflow"], ("airflow",), None),
    (["bash", "-c", "echo hi"], ("bash", "-c", "echo hi"), None),
    (["python", "-c", "print(1)"], ("python", "-c", "print(1)"), None),
    (["/clean-logs"], ("/clean-logs",), None),
    (["no-such-program", "--x"], ("airflow", "no-such-program", "--x"), "no-such-program"),
])
def test_what_runs_for_the_arguments(argv: list[str], command: tuple[str, ...], subcommand: str | None) -> None:
    found = planned(argv)
    assert (found.command, found.airflow_subcommand) == (command, subcommand)


def test_the_commands_list_is_the_contracts() -> None:
    assert contract.AIRFLOW_COMMANDS is entrypoint.AIRFLOW_COMMANDS
    assert len(set(entrypoint.AIRFLOW_COMMANDS)) == len(entrypoint.AIRFLOW_COMMANDS)


@pytest.mark.parametrize(("argv", "waits"), [
    (["scheduler"], True), (["airflow", "dag-processor"], True), (["triggerer"], True), (["api-server"], True),
    (["bash", "-c", "exec airflow scheduler"], True),  # as the Helm chart starts every component
    (["bash", "-c", "exec \\\nairflow api-server --port 8080"], True),
    (["sh", "-c", "airflow triggerer"], True),
    (["celery", "worker"], False), (["version"], False), (["db", "migrate"], False), (["bash"], False),
    (["bash", "/clean-logs"], False), (["python", "-c", "print(1)"], False),
    (["bash", "-c", "exec airflow jobs check --job-type SchedulerJob --local"], False),
    (["bash", "-c", "echo airflow-scheduler"], False),
])
def test_the_long_running_components_wait_for_the_database(argv: list[str], waits: bool) -> None:
    """As Airflow 3.3's image: the components wait, one-off commands and probes do not."""
    assert planned(argv).wait_for_database is waits
    assert not planned(argv, CONNECTION_CHECK_MAX_COUNT="0").wait_for_database


def test_the_waits_have_the_official_defaults() -> None:
    waited = planned(["scheduler"])
    assert (waited.max_count, waited.sleep_time) == (20, 3.0)
    tuned = planned(["scheduler"], CONNECTION_CHECK_MAX_COUNT="5", CONNECTION_CHECK_SLEEP_TIME="0.5")
    assert (tuned.max_count, tuned.sleep_time) == (5, 0.5)


@pytest.mark.parametrize(("name", "value"), [
    ("CONNECTION_CHECK_MAX_COUNT", "many"), ("CONNECTION_CHECK_MAX_COUNT", "2.5"),
    ("CONNECTION_CHECK_MAX_COUNT", "-1"), ("CONNECTION_CHECK_SLEEP_TIME", "soon"),
])
def test_a_bad_count_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ContractError, match=name):
        planned(["version"], **{name: value})


def test_migrate_on_either_variable() -> None:
    assert not planned(["version"]).migrate
    assert planned(["version"], _AIRFLOW_DB_MIGRATE="true").migrate
    old = planned(["version"], _AIRFLOW_DB_UPGRADE="true")
    assert old.migrate and any("deprecated" in w for w in old.warnings)


def test_migrating_with_no_command_runs_nothing_after() -> None:
    assert planned([], _AIRFLOW_DB_MIGRATE="true").command == ()
    assert planned([]).command == ("airflow",)


@pytest.mark.parametrize(("uid", "gid", "outcome"), [
    (50000, 0, None), (12345, 0, None), (0, 0, None), (50000, 1000, "warning"), (1000, 1000, "error"),
])
def test_a_group_other_than_0(uid: int, gid: int, outcome: str | None) -> None:
    found = entrypoint.group_problem(uid, gid)
    if outcome is None:
        assert found is None
    else:
        assert found is not None and f"group {gid}" in found[0] and found[1] is (outcome == "error")


def test_creating_a_user_needs_a_password_and_never_shows_it() -> None:
    with pytest.raises(ContractError, match="_AIRFLOW_WWW_USER_PASSWORD") as error:
        planned(["version"], _AIRFLOW_WWW_USER_CREATE="true", _AIRFLOW_WWW_USER_USERNAME="someone")
    assert "someone" not in str(error.value)
    assert planned(["version"], _AIRFLOW_WWW_USER_CREATE="true", _AIRFLOW_WWW_USER_PASSWORD="s").create_user
    assert planned(["version"], _AIRFLOW_WWW_USER_CREATE="true", _AIRFLOW_WWW_USER_PASSWORD_CMD="echo s").create_user


def test_the_user_command_has_the_official_defaults() -> None:
    argv = entrypoint.user_command({}, "-starts-with-a-dash")
    assert argv == ["airflow", "users", "create", "--username", "admin", "--firstname", "Airflow",
                    "--lastname", "Admin", "--email", "airflowadmin@example.com", "--role", "Admin",
                    "--password=-starts-with-a-dash"]
    named = entrypoint.user_command({"_AIRFLOW_WWW_USER_USERNAME": "viewer", "_AIRFLOW_WWW_USER_ROLE": "Viewer"}, "p")
    assert named[named.index("--username") + 1] == "viewer" and named[named.index("--role") + 1] == "Viewer"


def test_pip_arguments_split_as_a_shell_would() -> None:
    assert planned(["version"], _PIP_ADDITIONAL_REQUIREMENTS="cowsay 'lxml>=5' --no-index").pip_arguments == (
        "cowsay", "lxml>=5", "--no-index")
    assert planned(["version"]).pip_arguments == ()
    with pytest.raises(ContractError, match="_PIP_ADDITIONAL_REQUIREMENTS"):
        planned(["version"], _PIP_ADDITIONAL_REQUIREMENTS="'unclosed")


@pytest.mark.parametrize(("argv", "waits"), [
    (["scheduler"], True), (["airflow", "celery", "worker"], True), (["celery", "worker", "-q", "x"], True),
    (["celery", "flower"], True), (["api-server"], False), (["bash"], False), (["celery", "--help"], False),
    (["celery", "stop"], False), (["scheduler", "--help"], False), (["celery", "worker", "-h"], False),
])
def test_the_broker_is_waited_for_by_the_scheduler_the_worker_and_flower(argv: list[str], waits: bool) -> None:
    assert entrypoint.needs_broker(planned(argv)) is waits
    assert not entrypoint.needs_broker(planned(argv, CONNECTION_CHECK_MAX_COUNT="0"))


@pytest.mark.parametrize(("executor", "celery"), [
    ("CeleryExecutor", True), ("LocalExecutor", False), ("CeleryExecutor,KubernetesExecutor", True),
    ("airflow.providers.celery.executors.celery_executor.CeleryExecutor", True), ("CeleryKubernetesExecutor", False),
    ("", False),
])
def test_celery_executor_in_any_form(executor: str, celery: bool) -> None:
    assert entrypoint.is_celery(executor) is celery


@pytest.mark.parametrize(("url", "address"), [
    ("redis://redis:6379/0", ("redis", 6379)),
    ("redis://:@redis/0", ("redis", 6379)),
    ("rediss://user:pw@cache.example.com:6380/1", ("cache.example.com", 6380)),
    ("amqp://guest@rabbit//", ("rabbit", 5672)),
    ("sqla+postgresql://a:b@db/x", ("db", 5432)),
    ("redis+socket:///tmp/redis.sock", None),
    ("weird://host", None),
    ("redis://host:notaport/0", None),
])
def test_broker_address(url: str, address: tuple[str, int] | None) -> None:
    assert entrypoint.broker_address(url) == address


def test_pip_paths() -> None:
    assert entrypoint.pip_paths("/tmp/p", "3.13") == ("/tmp/p/lib/python3.13/site-packages", "/tmp/p/bin")


def test_each_uid_gets_a_byte_code_folder_of_its_own(tmp_path) -> None:
    import os

    uid = os.getuid()
    prefix = str(tmp_path / "pycache")
    assert entrypoint.pycache_folder(prefix, 12345) == f"{prefix}-12345"
    mine = entrypoint.own_folder(entrypoint.pycache_folder(prefix, uid), uid)
    assert mine == f"{prefix}-{uid}" and oct(os.stat(mine).st_mode & 0o777) == "0o700"
    assert entrypoint.own_folder(mine, uid) == mine, "found again: it is still this uid's own"


def test_a_folder_another_uid_made_is_not_used(tmp_path) -> None:
    """The plant: another uid made the folder first (to leave byte-code in it), or a link to one."""
    import os

    uid = os.getuid()
    theirs = tmp_path / f"pycache-{uid}"
    theirs.mkdir(mode=0o700)
    if uid == 0:
        os.chown(theirs, 50000, 0)
        assert entrypoint.own_folder(str(theirs), uid) is None
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    assert entrypoint.own_folder(str(open_to_all), uid) is None
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    assert entrypoint.own_folder(str(link), uid) is None
