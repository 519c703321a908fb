"""A user's project folder, built on a Runtime ONBUILD image as their deploy would build it.

A project is a folder with a `Dockerfile` whose FROM line names a Runtime image, `dags/`,
and the files the ONBUILD triggers read (`packages.txt`, `requirements.txt`, which may be
empty). Its Dockerfile's first FROM is pointed at the local ONBUILD image of the version asked
for; everything else in it stays as the user wrote it. The build checks that every DAG imports
(`RUNTIME_CHECK_DAGS=true`), so a broken DAG stops here, naming the file and the error.

A project may have a `.env` (`NAME=value` lines, as Docker Compose and the Astro CLI read it):
variables for the deployment's Airflow containers (connections, Airflow Variables, settings).
It may have an `airflow_settings.yaml` (connections, pools, Variables; see settings.py). Both
stay out of the image: the build excludes them, whatever the project's `.dockerignore` says.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import ProjectError, UsageError
from ..images.engine import BuildError, Engine
from ..matrix.model import Platform
from .settings import SETTINGS_FILE

REQUIRED_FILES = ("Dockerfile", "packages.txt", "requirements.txt")
REQUIRED_DIRS = ("dags",)
PROJECT_REPOSITORY = "airflow-runtime-project"
ENV_FILE = ".env"
# What a local deployment reads from the project and the image never holds (both hold secrets).
PRIVATE_FILES = (ENV_FILE, SETTINGS_FILE)
# What the images' DAG import check prints when it fails (templates/onbuild/check_dags.py.j2).
DAG_CHECK_FAILED = "DAG file(s) failed to import"
DAG_CHECK_HINT = ("\nA DAG that reads a Variable or connection when it is imported (one the deployment gets from "
                  f"{ENV_FILE} or {SETTINGS_FILE}) cannot import in the build: `--skip-dag-check` builds without "
                  "the check; the deployment's DAG processor then reports what does not import.")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FROM = re.compile(r"^(\s*FROM\s+(?:--platform=\S+\s+)?)(\S+)(.*)$", re.IGNORECASE | re.MULTILINE)


def check_folder(folder: Path) -> str:
    """Refuse what is not a project, before anything is built or started; the image its
    Dockerfile starts FROM."""
    if not folder.is_dir():
        raise UsageError(f"--project {folder}: no such folder")
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


def tag_in(reference: str, repository: str) -> str | None:
    """The tag of an image reference whose repository's last part is `repository`'s
    (`quay.io/org/airflow-runtime:12.1.1` in `airflow-runtime` -> `12.1.1`; `latest` when it
    names none); None for another repository. A digest after the tag is left out. Pure."""
    name = reference.split("@", 1)[0]
    path, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    return tag if path.rsplit("/", 1)[-1] == repository.rsplit("/", 1)[-1] else None


def dockerfile_on(text: str, image: str) -> str:
    """The project's Dockerfile with its first FROM naming `image` instead. Pure."""
    return _FROM.sub(lambda match: f"{match.group(1)}{image}{match.group(3)}", text, count=1)


def parse_environment(text: str, source: str) -> dict[str, str]:
    """The variables of a `.env` text: `NAME=value` lines (an `export ` before the name is
    allowed; a value wholly in matching quotes loses them; nothing else is interpreted), blank
    lines and `#` comments skipped. Anything else is refused naming `source` and the line (never
    its value); a name set twice too. Pure."""
    variables: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, equals, value = stripped.removeprefix("export ").partition("=")
        name = name.strip()
        # Neither message shows the line's value: a .env holds passwords.
        if not equals:
            raise UsageError(f"{source} line {number}: no `=`: a line is NAME=value, a `#` comment or blank")
        if not _NAME.match(name):
            raise UsageError(f"{source} line {number}: {name!r} is not a variable name "
                             "(letters, digits and _, not starting with a digit)")
        if name in variables:
            raise UsageError(f"{source} line {number}: {name} is set again (first on line {first_line[name]})")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[name], first_line[name] = value, number
    return variables


def environment(folder: Path) -> dict[str, str]:
    """The project's `.env` variables; none when it has no `.env`."""
    path = folder / ENV_FILE
    if not path.is_file():
        return {}
    # utf-8-sig: an editor's byte-order mark is not part of the first name.
    return parse_environment(path.read_text(encoding="utf-8-sig", errors="replace"), str(path))


def ignore_file(folder: Path) -> str:
    """What the build leaves out of the context: the project's own ignore rules (its
    `Dockerfile.dockerignore`, else its `.dockerignore`), and PRIVATE_FILES. Docker reads the file of
    this text beside the Dockerfile `build` writes, in place of the context's."""
    own = next((path.read_text(encoding="utf-8", errors="replace") for path in
                (folder / "Dockerfile.dockerignore", folder / ".dockerignore") if path.is_file()), "")
    return own + ("" if own.endswith("\n") or not own else "\n") + "".join(f"{name}\n" for name in PRIVATE_FILES)


def image_name(folder: Path, onbuild: str, platform: Platform | None = None) -> str:
    """The project image's name: the folder's, tagged with the name of the ONBUILD image it is built
    on (`14.1.1-python-3.13-slim`: one folder built on two images makes two images, not one that
    replaces the other); one of another platform than the host's has its architecture in the tag."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-") or "project"
    return f"{PROJECT_REPOSITORY}/{slug}:{onbuild}{platform.foreign_suffix if platform else ''}"


def build(engine: Engine, folder: Path, onbuild_image: str, tag: str, platform: str,
          secrets: Mapping[str, Path], log_path: Path, check_dags: bool = True) -> str:
    """Build the project on `onbuild_image` into `tag`; return the image id."""
    check_folder(folder)
    with tempfile.TemporaryDirectory(prefix="runtime-project-") as scratch:
        dockerfile = Path(scratch) / "Dockerfile"
        dockerfile.write_text(dockerfile_on((folder / "Dockerfile").read_text(encoding="utf-8"), onbuild_image))
        Path(scratch, "Dockerfile.dockerignore").write_text(ignore_file(folder))
        try:
            return engine.build(context=folder, tag=tag, platform=platform, secrets=secrets, log_path=log_path,
                                build_args={"RUNTIME_CHECK_DAGS": "true" if check_dags else "false"},
                                dockerfile=dockerfile)
        except BuildError as error:
            hint = DAG_CHECK_HINT if check_dags and DAG_CHECK_FAILED in str(error) else ""
            raise ProjectError(f"the project {folder} does not build on {onbuild_image}:\n{error}{hint}") from error
