"""Shared libraries (the `stripped-libraries` image change): no shared library of the venv keeps a
symbol table or debug information, and each one's RECORD row holds its hash and size as
installed. Images released before the change keep what they were published with; the test
says so and skips."""

from __future__ import annotations

import json

import pytest

from runtime_builder import contract

from .support import Docker, Prober, Target

pytestmark = pytest.mark.image

# Run by the image's Python (standard library only): every ELF shared library under
# site-packages, the names of its sections (from the ELF section headers), and whether its
# RECORD row matches it.
SCRIPT = r'''
import base64, csv, hashlib, json, os, re, struct, sysconfig
site = sysconfig.get_paths()["purelib"]

def sections(data):
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
        size, count, names_at = struct.unpack_from(order + "HHH", data, 0x3A)
        header = lambda i: struct.unpack_from(order + "IIQQQQ", data, shoff + i * size)
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 0x20)
        size, count, names_at = struct.unpack_from(order + "HHH", data, 0x2E)
        header = lambda i: struct.unpack_from(order + "IIIIII", data, shoff + i * size)
    table = header(names_at)[4]
    return [data[table + header(i)[0]:data.index(b"\0", table + header(i)[0])].decode() for i in range(count)]

records = {}
for entry in os.listdir(site):
    if entry.endswith(".dist-info") and os.path.isfile(os.path.join(site, entry, "RECORD")):
        with open(os.path.join(site, entry, "RECORD"), newline="") as file:
            records.update({row[0]: row for row in csv.reader(file) if row})
found = {"libraries": 0, "with_symbols": [], "record_mismatch": []}
for folder, _, files in os.walk(site):
    for name in files:
        path = os.path.join(folder, name)
        if not re.search(r"\.so(\.[0-9.]+)?$", name) or os.path.islink(path):
            continue
        with open(path, "rb") as file:
            data = file.read()
        if data[:4] != b"\x7fELF":
            continue
        found["libraries"] += 1
        relative = os.path.relpath(path, site)
        kept = [s for s in sections(data) if s == ".symtab" or s.startswith(".debug")]
        if kept:
            found["with_symbols"].append(f"{relative}: {', '.join(kept)}")
        digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if records.get(relative, [None, None, None])[1:3] != [digest, str(len(data))]:
            found["record_mismatch"].append(relative)
print(json.dumps(found))
'''


def test_shared_libraries_are_stripped_and_recorded(target: Target, docker: Docker, prober: Prober) -> None:
    if contract.Change.STRIPPED_LIBRARIES.value not in target.expected.changes:
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.STRIPPED_LIBRARIES.value}; released images do not change")
    result = prober.once(target, "shared-libraries", lambda image: docker.oneshot(
        image.ref, image.platform, "python", "-c", SCRIPT, timeout=600))
    assert result.returncode == 0, result.output[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["libraries"] > 10, f"only {found['libraries']} shared libraries found in the venv"
    assert not found["with_symbols"], "shared libraries with symbols or debug information:\n" + \
        "\n".join(found["with_symbols"][:20])
    assert not found["record_mismatch"], "shared libraries whose RECORD row does not match them:\n" + \
        "\n".join(found["record_mismatch"][:20])
