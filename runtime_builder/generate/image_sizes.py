"""What the images of a release measured: size on disk and compressed pull size, per (release,
Python, variant, platform), recorded in `evidence/image-sizes.json` (`layout.IMAGE_SIZES`) by
`bench/slim_bench.py` and shown by docs/performance.md (bench/report.py).

Like the upgrade results, these are facts of a real build, not of the matrix: the report reads the
file, never measures; an image not measured shows as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuilderError
from ..matrix.model import Matrix, Variant
from . import recorded


@dataclass(frozen=True)
class Size:
    version: str
    python: str
    variant: str  # Variant.value
    platform: str  # Platform.value
    size: int  # bytes, as `docker image inspect` reports (uncompressed)
    pull: int  # bytes of compressed layers a pull fetches (from the pushed manifest)
    measured_on: str  # YYYY-MM-DD

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.version, self.python, self.variant, self.platform)


def load(path: Path) -> list[Size]:
    """The sizes recorded in `path`; a file that is not what `record` writes is refused, naming it."""
    found = recorded.read(path, "sizes", Size, "an image sizes file")
    bad = [s for s in found if not isinstance(s.size, int) or not isinstance(s.pull, int) or s.size <= 0]
    if bad:
        raise BuilderError(f"{path}: {bad[0].key}: sizes must be positive integers of bytes")
    return found


def record(path: Path, sizes: Iterable[Size]) -> Path:
    """Merge `sizes` into `path`, one entry per image, the newest wins; written atomically."""
    return recorded.merge(path, "sizes", load(path), sizes, lambda s: s.key)


def rows(matrix: Matrix, sizes: Sequence[Size]) -> list[dict]:
    """The reference table: every measured image of a release in the matrix, with its full
    counterpart's share for slim ones. Pure."""
    known = {str(r.version) for r in matrix.releases}
    by_key = {s.key: s for s in sizes if s.version in known}
    found = []
    for size in sorted(by_key.values(), key=lambda s: (s.version, s.python, s.platform, s.variant)):
        variant = Variant(size.variant)
        full = by_key.get((size.version, size.python, variant.full.value, size.platform)) if variant.is_slim else None
        share = f"{size.size / full.size:.0%} of {variant.full.value}" if full else ""
        found.append({"runtime": size.version, "python": size.python, "variant": size.variant,
                      "platform": size.platform, "size": f"{size.size / 1e6:.0f} MB",
                      "pull": f"{size.pull / 1e6:.0f} MB", "share": share, "measured_on": size.measured_on})
    return sorted(found, key=lambda r: (tuple(-int(p) for p in r["runtime"].split(".")), r["python"],
                                        r["platform"], r["variant"]))
