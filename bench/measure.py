"""What the benchmarks measure images with (imported by the bench/ scripts, which run with this
folder first on sys.path): sizes from the engine, compressed layers from a registry."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime_builder.images.engine import Engine  # noqa: E402
from runtime_builder.images.host import require  # noqa: E402
from runtime_builder.layout import LOCAL_REGISTRY  # noqa: E402
from runtime_builder.publish.registry import Registry, Target  # noqa: E402

BENCH_REPOSITORY = "airflow-runtime-bench"  # a throwaway repository of the local registry


def size(engine: Engine, ref: str) -> int:
    """The image's size as the engine reports it (uncompressed bytes); pulled first when the engine
    does not have it (a base image builds use by digest is not kept under its tag)."""
    return engine.image_size(ref)


def bench_registry() -> Registry:
    """The bench repository of the local registry (started if it is not running)."""
    require()
    return Registry(Target.parse(f"{LOCAL_REGISTRY}/{BENCH_REPOSITORY}", BENCH_REPOSITORY))


def pushed_layers(engine: Engine, registry: Registry, ref: str, tag: str) -> dict[str, int]:
    """Push `ref` to `registry` under `tag`; its layers' digests and compressed sizes, from the manifest."""
    remote = registry.target.ref(tag)
    engine.tag(ref, remote)
    try:
        engine.push(remote)
    finally:
        engine.remove_image(remote)
    manifest = registry.manifest(tag)
    assert manifest is not None, f"{remote} was pushed but the registry does not have it"
    return {layer["digest"]: int(layer["size"]) for layer in manifest.json()["layers"]}


def mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"
