"""What one deployment is made of: its components, their health checks, its configuration. Pure.

The configuration is what a deployment supplies and an image cannot know (where the metadata
database and the broker are, the keys its components share); everything the image already
defaults (its default environment, the instance name, the monitoring DAG) is left alone, so a
deployment runs the image as it ships.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from .. import contract

API_PORT = 8080  # inside the network; the host sees it on a free (or given) loopback port
POSTGRES_HOST = "postgres"
REDIS_HOST = "redis"
DATABASE = "airflow"
DATABASE_USER = "airflow"
ADMIN_USER = "admin"
VIEWER_USER = "viewer"  # may read everything, change nothing (FAB's Viewer role, the simple auth manager's viewer)
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


class Executor(Enum):
    CELERY = "celery"
    LOCAL = "local"

    @property
    def airflow_name(self) -> str:
        return {"celery": "CeleryExecutor", "local": "LocalExecutor"}[self.value]


class AuthManager(Enum):
    """Who logs users in: FAB's auth manager (users in the metadata database; Airflow 2's only one) or
    Airflow 3's simple auth manager (users in the configuration, passwords it generates)."""

    FAB = "fab"
    SIMPLE = "simple"

    @property
    def class_path(self) -> str:
        return {"fab": contract.FAB_AUTH_MANAGER, "simple": contract.SIMPLE_AUTH_MANAGER}[self.value]

    @classmethod
    def of(cls, configured: str) -> AuthManager:
        """The auth manager `[core] auth_manager` names (Airflow's own default is the simple one)."""
        return cls.FAB if "FabAuthManager" in configured else cls.SIMPLE


class Check(Enum):
    """How a component proves it is up: each the component's own health, as Airflow documents it."""

    HTTP = "http"  # the API server's (webserver's) health endpoint answers 200, metadatabase healthy
    JOB = "job"  # `airflow jobs check --job-type <job> --hostname <component>` finds its live job
    CELERY_PING = "celery-ping"  # `celery inspect ping` reaches the worker through the broker


@dataclass(frozen=True)
class Component:
    name: str  # also its hostname and network alias
    # Run through the image's entry point. Spelled `airflow ...` in full: released images run a
    # bare `celery` from PATH as given (entrypoint-airflow-commands fixed that from 12.1.1/14.0.4).
    command: tuple[str, ...]
    check: Check
    job_type: str | None = None  # for Check.JOB
    serves_ui: bool = False


def components(airflow_major: int, executor: Executor) -> tuple[Component, ...]:
    """The Airflow containers of a deployment, as Airflow's own docker-compose file runs them."""
    if airflow_major >= 3:
        found = [
            Component("api-server", ("airflow", "api-server", "--port", str(API_PORT)), Check.HTTP, serves_ui=True),
            Component("scheduler", ("airflow", "scheduler"), Check.JOB, "SchedulerJob"),
            Component("dag-processor", ("airflow", "dag-processor"), Check.JOB, "DagProcessorJob"),
            Component("triggerer", ("airflow", "triggerer"), Check.JOB, "TriggererJob"),
        ]
    else:
        found = [
            Component("webserver", ("airflow", "webserver", "--port", str(API_PORT)), Check.HTTP, serves_ui=True),
            Component("scheduler", ("airflow", "scheduler"), Check.JOB, "SchedulerJob"),
            Component("triggerer", ("airflow", "triggerer"), Check.JOB, "TriggererJob"),
        ]
    if executor is Executor.CELERY:
        found.append(Component("worker", ("airflow", "celery", "worker"), Check.CELERY_PING))
    return tuple(found)


def health_path(airflow_major: int) -> str:
    return "/api/v2/monitor/health" if airflow_major >= 3 else "/health"


@dataclass(frozen=True)
class Keys:
    """The secrets a deployment's components share; new ones for every deployment."""

    database_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    fernet_key: str = field(default_factory=lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    viewer_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))


def database_url(keys: Keys, scheme: str = "postgresql+psycopg2") -> str:
    return f"{scheme}://{DATABASE_USER}:{keys.database_password}@{POSTGRES_HOST}:5432/{DATABASE}"


