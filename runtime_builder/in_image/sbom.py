"""What an image holds, for its software bill of materials, collected from inside the image.

This file is not imported by the builder: after each image is built, the builder pipes it into
a container of that image,

    docker run --rm -i --entrypoint python IMAGE - < sbom.py

and reads the one JSON document it prints: every Debian package dpkg records as installed,
every distribution of the image's virtual environment (name, version, license where its
metadata states one) and the operating system's identity. `runtime_builder.images.sbom` makes
the CycloneDX document from it, adding what the image cannot know (the lock file's hashes).
Standard library only; it must run on every Python the matrix ships, and quickly under QEMU.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig

DPKG_STATUS = "/var/lib/dpkg/status"


def _paragraphs(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs: field -> value (continuation lines joined)."""
    found, current, key = [], {}, ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                found.append(current)
            current, key = {}, ""
        elif line[0] in " \t":
            if key:
                current[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        found.append(current)
    return found


def debian_packages(status: str = DPKG_STATUS) -> list[dict]:
    """Every package dpkg records as installed: name, version, architecture, source package."""
    try:
        with open(status, encoding="utf-8", errors="replace") as handle:
            paragraphs = _paragraphs(handle.read())
    except OSError:
        return []
    return sorted(({"name": p["Package"], "version": p.get("Version", ""), "arch": p.get("Architecture", ""),
                    "source": p.get("Source", "").split(" ")[0]}
                   for p in paragraphs if p.get("Status", "").endswith(" installed")),
                  key=lambda package: package["name"])


def _metadata(path: str) -> dict[str, list[str]]:
    """A METADATA file's header fields, repeated ones as lists."""
    fields: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break
                if line[0] not in " \t":
                    key, _, value = line.partition(":")
                    fields.setdefault(key.strip().lower(), []).append(value.strip())
    except OSError:
        pass
    return fields


def license_of(fields: dict[str, list[str]]) -> dict | None:
    """The license as the metadata states it: an SPDX expression, a short license name, or a trove
    classifier's; None when it says nothing usable (a whole license text is not a name)."""
    if fields.get("license-expression"):
        return {"expression": fields["license-expression"][0]}
    text = (fields.get("license") or [""])[0]
    if text and len(text) <= 80 and text.upper() != "UNKNOWN":
        return {"name": text}
    troves = [c.rsplit("::", 1)[-1].strip() for c in fields.get("classifier", []) if c.startswith("License ::")]
    troves = [name for name in troves if name and name != "OSI Approved"]
    return {"name": troves[0]} if troves else None


def python_distributions(site_packages: str | None = None) -> list[dict]:
    """Every distribution of the environment: name, version, license (None when unstated)."""
    root = site_packages or sysconfig.get_paths()["purelib"]
    found = []
    for entry in sorted(os.listdir(root)):
        if entry.endswith(".dist-info"):
            fields = _metadata(os.path.join(root, entry, "METADATA"))
            if fields.get("name"):
                found.append({"name": fields["name"][0], "version": (fields.get("version") or [""])[0],
                              "license": license_of(fields)})
    return found


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            pairs = [line.partition("=") for line in handle.read().splitlines() if "=" in line]
    except OSError:
        return {}
    return {key: value.strip('"') for key, _, value in pairs}


def main() -> int:
    print(json.dumps({"python": python_distributions(), "debian": debian_packages(), "os": os_release()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
