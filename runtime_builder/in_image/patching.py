"""Backport patches: strict unified diffs applied to an installed package tree.

A Runtime release can carry patches to Airflow (`patches:` in versions.yaml, files under
patches/). `build.py render` copies this module into each such build context as
`apply_patches.py`; the builder stage runs it against the virtual environment's
site-packages after the hash-locked install. It then

- applies every patch in order, strictly: each hunk's context must be found exactly (at its
  line or elsewhere in the file, never fuzzily); nothing is written unless every hunk of
  every patch applies, and the error names the patch, the file and the hunk;
- gives each distribution whose files changed a local version label (3.3.2 becomes
  3.3.2+runtime.14.0.3): METADATA, the .dist-info folder, the package's `__version__`;
- recompiles the byte-code of changed modules, brings RECORD's hashes and sizes up to
  date, and records the applied patches in `<dist-info>/RUNTIME_PATCHES`.

Standard library only and Python 3.9+: it runs with the image's own interpreter. The host
imports the same module to validate patches (`parse`) and to test (`apply_text`).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import py_compile
import re
import shutil
import sys
from dataclasses import dataclass
from importlib.util import cache_from_source
from pathlib import Path

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MARKER = "RUNTIME_PATCHES"
NO_NEWLINE = "\\ No newline at end of file"


class PatchError(Exception):
    """A patch that cannot be read or applied; the message names the patch."""


@dataclass(frozen=True)
class Hunk:
    header: str
    old_start: int
    old: tuple[str, ...]  # lines with their endings, as the file must have them
    new: tuple[str, ...]


@dataclass(frozen=True)
class FilePatch:
    path: str  # relative to the tree the patch applies to (a/ and b/ prefixes removed)
    hunks: tuple[Hunk, ...]
    creates: bool


def _target(line: str, marker: str) -> str:
    path = line[len(marker):].rstrip("\r\n").split("\t")[0].strip()
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path


def parse(text: str, name: str) -> list[FilePatch]:
    """The file changes of a unified diff (`diff -u`, `git diff`). Lines before a file's
    `---` header (a description, `diff --git`, `index`) are ignored."""
    lines = text.splitlines(keepends=True)
    files: list[FilePatch] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        old_path = _target(lines[i], "--- ")
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise PatchError(f"{name}: line {i + 1}: a '--- ' header without its '+++ ' line")
        new_path = _target(lines[i + 1], "+++ ")
        if new_path == "/dev/null":
            raise PatchError(f"{name}: line {i + 2}: deleting a file ({old_path}) is not supported")
        if not new_path or new_path.startswith("/") or ".." in new_path.split("/"):
            raise PatchError(f"{name}: line {i + 2}: {new_path!r} is not a relative path inside the package tree")
        i += 2
        hunks: list[Hunk] = []
        while i < len(lines) and lines[i].startswith("@@"):
            hunk, i = _hunk(lines, i, name, len(hunks) + 1)
            hunks.append(hunk)
        if not hunks:
            raise PatchError(f"{name}: {new_path}: no hunks after its header")
        files.append(FilePatch(new_path, tuple(hunks), old_path == "/dev/null"))
    if not files:
        raise PatchError(f"{name}: no file changes found (is it a unified diff?)")
    return files


def _hunk(lines: list[str], i: int, name: str, number: int) -> tuple[Hunk, int]:
    header = lines[i].rstrip("\r\n")
    match = HUNK.match(header)
    if not match:
        raise PatchError(f"{name}: line {i + 1}: malformed hunk header {header!r}")
    old_start = int(match.group(1))
    old_count = int(match.group(2)) if match.group(2) is not None else 1
    new_count = int(match.group(4)) if match.group(4) is not None else 1
    old: list[str] = []
    new: list[str] = []
    last: list[list[str]] = []  # the side(s) the previous line went to, for "\ No newline"
    i += 1
    while i < len(lines) and (len(old) < old_count or len(new) < new_count or lines[i].startswith("\\")):
        line = lines[i]
        tag, body = line[:1], line[1:]
        if line in ("\n", "\r\n"):  # an editor stripped the space of an empty context line
            tag, body = " ", line
        if tag == " ":
            old.append(body)
            new.append(body)
            last = [old, new]
        elif tag == "-":
            old.append(body)
            last = [old]
        elif tag == "+":
            new.append(body)
            last = [new]
        elif line.rstrip("\r\n") == NO_NEWLINE and last:
            for side in last:
                side[-1] = side[-1].rstrip("\r\n")
        else:
            break
        i += 1
    if len(old) != old_count or len(new) != new_count:
        raise PatchError(f"{name}: hunk #{number} ({header}): its header promises {old_count} old and "
                         f"{new_count} new lines, its body has {len(old)} and {len(new)}")
    return Hunk(header, old_start, tuple(old), tuple(new)), i


def find_block(lines: list[str], block: tuple[str, ...], start: int = 0) -> int | None:
    """The first place at or after `start` where `block` occurs, line for line."""
    return _find(lines, block, start, start)


def _find(lines: list[str], block: tuple[str, ...], start: int, expected: int) -> int | None:
    """Where `block` occurs at or after `start`, the occurrence nearest `expected` first."""
    width = len(block)
    hits = [p for p in range(start, len(lines) - width + 1) if tuple(lines[p:p + width]) == block]
    return min(hits, key=lambda p: (abs(p - expected), p)) if hits else None


def apply_text(text: str, patch: FilePatch, name: str) -> str:
    """The file's text with every hunk applied; PatchError naming the first hunk that does not fit."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    drift = 0  # how far earlier hunks were found from their stated lines
    for number, hunk in enumerate(patch.hunks, 1):
        expected = max(hunk.old_start - 1 + drift, position) if hunk.old else hunk.old_start + drift
        where = _find(lines, hunk.old, position, expected) if hunk.old else min(expected, len(lines))
        if where is None:
            applied = hunk.new and _find(lines, hunk.new, 0, expected) is not None
            reason = ("its result is already in the file: was it applied upstream?" if applied
                      else "its context and removed lines are not in the file")
            raise PatchError(f"{name}: {patch.path}: hunk #{number} ({hunk.header}) does not apply: {reason}")
        drift += where - (hunk.old_start - 1 if hunk.old else hunk.old_start)
        out.extend(lines[position:where])
        out.extend(hunk.new)
        position = where + len(hunk.old)
    out.extend(lines[position:])
    return "".join(out)