# Airflow 3's timeout of a worker's (or the scheduler's, with LocalExecutor) requests to the
# execution API is 5 s. Under QEMU every process is several times slower, the API server's first
# answers on a new code path most of all, and a task whose start request times out is failed
# before it runs (the likeliest cause of the first task CI's emulated arm64 deployment once lost
# with nothing in its log). Emulated deployments give the requests what Airflow's docs advise
# under high load: more time.
SLOW_EXECUTION_API_TIMEOUT = 60.0


def airflow_environment(airflow_major: int, executor: Executor, keys: Keys,
                        overrides: Mapping[str, str] | None = None, defined: Iterable[str] = (),
                        auth_manager: AuthManager | None = None, emulated: bool = False) -> dict[str, str]:
    """The variables every Airflow container of the deployment gets; `overrides` win. `defined`:
    variables whose connection or Variable the project defines in its settings, in the database:
    the deployment's own default of one is left out (Airflow reads the environment first).
    `auth_manager`: the one the deployment chooses (Airflow 3); None leaves the image's default."""
    environment = {
        "AIRFLOW__CORE__EXECUTOR": executor.airflow_name,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(keys),
        "AIRFLOW__CORE__FERNET_KEY": keys.fernet_key,
        # The Postgres provider's default connection, pointed at the deployment's own PostgreSQL
        # (Airflow's default connections point it at localhost, which is nothing in a container).
        "AIRFLOW_CONN_POSTGRES_DEFAULT": database_url(keys, "postgresql"),
    }
    if executor is Executor.CELERY:
        environment["AIRFLOW__CELERY__BROKER_URL"] = f"redis://:{keys.redis_password}@{REDIS_HOST}:6379/0"
        environment["AIRFLOW__CELERY__RESULT_BACKEND"] = database_url(keys, "db+postgresql")
    if airflow_major >= 3:
        environment |= {
            # Workers and the triggerer run tasks through the API server's execution API.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://api-server:{API_PORT}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": keys.secret_key,
            # The simple auth manager's users (when it is the one): the API server generates their passwords.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{VIEWER_USER}:viewer",
        }
        if emulated:
            environment["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"] = str(SLOW_EXECUTION_API_TIMEOUT)
        if auth_manager is not None:
            environment["AIRFLOW__CORE__AUTH_MANAGER"] = auth_manager.class_path
    else:
        environment |= {
            # Signs the webserver's requests for task logs to the workers' log servers.
            "AIRFLOW__WEBSERVER__SECRET_KEY": keys.secret_key,
            # The REST API with a user's password, as Airflow 2's docker-compose file configures it.
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
        }
    left_out = set(defined)
    return {name: value for name, value in environment.items() if name not in left_out} | dict(overrides or {})


# What a deployment sets that a project may set otherwise: a convenience, not its wiring.
USER_SETTABLE = frozenset({"AIRFLOW_CONN_POSTGRES_DEFAULT"})


def wiring(airflow_major: int, executor: Executor) -> frozenset[str]:
    """The variables that connect a deployment's parts (its database, broker, keys, executor, the
    execution API, the login): set by the deployment alone, never by a project's `.env`."""
    return frozenset(airflow_environment(airflow_major, executor, Keys())) - USER_SETTABLE


def users_command(keys: Keys, airflow_major: int = 3) -> tuple[str, ...]:
    """FAB: the admin and the viewer a deployment's users log in as, created after migrating, in one
    container (a user that exists is left as it is). The passwords are the script's arguments.
    Airflow 2's FAB has only the Admin and Public roles until `sync-perm` makes the others."""
    def create(user: str, role: str, argument: str) -> str:
        # `--password=<value>` in one word: a generated password may start with `-` (token_urlsafe's
        # alphabet has it), which argparse would read as the next option and refuse.
        return (f'airflow users create --username {user} --password="{argument}" --role {role} '
                f"--firstname Runtime --lastname {role} --email {user}@example.invalid")
    script = (f"{'airflow sync-perm && ' if airflow_major < 3 else ''}"
              f"{create(ADMIN_USER, 'Admin', '$1')} && {create(VIEWER_USER, 'Viewer', '$2')}")
    return ("bash", "-c", script, "users", keys.admin_password, keys.viewer_password)


# The password file Airflow 3's simple auth manager writes on the API server's first start.
SIMPLE_AUTH_PASSWORDS = "simple_auth_manager_passwords.json.generated"
