"""Build benchmark: prints figures, asserts nothing. Run: `.venv/bin/python bench/build_bench.py`.

For the default release's default Python -base image, per platform:
- cold: BuildKit's cache emptied (`docker builder prune`; base images stay in the registry),
- warm: the same build again with nothing changed,
- one pin: a copy of the repository with one provider pin moved (locked and rendered
  before the clock starts), and which build steps ran again rather than came from cache,
- the image size and its physical floor: the Python base image (minimal Debian + Python)
  plus the installed virtual environment.

The engine is shared: `--no-prune` skips emptying the cache (then "cold" is not cold).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import mb, size  # noqa: E402

from runtime_builder.generate import render  # noqa: E402
from runtime_builder.generate.specs import ImageSpec  # noqa: E402
from runtime_builder.images.bootstrap import BaseImage  # noqa: E402
from runtime_builder.images.builder import BuildOptions, build, log_path  # noqa: E402
from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import ensure_host  # noqa: E402
from runtime_builder.images.secrets import for_build  # noqa: E402
from runtime_builder.lock.locks import cells, write_locks  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402
from runtime_builder.matrix.model import Platform, Variant  # noqa: E402


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
    """Move one provider pin of `version`'s line one patch down (an older patch surely exists).

    The line-level pin moves, so every release of the line that inherits it moves together
    and the versioning policy still holds (no release goes back on a pin).
    """
    text = (root / "versions.yaml").read_text()
    release = load_matrix(root / "versions.yaml").release(version)
    name, pinned = next((n, v) for n, v in release.packages if n.endswith("-http"))
    major, minor, patch = (int(p) for p in pinned.split("."))
    new = f"{major}.{minor}.{patch - 1}"
    written = f'{name}: "{pinned}"'
    if patch == 0 or text.count(written) != 1:
        raise SystemExit(f"cannot move {written} unambiguously; pick another package in bump_one_pin")
    (root / "versions.yaml").write_text(text.replace(written, f'{name}: "{new}"'))
    load_matrix(root / "versions.yaml")  # still valid
    return f"{name} {pinned} -> {new}"


def venv_size(engine: Engine, ref: str, platform: str) -> int:
    out = subprocess.run([engine.client, "run", "--rm", "--platform", platform, "--entrypoint", "du", ref,
                          "-sb", "/opt/runtime/venv"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", action="append", help="default: linux/amd64 and linux/arm64")
    parser.add_argument("--no-prune", action="store_true")
    args = parser.parse_args()
    platforms = [Platform.parse(p) for p in args.platform or ("linux/amd64", "linux/arm64")]
    ensure_host(arm64=Platform.ARM64 in platforms)
    engine = Engine.detect()
    matrix = load_matrix(ROOT / "versions.yaml")
    release = matrix.default_release()
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
                subprocess.run([engine.client, "builder", "prune", "-af"], capture_output=True, check=True)
            cold, _ = timed_build(ROOT, spec, engine, options)
            warm, _ = timed_build(ROOT, spec, engine, options)
            pin, pin_log = timed_build(copy, spec, engine, options)
            ran, cached = steps_run(pin_log)
            ref = spec.reference(options.repository)
            python_base = BaseImage(options.registry, release.suite.name, release.python).platform_ref(platform.value)
            floor = size(engine, python_base) + venv_size(engine, ref, platform.value)
            # The one-pin build tagged the same reference; rebuild the committed one (cached).
            timed_build(ROOT, spec, engine, options)
            results.append((platform, cold, warm, pin, ran, cached, size(engine, ref), floor))
            print(f"one-pin rebuild on {platform.value} ran: {', '.join(ran)}; cached: {cached} steps")
    print(f"\nRuntime {release.version}, Python {release.python}, -base image; one pin: {change}\n")
    print(f"{'platform':<12} {'cold':>7} {'warm':>7} {'warm/cold':>9} {'one pin':>8} {'steps rerun':>12} "
          f"{'size':>8} {'floor':>8} {'size/floor':>10}")
    for platform, cold, warm, pin, ran, cached, image, floor in results:
        print(f"{platform.value:<12} {cold:6.1f}s {warm:6.1f}s {warm / cold:8.1%} {pin:7.1f}s "
              f"{len(ran):>5} of {len(ran) + cached:<4} {mb(image):>8} {mb(floor):>8} {image / floor:9.2f}x")
    if len(results) == 2:
        amd, arm = results
        print(f"\narm64 / amd64: cold {arm[1] / amd[1]:.2f}x, warm {arm[2] / amd[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
