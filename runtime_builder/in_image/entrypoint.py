"""The entry point of the Runtime images from the `airflow-image-contract` change on: `/entrypoint`,
with the contract of Apache Airflow's own image, so that Airflow's docker-compose quick start and
its Helm chart run the images unchanged (`docker run IMAGE scheduler`, `/entrypoint airflow
version`, a probe's `/entrypoint python -c ...`).

Before the command, as Airflow's image documents its entry point (docker-stack, "Entrypoint"):

- `umask 0002`: files made on a shared volume stay writable for group 0, whatever the uid;
- a group other than 0: a warning for uid 50000, an error for any other uid (the image's files are
  writable for group 0, as in the official image);
- for the long-running components (`scheduler`, `dag-processor`, `triggerer`, `api-server`, also as
  the chart starts them, `bash -c "exec airflow scheduler"`), as Airflow 3.3's image does:
  `CONNECTION_CHECK_MAX_COUNT` (default 20) tries of `airflow db check`, `CONNECTION_CHECK_SLEEP_TIME`
  (default 3) seconds apart, until the metadata database answers (0 skips it);
- `_AIRFLOW_DB_MIGRATE` (or the deprecated `_AIRFLOW_DB_UPGRADE`): `airflow db migrate`; a failure
  stops the container (the official image goes on, and every component then fails later); with
  no command, the container then ends;
- `_AIRFLOW_WWW_USER_CREATE`, where the FAB auth manager is configured (others keep their users
  elsewhere: it says so and goes on): `airflow users create` with `_AIRFLOW_WWW_USER_USERNAME` (admin),
  `_FIRSTNAME` (Airflow), `_LASTNAME` (Admin), `_EMAIL` (airflowadmin@example.com), `_ROLE` (Admin)
  and the password of `_AIRFLOW_WWW_USER_PASSWORD_CMD` (a shell command) or `_PASSWORD`, which is
  required; an existing user is left as it is, and a failure is reported without stopping the
  container, as documented for the official image;
- `_PIP_ADDITIONAL_REQUIREMENTS`: pip arguments installed at every start, for a quick try only.
  The venv is read-only to Airflow's user, so they go to a folder of this container's own under
  /tmp, first on PYTHONPATH and PATH, under the image's pip constraint (Airflow's version stays);
- the Celery broker, for `scheduler`, `celery worker` and `celery flower` with the CeleryExecutor:
  tries a TCP connection to its host and port as many times as the database.

In a slim image (no byte-code shipped), `RUNTIME_PYCACHE_PREFIX` names where byte-code is kept: the
entry point makes `<prefix>-<uid>` (mode 0700, this uid's) and sets PYTHONPYCACHEPREFIX to it, so no
uid ever runs byte-code another uid wrote; a folder of that name that another uid made (or a link)
is left alone for a private one (`mkdtemp`), with a warning.

Then the command: Airflow's sub-commands (AIRFLOW_COMMANDS) run as `airflow <command>` even where a
program of that name is on PATH (`celery`, `users`); any other program on PATH (bash, python,
airflow, ...) or path to an executable runs as given; anything else is arguments to `airflow`.
Signals: tini, PID 1, passes them to the command alone (as the official image does with
DUMB_INIT_SETSID=0), so a Celery worker shuts down warm; TINI_KILL_PROCESS_GROUP=1 signals the
whole process group instead.

Standard library only: it runs before anything of the venv is imported. `plan` and its helpers are
pure, the rest runs them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Airflow's sub-commands, of every Airflow major the matrix ships, including those executors and
# providers add (celery, kubernetes, users, ...): the entry point runs these as `airflow <command>`
# even where a program of that name is on PATH (`celery` in the venv, `users` from coreutils), as
# the official image does. The image tests check that each image's Airflow has none missing.
AIRFLOW_COMMANDS = (
    "api-server", "assets", "backfill", "celery", "cheat-sheet", "config", "connections", "dag-processor",
    "dags", "db", "db-manager", "fab-db", "info", "jobs", "kerberos", "kubernetes", "partitions",
    "permissions-cleanup", "plugins", "pools", "providers", "roles", "rotate-fernet-key", "scheduler", "standalone",
    "state-store", "sync-perm",
    "tasks", "teams", "triggerer", "users", "variables", "version", "webserver",
)

DEFAULT_MAX_COUNT = 20
DEFAULT_SLEEP_TIME = 3.0
# The uid of the image's user, the official image's too (contract.UID is this): the one uid the
# official entry point lets run in another group than 0, with a warning.
IMAGE_UID = 50000
# The components that wait for the metadata database before they start (Airflow 3.3's image).
DATABASE_USERS = ("scheduler", "dag-processor", "triggerer", "api-server")
# `bash -c "exec airflow scheduler"`, as the Helm chart starts every component.
SHELL_COMPONENT = re.compile(r"(?:^|\s)(?:exec\s+)?airflow\s+(scheduler|dag-processor|triggerer|api-server)(?:\s|$)")
BROKER_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672,
                "sqs": 443, "postgres": 5432, "postgresql": 5432, "mysql": 3306}
USER_DEFAULTS = (("USERNAME", "--username", "admin"), ("FIRSTNAME", "--firstname", "Airflow"),
                 ("LASTNAME", "--lastname", "Admin"), ("EMAIL", "--email", "airflowadmin@example.com"),
                 ("ROLE", "--role", "Admin"))
PASSWORD_VARIABLES = ("_AIRFLOW_WWW_USER_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD_CMD")


class ContractError(Exception):
    """A variable of the contract holds what it cannot: the message names it (never a secret)."""


@dataclass(frozen=True)
class Plan:
    """What the entry point does for one start, decided from its arguments and environment alone."""

    command: tuple[str, ...]  # what it finally executes (None: nothing, once the database is migrated)
    wait_for_database: bool
    max_count: int
    sleep_time: float
    migrate: bool
    create_user: bool
    pip_arguments: tuple[str, ...]  # _PIP_ADDITIONAL_REQUIREMENTS, split as a shell would
    airflow_subcommand: str | None  # the Airflow sub-command it runs, if any
    warnings: tuple[str, ...] = field(default=())


def _count(environment: Mapping[str, str], name: str, default: float, kind: type) -> float:
    text = environment.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ContractError(f"{name}={text!r} is not a {'whole ' if kind is int else ''}number") from None
    if value < 0:
        raise ContractError(f"{name}={text!r} must not be negative")
    return value


def command_of(argv: Sequence[str], on_path: Callable[[str], bool]) -> tuple[tuple[str, ...], str | None]:
    """(what to execute, the Airflow sub-command it runs or None) for the container's arguments."""
    if not argv:
        return ("airflow",), None
    first = argv[0]
    if first in AIRFLOW_COMMANDS:
        return ("airflow", *argv), first
    if first == "airflow":
        return tuple(argv), argv[1] if len(argv) > 1 else None
    if on_path(first):
        return tuple(argv), None
    return ("airflow", *argv), first


