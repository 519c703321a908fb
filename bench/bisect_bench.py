"""Bisect benchmark (issue 32): prints figures, asserts nothing. Run: `.venv/bin/python bench/bisect_bench.py`.

The scenario of tests/bisection (a local index layers a newer, broken rich-argparse over the real
index; the newest nightly re-locked against it in a worktree of HEAD fails `docker run IMAGE
version`), then `build.py bisect` from the nightly's committed lock to it:
- moves: the packages between the two locks,
- builds: the image builds the search used (target: <= log2(n) + 2), and its wall time,
- each probe's rebuild against a cold build: BuildKit's cache emptied (`docker builder prune`;
  base images stay in the registry), then GOOD's image built with the host's own index (the
  builder stage's tools come from there: pip cannot verify the local index's TLS on an IP
  address) (target: each probe's build <= 0.35x of it).

The engine is shared: `--no-prune` skips emptying the cache (then the "cold" build is not cold).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recorded import Figure, add_record_argument, report  # noqa: E402

from runtime_builder.images import bisect_run  # noqa: E402
from runtime_builder.images.builder import BuildOptions  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.layout import Layout  # noqa: E402
from runtime_builder.lock import candidates  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402
from tests.bisection.scenario import PACKAGE, SELECTION, build_good, scenario  # noqa: E402

TARGETS = {"warm rebuild": 0.35}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-prune", action="store_true", help="keep BuildKit's cache (the first build is not cold)")
    add_record_argument(parser)
    args = parser.parse_args()
    engine = require()
    with tempfile.TemporaryDirectory(prefix="bisect-bench-") as tmp, scenario(ROOT, Path(tmp)) as found:
        matrix = load_matrix(found.root / "versions.yaml")
        if not args.no_prune:
            engine.prune_build_cache()
        cold = build_good(found, engine)
        with for_build(Layout(found.root).secrets, found.index.cacert, found.index.build_url) as secrets:
            options = bisect_run.Options(SELECTION, found.python, found.platform, build=BuildOptions(secrets=secrets))
            started = time.monotonic()
            outcome = bisect_run.run(found.root, matrix, str(found.good), str(found.release.version), options,
                                     engine)
            seconds = time.monotonic() - started
        the_report, builds = outcome.report, outcome.builds
    print(candidates.as_text(the_report))
    moved, probes = len(the_report.moves), the_report.result.probes
    budget = math.log2(moved) + 2
    print(f"GOOD's image, first after the cache was {'kept' if args.no_prune else 'emptied'}: {cold:.1f} s")
    print(f"{'build':>5} {'seconds':>8} {'x cold':>8} {'moves applied':>14}")
    for number, built in enumerate(builds, 1):
        print(f"{number:>5} {built.seconds:8.1f} {built.seconds / cold:7.2f}x {built.applied:>14}")
    warm = max((b.seconds for b in builds), default=float("nan"))
    found_right = the_report.result.culprits == (PACKAGE,)
    print(f"\nculprit {'found' if found_right else 'NOT found'}: {', '.join(the_report.result.culprits) or 'none'}; "
          f"{moved} moves, {len(builds)} image builds for {probes} probes (target <= log2(n) + 2 = {budget:.1f}), "
          f"{seconds:.0f} s; the slowest rebuild {warm / cold:.2f}x the cold build "
          f"({'cold' if not args.no_prune else 'NOT cold: --no-prune'}; target <= {TARGETS['warm rebuild']:.2f}x)")
    figures = [Figure("moves", str(moved), ">= 20"), Figure("image builds", str(len(builds)), f"<= {budget:.1f}"),
               Figure("culprit found", "yes" if found_right else "no", "yes"),
               Figure("wall time", f"{seconds:.0f} s"), Figure("cold build", f"{cold:.1f} s"),
               Figure("slowest warm rebuild / cold", f"{warm / cold:.2f}x", f"<= {TARGETS['warm rebuild']:.2f}x")]
    report("bisect_bench", f"{found.release.version}, Python {found.python}, {found.platform.value}, broken "
           f"{PACKAGE} {found.broken}, {'no prune' if args.no_prune else 'cold first build'}, {date.today()}",
           figures, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
