"""`build.py new-version`: cut the next patch, minor or major, or release a nightly build."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from .. import log
from ..errors import UsageError


def new_version(args: argparse.Namespace, released: date) -> int:
    """Cut the next patch, minor or major into versions.yaml, then lock it, render and write the feed.
    `released`: the `--date` given (default today)."""
    from . import newversion

    if args.release:
        return _release_nightly(args, released)
    request = newversion.Request(bump=newversion.Bump(args.bump), released=released,
                                 base=args.base, airflow=args.airflow, upgrade_providers=args.upgrade_providers,
                                 nightly=args.nightly)
    plan = newversion.plan(newversion.read_source(args.root), request, root=args.root)
    sys.stdout.write(newversion.report(plan))
    if args.dry_run:
        print("dry run: nothing was written")
        return 0
    with log.step(f"write Runtime {plan.version}: versions.yaml, locks, distributions/, releases.json"):
        written = newversion.apply(args.root, plan, None if args.no_lock else newversion.write_locks_of)
    locks = f"{len(written.locks)} lock files"
    if args.no_lock:
        locks = f"no lock files (--no-lock: run `python build.py lock {plan.version}`, then render)"
    print(f"wrote versions.yaml, {locks}, {written.rendered} files rendered into distributions/, releases.json")
    return 0


def _release_nightly(args: argparse.Namespace, released: date) -> int:
    """`new-version --release X.Y.Z`: a nightly build becomes a stable release."""
    from . import newversion, promote

    if args.airflow or args.upgrade_providers or args.base or args.nightly:
        raise UsageError("--release takes a nightly as it is: --airflow, --upgrade-providers, --from and --nightly "
                         "do not apply")
    plan = promote.plan(newversion.read_source(args.root), args.release, released, root=args.root)
    sys.stdout.write(promote.report(plan))
    if args.dry_run:
        print("dry run: nothing was written")
        return 0
    with log.step(f"release Runtime {plan.version}: versions.yaml, locks, distributions/, releases.json"):
        written = newversion.apply(args.root, plan, None if args.no_lock else newversion.write_locks_of)
    print(f"wrote versions.yaml, {len(written.locks)} lock files, {written.rendered} files rendered into "
          "distributions/, releases.json")
    return 0
