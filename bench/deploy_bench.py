"""Deployment benchmark: prints figures, asserts nothing. Run: `.venv/bin/python bench/deploy_bench.py`.

For a Runtime version (default: the default release) on the native platform, with the Celery
and the Local executor: the fixture project (tests/deploy/project) built on its ONBUILD image
(not timed), then
- start: seconds from nothing to every component healthy (network, PostgreSQL, Redis,
  `airflow db migrate`, each component's own health check), and the parts of it;
- one task: seconds from triggering `runtime_one_task` (one bash task) to its run's success,
  the first time and again (`--runs`) on the warm deployment.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recorded import Figure, add_record_argument, report  # noqa: E402

from runtime_builder.deploy import project, services  # noqa: E402
from runtime_builder.deploy.api import AirflowApi  # noqa: E402
from runtime_builder.deploy.config import Executor  # noqa: E402
from runtime_builder.deploy.deployment import Deployment, DeploymentSpec  # noqa: E402
from runtime_builder.generate.specs import ImageSpec  # noqa: E402
from runtime_builder.images.builder import BuildOptions, build, log_path  # noqa: E402
from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.layout import LOCAL_REGISTRY, Layout  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402
from runtime_builder.matrix.model import Platform, Variant  # noqa: E402

PROJECT = ROOT / "tests" / "deploy" / "project"
DAG = "runtime_one_task"


def measure(image: str, images: services.ServiceImages, executor: Executor, runs: int) -> dict[str, float]:
    spec = DeploymentSpec(image, images, executor, origin="bench")
    started = time.monotonic()
    with Deployment(spec) as deployment:
        deployment.start(progress=lambda _: None)
        figures = {"start": time.monotonic() - started,
                   "services": deployment.timings["services"],
                   "migrate": deployment.timings["migrate"] - deployment.timings["services"],
                   "components": deployment.timings["healthy"] - deployment.timings["migrate"]}
        user, password = deployment.login()
        api = AirflowApi(deployment.url, deployment.facts.airflow_major, user, password)
        api.wait_for_dag(DAG)
        seconds = []
        for _ in range(runs):
            triggered = time.monotonic()
            run = api.wait_for_run(DAG, api.trigger(DAG), timeout=600)
            if run["state"] != "success":
                raise SystemExit(f"{DAG} run {run['dag_run_id']} ended {run['state']}")
            seconds.append(time.monotonic() - triggered)
        figures["first task"] = seconds[0]
        if len(seconds) > 1:
            figures["task, warm (median)"] = statistics.median(seconds[1:])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", help="Runtime version (default: the default release)")
    parser.add_argument("--executor", action="append", choices=[e.value for e in Executor])
    parser.add_argument("--runs", type=int, default=4, help="triggers per deployment (default: %(default)s)")
    add_record_argument(parser)
    args = parser.parse_args()
    matrix = load_matrix(ROOT / "versions.yaml")
    release = matrix.release(args.version) if args.version else matrix.default_release()
    require(arm64=False)
    engine = Engine.detect()
    spec = ImageSpec(release, release.python, Variant.ONBUILD, Platform.native())
    tag = project.image_name(PROJECT, str(release.version))
    with for_build(ROOT / "build" / "secrets") as secrets:
        onbuild = build(matrix, ROOT, [spec], engine, BuildOptions(secrets=secrets))[-1].reference
        project.build(engine, PROJECT, onbuild, tag, spec.platform.value, secrets, log_path(ROOT, tag))
    images = services.ensure_images(engine, LOCAL_REGISTRY, Layout(ROOT).bases)
    print(f"\nRuntime {release.version} (Airflow {release.airflow}), {spec.platform.value}, fixture project {tag}")
    print(f"{'executor':<10} {'start':>7} {'services':>9} {'migrate':>8} {'components':>11} {'first task':>11} "
          f"{'task, warm (median)':>20}")
    recorded = []
    for executor in [Executor(e) for e in args.executor or ("celery", "local")]:
        figures = measure(tag, images, executor, args.runs)
        print(f"{executor.value:<10} {figures['start']:6.1f}s {figures['services']:8.1f}s {figures['migrate']:7.1f}s "
              f"{figures['components']:10.1f}s {figures['first task']:10.1f}s "
              f"{figures.get('task, warm (median)', float('nan')):19.1f}s")
        recorded += [Figure(f"{executor.value} start", f"{figures['start']:.1f} s"),
                     Figure(f"{executor.value} first task", f"{figures['first task']:.1f} s")]
    report("deploy_bench", f"{release.version}, {spec.platform.value}, {date.today()}", recorded, args.record)


if __name__ == "__main__":
    main()