def component_of(argv: Sequence[str], subcommand: str | None) -> str | None:
    """The long-running component the arguments start, directly or through `bash -c "exec airflow X"`."""
    if subcommand in DATABASE_USERS:
        return subcommand
    if len(argv) >= 3 and argv[0] in ("bash", "sh", "/bin/bash", "/bin/sh") and argv[1] == "-c":
        found = SHELL_COMPONENT.search(argv[2])
        return found.group(1) if found else None
    return None


def plan(argv: Sequence[str], environment: Mapping[str, str], on_path: Callable[[str], bool]) -> Plan:
    """The steps of one start; ContractError when a variable holds what it cannot. Pure."""
    max_count = int(_count(environment, "CONNECTION_CHECK_MAX_COUNT", DEFAULT_MAX_COUNT, int))
    sleep_time = _count(environment, "CONNECTION_CHECK_SLEEP_TIME", DEFAULT_SLEEP_TIME, float)
    warnings = []
    if environment.get("_AIRFLOW_DB_UPGRADE"):
        warnings.append("_AIRFLOW_DB_UPGRADE is deprecated: use _AIRFLOW_DB_MIGRATE")
    create_user = bool(environment.get("_AIRFLOW_WWW_USER_CREATE"))
    if create_user and not any(environment.get(name) for name in PASSWORD_VARIABLES):
        raise ContractError("_AIRFLOW_WWW_USER_CREATE is set, but neither _AIRFLOW_WWW_USER_PASSWORD nor "
                            "_AIRFLOW_WWW_USER_PASSWORD_CMD gives the user a password")
    try:
        pip_arguments = tuple(shlex.split(environment.get("_PIP_ADDITIONAL_REQUIREMENTS", "")))
    except ValueError as error:
        raise ContractError(f"_PIP_ADDITIONAL_REQUIREMENTS cannot be split into arguments: {error}") from None
    migrate = bool(environment.get("_AIRFLOW_DB_MIGRATE") or environment.get("_AIRFLOW_DB_UPGRADE"))
    command, subcommand = command_of(argv, on_path)
    if not argv and migrate:
        command = ()  # `docker run -e _AIRFLOW_DB_MIGRATE=true IMAGE`: migrate, then end
    return Plan(
        command=command,
        wait_for_database=max_count > 0 and component_of(argv, subcommand) is not None,
        max_count=max_count,
        sleep_time=sleep_time,
        migrate=migrate,
        create_user=create_user,
        pip_arguments=pip_arguments,
        airflow_subcommand=subcommand,
        warnings=tuple(warnings),
    )


