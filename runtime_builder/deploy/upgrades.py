"""Upgrades and rollbacks on a real database: one PostgreSQL, release A's deployment gives it a
history (runs, task instances, XComs, a variable, a connection with an encrypted password),
then release B runs on the same database (after `airflow db downgrade --to-version`, run with
A's image, for a rollback), and nothing of the user's data may be lost: every history row of
before is compared by key with after, the variable and the decrypted password are read back,
and a new run must succeed on B.

Which pairs, and the record of their results, live in `generate.upgrade_matrix`; a step Airflow
itself refuses (a downgrade it does not support) is the result `refused`, in Airflow's words.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from ..generate.specs import ImageSpec
from ..generate.upgrade_matrix import ROLLBACK, Pair, Result
from ..images.builder import BuildOptions, build, log_path
from ..images.engine import Engine
from ..matrix.model import Matrix, Platform, Release, Variant
from . import project
from .api import AirflowApi
from .config import Executor
from .deployment import DeployError, Deployment, DeploymentSpec
from .services import ServiceImages

CHECK_DAG = "runtime_deploy_check"
VARIABLE = ("upgrade_variable", "kept across upgrades and rollbacks")
CONNECTION = ("upgrade_connection", "postgresql://someone:s3cret-password@db.example.invalid:5432/warehouse")
# The user's history: every row must survive a switch (compared by key, not only counted).
HISTORY = {
    "dag_run": "SELECT dag_id, run_id FROM dag_run",
    "task_instance": "SELECT dag_id, run_id, task_id, state FROM task_instance",
    "xcom": "SELECT dag_id, run_id, task_id, key FROM xcom",
    "variable": "SELECT key FROM variable",
    "connection": "SELECT conn_id FROM connection",
    "log": "SELECT count(*) FROM log",  # an audit log: only ever grows
}
RUN_KEYED = ("dag_run", "task_instance", "xcom")  # rows whose first two columns are (dag_id, run_id)
# A task instance in one of these states is history: it must come through with its state. One still
# queued or running when the deployment is switched (the monitoring DAG's, every minute) may move
# on under the new release: it must come through, its state may change.
FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


def _gone(table: str, before: set[tuple[str, ...]], after: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """The rows of `before` that `after` does not have (a task instance in flight: by its key alone)."""
    gone = before - after
    if table != "task_instance":
        return gone
    kept = {row[:3] for row in after}
    return {row for row in gone if row[3] in FINISHED or row[:3] not in kept}


def _history(deployment: Deployment) -> dict[str, set[tuple[str, ...]]]:
    return {table: {tuple(row) for row in deployment.sql(query)} for table, query in HISTORY.items()}


def _seed(deployment: Deployment, *, connection: bool) -> None:
    """A finished run (task instances, XComs), a variable and (once) a connection whose password
    is stored encrypted; a second call adds a run and a variable of the release running then."""
    api = _api(deployment)
    api.wait_for_dag(CHECK_DAG)
    # Runs as users make them: with a logical date (as every Airflow 2 run and every scheduled
    # run has), and on Airflow 3 also without one (a manual trigger of "now").
    dated = datetime.now(UTC).isoformat(timespec="seconds")
    triggers = [api.trigger(CHECK_DAG, logical_date=dated)]
    if deployment.facts.airflow_major >= 3:
        triggers.append(api.trigger(CHECK_DAG))
    for run_id in triggers:
        run = api.wait_for_run(CHECK_DAG, run_id)
        if run["state"] != "success":
            raise DeployError(f"the history run {run_id} of {CHECK_DAG} on {deployment.spec.image} "
                              f"ended {run['state']}")
    commands = [["variables", "set", *VARIABLE] if connection else
                ["variables", "set", f"{VARIABLE[0]}_{deployment.facts.runtime_version}", VARIABLE[1]]]
    if connection:
        commands.append(["connections", "add", CONNECTION[0], "--conn-uri", CONNECTION[1]])
    for argv in commands:
        code, output = deployment.airflow("scheduler", *argv)
        if code != 0:
            raise DeployError(f"`airflow {' '.join(argv[:2])}` failed: {output[-2000:]}")


def _kept(deployment: Deployment) -> list[str]:
    """What of the variable and the connection (its password decrypted) did not survive."""
    problems = []
    code, output = deployment.airflow("scheduler", "variables", "get", VARIABLE[0])
    if code != 0 or output.strip().splitlines()[-1:] != [VARIABLE[1]]:
        problems.append(f"variable {VARIABLE[0]}: {output.strip()[-500:]}")
    code, output = deployment.airflow("scheduler", "connections", "get", CONNECTION[0], "-o", "json")
    found = next((line for line in output.splitlines() if line.startswith(("[", "{"))), "")
    try:
        entries = json.loads(found)
        entry = entries[0] if isinstance(entries, list) else entries
        if entry.get("password") != "s3cret-password":
            problems.append(f"connection {CONNECTION[0]}: password is {entry.get('password')!r}")
    except (ValueError, IndexError, AttributeError):
        problems.append(f"connection {CONNECTION[0]}: {output.strip()[-500:]}")
    return problems


# Airflow's own words when a step needs a package the image does not have -> that package.
NEEDS = {
    "apache-airflow-provider-fab package must be installed": "apache-airflow-providers-fab",
}
# Given a release and a package Airflow asked for: the project image of that release with the
# package added to its requirements.txt, and the package's version in it.
Provide = Callable[[Release, str], tuple[str, str]]


def needed_package(output: str) -> str | None:
    """The package a refused step names as missing, by Airflow's own message (None: no such ask)."""
    return next((package for words, package in NEEDS.items() if words in output), None)


