"""What the images of a release measured: size on disk and compressed pull size, per (release,
Python, variant, platform), recorded in `evidence/image-sizes.json` (`layout.IMAGE_SIZES`) by
`bench/slim_bench.py` and shown by the reference tables beside each image's variant.

Like the upgrade results, these are facts of a real build, not of the matrix: render reads the
file, never measures; an image not measured shows as such.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import BuilderError
from ..matrix.model import Matrix


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
    if not path.exists():
        return []
    names = {f.name for f in fields(Size)}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        found = [Size(**{k: v for k, v in entry.items() if k in names}) for entry in document["sizes"]]
    except (ValueError, KeyError, TypeError) as error:
        raise BuilderError(f"{path}: not an image sizes file ({error})") from error
    bad = [s for s in found if not isinstance(s.size, int) or not isinstance(s.pull, int) or s.size <= 0]
    if bad:
        raise BuilderError(f"{path}: {bad[0].key}: sizes must be positive integers of bytes")
    return found


def record(path: Path, sizes: Iterable[Size]) -> Path:
    """Merge `sizes` into `path`, one entry per image, the newest wins; written atomically."""
    entries = {s.key: s for s in load(path)}
    for size in sizes:
        entries[size.key] = size
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"schema": 1, "sizes": [asdict(entries[key]) for key in sorted(entries)]}
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)
    return path


def rows(matrix: Matrix, sizes: Sequence[Size]) -> list[dict]:
    """The reference table: every measured image of a release in the matrix, with its full
    counterpart's share for slim ones. Pure."""
    known = {str(r.version) for r in matrix.releases}
    by_key = {s.key: s for s in sizes if s.version in known}
    found = []
    for size in sorted(by_key.values(), key=lambda s: (s.version, s.python, s.platform, s.variant)):
        full_variant = {"slim-base": "base", "slim": "onbuild"}.get(size.variant)
        full = by_key.get((size.version, size.python, full_variant, size.platform)) if full_variant else None
        share = f"{size.size / full.size:.0%} of {full_variant}" if full else ""
        found.append({"runtime": size.version, "python": size.python, "variant": size.variant,
                      "platform": size.platform, "size": f"{size.size / 1e6:.0f} MB",
                      "pull": f"{size.pull / 1e6:.0f} MB", "share": share, "measured_on": size.measured_on})
    return sorted(found, key=lambda r: (tuple(-int(p) for p in r["runtime"].split(".")), r["python"],
                                        r["platform"], r["variant"]))
