"""`dev upgrade-test --to VERSION`: what moving the project to another Runtime release would do,
checked before the move, in one report a user can read and CI can fail on (exit 1).

1. requirements  The project's requirements.txt resolved (uv, the host's index configuration)
                 with the target's Airflow, its constraint file, and its lock as the versions to
                 keep, before anything is built: a conflict is uv's explanation of it; a package
                 of the image the requirements would move is named.
2. dags          The project built on the target's ONBUILD image (the Python its FROM line
                 chose, else the target's default: target_python) and its DAGs parsed there (as
                 `dev parse`, tolerant of Variable and connection look-ups).
3. packages      Every distribution whose version differs between the project's image on its
                 current release and on the target (added and removed ones too).
4. database      The project's database (its dev deployment's, copied with pg_dump; a new one
                 migrated by the current image when it has none) migrated by the target image on
                 a scratch PostgreSQL: the project's own database is never touched.

A step whose inputs a failed step did not give (no image on the target: no packages, no
database) is reported as not run, with the reason.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from ..deploy.config import POSTGRES_HOST, Executor, Keys
from ..deploy.deployment import DeployError, Deployment, DeploymentSpec
from ..deploy.local import ProjectImage
from ..errors import BuilderError, ResolutionError, UsageError
from ..images import host
from ..images.engine import Engine
from ..lock import resolver
from ..lock.locks import LockCell
from ..matrix.model import Matrix, Platform, Release, Variant
from . import checks, session

DUMP = "/tmp/upgrade-test.sql"
MIGRATION = re.compile(r"Running upgrade (.+?)\.?\s+\[alembic")  # Alembic's line for each migration
SHOWN = 40  # detail lines of a step the text report shows (the JSON has them all)
# What lists every distribution of an image with its version: Python's own metadata, no pip needed.
LIST_DISTRIBUTIONS = ("python", "-c", "import importlib.metadata as m, json; print(json.dumps(sorted("
                                      "{d.metadata['Name'].lower(): d.version for d in m.distributions()}.items())))")


@dataclass
class Step:
    name: str
    status: str = "not run"  # ok, failed, not run
    summary: str = ""
    details: list[str] = field(default_factory=list)


@dataclass
class Report:
    project: str
    current: str
    target: str
    steps: list[Step]

    @property
    def ok(self) -> bool:
        return all(step.status == "ok" for step in self.steps)

    def text(self) -> str:
        lines = [f"upgrade test of {self.project}: Runtime {self.current} -> {self.target}", ""]
        for step in self.steps:
            lines.append(f"{step.name:<13} {step.status.upper():<8} {step.summary}")
            lines += [f"    {line}" for line in step.details[:SHOWN]]
            if len(step.details) > SHOWN:
                lines.append(f"    ... and {len(step.details) - SHOWN} more (--json FILE has them all)")
        lines += ["", "ready to move" if self.ok else "not ready: see the failed steps above"]
        return "\n".join(lines)


def package_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Every distribution whose version differs, was added or removed, by name. Pure."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            lines.append(f"{name}: {old or '(none)'} -> {new or '(removed)'}")
    return lines


def requirement_lines(text: str) -> list[str]:
    """requirements.txt's requirement lines, without comments and blank lines. Pure."""
    return [line.split(" #", 1)[0].strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def check_requirements(root: Path, target: Release, python: str, platform: Platform, folder: Path,
                       slim: bool = False) -> Step:
    step = Step("requirements")
    wanted = requirement_lines((folder / "requirements.txt").read_text(encoding="utf-8", errors="replace"))
    if not wanted:
        step.status, step.summary = "ok", "requirements.txt lists nothing"
        return step
    lock = root / LockCell(target, python, platform, slim=slim).path
    constraints = (root / "distributions" / str(target.version) / f"python-{python}" / "base"
                   / "constraints.txt").read_text()
    requirements = "\n".join([*wanted, f"apache-airflow=={target.airflow}"]) + "\n"
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    try:
        resolved = resolver.resolve(requirements, python, platform, tomorrow, constraints=constraints,
                                    preferred=lock.read_text(), hashes=False)
    except ResolutionError as error:
        step.status, step.summary = "failed", f"requirements.txt does not resolve with Airflow {target.airflow}"
        step.details = str(error).splitlines()[-25:]
        return step
    shipped, found = resolver.pins(lock.read_text()), resolver.pins(resolved)
    moved = [f"{name}: the image's {shipped[name]} -> {found[name]}" for name in sorted(found)
             if name in shipped and shipped[name] != found[name]]
    added = sorted(name for name in found if name not in shipped)
    step.status = "ok"
    step.summary = (f"{len(wanted)} requirement(s) resolve with Airflow {target.airflow}; "
                    f"{len(added)} package(s) added, {len(moved)} of the image's moved")
    step.details = moved + ([f"added: {', '.join(f'{n}=={found[n]}' for n in added)}"] if added else [])
    return step


def run(root: Path, matrix: Matrix, current: ProjectImage, target: Release, options: session.DevOptions,
        json_path: Path | None = None, write: Callable[[str], None] = print) -> int:
    if not target.version > current.release.version:
        raise UsageError(f"--to {target.version} is not newer than the project's Runtime {current.release.version}: "
                         "an upgrade test checks a move forward")
    engine = host.require(registry=False)
    python = target_python(current, target)
    target_image = ProjectImage(target, python, Variant.SLIM if current.variant.is_slim else Variant.ONBUILD,
                                f"Runtime {target.version}, Python {python} (the upgrade test's target)")
    session.inputs(options, target.airflow.major, Executor.LOCAL)  # refuse a bad .env before anything
    report = Report(str(options.folder), str(current.release.version), str(target.version),
                    [Step("requirements"), Step("dags"), Step("packages"), Step("database")])
    write(f"checking {options.folder} against Runtime {target.version} (from {current.release.version})")
    report.steps[0] = check_requirements(root, target, python, options.platform, options.folder,
                                         slim=target_image.variant.is_slim)
    scratch = replace(options, name=f"{options.deployment}-upgrade-test")
    built_target = built_current = None
    try:
        try:
            built_target = session.build_image(root, matrix, target_image, scratch, engine, write)
        except BuilderError as error:
            report.steps[1] = Step("dags", "failed", f"the project does not build on Runtime {target.version}",
                                   str(error).splitlines()[-20:])
        else:
            report.steps[1] = _parse_on(root, matrix, target_image, scratch, write)
            built_current = session.build_image(root, matrix, current, replace(options, name=f"{scratch.name}-from"),
                                                engine, write)
            report.steps[2] = _packages(engine, built_current.tag, built_target.tag)
            report.steps[3] = _database(root, engine, options, built_current.tag, built_target.tag, write)
        for step in report.steps[2:]:  # packages and database need the project built on the target
            if step.status == "not run" and not step.summary:
                step.summary = "the project did not build on the target"
    finally:
        for built in (built_target, built_current):
            if built is not None:
                engine.remove_image(built.tag)
    write("")
    write(report.text())
    if json_path is not None:
        json_path.write_text(json.dumps({"project": report.project, "from": report.current, "to": report.target,
                                         "ok": report.ok, "steps": [asdict(s) for s in report.steps]}, indent=2) + "\n")
    return 0 if report.ok else 1


def target_python(current: ProjectImage, target: Release) -> str:
    """The Python the project would have on `target`: a Python its FROM line chose (not its release's
    default) when the target ships it; else the target's default, as a move of the FROM line to
    the target's version gives it. Pure."""
    chose = current.python != current.release.python
    return current.python if chose and current.python in target.pythons else target.python


def _parse_on(root: Path, matrix: Matrix, image: ProjectImage, options: session.DevOptions,
              write: Callable[[str], None]) -> Step:
    output: list[str] = []
    status = checks.parse(root, matrix, image, options, output.append)
    summary = output[-1] if output else ""
    return Step("dags", "ok" if status == 0 else "failed", summary,
                [line for line in output[:-1] if "error" in line.lower() or "placeholder" in line][-30:])


def _packages(engine: Engine, before: str, after: str) -> Step:
    listed = []
    for image in (before, after):
        done = engine.oneshot(image, list(LIST_DISTRIBUTIONS))
        if done.returncode != 0:
            return Step("packages", "failed", f"cannot list the distributions of {image}",
                        done.stderr.splitlines()[-5:])
        listed.append(dict(json.loads(done.stdout.strip().splitlines()[-1])))
    changes = package_changes(*listed)
    return Step("packages", "ok", f"{len(changes)} distribution(s) change", changes)


def _database(root: Path, engine: Engine, options: session.DevOptions, current_tag: str, target_tag: str,
              write: Callable[[str], None]) -> Step:
    """Migrate a copy of the project's database with the target image on a scratch PostgreSQL."""
    own = session.reopen(options)
    keys = own.keys if own else Keys()
    images = session.service_images(root, options, engine)
    spec = DeploymentSpec(current_tag, images, Executor.LOCAL, name=f"{options.deployment}-upgrade-db", origin="dev")
    scratch = Deployment(spec, engine, keys)
    try:
        scratch.start_services()
        if own is not None:
            source = f"a copy of {own.name}'s database"
            _copy_database(engine, own, scratch)
        else:
            source = f"a new database migrated by the current image ({current_tag})"
            scratch.oneshot("migrate-current", ("airflow", "db", "migrate"), 600.0)
        write(f"migrating {source} with {target_tag}")
        scratch.spec = replace(scratch.spec, image=target_tag)
        started = time.monotonic()
        try:
            output = scratch.oneshot("migrate-target", ("airflow", "db", "migrate"), 600.0)
        except BuilderError as error:
            return Step("database", "failed", f"{source}: `airflow db migrate` failed with the target image",
                        str(error).splitlines()[-20:])
        lines = [match.group(1) for match in MIGRATION.finditer(output)]
        return Step("database", "ok", f"{source} migrated in {time.monotonic() - started:.0f} s", lines)
    finally:
        scratch.remove()


def _copy_database(engine: Engine, own: Deployment, scratch: Deployment) -> None:
    """pg_dump of the project's database (its PostgreSQL started for it when stopped), restored
    into the scratch deployment's."""
    container = own.containers[POSTGRES_HOST]
    was_running = engine.state(container)[0] == "running"
    if not was_running:
        engine.resume(container)
    try:
        dump = ["bash", "-c", f'"$(echo /usr/lib/postgresql/*/bin)/pg_dump" -h /tmp -U airflow -d airflow '
                              f'--no-owner -f {DUMP}']
        for _ in range(30):
            code, output = engine.exec(container, dump, user="postgres")
            if code == 0:
                break
            time.sleep(1)
        else:
            raise DeployError(f"pg_dump of {own.name}'s database failed: {output[-500:]}")
        engine.copy(container, DUMP, scratch.containers[POSTGRES_HOST], "/tmp")
    finally:
        if not was_running:
            engine.stop(container)
    restore = ["bash", "-c", f'"$(echo /usr/lib/postgresql/*/bin)/psql" -h /tmp -U airflow -d airflow -q '
                             f'-v ON_ERROR_STOP=1 -f {DUMP}']
    code, output = engine.exec(scratch.containers[POSTGRES_HOST], restore, user="postgres")
    if code != 0:
        raise DeployError(f"restoring {own.name}'s database into the scratch one failed: {output[-1000:]}")
