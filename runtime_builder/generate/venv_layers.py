"""The virtual environment in layers (the `layered-venv` image change): which locked packages
each image layer installs. Pure.

One install of ~180 packages is one ~450 MB layer: moving any pin rebuilds, recompiles and
re-exports all of it, and every patch release makes users download it again. Split by how
often a part changes, each part is installed by its own builder stage from its own lock file
(an unchanged part is a cache hit and the same layer), and the final stage copies the parts
into the image's one venv (contract.VENV), most stable first:

1. `dependencies`: what Airflow and a LocalExecutor deployment need from outside Airflow
   (the third-party packages of the slim lock; every third-party package where a release has
   no slim images). Moves when a lock refresh moves one of them.
2. `airflow`: Airflow itself (`apache-airflow`, `-core`, `-task-sdk`) and its backports.
   Moves with Airflow's version or a backport.
3. `provider-dependencies`: the third-party packages only the other providers need (the
   Kubernetes client, Celery, OpenLineage's client...).
4. `providers`: the `apache-airflow-providers-*` packages and the in-house packages. A
   provider's patch version moves this small layer only.
5. `moved`: in a `build.py bisect` probe's image only (never a release's), the packages the
   bisection moves, out of their usual layers: each probe then rebuilds this small layer over the
   same four below it, not the layer of a moved dependency (Airflow's own distributions stay in
   `airflow`, where its patches apply).

The parts are disjoint and together exactly the lock; the image tests check the installed
environment against the whole lock as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from packaging.utils import canonicalize_name

from ..lock.resolver import pins


class Layer(Enum):
    DEPENDENCIES = "dependencies"
    AIRFLOW = "airflow"
    PROVIDER_DEPENDENCIES = "provider-dependencies"
    PROVIDERS = "providers"
    MOVED = "moved"

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]


_SUMMARIES = {
    Layer.DEPENDENCIES: "the third-party packages Airflow and a LocalExecutor deployment need (the slim image's)",
    Layer.AIRFLOW: "Airflow itself (apache-airflow, -core, -task-sdk) and its backports",
    Layer.PROVIDER_DEPENDENCIES: "the third-party packages only the other providers need",
    Layer.PROVIDERS: "the apache-airflow-providers-* packages and the in-house packages",
    Layer.MOVED: "the packages a bisection moves (its probe images only)",
}

PROVIDER_PREFIX = "apache-airflow-providers-"
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)


def is_provider(name: str) -> bool:
    return canonicalize_name(name).startswith(PROVIDER_PREFIX)


def is_airflow(name: str) -> bool:
    """Airflow's own distributions: apache-airflow and its parts, not its providers."""
    name = canonicalize_name(name)
    return (name == "apache-airflow" or name.startswith("apache-airflow-")) and not is_provider(name)


def layer_of(name: str, core: Collection[str] | None, moved: Collection[str] = ()) -> Layer:
    """The layer of package `name`; `core`: the canonical names of the slim lock (None: no slim lock);
    `moved`: the canonical names a bisection moves (Layer.MOVED)."""
    if canonicalize_name(name) in moved and not is_airflow(name):
        return Layer.MOVED
    if is_provider(name):
        return Layer.PROVIDERS
    if is_airflow(name):
        return Layer.AIRFLOW
    if core is None or canonicalize_name(name) in core:
        return Layer.DEPENDENCIES
    return Layer.PROVIDER_DEPENDENCIES


def entries(text: str) -> list[tuple[str, str]]:
    """(canonical name, its text: the `name==version` line and its `--hash` lines) of each entry of a lock."""
    starts = [(match.start(), canonicalize_name(match["name"])) for match in _ENTRY.finditer(text)]
    found = []
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        block = text[start:end]
        found.append((name, "\n".join(line for line in block.splitlines() if not line.startswith("#")).strip() + "\n"))
    return found


@dataclass(frozen=True)
class Split:
    """A lock in layers: each non-empty layer's lock text, in install order."""

    parts: Mapping[Layer, str]

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(self.parts)


# The layers a release's slim and full images both have, from the same lock parts: the full image
# copies them first, so they are the same image layers in both (an engine reuses a layer only
# on the same layers below it).
SHARED = (Layer.DEPENDENCIES, Layer.AIRFLOW)


@dataclass(frozen=True)
class Copy:
    """One copy of the final stage from a venv stage: its layer's files, or its byte-code."""

    layer: Layer
    bytecode: bool


def copies(layers: Sequence[Layer], *, bytecode: bool, apart: bool) -> tuple[Copy, ...]:
    """What the final stage copies from the venv stages, in order; `layers` in install order.

    `apart`: each layer's byte-code comes from a stage of its own, apart from its other files
    (slim-no-bytecode); `bytecode`: the image ships it (a slim image does not). Without `apart`
    each layer is copied once, its byte-code in it. With it, the shared layers' files come first
    (the same layers in a slim image), then their byte-code, then each other layer's files
    followed by its byte-code, so a provider's patch release still moves only the last layers.
    """
    if not apart:
        return tuple(Copy(layer, False) for layer in layers)
    shared = [layer for layer in layers if layer in SHARED]
    found = [Copy(layer, False) for layer in shared]
    found += [Copy(layer, True) for layer in shared if bytecode]
    for layer in layers:
        if layer not in SHARED:
            found += [Copy(layer, False)] + ([Copy(layer, True)] if bytecode else [])
    return tuple(found)


def split(text: str, core_lock: str | None, header: Callable[[Layer], str], moved: Collection[str] = ()) -> Split:
    """`text` (a lock) in layers, each part's text `header(layer)` followed by its entries in the
    lock's order; `core_lock`: the slim lock of the same cell, or None; `moved`: the names of a
    bisection's moves (a probe's image), else nothing. Layers with no package are left out.

    A part's text depends only on its own packages and its header: the slim image's and the full
    image's `dependencies` parts are the same file, so both builds share that layer."""
    core = set(pins(core_lock)) if core_lock is not None else None
    moving = {canonicalize_name(name) for name in moved}
    grouped: dict[Layer, list[str]] = {layer: [] for layer in Layer}
    for name, entry in entries(text):
        grouped[layer_of(name, core, moving)].append(entry)
    return Split({layer: header(layer) + "".join(found) for layer, found in grouped.items() if found})
