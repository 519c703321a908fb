"""The image test step of the publish end-to-end test: `image_check.py --image REF`.

It runs the real image tests (`build.py test`) on REF, a quick subset by default: the image's
labels, tini as PID 1 of a running container, and a Python probe with `docker run -e`, each on
the image's own platform (arm64 under QEMU), none importing Airflow (that is minutes per arm64
image under emulation; the image-tests stage runs the whole suite on these images, and the end-to-end
test runs `airflow version` in the pulled images). `PUBLISH_E2E_TESTS` is a pytest `-k`
expression, or `all` for the whole suite. `PUBLISH_E2E_FAIL_PLATFORM=linux/arm64`
makes the step fail for images of that platform (read from the image itself), the way a
failing test does: this is how the test shows that a failure leaves every tag in place.
`--labels-only` checks only what the image's labels say it is (the release, Python and kind the
publish is about), for images the image tests have already tested in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICK = "test_labels or test_tini_is_pid_1 or test_docker_run_e_overrides_a_default"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--labels-only", action="store_true")
    args = parser.parse_args()
    ref = args.image
    sys.path.insert(0, str(ROOT))
    from runtime_builder.images.engine import Engine

    inspect = Engine.detect().inspect_image(ref)
    if inspect is None:
        print(f"no image {ref}", file=sys.stderr)
        return 1
    platform = f"{inspect['Os']}/{inspect['Architecture']}"
    if os.environ.get("PUBLISH_E2E_FAIL_PLATFORM") == platform:
        print(f"FAILED (injected by PUBLISH_E2E_FAIL_PLATFORM): image tests of {ref} ({platform})", file=sys.stderr)
        return 1
    if args.labels_only:
        return labels_only(inspect, ref)
    selection = os.environ.get("PUBLISH_E2E_TESTS", QUICK)
    argv = [sys.executable, "build.py", "test", "--image", ref, "--", "-q"]
    if selection != "all":
        argv += ["-k", selection]
    return subprocess.run(argv, cwd=ROOT, check=False).returncode


def labels_only(inspect: dict, ref: str) -> int:
    """0 when the image's labels name a release of versions.yaml, one of its Pythons, and a kind
    of image it has (told apart by the title label, as the image tests tell them apart)."""
    from runtime_builder import contract
    from runtime_builder.matrix.load import load_matrix

    config = inspect.get("Config") or {}
    labels = config.get("Labels") or {}
    release = load_matrix(ROOT / "versions.yaml").release(labels.get("io.airflow-runtime.version", ""))
    onbuild = bool(config.get("OnBuild"))
    titles = {contract.image_title(onbuild=not v.is_base, slim=v.is_slim) for v in release.variants
              if v.is_base != onbuild}
    problems = []
    if labels.get("io.airflow-runtime.python-version") not in release.pythons:
        problems.append(f"python-version label {labels.get('io.airflow-runtime.python-version')!r}")
    if labels.get("org.opencontainers.image.title") not in titles:
        problems.append(f"title {labels.get('org.opencontainers.image.title')!r}, expected one of {sorted(titles)}")
    for problem in problems:
        print(f"{ref}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
