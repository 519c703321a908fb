"""What every Runtime image promises, in one place: paths, user, labels, entry point rules.

Templates receive these values (they never spell them out), the image tests and the
deployment harness read them from here, so a fact changes in one line.
"""

from __future__ import annotations

import json
from enum import Enum

from .in_image import entrypoint

RUNTIME_DIR = "/opt/runtime"
VENV = f"{RUNTIME_DIR}/venv"
# The time every file of a layered venv's layers carries (2000-01-01 UTC), and its byte-code
# records: a layer's content is then only its packages, the same on every host and build.
LAYER_EPOCH = 946684800
# Builder stages only: where a venv layer's files are staged, laid out as under /, for the
# final stage's one COPY of that folder to / (a COPY stamps the folder it copies into).
LAYER_STAGING = "/layer"
# Builder stages only, from `slim-no-bytecode` on: a venv layer's byte-code, staged apart from its
# other files, so the full image copies it as a layer of its own and a slim image leaves it out.
BYTECODE_STAGING = "/layer-bytecode"
# Where Python keeps the byte-code it compiles in an image that ships none (slim, from
# `slim-no-bytecode` on): PYTHONPYCACHEPREFIX. The venv is read-only to Airflow's user; /tmp is
# writable in every container (a read-only root needs it mounted), so each container compiles a
# module once, on its first import, and its later processes read that.
PYCACHE_PREFIX = "/tmp/pycache"
# From `bytecode-cache-per-uid` on, the image names that folder in this variable instead, and the entry
# point gives each uid a folder of its own beside it (`<prefix>-<uid>`, mode 0700) as PYTHONPYCACHEPREFIX:
# a folder every uid could write let one uid leave byte-code that another, root too, then ran.
PYCACHE_PREFIX_VARIABLE = entrypoint.PYCACHE_VARIABLE
# Builder stages only, from `stripped-libraries` on: where a venv stage mounts the /usr of the
# stage that installs Debian's binutils (the strip programs for every target architecture).
STRIP_TOOLS = "/opt/strip-tools"
ONBUILD_DIR = f"{RUNTIME_DIR}/onbuild"
ENTRYPOINT = f"{RUNTIME_DIR}/entrypoint"
# From `airflow-image-contract` on, the official Apache Airflow image's paths: its entry point (the
# one above is another name of it), its log groomer, and its AIRFLOW_HOME, which the docker-compose
# quick start and the Helm chart mount into (another name of ours).
OFFICIAL_ENTRYPOINT = "/entrypoint"
CLEAN_LOGS = "/clean-logs"
OFFICIAL_HOME = "/opt/airflow"
# The programs the official image has that its users' deployments call (the quick start's health
# checks run curl): Debian packages, installed where the base lacks them.
OFFICIAL_PROGRAMS = ("curl",)
FAB_PROVIDER = "apache-airflow-providers-fab"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
TEST_TOOLS = f"{ONBUILD_DIR}/test-tools.txt"  # pytest, hash-locked, installed only while a project's tests run
INIT = "/usr/bin/tini"  # PID 1: reaps zombies, forwards signals; from the Debian bases (or installed)
CONSTRAINTS_FILE = f"{RUNTIME_DIR}/constraints.txt"
# From `onbuild-unprivileged-builds` on, a project's requirements are downloaded and built (an sdist's
# setup.py runs arbitrary code) as this uid, `nobody`, and only the wheels it made are installed as root.
BUILD_UID = 65534
# A project's local-only files: its .env (variables, often secrets) and airflow_settings.yaml
# (connections with passwords). `run` and `dev` leave them out of the image and hand them to the
# deployment; from `onbuild-private-files` on, a build that copies them in fails.
ENV_FILE = ".env"
SETTINGS_FILE = "airflow_settings.yaml"
PRIVATE_FILES = (ENV_FILE, SETTINGS_FILE)
AIRFLOW_HOME = "/usr/local/airflow"
UID = entrypoint.IMAGE_UID  # 50000, as the official image's user
GID = 0
USER = "airflow"
# A uid the image does not know, in group 0, as OpenShift runs images (from the `hardened` change
# on they run as any such uid): what the image tests and a deployment test run them as.
ARBITRARY_USER = f"12345:{GID}"
MONITORING_DAG_ID = "runtime_monitoring"
MONITORING_SCHEDULE = "*/5 * * * *"  # the monitoring DAG's schedule unless the variable below says otherwise
MONITORING_SCHEDULE_VARIABLE = "AIRFLOW_MONITORING_DAG_SCHEDULE_INTERVAL"
# From monitoring-guarded on, the monitoring DAG is the runtime's, not the project's: root's file in
# a DAG bundle of its own (a project's dags/ mounted over AIRFLOW_HOME/dags does not hide it).
MONITORING_DAGS = f"{RUNTIME_DIR}/dags"
MONITORING_BUNDLE = "airflow-runtime"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dag_bundles() -> str:
    """`[dag_processor] dag_bundle_config_list` of an image with monitoring-guarded: Airflow's own
    default (the DAG folder) and the runtime's bundle, as one line of JSON."""
    return json.dumps([{"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                       {"name": MONITORING_BUNDLE, "classpath": LOCAL_BUNDLE, "kwargs": {"path": MONITORING_DAGS}}])
RUNTIME_VERSION_VARIABLE = "AIRFLOW_RUNTIME_VERSION"


def instance_name_variable(airflow_major: int) -> str:
    """The variable that names the instance in the UI: the API server's from Airflow 3 on."""
    return "AIRFLOW__API__INSTANCE_NAME" if airflow_major >= 3 else "AIRFLOW__WEBSERVER__INSTANCE_NAME"


def instance_name(runtime_version: str) -> str:
    return f"Airflow Runtime {runtime_version}"


class Change(Enum):
    """Image changes (versions.yaml `image_changes:`) that the templates act on, by name.

    A change that only sets default variables needs no entry here; one that changes what a
    template writes does, so a misspelt name in versions.yaml is an error, not a no-op.
    """

    MONITORING_DAG_ON = "monitoring-dag-on"  # runtime_monitoring is unpaused when first parsed
    AIRFLOW_COMMANDS = "entrypoint-airflow-commands"  # `docker run IMAGE celery worker` runs airflow's
    HARDENED = "hardened"  # any uid in group 0, a read-only root, no setuid/setgid programs
    STRICT_PACKAGES = "onbuild-strict-packages"  # packages.txt holds package names only; no .deb left
    OCI_LABELS = "oci-labels"  # licenses, vendor, description; ONBUILD names its base image's digest
    DAG_CHECK_DEFAULT = "dag-check-default"  # a project's DAGs must import, unless RUNTIME_CHECK_DAGS=false
    PROJECT_TESTS = "project-tests"  # RUNTIME_RUN_TESTS=true runs the project's tests/ with pytest
    SLIM = "slim-variant"  # slim images (-slim, -slim-base) beside the full ones, from `slim_packages`
    ANY_UID_COMMANDS = "any-uid-airflow-commands"  # any uid runs Airflow's sub-commands, exec'd commands too (USER)
    LAYERED_VENV = "layered-venv"  # the venv installed and shipped in layers by how often they change (venv_layers)
    ANY_UID_HOME = "any-uid-home"  # HOME is AIRFLOW_HOME for every process, exec'd ones under any uid too
    SLIM_NO_BYTECODE = "slim-no-bytecode"  # slim images ship no byte-code; Python caches it under PYCACHE_PREFIX
    STRIPPED_LIBRARIES = "stripped-libraries"  # the venv's shared libraries without symbol tables (strip)
    IMAGE_CONTRACT = "airflow-image-contract"  # the official image's /entrypoint, /clean-logs, curl, /opt/airflow
    FAB_AUTH_MANAGER = "fab-auth-manager"  # the FAB provider installed and the default auth manager (airflow.cfg)
    PYCACHE_PER_UID = "bytecode-cache-per-uid"  # slim images: the entry point makes a byte-code folder per uid
    MONITORING_GUARDED = "monitoring-guarded"  # the monitoring DAG in a bundle of its own, guarded, its health reported
    PACKAGES_EXACT = "onbuild-packages-exact"  # packages.txt: no trailing -/+ (apt actions), no patterns, no globbing
    NO_WORLD_WRITABLE = "no-world-writable-files"  # no file every user can write (uv's venv .lock was 0666)
    UNPRIVILEGED_BUILDS = "onbuild-unprivileged-builds"  # a project's requirements are fetched and built as nobody
    PRIVATE_FILES = "onbuild-private-files"  # a project's .env / airflow_settings.yaml in the image fail its build


# Image changes the templates make only on top of another (the strip runs in the stages of the
# layered venv): a release with the first must have the second.
REQUIRES = {Change.STRIPPED_LIBRARIES: Change.LAYERED_VENV,
            # The entry point leaves naming an arbitrary uid and its home to the image (USER, LOGNAME, HOME).
            Change.IMAGE_CONTRACT: Change.ANY_UID_HOME,
            # The default is written into the airflow.cfg the image ships from `hardened` on.
            Change.FAB_AUTH_MANAGER: Change.HARDENED,
            # The entry point that makes the folders is the official image's.
            Change.PYCACHE_PER_UID: Change.IMAGE_CONTRACT,
            # Its file is staged with the official image's (under /tmp/root), its bundle configured in
            # the airflow.cfg the image ships from `hardened` on (which every release with the contract has).
            Change.MONITORING_GUARDED: Change.IMAGE_CONTRACT,
            # It narrows the names the strict check takes.
            Change.PACKAGES_EXACT: Change.STRICT_PACKAGES}
def entrypoint_of(changes: frozenset[Change]) -> str:
    """The program after tini in an image's ENTRYPOINT: the official image's path from the
    airflow-image-contract change on (the older path stays, as another name of it)."""
    return OFFICIAL_ENTRYPOINT if Change.IMAGE_CONTRACT in changes else ENTRYPOINT


# Image changes that configure a package: a release with one must pin it, in its slim images too.
PACKAGES = {Change.FAB_AUTH_MANAGER: FAB_PROVIDER}


# Airflow configuration sections that belong to a provider, not to Airflow itself: an image
# without the provider has no use for their AIRFLOW__<SECTION>__* variables (a slim image
# does not set them).
PROVIDER_SECTIONS = {
    "celery": "apache-airflow-providers-celery",
    "celery_broker_transport_options": "apache-airflow-providers-celery",
    "celery_kubernetes_executor": "apache-airflow-providers-cncf-kubernetes",
    "kubernetes": "apache-airflow-providers-cncf-kubernetes",
    "kubernetes_executor": "apache-airflow-providers-cncf-kubernetes",
    "local_kubernetes_executor": "apache-airflow-providers-cncf-kubernetes",
    "openlineage": "apache-airflow-providers-openlineage",
}


def provider_of(variable: str) -> str | None:
    """The provider whose configuration `AIRFLOW__SECTION__KEY` sets; None for Airflow's own and
    for any other variable."""
    parts = variable.split("__")
    if len(parts) != 3 or parts[0] != "AIRFLOW":
        return None
    return PROVIDER_SECTIONS.get(parts[1].lower())


def image_title(*, onbuild: bool, slim: bool) -> str:
    """The org.opencontainers.image.title label: it also tells the four kinds of image apart."""
    kinds = [kind for kind, present in (("slim", slim), ("onbuild", onbuild)) if present]
    return f"{VENDOR} ({', '.join(kinds)})" if kinds else VENDOR


LICENSE = "Apache-2.0"  # the images' own license label (Airflow's, and this project's)
VENDOR = "Airflow Runtime"


def description(airflow_version: str, python: str, debian: str, *, slim: bool = False) -> str:
    providers = "slim: only the providers a LocalExecutor deployment needs" if slim else "with pinned providers"
    return f"Apache Airflow {airflow_version} on Python {python} and Debian {debian}, {providers}"


# Airflow's sub-commands, which the entry point runs as `airflow <command>`: their home is the entry
# point of the airflow-image-contract change (in_image/entrypoint.py).
AIRFLOW_COMMANDS = entrypoint.AIRFLOW_COMMANDS
# The list the entry points of the releases before that change were rendered with
# (templates/base/entrypoint.sh.j2), as released: their build contexts must not change.
RELEASED_AIRFLOW_COMMANDS = (
    "api-server", "assets", "backfill", "celery", "cheat-sheet", "config", "connections", "dag-processor",
    "dags", "db", "db-manager", "info", "jobs", "kerberos", "kubernetes", "partitions", "plugins", "pools",
    "providers", "roles", "rotate-fernet-key", "scheduler", "standalone", "state-store", "sync-perm",
    "tasks", "teams", "triggerer", "users", "variables", "version", "webserver",
)


def airflow_commands_of(changes: frozenset[Change]) -> tuple[str, ...]:
    """The sub-commands the entry point of an image with `changes` runs as `airflow <command>`."""
    return AIRFLOW_COMMANDS if Change.IMAGE_CONTRACT in changes else RELEASED_AIRFLOW_COMMANDS
