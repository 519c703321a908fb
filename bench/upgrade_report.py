"""Upgrade and rollback report: runs pairs for real and records what they showed.

    .venv/bin/python bench/upgrade_report.py                 # every pair the matrix promises
    .venv/bin/python bench/upgrade_report.py --pair 14.0.2-to-14.0.4 --pair default

For each pair (see runtime_builder/generate/upgrade_matrix.py): the fixture project
(tests/deploy/project) is built on both releases' ONBUILD images (built first when missing),
release A is deployed on PostgreSQL with the LocalExecutor and given history, the database
moves to release B, and what survived is checked. Results are merged into
evidence/upgrades.json (commit it, then `python3 bench/report.py` shows them in
docs/performance.md); a table and the seconds each pair took are printed. A step Airflow
refuses for want of a package it names is tried again with the package added to the project
(`needs`). The exit status is 1 when a pair failed (a refusal by Airflow is a result, not a
failure).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime_builder import layout  # noqa: E402
from runtime_builder.deploy import services, upgrades  # noqa: E402
from runtime_builder.deploy.deployment import DeployError  # noqa: E402
from runtime_builder.errors import BuilderError  # noqa: E402
from runtime_builder.generate import upgrade_matrix  # noqa: E402
from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402

PROJECT = ROOT / "tests" / "deploy" / "project"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", action="append", default=[], metavar="PAIR",
                        help="`A-to-B`, `default` or `all` (repeatable; default: all)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave evidence/upgrades.json as it is")
    args = parser.parse_args()
    matrix = load_matrix(ROOT / layout.VERSIONS_FILE)
    try:
        chosen = upgrade_matrix.chosen(matrix, args.pair or ["all"])
    except BuilderError as error:
        parser.error(str(error))
    require(arm64=False)
    engine = Engine.detect()
    releases = [release for pair in chosen for release in (pair.source, pair.target)]
    service_images = services.ensure_images(engine, layout.LOCAL_REGISTRY, ROOT / layout.BUILD / "bases")
    results: list[upgrade_matrix.Result | None] = []
    with for_build(ROOT / layout.BUILD / "secrets") as secrets:
        images = upgrades.project_images(matrix, ROOT, releases, engine, secrets, PROJECT)
        provide = functools.partial(upgrades.project_with, matrix, ROOT, engine, secrets, PROJECT)
        for pair in chosen:
            print(f"\n== {pair.kind} {pair.id} (Airflow {pair.source.airflow} → {pair.target.airflow})", flush=True)
            try:
                result = upgrades.run_pair(pair, images, service_images, origin="bench", provide=provide)
            except DeployError as error:  # release A did not deploy: no result to record
                print(f"   could not deploy {pair.source.version}: {error}", flush=True)
                results.append(None)
                continue
            print(f"   {result.status} in {result.seconds:.0f} s: {result.detail}", flush=True)
            results.append(result)
            if not args.no_record:
                upgrade_matrix.record(ROOT / layout.UPGRADE_RESULTS, [result])
    print(f"\n{'kind':<9} {'pair':<22} {'Airflow':<18} {'status':<8} {'seconds':>8}")
    for pair, result in zip(chosen, results, strict=True):
        airflow = f"{pair.source.airflow} → {pair.target.airflow}"
        status, seconds = (result.status, f"{result.seconds:.0f}") if result else ("error", "-")
        print(f"{pair.kind:<9} {pair.id:<22} {airflow:<18} {status:<8} {seconds:>8}")
    return 1 if any(r is None or r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