def project_images(matrix: Matrix, root: Path, releases: Sequence[Release], engine: Engine,
                   secrets: Mapping[str, Path], folder: Path) -> dict[str, str]:
    """The project `folder` built on each release's ONBUILD image (default Python, native
    platform; built first when missing, from the committed contexts): {version: image}."""
    specs = [ImageSpec(r, r.python, Variant.ONBUILD, Platform.native()) for r in dict.fromkeys(releases)]
    built = {image.spec.release.version: image.reference
             for image in build(matrix, root, specs, engine, BuildOptions(secrets=secrets))
             if image.spec.variant is Variant.ONBUILD}
    images = {}
    for spec in specs:
        tag = f"{project.PROJECT_REPOSITORY}/upgrade:{spec.release.version}"
        project.build(engine, folder, built[spec.release.version], tag, spec.platform.value, secrets,
                      log_path(root, tag))
        images[str(spec.release.version)] = tag
    return images


def project_with(matrix: Matrix, root: Path, engine: Engine, secrets: Mapping[str, Path], folder: Path,
                 release: Release, package: str) -> tuple[str, str]:
    """The project rebuilt on `release` with `package` added to its requirements.txt (what a user
    does when Airflow asks for it; pip picks the version under the image's constraints):
    (image, the package's version in it)."""
    onbuild = ImageSpec(release, release.python, Variant.ONBUILD, Platform.native())
    reference = build(matrix, root, [onbuild], engine, BuildOptions(secrets=secrets))[-1].reference
    tag = f"{project.PROJECT_REPOSITORY}/upgrade:{release.version}-with-{package}"
    with tempfile.TemporaryDirectory(prefix="runtime-upgrade-") as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(folder, copy)
        requirements = copy / "requirements.txt"
        requirements.write_text(requirements.read_text(encoding="utf-8").rstrip("\n") + f"\n{package}\n",
                                encoding="utf-8")
        project.build(engine, copy, reference, tag, onbuild.platform.value, secrets, log_path(root, tag))
    script = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = engine.oneshot(tag, ["python", "-c", script])
    if done.returncode != 0:
        raise DeployError(f"cannot read the Airflow version of {tag}: {done.stderr.strip()[-1000:]}")
    version = done.stdout.strip().splitlines()[-1]
    return tag, version


def run_pair(pair: Pair, images: Mapping[str, str], services: ServiceImages, origin: str = "upgrade",
             progress: Callable[[str], None] = print, provide: Provide | None = None) -> Result:
    """An upgrade: deploy `pair.source`, give it history, switch the database to `pair.target`.
    A rollback is one to an earlier deploy: deploy `pair.target` (the older release), give it
    history, upgrade to `pair.source`, give it more, then downgrade and switch back to the
    older release. Either way every row of before must be there after, and a run succeed.
    A step Airflow refuses for want of a package (`NEEDS`) is tried again with it when `provide`
    is given: the result is then `needs`, naming the package, the version and Airflow's words."""
    result = Result.of(pair, date.today().isoformat())
    started = time.monotonic()
    first = pair.target if pair.kind == ROLLBACK else pair.source
    spec = DeploymentSpec(images[str(first.version)], services, Executor.LOCAL, origin=origin,
                          name=f"{origin}-{pair.id.replace('.', '-')}")
    try:
        with Deployment(spec) as deployment:
            deployment.start(progress)
            _seed(deployment, connection=True)
            if pair.kind == ROLLBACK:
                deployment.switch(images[result.source], progress)
                _seed(deployment, connection=False)
            _switch_and_check(pair, result, deployment, images[result.target], progress, provide)
    finally:
        result.seconds = round(time.monotonic() - started, 1)
    return result