# -- the installed tree ---------------------------------------------------------------------------

def _record_rows(dist_info: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO((dist_info / "RECORD").read_text(encoding="utf-8"))))


def owners(site: Path) -> dict[str, Path]:
    """Installed file (relative to site-packages) -> the .dist-info folder whose RECORD lists it."""
    found: dict[str, Path] = {}
    for dist_info in sorted(site.glob("*.dist-info")):
        if (dist_info / "RECORD").is_file():
            for row in _record_rows(dist_info):
                if row:
                    found[row[0]] = dist_info
    return found


def _metadata_version(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(encoding="utf-8").splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
        if not line.strip():
            break
    raise PatchError(f"{dist_info.name}: METADATA has no Version")


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _relabel(site: Path, dist_info: Path, label: str, changed: dict[str, str], applied: list[str]) -> str:
    """Give one distribution its local version and bring its RECORD up to date; its new version."""
    version = _metadata_version(dist_info)
    local = f"{version}+{label}"
    metadata = (dist_info / "METADATA").read_text(encoding="utf-8")
    (dist_info / "METADATA").write_text(metadata.replace(f"Version: {version}\n", f"Version: {local}\n", 1),
                                        encoding="utf-8")
    rows = _record_rows(dist_info)
    for row in rows:  # the package's own __version__, where it states the same release
        if row and row[0].count("/") == 1 and row[0].endswith("/__init__.py"):
            path = site / row[0]
            text = changed.get(row[0], _read(path))
            line = f'__version__ = "{version}"\n'
            if line in text:
                changed[row[0]] = text.replace(line, f'__version__ = "{local}"\n', 1)
                _write(path, changed[row[0]])
                _compile(path)
    (dist_info / MARKER).write_text("".join(f"{name}\n" for name in applied), encoding="utf-8")
    prefix = dist_info.name[:-len(f"-{version}.dist-info")]
    renamed = dist_info.with_name(f"{prefix}-{local}.dist-info")
    old_dir, new_dir = f"{dist_info.name}/", f"{renamed.name}/"
    shutil.move(str(dist_info), str(renamed))  # a copy where a rename crosses file systems (overlayfs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    listed = set()
    for row in rows:
        if not row:
            continue
        path = new_dir + row[0][len(old_dir):] if row[0].startswith(old_dir) else row[0]
        listed.add(path)
        if path.endswith("/RECORD"):
            writer.writerow([path, "", ""])
            continue
        if row[0] in changed or path.startswith(new_dir) or _is_bytecode_of(path, changed):
            data = (site / path).read_bytes()
            row = [path, _hash(data), str(len(data))]
        writer.writerow([path, *row[1:]])
    for path in [*sorted(set(changed) - listed), new_dir + MARKER]:  # created files, the marker
        if path not in listed:
            data = (site / path).read_bytes()
            writer.writerow([path, _hash(data), str(len(data))])
    (renamed / "RECORD").write_text(out.getvalue(), encoding="utf-8")
    return local


def _read(path: Path) -> str:
    """The file's text with its line endings as they are (a patch must match them exactly)."""
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(text)


def _is_bytecode_of(path: str, changed: dict[str, str]) -> bool:
    return path.endswith(".pyc") and any(cache_from_source(source) == path for source in changed)


def _compile(path: Path) -> None:
    if path.suffix == ".py":
        py_compile.compile(str(path), cfile=cache_from_source(str(path)), doraise=True)


def apply_to_tree(site: Path, patches: list[tuple[str, str]], label: str) -> dict[str, str]:
    """Apply (name, text) patches in order to `site`; relabel the owners. {distribution: new version}."""
    files: dict[str, str] = {}  # path -> text after the patches so far
    applied: dict[str, list[str]] = {}  # path -> names of the patches that changed it
    for name, text in patches:
        for patch in parse(text, name):
            target = site / patch.path
            if patch.path not in files:
                if patch.creates:
                    if target.exists():
                        raise PatchError(f"{name}: {patch.path}: the patch creates it, but it exists")
                    files[patch.path] = ""
                elif not target.is_file():
                    raise PatchError(f"{name}: {patch.path}: no such file in {site}")
                else:
                    files[patch.path] = _read(target)
            files[patch.path] = apply_text(files[patch.path], patch, name)
            applied.setdefault(patch.path, []).append(name)
    found = owners(site)
    owning: dict[Path, list[str]] = {}
    for path in files:
        dist_info = found.get(path)
        if dist_info is None and not (site / path).exists():  # a new file belongs to its package's owner
            package_init = path.split("/")[0] + "/__init__.py"
            dist_info = found.get(package_init)
        if dist_info is None:
            raise PatchError(f"{', '.join(applied[path])}: {path}: no installed distribution owns it")
        owning.setdefault(dist_info, []).append(path)
    for dist_info in owning:  # refuse before writing anything
        version = _metadata_version(dist_info)
        if "+" in version:
            raise PatchError(f"{dist_info.name}: already carries a local version ({version}): patched twice?")
    for path, text in files.items():  # every patch applied in memory: now write
        _write(site / path, text)
        _compile(site / path)
    order = [name for name, _ in patches]
    versions = {}
    for dist_info, paths in sorted(owning.items()):
        names = sorted({name for path in paths for name in applied[path]}, key=order.index)
        versions[dist_info.name] = _relabel(site, dist_info, label, {path: files[path] for path in paths}, names)
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply backport patches to an installed site-packages.")
    parser.add_argument("--target", required=True, type=Path, help="the site-packages folder")
    parser.add_argument("--local-label", required=True, help="the local version label, e.g. runtime.14.0.3")
    parser.add_argument("patches", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        texts = [(path.name, _read(path)) for path in args.patches]
        versions = apply_to_tree(args.target, texts, args.local_label)
    except (PatchError, OSError, py_compile.PyCompileError) as error:
        print(f"error: backport patch failed: {error}", file=sys.stderr)
        return 1
    for path in args.patches:
        print(f"applied {path.name}")
    for dist_info, version in versions.items():
        print(f"{dist_info.split('-')[0]} is now {version}")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
