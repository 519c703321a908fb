"""Slim benchmark: prints figures, asserts nothing. Run: `.venv/bin/python bench/slim_bench.py`.

For the default release's default Python (`--version V`: another release's), per platform, the
full `-base` image beside the `-slim-base` one:
- cold build: BuildKit's cache emptied (`docker builder prune -af`) before each build, the
  base images in the local registry as always;
- size: what `docker image inspect` reports (uncompressed), and the floor both share: the
  Python base image (minimal Debian + Python + tini);
- pull: the compressed bytes a pull fetches, read from the image manifest after a push to the
  local registry (a throwaway repository), and what a host that already has the full image
  still fetches for the slim one (its layers not shared with the full image).

Targets (issue 14): slim size at most 60% of the full size, slim cold build at most 70%.
The sizes are recorded in evidence/image-sizes.json, which the reference tables show (run
`python build.py render` after it). The engine is shared: `--no-prune` skips emptying the
cache (then "cold" is not cold).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import bench_registry, mb, pushed_layers, size  # noqa: E402
from recorded import Figure, add_record_argument, report  # noqa: E402

from runtime_builder import layout  # noqa: E402
from runtime_builder.generate import image_sizes  # noqa: E402
from runtime_builder.generate.specs import ImageSpec  # noqa: E402
from runtime_builder.images.bootstrap import BaseImage  # noqa: E402
from runtime_builder.images.builder import BuildOptions, build  # noqa: E402
from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402
from runtime_builder.matrix.model import Matrix, Platform, Variant  # noqa: E402

TARGETS = {"size": 0.60, "build": 0.70}  # issue 14: slim / full


def cold_build(matrix: Matrix, spec: ImageSpec, engine: Engine, options: BuildOptions, prune: bool) -> float:
    if prune:
        engine.prune_build_cache()
    started = time.monotonic()
    build(matrix, ROOT, [spec], engine, options)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", action="append", help="default: linux/amd64 and linux/arm64")
    parser.add_argument("--no-prune", action="store_true")
    parser.add_argument("--version", help="a Runtime version with slim images (default: the default release)")
    add_record_argument(parser)
    args = parser.parse_args()
    platforms = [Platform.parse(p) for p in args.platform or ("linux/amd64", "linux/arm64")]
    require(arm64=Platform.ARM64 in platforms)
    registry = bench_registry()
    engine = Engine.detect()
    matrix = load_matrix(ROOT / "versions.yaml")
    release = matrix.release(args.version) if args.version else matrix.default_release()
    if not release.has_slim:
        raise SystemExit(f"Runtime {release.version} has no slim images")
    rows = []
    with for_build(ROOT / "build" / "secrets") as secrets:
        options = BuildOptions(secrets=secrets)
        for platform in platforms:
            figures = {}
            for variant in (Variant.BASE, Variant.SLIM_BASE):
                spec = ImageSpec(release, release.python, variant, platform)
                seconds = cold_build(matrix, spec, engine, options, not args.no_prune)
                ref = spec.reference(options.repository)
                layers = pushed_layers(engine, registry, ref, f"{spec.label}-{platform.arch}")
                figures[variant] = (seconds, size(engine, ref), layers)
                print(f"{spec.name}: cold build {seconds:.1f}s, {mb(size(engine, ref))}, "
                      f"pull {mb(sum(layers.values()))} in {len(layers)} layers")
            python_base = BaseImage(options.registry, release.suite.name, release.python).platform_ref(platform.value)
            rows.append((platform, figures, size(engine, python_base)))
    print(f"\nRuntime {release.version}, Python {release.python}: -base against -slim-base; slim keeps "
          f"{', '.join(name for name, _ in release.slim_packages)}\n")
    print(f"{'platform':<12} {'build full':>10} {'build slim':>10} {'slim/full':>9} {'size full':>9} "
          f"{'size slim':>9} {'slim/full':>9} {'floor':>7} {'pull full':>9} {'pull slim':>9} {'slim/full':>9} "
          f"{'slim after full':>15}")
    for platform, figures, floor in rows:
        (build_full, size_full, full_layers), (build_slim, size_slim, slim_layers) = (
            figures[Variant.BASE], figures[Variant.SLIM_BASE])
        pull_full, pull_slim = sum(full_layers.values()), sum(slim_layers.values())
        after_full = sum(n for digest, n in slim_layers.items() if digest not in full_layers)
        print(f"{platform.value:<12} {build_full:9.1f}s {build_slim:9.1f}s {build_slim / build_full:8.0%} "
              f"{mb(size_full):>9} {mb(size_slim):>9} {size_slim / size_full:8.0%} {mb(floor):>7} "
              f"{mb(pull_full):>9} {mb(pull_slim):>9} {pull_slim / pull_full:8.0%} {mb(after_full):>15}")
    print(f"\ntargets: slim size <= {TARGETS['size']:.0%} of full, slim cold build <= {TARGETS['build']:.0%} of full")
    today = datetime.date.today().isoformat()
    figures = []
    for platform, found, _floor in rows:
        (build_full, size_full, _), (build_slim, size_slim, _) = found[Variant.BASE], found[Variant.SLIM_BASE]
        figures += [Figure(f"{platform.value} slim / full build", f"{build_slim / build_full:.0%}",
                           f"<= {TARGETS['build']:.0%}"),
                    Figure(f"{platform.value} slim / full size", f"{size_slim / size_full:.0%}",
                           f"<= {TARGETS['size']:.0%}")]
    report("slim_bench", f"{release.version}, Python {release.python}, {today}", figures, args.record)
    recorded = [image_sizes.Size(str(release.version), release.python, variant.value, platform.value,
                                 figures[variant][1], sum(figures[variant][2].values()), today)
                for platform, figures, _ in rows for variant in figures]
    print(f"recorded in {image_sizes.record(ROOT / layout.IMAGE_SIZES, recorded).relative_to(ROOT)}: "
          "`python build.py render` puts the sizes into the reference tables (render --check fails until then)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
