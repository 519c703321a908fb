"""Patch-upgrade pull benchmark: prints figures, asserts nothing.
Run: `.venv/bin/python bench/upgrade_pull_bench.py [14.0.2-to-14.0.4 ...] [--platform linux/amd64]`.

For consecutive releases of a line (default: every released pair of the default release's line
whose images build here), the compressed bytes a host that has release N's `-base` image must
fetch to run release N+1's: each image is built, pushed to a throwaway repository of the local
registry, and its manifest read back; the bytes are those of N+1's layers whose digests N's
manifest does not list (what a registry client skips). Targets (issue 17): at most 30% of the
image's compressed size when Airflow's version is unchanged, at most 15% when only a provider
moved.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import bench_registry, pushed_layers  # noqa: E402
from recorded import Figure, add_record_argument, report  # noqa: E402

from runtime_builder.generate.specs import ImageSpec  # noqa: E402
from runtime_builder.images.builder import BuildOptions, build  # noqa: E402
from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402
from runtime_builder.matrix.model import Channel, Matrix, Platform, Release, Variant  # noqa: E402
from runtime_builder.publish import pull  # noqa: E402
from runtime_builder.publish.registry import Registry  # noqa: E402


def pairs_of(matrix: Matrix, asked: list[str]) -> list[tuple[Release, Release]]:
    if asked:
        found = []
        for text in asked:
            source, _, target = text.partition("-to-")
            found.append((matrix.release(source), matrix.release(target)))
        return found
    line = [r for r in matrix.line(matrix.default_release().line)
            if r.channel is not Channel.NIGHTLY and not r.is_yanked]
    return list(pairwise(line))


def layers(engine: Engine, registry: Registry, matrix: Matrix, release: Release, platform: Platform,
           options: BuildOptions) -> dict[str, int]:
    """Build `release`'s default-Python -base image, push it to the bench repository; its layers."""
    spec = ImageSpec(release, release.python, Variant.BASE, platform)
    build(matrix, ROOT, [spec], engine, options)
    return pushed_layers(engine, registry, spec.reference(options.repository), f"{spec.label}-{platform.arch}")


def kind(source: Release, target: Release) -> str:
    if source.airflow != target.airflow:
        return "Airflow moved"
    moved = [name for name, version in target.packages if source.package_version(name) != version]
    return f"providers moved ({len(moved)})" if moved else "unpinned moved"


def goal(source: Release, target: Release, what: str) -> str:
    """Issue 17's targets are for patch upgrades with Airflow unchanged."""
    if source.version.minor_line != target.version.minor_line:
        return "- (a minor)"
    if what == "Airflow moved":
        return "-"
    return "<= 15%" if what.startswith("providers") else "<= 30%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="*", help="A-to-B, e.g. 14.0.2-to-14.0.4 (default: the default line)")
    parser.add_argument("--platform", default="linux/amd64")
    add_record_argument(parser)
    args = parser.parse_args()
    platform = Platform.parse(args.platform)
    require(arm64=platform is Platform.ARM64)
    registry = bench_registry()
    engine = Engine.detect()
    matrix = load_matrix(ROOT / "versions.yaml")
    rows = []
    with for_build(ROOT / "build" / "secrets") as secrets:
        options = BuildOptions(secrets=secrets)
        cache: dict[Release, dict[str, int]] = {}
        for source, target in pairs_of(matrix, args.pairs):
            for release in (source, target):
                if release not in cache:
                    cache[release] = layers(engine, registry, matrix, release, platform, options)
            old, new = cache[source], cache[target]
            fetched = pull.fetched(old, new)
            rows.append((source, target, kind(source, target), sum(new.values()), fetched, len(new),
                         sum(1 for digest in new if digest not in old)))
    print(f"\n-base images, default Python, {platform.value}: bytes a host with the first image fetches "
          "for the second\n")
    print(f"{'upgrade':<20} {'what moved':<20} {'image (compressed)':>18} {'fetched':>9} {'share':>6} "
          f"{'layers new':>10}  target")
    for source, target, what, total, fetched, count, new_layers in rows:
        print(f"{f'{source.version} -> {target.version}':<20} {what:<20} {total / 1e6:15.0f} MB "
              f"{fetched / 1e6:6.0f} MB {fetched / total:6.0%} {new_layers:>4} of {count:<4}  "
              f"{goal(source, target, what)}")
    figures = [Figure(f"{source.version} -> {target.version}", f"{fetched / total:.0%}", goal(source, target, what))
               for source, target, what, total, fetched, _count, _new in rows]
    lines = ", ".join(str(line) for line in sorted({source.version.major for source, *_ in rows}))
    report("upgrade_pull_bench", f"line {lines}, -base, default Python, {platform.value}, {date.today()}",
           figures, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
