"""Strips the shared libraries a venv's wheels ship, in a builder stage (the `stripped-libraries`
image change), and brings the RECORD of each distribution up to date.

Many wheels ship their extension modules and bundled libraries with symbol tables and debug
information (uvloop's 16 MB module is 1.8 MB without them); nothing loads those at run time.
`strip --strip-unneeded` removes them and keeps what the dynamic linker and Python need (the
dynamic symbol table), as Debian's dh_strip does for the shared libraries it packages. A
distribution's RECORD then holds each stripped file's new hash and size, so the venv still
describes itself exactly. Standard library only: it runs with the builder's Python, before the
venv's packages could be imported (and for a foreign architecture, they cannot be).

    python strip_libraries.py --tool aarch64-linux-gnu-strip [--library-path DIR] SITE_PACKAGES
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$")  # foo.so, foo.cpython-313-x86_64-linux-gnu.so, libssl.so.3
BATCH = 200  # files per strip run


def shared_objects(site: Path) -> list[Path]:
    """Every ELF shared library under `site` (regular files, not links), in a stable order."""
    found = []
    for path in sorted(site.rglob("*")):
        if SHARED_OBJECT.search(path.name) and path.is_file() and not path.is_symlink():
            with path.open("rb") as file:
                if file.read(4) == ELF_MAGIC:
                    found.append(path)
    return found


def record_hash(data: bytes) -> str:
    """A RECORD hash (PEP 376 / the wheel spec): urlsafe base64 of the sha256, unpadded."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rehash(site: Path, changed: set[str]) -> set[str]:
    """Rewrite the RECORD rows of `changed` (paths relative to `site`) with their files' hash and
    size now; the paths no RECORD lists."""
    unlisted = set(changed)
    for record in sorted(site.glob("*.dist-info/RECORD")):
        rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
        if not any(row and row[0] in changed for row in rows):
            continue
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in rows:
            if row and row[0] in changed:
                data = (site / row[0]).read_bytes()
                row = [row[0], record_hash(data), str(len(data))]
                unlisted.discard(row[0])
            if row:
                writer.writerow(row)
        record.write_text(out.getvalue(), encoding="utf-8")
    return unlisted


def strip(site: Path, tool: str, library_path: str | None = None) -> tuple[int, int, int]:
    """Strip every shared library under `site` with `tool` and update the RECORDs: (files
    changed, bytes before, bytes after)."""
    files = shared_objects(site)
    before = {path: path.read_bytes() for path in files}
    env = dict(os.environ, LD_LIBRARY_PATH=library_path) if library_path else None
    for start in range(0, len(files), BATCH):
        subprocess.run([tool, "--strip-unneeded", *map(str, files[start:start + BATCH])], check=True, env=env)
    changed = {path.relative_to(site).as_posix() for path in files if path.read_bytes() != before[path]}
    unlisted = rehash(site, changed)
    if unlisted:
        raise SystemExit(f"stripped files no RECORD lists: {', '.join(sorted(unlisted))}")
    return len(changed), sum(map(len, before.values())), sum(path.stat().st_size for path in files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True, help="the strip program for the venv's architecture")
    parser.add_argument("--library-path", help="LD_LIBRARY_PATH for the tool (mounted from another stage)")
    parser.add_argument("site", type=Path, help="the venv's site-packages")
    args = parser.parse_args(argv)
    count, before, after = strip(args.site, args.tool, args.library_path)
    print(f"stripped {count} shared libraries: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
