"""`build.py dev <command>`: the local development loop's command line (declarations and the calls).

    python build.py dev start            # in the project folder, or --project DIR
    python build.py dev logs -f scheduler
    python build.py dev airflow dags list
    python build.py dev pytest -k my_dag
    python build.py dev parse
    python build.py dev stop             # everything kept; `dev start` brings it back
    python build.py dev kill             # everything removed
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import date
from pathlib import Path

from ..deploy.config import Executor
from ..deploy.settings_export import SECTIONS
from ..errors import UsageError
from ..layout import LOCAL_REGISTRY
from ..matrix import lifecycle
from ..matrix.load import load_matrix
from ..matrix.model import Platform
from ..matrix.options import (
    count,
    deployment_name,
    existing_file,
    image,
    index_url,
    output_file,
    platform,
    port,
    registry,
)

# What talks to the engine (and so needs the Docker SDK) is imported when a dev command runs: the
# commands that only read the matrix (`build.py matrix` in CI's planning jobs) need none of it.

PASSES_ARGUMENTS = ("exec", "airflow", "pytest")  # their own arguments follow (options too)
BUILDS = ("start", "restart", "pytest", "parse", "upgrade-test")  # the commands that build the project
COMMANDS = ("start", "stop", "restart", "kill", "ps", "logs", "bash", "exec", "airflow", "pytest", "parse",
            "upgrade-test", "export", "import")

# What `build.py dev --help` ends with (each parsed by a unit test, as every command's examples).
EXAMPLES = ("python3 build.py dev start --project ~/my-project", "python3 build.py dev logs -f scheduler",
            "python3 build.py dev airflow dags list", "python3 build.py dev restart",
            "python3 build.py dev stop                  # keeps the database; `dev kill` removes everything")

# A project's build is handed the host's CA bundle, never the host's index configuration.
PROJECT_INDEX_URL_HELP = ("package index for the project's requirements (default: none: the host's pip/uv index "
                          "configuration builds the Runtime images only, since any RUN line of a project's "
                          "Dockerfile could read it and send it elsewhere; give it here to hand it to this project)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    dev = sub.add_parser("dev", help="the local development loop: a project's deployment to work on "
                                     "(start, stop, logs, pytest, parse, ...)",
                         description="A project's local deployment while you work on it: its dags/, plugins/ and "
                                     "include/ are mounted (an edited DAG needs no rebuild), `stop` keeps the "
                                     "database, `kill` removes everything.",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES))
    commands = dev.add_subparsers(dest="dev_command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=text, description=text)
        p.add_argument("--project", type=Path, default=Path("."), help="the project folder (default: this one)")
        p.add_argument("--name", type=deployment_name,
                       help="the deployment's name (default: dev-<folder>-<hash of its path>)")
        return p

    def building(p: argparse.ArgumentParser) -> None:
        p.add_argument("--version", help="the Runtime version to build on (default: what the Dockerfile's FROM names)")
        p.add_argument("--env-file", type=existing_file, help="variables for the Airflow containers (default: the "
                                                             "project's .env; Docker Compose's rules)")
        p.add_argument("--settings-file", type=existing_file, help="connections, pools and Variables (default: "
                                                                  "the project's airflow_settings.yaml)")
        p.add_argument("--base-registry", "--registry", dest="registry", type=registry, default=LOCAL_REGISTRY,
                       help="where base images live (default: %(default)s; --registry is the older name)")
        p.add_argument("--cacert", type=existing_file, help="CA bundle for the package index inside the build")
        p.add_argument("--index-url", type=index_url, help=PROJECT_INDEX_URL_HELP)
        p.add_argument("--platform", type=platform,
                       help="linux/amd64 or linux/arm64 (default: the host's; the other under QEMU)")
        p.add_argument("--force-eol", action="store_true", help="use a version even if it is end of life")
        p.add_argument("--postgres-image", metavar="REF", type=image,
                       help="PostgreSQL's image where a registry serves one, e.g. postgres:15-bookworm (with "
                            "--redis-image; default: made here from Debian's packages)")
        p.add_argument("--redis-image", metavar="REF", type=image, help="Redis's image (with --postgres-image)")

    for name, text in (("start", "build the project and start its deployment (again, after stop)"),
                       ("restart", "build what changed and restart the deployment, keeping its database")):
        p = command(name, text)
        building(p)
        p.add_argument("--executor", choices=[e.value for e in Executor],
                       help="local (the default for a new deployment) or celery (Redis and a worker)")
        p.add_argument("--port", type=port, help="the UI's port on 127.0.0.1 (default: a free one, kept)")
    command("stop", "stop the deployment; its database, Variables, connections and logs are kept")
    command("kill", "remove the deployment: containers, database, logs, network and its images")
    p = command("ps", "the deployment's components, their state, its URL and the monitoring DAG's health")
    p.add_argument("--all", action="store_true", help="every development deployment on this host")
    p = command("logs", "the components' logs")
    p.add_argument("component", nargs="?", help="one component (default: every Airflow component)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what comes")
    p.add_argument("--tail", type=count, help="only the last N lines of each")
    p = command("bash", "a shell in a component (default: the scheduler)")
    p.add_argument("component", nargs="?")
    p = command("exec", "run a command in a component: `dev exec [COMPONENT] -- CMD ARGS...`")
    p.add_argument("component", nargs="?")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    p = command("airflow", "run Airflow's CLI in the scheduler: `dev airflow dags list`")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="ARGS")
    p = command("pytest", "run the project's tests/ with pytest in its image")
    building(p)
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="PYTEST ARGS")
    p = command("parse", "import every DAG as the deploy-time check does, tolerant of Variable and connection "
                         "look-ups at import time")
    building(p)
    p = command("upgrade-test", "check the project against a newer Runtime before moving to it: requirements, "
                                "DAGs, packages that change, the database migrated (on a copy)")
    building(p)
    p.add_argument("--to", required=True, metavar="VERSION", help="the Runtime version to move to")
    p.add_argument("--json", type=output_file, metavar="FILE", help="also write the report as JSON")
    for name, text in (("export", "write the running deployment's connections, pools and Variables into "
                                  "airflow_settings.yaml (merged: entries of the same name replaced)"),
                       ("import", "import airflow_settings.yaml's connections, pools and Variables into the "
                                  "running deployment")):
        p = command(name, text)
        p.add_argument("--settings-file", type=existing_file if name == "import" else output_file,
                       help="default: the project's airflow_settings.yaml")
        if name == "export":
            for section in SECTIONS:
                p.add_argument(f"--{section}", action="store_true", help=f"only {section} (combinable)")


def run(args: argparse.Namespace) -> int:
    from . import checks, objects, session, tools, upgrade_test

    folder = args.project.resolve()
    if args.dev_command in BUILDS:  # not a project: said before the host or the engine is asked
        from ..deploy import project, settings

        project.check_folder(folder)
        if args.dev_command in ("start", "restart"):  # a .env or airflow_settings.yaml that cannot be read too
            project.environment(folder, _path(args.env_file))
            settings.load_file(_path(args.settings_file) or folder / settings.SETTINGS_FILE)
    options = session.DevOptions(
        folder, name=args.name, executor=Executor(args.executor) if getattr(args, "executor", None) else None,
        port=getattr(args, "port", None), env_file=_path(getattr(args, "env_file", None)),
        settings_file=_path(getattr(args, "settings_file", None)), repository=args.repository,
        registry=getattr(args, "registry", LOCAL_REGISTRY), cacert=getattr(args, "cacert", None),
        index_url=getattr(args, "index_url", None),
        platform=Platform.parse(args.platform) if getattr(args, "platform", None) else Platform.native(),
        services=_service_images(args))
    if options.name is not None and not session.NAME.fullmatch(options.name):
        raise UsageError(f"--name {options.name!r}: letters, digits, `_`, `.` and `-`, starting with a letter or digit")
    command = args.dev_command
    if command in ("start", "restart"):
        if args.version is None and (pinned := session.pinned_version(options)):
            print(f"Runtime {pinned}, as `--version` asked when {options.deployment} was made (give another to move)")
            args.version = pinned
        options = dataclasses.replace(options, version=args.version)
        matrix, image = _image(args, folder)
        deployment = session.start(args.root, matrix, image, options, restart=command == "restart")
        user, password = deployment.login()
        print(f"\nAirflow Runtime {image.release.version} ({deployment.spec.executor.value} executor): {deployment.url}"
              f"\n  log in as {user} with password {password}\n  image {deployment.spec.image}"
              f"\n  dags/, plugins/ and include/ are mounted: an edited DAG needs no restart; `dev logs -f`, "
              "`dev stop` (keeps the database), `dev kill`")
        return 0
    if command == "stop":
        if not session.stop(options):
            print(f"no development deployment of {folder} ({options.deployment})")
        return 0
    if command == "kill":
        if not session.kill(options):
            print(f"no development deployment of {folder} ({options.deployment})")
        return 0
    if command == "ps":
        for line in tools.ps(options, every=args.all):
            print(line)
        return 0
    if command == "logs":
        tools.logs(options, args.component, args.follow, args.tail)
        return 0
    if command == "bash":
        return tools.run_in(options, args.component, ["bash"])
    if command == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            raise UsageError("dev exec needs a command: `dev exec [COMPONENT] -- CMD ARGS...`")
        return tools.run_in(options, args.component, argv)
    if command == "airflow":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return tools.run_in(options, None, ["airflow", *argv])
    if command in ("pytest", "parse", "upgrade-test"):
        matrix, image = _image(args, folder)
        if command == "pytest":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            return checks.pytest(args.root, matrix, image, options, argv)
        if command == "parse":
            return checks.parse(args.root, matrix, image, options)
        return upgrade_test.run(args.root, matrix, image, matrix.release(args.to), options, args.json)
    if command == "export":
        sections = tuple(s for s in SECTIONS if getattr(args, s)) or SECTIONS
        return objects.export(options, sections)
    return objects.import_(options)


def _image(args: argparse.Namespace, folder: Path):  # -> (Matrix, ProjectImage)
    from ..deploy.local import project_image

    matrix = load_matrix(args.root / "versions.yaml")
    image = project_image(matrix, folder, args.version, args.repository)
    lifecycle.refuse_end_of_life([image.release], date.today(), args.force_eol)
    return matrix, image


def _service_images(args: argparse.Namespace):  # -> ServiceImages | None
    from ..deploy.services import ServiceImages

    postgres, redis = getattr(args, "postgres_image", None), getattr(args, "redis_image", None)
    if bool(postgres) != bool(redis):
        raise UsageError("--postgres-image and --redis-image go together: give both, or neither (both are then "
                         "made here from Debian's packages)")
    return ServiceImages(postgres, redis) if postgres and redis else None


def _path(path: Path | None) -> Path | None:
    return path.resolve() if path is not None else None
