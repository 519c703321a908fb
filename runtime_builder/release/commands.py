"""`build.py new-version`: cut the next patch, minor or major, or release a nightly build."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from .. import log
from ..errors import NothingToDraft, UsageError


def new_version(args: argparse.Namespace, released: date) -> int:
    """Cut the next patch, minor or major into versions.yaml, then lock it, render and write the feed.
    `released`: the `--date` given (default today)."""
    from . import newversion

    if args.release:
        return _release_nightly(args, released)
    if args.from_upstream:
        return _draft_nightly(args, released)
    if args.line is not None or args.index_url or args.cacert:
        raise UsageError("--line, --index-url and --cacert go with --from-upstream (the line whose nightly is drafted, "
                         "the index asked); --from names the release to cut from")
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

    if args.airflow or args.upgrade_providers or args.base or args.nightly or args.line is not None:
        raise UsageError("--release takes a nightly as it is: --airflow, --upgrade-providers, --from, --nightly "
                         "and --line do not apply")
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


def _draft_nightly(args: argparse.Namespace, released: date) -> int:
    """`new-version --from-upstream`: cut or refresh a line's nightly with what the package index has newer."""
    from ..images.secrets import host_cacert, host_index_url
    from ..lock import upstream
    from ..lock.locks import read_locks
    from . import draft, newversion

    if args.airflow or args.upgrade_providers or args.base or args.no_lock:
        raise UsageError("--from-upstream takes Airflow and the pins from the package index and locks as of the "
                         "draft's day: --airflow, --upgrade-providers, --from and --no-lock do not apply")
    source = newversion.read_source(args.root)
    matrix = newversion.validate_text(source, args.root)
    line = draft.line_of(matrix, args.line)
    index = upstream.SimpleIndex(upstream.default_index(host_index_url(args.index_url)), host_cacert(args.cacert))
    report = upstream.check(args.root, matrix, line, index)
    found = draft.plan(source, report, line, released, root=args.root)
    if isinstance(found, draft.Nothing):
        sys.stdout.write(draft.nothing_text(found))
        return 0
    sys.stdout.write(draft.report(found))
    if args.dry_run:
        print("dry run: nothing was written (the lock files' changes show once they are locked)")
        return 0
    before = draft.locked(matrix.release(found.compared), read_locks(args.root))
    with log.step(f"draft Runtime {found.edit.version} (nightly): versions.yaml, locks as of "
                  f"{found.edit.release.released}, distributions/, releases.json"):
        try:
            written = newversion.apply(args.root, found.edit, draft.moving_locks(found, before))
        except NothingToDraft as nothing:  # every file put back: not a failed step
            written = nothing
    if isinstance(written, NothingToDraft):
        print(written)
        return 0
    after = draft.locked(found.edit.matrix.release(str(found.edit.version)), read_locks(args.root))
    moved = draft.lock_changes(before, after)
    print(f"locked packages, {found.compared} -> {found.edit.version} ({len(moved)} moved):" if moved
          else f"the lock files pin what {found.compared}'s did")
    if moved:
        print("\n".join(moved))
    print(f"wrote versions.yaml, {len(written.locks)} lock files, {written.rendered} files rendered into "
          "distributions/, releases.json")
    return 0
