"""The image test step of the publish end-to-end test: `image_check.py --image REF`.

It runs the real image tests (`build.py test`) on REF, a quick subset by default since the
whole suite takes many minutes per arm64 image under emulation; `PUBLISH_E2E_TESTS` is a
pytest `-k` expression, or `all` for the whole suite. `PUBLISH_E2E_FAIL_PLATFORM=linux/arm64`
makes the step fail for images of that platform (read from the image itself), the way a
failing test does: this is how the test shows that a failure leaves every tag in place.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICK = "test_airflow_version or test_python_version_and_machine or test_labels"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    ref = parser.parse_args().image
    sys.path.insert(0, str(ROOT))
    from runtime_builder.images.engine import Engine

    client = Engine.detect().client
    inspect = subprocess.run([client, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref],
                             capture_output=True, text=True, check=True)
    platform = inspect.stdout.strip()
    if os.environ.get("PUBLISH_E2E_FAIL_PLATFORM") == platform:
        print(f"FAILED (injected by PUBLISH_E2E_FAIL_PLATFORM): image tests of {ref} ({platform})", file=sys.stderr)
        return 1
    selection = os.environ.get("PUBLISH_E2E_TESTS", QUICK)
    argv = [sys.executable, "build.py", "test", "--image", ref, "--", "-q"]
    if selection != "all":
        argv += ["-k", selection]
    return subprocess.run(argv, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
