"""The builder's strip of a venv's shared libraries (runtime_builder/in_image/strip.py): which files
it strips, and each distribution's RECORD brought up to date. A stand-in strip program here; the
image tests check real images (tests/image/test_shared_libraries.py)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

from runtime_builder.contract import Change
from runtime_builder.generate import render
from runtime_builder.in_image import strip

from .support import REPO_ROOT

ELF = b"\x7fELF" + b"\x02\x01\x01" + bytes(9)
SYMBOLS = b"<symbol table>" * 100


def record(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site-packages with a distribution whose extension module and bundled library carry
    symbols, a file named like a library that is not ELF, and a link to the library."""
    site = tmp_path / "site-packages"
    (site / "fast").mkdir(parents=True)
    (site / "fast.libs").mkdir()
    files = {"fast/__init__.py": b"from ._speed import go\n",
             "fast/_speed.cpython-313-x86_64-linux-gnu.so": ELF + b"code" + SYMBOLS,
             "fast.libs/libz-1a2b.so.1.3": ELF + b"zlib" + SYMBOLS,
             "fast/not-elf.so": b"INPUT(libc.so.6)\n"}  # a linker script: not an ELF file
    for name, data in files.items():
        (site / name).write_bytes(data)
    (site / "fast.libs" / "libz.so").symlink_to("libz-1a2b.so.1.3")
    info = site / "fast-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: fast\nVersion: 1.0\n")
    rows = [[name, strip.record_hash(data), str(len(data))] for name, data in files.items()]
    (info / "RECORD").write_text(record([*rows, ["fast-1.0.dist-info/RECORD", "", ""]]))
    return site


def stand_in(tmp_path: Path) -> str:
    """A strip program: `--strip-unneeded FILE...` drops everything after the code of each file."""
    tool = tmp_path / "strip"
    tool.write_text(f"#!{sys.executable}\n"
                    "import sys\n"
                    "assert sys.argv[1] == '--strip-unneeded', sys.argv\n"
                    "for name in sys.argv[2:]:\n"
                    "    data = open(name, 'rb').read()\n"
                    f"    open(name, 'wb').write(data.split({SYMBOLS[:14]!r})[0])\n")
    tool.chmod(0o755)
    return str(tool)


def test_only_elf_shared_libraries_are_stripped(site: Path) -> None:
    assert {path.relative_to(site).as_posix() for path in strip.shared_objects(site)} == {
        "fast.libs/libz-1a2b.so.1.3", "fast/_speed.cpython-313-x86_64-linux-gnu.so"}


def test_stripping_updates_the_record_with_the_new_hashes_and_sizes(site: Path, tmp_path: Path) -> None:
    count, before, after = strip.strip(site, stand_in(tmp_path))
    assert count == 2 and after == before - 2 * len(SYMBOLS)
    rows = {row[0]: row for row in csv.reader(io.StringIO((site / "fast-1.0.dist-info" / "RECORD").read_text()))}
    for name in ("fast/_speed.cpython-313-x86_64-linux-gnu.so", "fast.libs/libz-1a2b.so.1.3"):
        data = (site / name).read_bytes()
        assert SYMBOLS not in data
        assert rows[name][1:] == [strip.record_hash(data), str(len(data))]
    assert rows["fast/not-elf.so"][2] == str(len(b"INPUT(libc.so.6)\n"))  # untouched
    assert rows["fast-1.0.dist-info/RECORD"] == ["fast-1.0.dist-info/RECORD", "", ""]


def test_a_stripped_file_no_record_lists_fails_naming_it(site: Path, tmp_path: Path) -> None:
    (site / "stray.so").write_bytes(ELF + b"code" + SYMBOLS)
    with pytest.raises(SystemExit, match=r"stripped files no RECORD lists: stray\.so"):
        strip.strip(site, stand_in(tmp_path))


def test_a_failing_strip_program_fails_the_build(site: Path, tmp_path: Path) -> None:
    tool = tmp_path / "false"
    tool.write_text("#!/bin/sh\nexit 3\n")
    tool.chmod(0o755)
    with pytest.raises(Exception, match="exit status 3"):
        strip.strip(site, str(tool))


def test_every_context_of_a_release_with_the_change_holds_the_script() -> None:
    from runtime_builder.matrix.load import load_matrix

    matrix = load_matrix(REPO_ROOT / "versions.yaml")
    for release in matrix.releases:
        for python in release.pythons:
            for variant in release.variants:
                folder = REPO_ROOT / "distributions" / str(release.version) / f"python-{python}" / variant.value
                held = (folder / render.STRIPPER_NAME).exists()
                assert held == (variant.is_base and release.has(Change.STRIPPED_LIBRARIES)), folder
