"""A user's project folder, built on a Runtime ONBUILD image as their deploy would build it.

A project is a folder with a `Dockerfile` whose FROM line names a Runtime image, `dags/`,
and the files the ONBUILD triggers read (`packages.txt`, `requirements.txt`, which may be
empty). Its Dockerfile's first FROM is pointed at the local ONBUILD image of the version asked
for; everything else in it stays as the user wrote it. The build checks that every DAG imports
(`RUNTIME_CHECK_DAGS=true`), so a broken DAG stops here, naming the file and the error.

A project may have a `.env` (`NAME=value` lines, read as Docker Compose reads one: envfile.py):
variables for the deployment's Airflow containers (connections, Airflow Variables, settings).
It may have an `airflow_settings.yaml` (connections, pools, Variables; see settings.py). Both
stay out of the image: the build excludes them, whatever the project's `.dockerignore` says.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .. import contract
from ..errors import ProjectError, UsageError
from ..images.engine import BuildError, Engine
from ..images.secrets import INDEX_URL_SECRET
from ..matrix.model import Platform
from . import envfile, settings
from .config import Executor, wiring
from .settings import SETTINGS_FILE

REQUIRED_FILES = ("Dockerfile", "packages.txt", "requirements.txt")
REQUIRED_DIRS = ("dags",)
PROJECT_REPOSITORY = "airflow-runtime-project"
ENV_FILE = contract.ENV_FILE
# What a local deployment reads from the project and the image never holds (both hold secrets).
PRIVATE_FILES = contract.PRIVATE_FILES
# What the images' DAG import check prints when it fails (templates/onbuild/check_dags.py.j2).
DAG_CHECK_FAILED = "DAG file(s) failed to import"
DAG_CHECK_HINT = ("\nA DAG that reads a Variable or connection when it is imported (one the deployment gets from "
                  f"{ENV_FILE} or {SETTINGS_FILE}) cannot import in the build: `--skip-dag-check` builds without "
                  "the check; the deployment's DAG processor then reports what does not import.")
_FROM = re.compile(r"^(\s*FROM\s+(?:--platform=\S+\s+)?)(\S+)(.*)$", re.IGNORECASE | re.MULTILINE)


def check_folder(folder: Path) -> str:
    """Refuse what is not a project, before anything is built or started; the image its
    Dockerfile starts FROM."""
    if not folder.is_dir():
        raise UsageError(f"--project {folder}: " + ("a file; give the project's folder (the one holding its Dockerfile)"
                                                    if folder.exists() else "no such folder"))
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    missing += [f"{name}/" for name in REQUIRED_DIRS if not (folder / name).is_dir()]
    if missing:
        raise UsageError(f"--project {folder}: not an Airflow Runtime project, it has no {', '.join(missing)} "
                           f"(a project has {', '.join(REQUIRED_FILES)} (may be empty) and dags/)")
    return base_image(folder)


def base_image(folder: Path) -> str:
    """The image the project's Dockerfile starts FROM (its first FROM line)."""
    match = _FROM.search((folder / "Dockerfile").read_text(encoding="utf-8", errors="replace"))
    if match is None:
        raise UsageError(f"--project {folder}: its Dockerfile has no FROM line")
    return match.group(2)


def dockerfile_on(text: str, image: str) -> str:
    """The project's Dockerfile with its first FROM naming `image` instead. Pure."""
    return _FROM.sub(lambda match: f"{match.group(1)}{image}{match.group(3)}", text, count=1)


def environment(folder: Path, env_file: Path | None = None) -> dict[str, str]:
    """The project's `.env` variables (or `env_file`'s), read with Docker Compose's rules
    (envfile.py; `${NAME}` from this process's environment first); none when there is no file."""
    return envfile.read(env_file or folder / ENV_FILE, os.environ)


