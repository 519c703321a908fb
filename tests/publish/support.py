"""What the publish tests share: `build.py` run as a user runs it (under its own local repository
name, since other work on the shared engine rebuilds `airflow-runtime:*` at any time), the tags it
says an image gets, and the platform images a registry's lists name."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from runtime_builder.matrix.model import Variant
from runtime_builder.publish.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
LOCAL_REPOSITORY = "airflow-runtime-e2e"
REPOSITORY = "airflow-runtime"
HOOK = Path(__file__).resolve().parent / "image_check.py"


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "build.py", "--repository", LOCAL_REPOSITORY, *argv], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    print(f"$ build.py {' '.join(argv)} -> exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def tags_of(version: str, python: str, variants: Iterable[Variant]) -> dict[str, Variant]:
    """tag -> variant of the images of `version` and `python`, from `build.py tags` (the only place
    tags are computed)."""
    found = {}
    for variant in variants:
        out = run("tags", version, "--python", python, "--variant", variant.value)
        assert out.returncode == 0, out.stderr
        found |= {line.split("\t")[0].rsplit(":", 1)[1]: variant for line in out.stdout.splitlines()}
    return found


def platform_images(remote: Registry, tags: Iterable[str]) -> set[str]:
    """The digests of the platform images the manifest lists under `tags` name."""
    return {entry["digest"] for tag in tags for entry in remote.manifest(tag).json()["manifests"]}