def group_problem(uid: int, gid: int) -> tuple[str, bool] | None:
    """(what is wrong, whether it stops the container) when not running in group 0."""
    if gid == 0:
        return None
    text = (f"running as uid {uid} in group {gid}: the image's files are writable for group 0; run it as "
            "any uid, but in group 0 (`--user <uid>:0`)")
    return text, uid != IMAGE_UID


def needs_broker(plan: Plan) -> bool:
    """The components that hand tasks to the broker or take them from it wait for it: the scheduler,
    the Celery worker and Flower (Airflow's image waits for every `celery ...` command; `celery
    --help`, `celery stop` start nothing that needs it)."""
    if plan.max_count == 0 or "--help" in plan.command or "-h" in plan.command:
        return False
    arguments = plan.command[1:] if plan.command[:1] == ("airflow",) else ()
    return arguments[:1] == ("scheduler",) or arguments[:2] in (("celery", "worker"), ("celery", "flower"))


def is_celery(executor: str) -> bool:
    """Whether an `[core] executor` value (one or several, comma-separated; names or class paths)
    includes the CeleryExecutor."""
    return any(part.strip().rpartition(".")[2] == "CeleryExecutor" for part in executor.split(","))


def broker_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a broker URL, the scheme's usual port when it names none; None when the URL
    names no host to connect to (a unix socket, a file, an unknown scheme without a port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.split("+")[-1]  # sqla+postgresql, db+postgresql
    host = parts.hostname
    if not host:
        return None
    port = port or BROKER_PORTS.get(scheme)
    return (host, port) if port else None


def user_command(environment: Mapping[str, str], password: str) -> list[str]:
    """`airflow users create` for _AIRFLOW_WWW_USER_*; `--password=<value>` in one word, as a
    password may start with `-`."""
    argv = ["airflow", "users", "create"]
    for suffix, option, default in USER_DEFAULTS:
        argv += [option, environment.get(f"_AIRFLOW_WWW_USER_{suffix}") or default]
    return [*argv, f"--password={password}"]


# Where a slim image keeps byte-code (the image sets it; contract.PYCACHE_PREFIX_VARIABLE is this).
PYCACHE_VARIABLE = "RUNTIME_PYCACHE_PREFIX"


def pycache_folder(prefix: str, uid: int) -> str:
    """The byte-code folder of one uid beside the image's prefix. Pure."""
    return f"{prefix.rstrip('/')}-{uid}"


def own_folder(path: str, uid: int) -> str | None:
    """`path` made (mode 0700) or found as this uid's own private folder; None when it is not (another
    uid's, a link, open to others): then nothing there may be trusted."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        found = os.lstat(path)
    except OSError:
        return None
    private = stat.S_ISDIR(found.st_mode) and found.st_uid == uid and not found.st_mode & 0o077
    return path if private else None


def pip_paths(prefix: str, python: str) -> tuple[str, str]:
    """(site-packages, bin) of a `pip install --prefix` folder for Python `X.Y`."""
    return f"{prefix}/lib/python{python}/site-packages", f"{prefix}/bin"


# -- running the plan ------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"entrypoint: {message}", file=sys.stderr, flush=True)


def _fail(message: str, code: int = 1) -> None:
    _say(f"error: {message}")
    raise SystemExit(code)


def _retry(what: str, attempt: Callable[[], tuple[bool, str]], plan: Plan) -> None:
    """Try `attempt` up to plan.max_count times, plan.sleep_time apart, or stop the container."""
    last = ""
    for tried in range(1, plan.max_count + 1):
        ok, last = attempt()
        if ok:
            if tried > 1:
                _say(f"{what}: reached after {tried} tries")
            return
        if tried < plan.max_count:
            time.sleep(plan.sleep_time)
    _fail(f"{what}: not reached after {plan.max_count} tries, {plan.sleep_time:g} s apart "
          f"(CONNECTION_CHECK_MAX_COUNT, CONNECTION_CHECK_SLEEP_TIME); the last try said:\n{last.strip()}")


def _airflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["airflow", *args], capture_output=True, text=True, check=False)


def _database_answers() -> tuple[bool, str]:
    result = _airflow("db", "check")
    return result.returncode == 0, result.stdout + result.stderr


def _config(section: str, key: str, environment: Mapping[str, str]) -> str:
    """A configuration value, from the environment when it is there (no Airflow start needed)."""
    value = environment.get(f"AIRFLOW__{section.upper()}__{key.upper()}")
    if value is not None:
        return value
    result = _airflow("config", "get-value", section, key)
    return result.stdout.strip().splitlines()[-1] if result.returncode == 0 and result.stdout.strip() else ""


def _connects(address: tuple[str, int]) -> tuple[bool, str]:
    try:
        with socket.create_connection(address, timeout=5):
            return True, ""
    except OSError as error:
        return False, f"{address[0]}:{address[1]}: {error}"


def _password(environment: Mapping[str, str]) -> str:
    command = environment.get("_AIRFLOW_WWW_USER_PASSWORD_CMD")
    if command:
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            _fail(f"_AIRFLOW_WWW_USER_PASSWORD_CMD exited {result.returncode}")
        return result.stdout.rstrip("\n")
    return environment.get("_AIRFLOW_WWW_USER_PASSWORD", "")


def _install_additional(plan: Plan, environment: dict[str, str]) -> None:
    _say(f"installing _PIP_ADDITIONAL_REQUIREMENTS ({' '.join(plan.pip_arguments)}) at every start: for a "
         "quick try only; build an image FROM this one for anything else")
    prefix = tempfile.mkdtemp(prefix="pip-additional-")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = [sys.executable, "-m", "pip", "install", "--prefix", prefix,
               "--no-cache-dir", "--disable-pip-version-check", "--root-user-action=ignore", *plan.pip_arguments]
    if subprocess.run(install, check=False).returncode != 0:
        _fail("pip could not install _PIP_ADDITIONAL_REQUIREMENTS (see above)")
    site, scripts = pip_paths(prefix, python)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (site, environment.get("PYTHONPATH")) if p)
    environment["PATH"] = os.pathsep.join(p for p in (scripts, environment.get("PATH")) if p)
    check = subprocess.run([sys.executable, "-m", "pip", "check"], env=environment, capture_output=True, text=True,
                           check=False)
    if check.returncode != 0:
        _fail(f"_PIP_ADDITIONAL_REQUIREMENTS broke the image's dependencies (pip check):\n{check.stdout}")


def run(argv: Sequence[str], environment: dict[str, str]) -> None:
    """Run the plan for `argv`, then execute its command (never returns)."""
    environment.pop("PIP_USER", None)  # a venv has no user site: pip must not be told to use one
    problem = group_problem(os.getuid(), os.getgid())
    if problem:
        text, fatal = problem
        if fatal:
            _fail(text)
        _say(f"warning: {text}")
    os.umask(0o002)
    if environment.get(PYCACHE_VARIABLE):
        _private_pycache(environment)
    try:
        steps = plan(argv, environment, lambda name: "/" in name or shutil.which(name) is not None)
    except ContractError as error:
        _fail(str(error), 2)
    for warning in steps.warnings:
        _say(f"warning: {warning}")
    if steps.wait_for_database:
        _retry("the metadata database (airflow db check)", _database_answers, steps)
    if steps.migrate and subprocess.run(["airflow", "db", "migrate"], check=False).returncode != 0:
        _fail("airflow db migrate failed (_AIRFLOW_DB_MIGRATE); see above")
    if steps.create_user:
        _create_user(environment)
    for name in PASSWORD_VARIABLES:
        environment.pop(name, None)  # the command has no use for it (the official image drops it too)
    if steps.pip_arguments:
        _install_additional(steps, environment)
    if needs_broker(steps) and is_celery(_config("core", "executor", environment)):
        url = _config("celery", "broker_url", environment)
        address = broker_address(url)
        if address:
            _retry(f"the Celery broker ({address[0]}:{address[1]})", lambda: _connects(address), steps)
        else:
            _say("the Celery broker's address could not be read from its URL: not waiting for it")
    if not steps.command:
        _say("no command given and _AIRFLOW_DB_MIGRATE is set: the database is migrated, nothing else to run")
        raise SystemExit(0)
    try:
        os.execvpe(steps.command[0], list(steps.command), environment)
    except OSError as error:
        _fail(f"cannot run {steps.command[0]}: {error.strerror}", 127)


def _private_pycache(environment: dict[str, str]) -> None:
    uid = os.getuid()
    wanted = pycache_folder(environment[PYCACHE_VARIABLE], uid)
    folder = own_folder(wanted, uid)
    if folder is None:
        folder = tempfile.mkdtemp(prefix=f"{os.path.basename(wanted)}-", dir=os.path.dirname(wanted) or None)
        _say(f"warning: {wanted} is not a private folder of uid {uid} (another uid made it, or it is a link): "
             f"byte-code goes to {folder} instead")
    environment["PYTHONPYCACHEPREFIX"] = folder


def _create_user(environment: Mapping[str, str]) -> None:
    manager = _config("core", "auth_manager", environment)
    if "FabAuthManager" not in manager:
        _say(f"_AIRFLOW_WWW_USER_CREATE: not creating a user: the auth manager is {manager or 'unknown'}, not FAB's "
             "(its users are configured elsewhere)")
        return
    password = _password(environment)
    if not password:
        _fail("_AIRFLOW_WWW_USER_CREATE: the password is empty")
    if subprocess.run(user_command(environment, password), check=False).returncode != 0:
        _say("warning: airflow users create failed (_AIRFLOW_WWW_USER_CREATE); see above. Going on, as the official "
             "image does")


if __name__ == "__main__":
    try:
        run(sys.argv[1:], dict(os.environ))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
