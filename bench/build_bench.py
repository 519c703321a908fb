"""Build benchmark: prints figures, asserts nothing. Run: `.venv/bin/python bench/build_bench.py`.

For the default release's default Python -base image, per platform:
- cold: BuildKit's cache emptied (`docker builder prune`; base images stay in the registry),
- warm: the same build again with nothing changed,
- one pin: a copy of the repository with one provider pin moved (locked and rendered
  before the clock starts), and which build steps ran again rather than came from cache,
- pull: of the one-pin image's compressed layers, the share a host that has the committed
  image fetches (both pushed to the local registry's bench repository),
- same layers: the layers (by digest) of a second cold build of the same commit that the first
  one's has too (reproducible layers),
- the image size and its physical floor: the Python base image (minimal Debian + Python)
  plus the installed virtual environment.

The engine is shared: `--no-prune` skips emptying the cache (then "cold" is not cold).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import bench_registry, mb, pushed_layers, size  # noqa: E402
from recorded import Figure, add_record_argument, report  # noqa: E402

from runtime_builder import contract  # noqa: E402
from runtime_builder.generate import render  # noqa: E402
from runtime_builder.generate.specs import ImageSpec  # noqa: E402
from runtime_builder.images.bootstrap import BaseImage  # noqa: E402
from runtime_builder.images.builder import BuildOptions, build, log_path  # noqa: E402
from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.lock.locks import cells, write_locks  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402
from runtime_builder.matrix.model import Platform, Variant  # noqa: E402
from runtime_builder.publish import pull  # noqa: E402

TARGETS = {"one pin": 0.35, "pull": 0.15, "arm64": 1.10}


def timed_build(root: Path, spec: ImageSpec, engine: Engine, options: BuildOptions) -> tuple[float, Path]:
    matrix = load_matrix(root / "versions.yaml")
    release = matrix.release(str(spec.release.version))
    spec = ImageSpec(release, spec.python, spec.variant, spec.platform)
    started = time.monotonic()
    build(matrix, root, [spec], engine, options)
    seconds = time.monotonic() - started
    reference = spec.reference(options.repository)
    log = log_path(root, reference)
    return seconds, log


def steps_run(log: Path) -> tuple[list[str], int]:
    """(Dockerfile steps that ran, steps taken from cache) in a BuildKit plain-progress log.

    Only the Dockerfile's own steps count (`[builder 3/5] RUN ...`), not BuildKit's internal
    ones (loading the definition, metadata, context), nor FROM.
    """
    text = log.read_text()
    names = {number: name for number, name in re.findall(r"^#(\d+) \[([^\]]+)\] (?!FROM)", text, re.MULTILINE)
             if name != "internal"}
    cached = set(re.findall(r"^#(\d+) CACHED", text, re.MULTILINE))
    ran = sorted(names[n] for n in names if n not in cached)
    return ran, len(names) - len(ran)


def bump_one_pin(root: Path, version: str) -> str:
    """Move one provider pin of `version`'s line one patch down (an older patch surely exists):
    the first provider, in the order of `packages`, pinned at a patch above 0 and written once
    (a line-level pin).

    The line-level pin moves, so every release of the line that inherits it moves together
    and the versioning policy still holds (no release goes back on a pin).
    """
    text = (root / "versions.yaml").read_text()
    release = load_matrix(root / "versions.yaml").release(version)
    for name, pinned in release.packages:
        major, minor, patch = (int(p) for p in pinned.split("."))
        written = f'{name}: "{pinned}"'
        if patch > 0 and text.count(written) == 1:
            new = f"{major}.{minor}.{patch - 1}"
            (root / "versions.yaml").write_text(text.replace(written, f'{name}: "{new}"'))
            load_matrix(root / "versions.yaml")  # still valid
            return f"{name} {pinned} -> {new}"
    raise SystemExit(f"Runtime {version} pins no package whose patch can move down on its line alone")


def venv_size(engine: Engine, ref: str, platform: str) -> int:
    done = engine.oneshot(ref, ["-sb", contract.VENV], platform=platform, entrypoint="du")
    if done.returncode != 0:
        raise SystemExit(f"du in {ref} failed: {done.stderr.strip()}")
    return int(done.stdout.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", action="append", help="default: linux/amd64 and linux/arm64")
    parser.add_argument("--no-prune", action="store_true")
    add_record_argument(parser)
    parser.add_argument("--version", help="the release (default: the default release)")
    args = parser.parse_args()
    platforms = [Platform.parse(p) for p in args.platform or ("linux/amd64", "linux/arm64")]
    require(arm64=Platform.ARM64 in platforms)
    engine = Engine.detect()
    matrix = load_matrix(ROOT / "versions.yaml")
    release = matrix.release(args.version) if args.version else matrix.default_release()
    registry = bench_registry()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-", dir=ROOT / "build") as tmp, \
            for_build(ROOT / "build" / "secrets") as secrets:
        options = BuildOptions(secrets=secrets)
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", "build", ".git", "__pycache__"))
        change = bump_one_pin(copy, str(release.version))
        moved = load_matrix(copy / "versions.yaml")
        write_locks(moved, copy, cells(moved, (str(release.version),), (release.python,), tuple(platforms)))
        render.write(copy, render.repository_tree(copy, moved))
        for platform in platforms:
            spec = ImageSpec(release, release.python, Variant.BASE, platform)
            if not args.no_prune:
                engine.prune_build_cache()
            cold, _ = timed_build(ROOT, spec, engine, options)
            ref = spec.reference(options.repository)
            first = pushed_layers(engine, registry, ref, f"cold-{platform.arch}")
            warm, _ = timed_build(ROOT, spec, engine, options)
            pin, pin_log = timed_build(copy, spec, engine, options)
            ran, cached = steps_run(pin_log)
            # What a host with the committed image fetches for the one-pin image (a provider moved).
            moved_layers = pushed_layers(engine, registry, ref, f"one-pin-{platform.arch}")
            python_base = BaseImage(options.registry, release.suite.name, release.python).platform_ref(platform.value)
            floor = size(engine, python_base) + venv_size(engine, ref, platform.value)
            # The one-pin build tagged the same reference; rebuild the committed one (cached).
            timed_build(ROOT, spec, engine, options)
            layers = pushed_layers(engine, registry, ref, f"committed-{platform.arch}")
            fetched = pull.fetched(layers, moved_layers)
            # Reproducible layers: the same commit built again from an emptied cache.
            again = first
            if not args.no_prune:
                engine.prune_build_cache()
                timed_build(ROOT, spec, engine, options)
                again = pushed_layers(engine, registry, ref, f"cold-again-{platform.arch}")
            same = [digest for digest in again if digest in first]
            results.append((platform, cold, warm, pin, ran, cached, size(engine, ref), floor,
                            fetched / sum(moved_layers.values()), f"{len(same)} of {len(again)}"))
            print(f"one-pin rebuild on {platform.value} ran: {', '.join(ran)}; cached: {cached} steps")
    print(f"\nRuntime {release.version}, Python {release.python}, -base image; one pin: {change}\n")
    print(f"{'platform':<12} {'cold':>7} {'warm':>7} {'warm/cold':>9} {'one pin':>8} {'pin/cold':>8} "
          f"{'steps rerun':>12} {'pull':>5} {'size':>8} {'floor':>8} {'size/floor':>10} {'same layers':>12}")
    for platform, cold, warm, pin, ran, cached, image, floor, share, same in results:
        print(f"{platform.value:<12} {cold:6.1f}s {warm:6.1f}s {warm / cold:8.1%} {pin:7.1f}s {pin / cold:7.2f}x "
              f"{len(ran):>5} of {len(ran) + cached:<4} {share:5.0%} {mb(image):>8} {mb(floor):>8} "
              f"{image / floor:9.2f}x {same:>12}")
    print(f"\ntargets (issue 17): one pin <= {TARGETS['one pin']:.2f}x cold; pull (the compressed bytes a host "
          f"with the committed image fetches for the one-pin image) <= {TARGETS['pull']:.0%}")
    if len(results) == 2:
        amd, arm = results
        print(f"arm64 / amd64: cold {arm[1] / amd[1]:.2f}x (target <= {TARGETS['arm64']:.2f}x), "
              f"warm {arm[2] / amd[2]:.2f}x")
    figures = []
    for platform, cold, _warm, pin, _ran, _cached, _image, _floor, share, same in results:
        figures += [Figure(f"{platform.value} cold", f"{cold:.1f} s"),
                    Figure(f"{platform.value} one pin / cold", f"{pin / cold:.2f}x", f"<= {TARGETS['one pin']:.2f}x"),
                    Figure(f"{platform.value} pull after one pin", f"{share:.0%}", f"<= {TARGETS['pull']:.0%}"),
                    Figure(f"{platform.value} same layers", same)]
    if len(results) == 2:
        figures.append(Figure("arm64 / amd64 cold", f"{results[1][1] / results[0][1]:.2f}x",
                              f"<= {TARGETS['arm64']:.2f}x"))
    report("build_bench", f"{release.version}, Python {release.python}, -base, {date.today()}", figures, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