def inputs(folder: Path, airflow_major: int, executor: Executor, who: str, env_file: Path | None = None,
           settings_file: Path | None = None) -> tuple[dict[str, str], settings.AirflowSettings]:
    """The project's `.env` variables and `airflow_settings.yaml` (or the files given), refused with
    what is wrong in them before anything is built or started, never showing a value (both hold
    secrets): a variable `who` (the command) sets itself to connect the deployment, or a setting
    a variable would hide."""
    check_folder(folder)
    env_path, settings_path = env_file or folder / ENV_FILE, settings_file or folder / SETTINGS_FILE
    for path, option in ((env_file, "--env-file"), (settings_file, "--settings-file")):
        if path is not None and not path.is_file():
            raise UsageError(f"{option} {path}: no such file")
    variables = environment(folder, env_file)
    refused = sorted(set(variables) & wiring(airflow_major, executor))
    if refused:
        raise UsageError(f"{env_path}: {', '.join(refused)}: {who} sets {'these' if len(refused) > 1 else 'this'} "
                         "itself, to connect the deployment's parts (its PostgreSQL, Redis, keys, executor: "
                         "--executor chooses that one); remove it from the file")
    airflow_settings = settings.load_file(settings_path)
    hidden = {name: what for name, what in airflow_settings.environment_names().items() if name in variables}
    if hidden:
        raise UsageError(f"{settings_path}: {', '.join(sorted(hidden.values()))} would be hidden by "
                         f"{', '.join(sorted(hidden))} in {env_path} (Airflow reads the environment first); "
                         "define each in one of the files")
    return variables, airflow_settings


def ignore_file(folder: Path, leave_out: tuple[str, ...] = ()) -> str:
    """What the build leaves out of the context: the project's own ignore rules (its
    `Dockerfile.dockerignore`, else its `.dockerignore`), PRIVATE_FILES and `leave_out`. Docker reads
    the file of this text beside the Dockerfile `build` writes, in place of the context's."""
    own = next((path.read_text(encoding="utf-8", errors="replace") for path in
                (folder / "Dockerfile.dockerignore", folder / ".dockerignore") if path.is_file()), "")
    return own + ("" if own.endswith("\n") or not own else "\n") + "".join(f"{name}\n" for name in
                                                                            (*PRIVATE_FILES, *leave_out))


def image_name(folder: Path, onbuild: str, platform: Platform | None = None) -> str:
    """The project image's name: the folder's, tagged with the name of the ONBUILD image it is built
    on (`14.1.1-python-3.13-slim`: one folder built on two images makes two images, not one that
    replaces the other); one of another platform than the host's has its architecture in the tag."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-") or "project"
    return f"{PROJECT_REPOSITORY}/{slug}:{onbuild}{platform.foreign_suffix if platform else ''}"


def build(engine: Engine, folder: Path, onbuild_image: str, tag: str, platform: str,
          secrets: Mapping[str, Path], log_path: Path, check_dags: bool = True,
          leave_out: tuple[str, ...] = (), index_url_given: bool = False) -> str:
    """Build the project on `onbuild_image` into `tag` (without the folders `leave_out` names); return
    the image id.

    Of `secrets`, the project gets the CA bundle, and the index URL only when the user gave it for
    this build (`index_url_given`: `--index-url`): any RUN line of a project's Dockerfile can mount a
    secret it is handed and send it anywhere, and the host's own index configuration (which may
    carry credentials) is not a cloned project's to read. The ONBUILD image itself is ours and was
    built with the host's.
    """
    check_folder(folder)
    secrets = {name: path for name, path in secrets.items() if name != INDEX_URL_SECRET or index_url_given}
    with tempfile.TemporaryDirectory(prefix="runtime-project-") as scratch:
        dockerfile = Path(scratch) / "Dockerfile"
        dockerfile.write_text(dockerfile_on((folder / "Dockerfile").read_text(encoding="utf-8"), onbuild_image))
        Path(scratch, "Dockerfile.dockerignore").write_text(ignore_file(folder, leave_out))
        try:
            return engine.build(context=folder, tag=tag, platform=platform, secrets=secrets, log_path=log_path,
                                build_args={"RUNTIME_CHECK_DAGS": "true" if check_dags else "false"},
                                dockerfile=dockerfile)
        except BuildError as error:
            hint = DAG_CHECK_HINT if check_dags and DAG_CHECK_FAILED in str(error) else ""
            raise ProjectError(f"the project {folder} does not build on {onbuild_image}:\n{error}{hint}") from error
