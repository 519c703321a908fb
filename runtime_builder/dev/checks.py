"""`dev parse` and `dev pytest`: the project's DAGs imported, and its tests run, in throwaway containers
of the project's image (built as `dev start` builds it), its folders mounted read-only where the
deployment mounts them. Neither needs the deployment to run; both exit as the check did.

parse runs parse_dags.py (this folder) with the project's .env and airflow_settings.yaml given as
environment variables, so a DAG that reads a Variable or connection when imported gets its value,
or a placeholder that is reported. pytest installs pytest from a hash-locked list (the release's
test-tools lock; an older release without one takes the newest release's for its Python) from
wheels fetched on the host with its own pip configuration, into a scratch folder of the container,
and runs it in the project folder with a scratch AIRFLOW_HOME and SQLite database.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import contract, layout
from ..deploy import settings
from ..deploy.local import ProjectImage
from ..errors import UsageError
from ..images import host
from ..images.engine import ContainerSpec, Engine
from ..matrix.model import Matrix
from . import session

TOOLS = "/tmp/runtime-dev"  # where the container finds parse_dags.py and the test tools (read-only)
PARSE_SCRIPT = Path(__file__).resolve().parent / "parse_dags.py"
TESTS = "tests"
PYTEST_EXIT = {0: "every test passed", 1: "some tests failed", 2: "interrupted", 3: "pytest's internal error",
               4: "pytest's usage error", 5: "no tests were collected"}


def settings_environment(airflow_settings: settings.AirflowSettings) -> dict[str, str]:
    """The settings' Variables and connections as the variables Airflow reads them from first. Pure."""
    found = {f"AIRFLOW_VAR_{key.upper()}": value for key, value in airflow_settings.variables.items()}
    for conn_id, fields in airflow_settings.connections.items():
        if "uri" in fields:
            value = str(fields["uri"])
        else:
            value = json.dumps({("extra" if name == "extra_dejson" else name): field_value
                                for name, field_value in fields.items()})
        found[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
    return found


# What a throwaway container of the project's image runs with, beside .env and the settings.
SCRATCH_ENVIRONMENT = {"AIRFLOW__CORE__DAGS_FOLDER": f"{contract.AIRFLOW_HOME}/dags",
                       "AIRFLOW__CORE__PLUGINS_FOLDER": f"{contract.AIRFLOW_HOME}/plugins",
                       "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}


def _prepared(root: Path, matrix: Matrix, image: ProjectImage,
              options: session.DevOptions) -> tuple[Engine, str, dict[str, str]]:
    """What parse and pytest both need: the engine, the inputs checked (refused before any build),
    the project's image (the deployment's when a build makes it again) and the containers'
    environment."""
    engine = host.require(registry=False)
    environment, airflow_settings = session.inputs(options, image.release.airflow.major, session.Executor.LOCAL)
    built = session.build_image(root, matrix, image, options, engine, lambda _: None, keep=_latest(engine, options))
    return engine, built.tag, SCRATCH_ENVIRONMENT | settings_environment(airflow_settings) | environment


def _run(engine: Engine, image: str, script: str, args: list[str], binds: Mapping[str, str],
         environment: Mapping[str, str], name: str, write: Callable[[str], None]) -> int:
    spec = ContainerSpec(image, ("bash", "-c", script, "dev", *args), name, environment=dict(environment),
                         binds=dict(binds), labels={session.PROJECT_LABEL: name})
    engine.remove(name)
    engine.start(spec)
    try:
        for line in engine.follow(name):
            write(line)
        return engine.wait(name, 60.0)
    finally:
        engine.remove(name)


def parse(root: Path, matrix: Matrix, image: ProjectImage, options: session.DevOptions,
          write: Callable[[str], None] = print) -> int:
    """Import the project's DAGs in its image; 0 when every file imports, 1 when one does not."""
    engine, tag, env = _prepared(root, matrix, image, options)
    binds = session.binds(options.folder) | {str(PARSE_SCRIPT.parent): TOOLS}
    script = (f'export AIRFLOW_HOME="$(mktemp -d)"; cd "{contract.AIRFLOW_HOME}" && '
              f'python {TOOLS}/{PARSE_SCRIPT.name} "{contract.AIRFLOW_HOME}/dags"')
    return _run(engine, tag, script, [], binds, env, f"{options.deployment}-parse", write)


def pytest(root: Path, matrix: Matrix, image: ProjectImage, options: session.DevOptions, args: list[str],
           write: Callable[[str], None] = print) -> int:
    """The project's tests with pytest in its image; pytest's exit status, said in words after its summary."""
    if not (options.folder / TESTS).is_dir() and not args:
        raise UsageError(f"{options.folder}: no {TESTS}/ folder; write tests there, or name what to run: "
                         "`dev pytest PATH`")
    wheels = fetch_wheels(root, test_tools(root, matrix, image))
    engine, tag, env = _prepared(root, matrix, image, options)
    home = contract.AIRFLOW_HOME
    binds = session.binds(options.folder) | {str(wheels): TOOLS}
    if (options.folder / TESTS).is_dir():
        binds[str((options.folder / TESTS).resolve())] = f"{home}/{TESTS}"
    script = f"""set -e
scratch=$(mktemp -d)
pip install --quiet --disable-pip-version-check --no-index --find-links {TOOLS} --no-deps --require-hashes \\
    --target "$scratch/pytest" -r {TOOLS}/test-tools.txt
export AIRFLOW_HOME="$scratch/home" AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$scratch/home/airflow.db"
mkdir -p "$AIRFLOW_HOME"
airflow db migrate >/dev/null 2>&1 || {{ echo "error: could not prepare the tests' SQLite database" >&2; exit 3; }}
cd "{home}"
set +e
PYTHONPATH="$scratch/pytest${{PYTHONPATH:+:$PYTHONPATH}}" python -m pytest -p no:cacheprovider -rfE "$@"
"""
    status = _run(engine, tag, script, args or [TESTS], binds, env, f"{options.deployment}-pytest", write)
    write(f"pytest exited {status}: {PYTEST_EXIT.get(status, 'an error')}")
    return status


def test_tools(root: Path, matrix: Matrix, image: ProjectImage) -> Path:
    """The hash-locked test tools for the image's release and Python, else the newest release's."""
    candidates = [image.release, *sorted(matrix.releases, key=lambda r: r.version, reverse=True)]
    for release in candidates:
        path = root / layout.test_tools_file(str(release.version), image.python)
        if path.is_file():
            return path
    raise UsageError(f"no test-tools lock for Python {image.python} in locks/: run `python build.py lock`")


def fetch_wheels(root: Path, lock: Path) -> Path:
    """The lock's wheels, fetched once with the host's pip configuration (pure-Python: any platform)."""
    text = lock.read_text()
    folder = layout.Layout(root).build / "dev" / "test-tools" / hashlib.sha256(text.encode()).hexdigest()[:12]
    if (folder / "test-tools.txt").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                             "--no-deps", "--only-binary", ":all:", "--require-hashes", "-r", str(lock),
                             "-d", str(folder)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UsageError(f"cannot fetch pytest's wheels ({lock}) with this host's pip configuration:\n"
                         f"{result.stderr.strip()[-2000:]}")
    (folder / "test-tools.txt").write_text(text)  # last: a folder with the list is complete
    return folder


def _latest(engine: Engine, options: session.DevOptions) -> str | None:
    """The project's newest dev image (the one its deployment runs), kept when a build makes it again."""
    tags = engine.image_tags(f"{session.image_repository(options)}:")
    return max(tags, key=lambda tag: tag.rsplit("-", 1)[-1]) if tags else None
