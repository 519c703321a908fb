"""An SBOM for every image built: CycloneDX 1.6 JSON, generated right after the build.

What is in the image is read from inside it (`in_image/sbom.py`: dpkg's installed packages, the
virtual environment's distributions and their licenses); what only the lock knows is added here
(the sha256 of each distribution's files it allows). The document is deterministic: the same
image and lock give the same bytes (its time is the image's creation time, its serial number
derived from its content), so a rebuild does not make a new SBOM.

`build` writes it beside the build record (`build/sbom/`), the image tests check it against the
running container, and `publish` attaches it to the pushed image in the registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from ..errors import BuilderError
from ..lock.resolver import PIN
from .engine import Engine

SPEC = "1.6"
MEDIA_TYPE = "application/vnd.cyclonedx+json"
COLLECTOR = Path(__file__).resolve().parents[1] / "in_image" / "sbom.py"
NAMESPACE = uuid.UUID("6f1c1c39-4d3e-4b59-9a53-3e6c3c0e2a71")  # serial numbers are uuid5 of the content
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_hashes(text: str) -> dict[str, list[str]]:
    """Canonical name -> the sha256 hashes a hash-pinned lock allows for its files."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        pin = PIN.match(line)
        if pin:
            current = canonical(pin.group(1))
            found.setdefault(current, [])
        if current:
            found[current] += HASH.findall(line)
    return found


def document(facts: Mapping, lock_text: str, image: Mapping[str, str], created: str) -> dict:
    """The CycloneDX document of one image. Pure.

    `facts`: what the collector printed; `image`: its name (reference), version and the
    properties to record (release, Python, platform, base); `created`: its creation time.
    """
    hashes = lock_hashes(lock_text)
    components = []
    for dist in facts["python"]:
        purl = f"pkg:pypi/{canonical(dist['name'])}@{dist['version']}"
        component = {"type": "library", "bom-ref": purl, "name": dist["name"], "version": dist["version"],
                     "purl": purl}
        if dist.get("license"):
            license_ = dist["license"]
            component["licenses"] = [license_ if "expression" in license_ else {"license": license_}]
        if hashes.get(canonical(dist["name"])):
            component["hashes"] = [{"alg": "SHA-256", "content": digest} for digest in hashes[canonical(dist["name"])]]
        components.append(component)
    distro = (facts.get("os") or {}).get("VERSION_ID", "")
    for package in facts["debian"]:
        purl = f"pkg:deb/debian/{package['name']}@{package['version']}?arch={package['arch']}"
        purl += f"&distro=debian-{distro}" if distro else ""
        component = {"type": "library", "bom-ref": purl, "name": package["name"], "version": package["version"],
                     "purl": purl}
        if package.get("source"):
            component["properties"] = [{"name": "airflow-runtime:debian-source", "value": package["source"]}]
        components.append(component)
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC,
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": [{"type": "application", "name": "airflow-runtime-builder"}]},
            "component": {"type": "container", "bom-ref": image["name"], "name": image["name"],
                          "version": image["version"],
                          "properties": [{"name": f"airflow-runtime:{key}", "value": value}
                                         for key, value in sorted(image.items()) if key not in ("name", "version")]},
        },
        "components": components,
    }
    content = json.dumps(bom, sort_keys=True).encode()
    bom["serialNumber"] = f"urn:uuid:{uuid.uuid5(NAMESPACE, hashlib.sha256(content).hexdigest())}"
    return bom


def collect(engine: Engine, reference: str, platform: str) -> dict:
    """What the image holds, read from inside a container of it (its own Python, no network)."""
    result = engine.oneshot(reference, ["-"], platform=platform, entrypoint="python", input=COLLECTOR.read_text(),
                            network="none")
    if result.returncode != 0:
        raise BuilderError(f"the SBOM of {reference} could not be collected:\n{result.stderr[-2000:]}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as error:
        raise BuilderError(f"the SBOM collector in {reference} printed no JSON: {result.stdout[-1000:]}") from error


def dumps(bom: Mapping) -> str:
    return json.dumps(bom, indent=1, sort_keys=True) + "\n"