def _switch_and_check(pair: Pair, result: Result, deployment: Deployment, target: str,
                      progress: Callable[[str], None], provide: Provide | None) -> None:
    before = _history(deployment)
    needs = ""
    if pair.kind == ROLLBACK:
        command = f"`airflow db downgrade --to-version {pair.target.airflow}`"
        progress(f"{deployment.name}: {command[1:-1]}")
        code, output = deployment.downgrade(str(pair.target.airflow))
        package = needed_package(output) if code != 0 else None
        if package and provide:
            refusal = _last_lines(output, 1)
            image, version = provide(pair.source, package)
            progress(f"{deployment.name}: Airflow asked for {package}; again with {package}=={version}")
            code, output = deployment.downgrade(str(pair.target.airflow), image)
            needs = (f"Runtime {result.source} as shipped: {command} refused ({refusal}); with "
                     f"{package}=={version} added to the project's requirements.txt")
        if code != 0:
            # Airflow's own refusal (a SystemExit message, or a missing package it names) is a
            # result; anything else (a crash) is a failure.
            result.status = "refused" if package or "Traceback" not in output else "failed"
            result.detail = f"{command} exited {code}: " + _last_lines(output)
            return
    try:
        deployment.switch(target, progress)
    except DeployError as error:
        result.detail = (f"{needs}: " if needs else "") + \
            f"Runtime {result.target} did not start on the database: {str(error)[-2000:]}"
        return
    after = _history(deployment)
    moved = _moved_runs(deployment)
    problems, removed = [], []
    for table in (t for t in HISTORY if t != "log"):
        gone = _gone(table, before[table], after[table])
        # Rows of runs Airflow's downgrade moved aside (it names the table) are accounted for.
        accounted = {row for row in gone if table in RUN_KEYED and (row[0], row[1]) in moved}
        if accounted:
            removed.append(f"{len(accounted)} {table}")
        if gone - accounted:
            problems.append(f"{table}: {len(gone - accounted)} rows of before are gone")
    log_before, log_after = (int(next(iter(rows))[0]) for rows in (before["log"], after["log"]))
    if log_after < log_before:
        problems.append(f"log: {log_before} rows before, {log_after} after")
    problems += _kept(deployment)
    api = _api(deployment)
    api.wait_for_dag(CHECK_DAG)
    run = api.wait_for_run(CHECK_DAG, api.trigger(CHECK_DAG))
    if run["state"] != "success":
        problems.append(f"a new run of {CHECK_DAG} on Runtime {result.target} ended {run['state']}")
    result.history = {table: [len(before[table]), len(after[table])] for table in HISTORY if table != "log"}
    result.history["log"] = [log_before, log_after]
    result.status = "failed" if problems else "lossy" if removed else "needs" if needs else "ok"
    kept = sum(len(rows & after[table]) for table, rows in before.items() if table != "log")
    story = (f"deployed {result.target}, upgraded to {result.source} (history on both), rolled back: "
             if pair.kind == ROLLBACK else "")
    runs = f"{len(moved)} run{'s' if len(moved) != 1 else ''}"
    lost = (f"Airflow's downgrade moved {runs} without a logical date to {', '.join(sorted(set(moved.values())))} "
            f"and deleted their rows ({', '.join(removed)}); " if removed else "")
    result.detail = "; ".join(problems) or (story + (f"{needs}: " if needs else "") + lost + (
        f"{'every other' if removed else 'all'} {kept} history rows kept, the variable and the encrypted "
        "connection read back, a new run succeeded"))


def _moved_runs(deployment: Deployment) -> dict[tuple[str, str], str]:
    """The runs Airflow's migrations moved aside (tables `_airflow_moved__<version>__..._dag_run`):
    {(dag_id, run_id): the table}."""
    tables = [row[0] for row in deployment.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '\\_airflow\\_moved\\_\\_%dag\\_run'")]
    # The names come from the catalogue and are checked to be plain identifiers before use.
    return {(row[0], row[1]): table for table in tables if re.fullmatch(r"_airflow_moved__\w+", table)
            for row in deployment.sql(f'SELECT dag_id, run_id FROM "{table}"')}  # noqa: S608


def _api(deployment: Deployment) -> AirflowApi:
    user, password = deployment.login()
    return AirflowApi(deployment.url, deployment.facts.airflow_major, user, password, deployment.facts.patience)


def _last_lines(output: str, count: int = 6) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])[-1500:]
