"""The SBOM of an image: CycloneDX 1.6 that CycloneDX's own schema accepts, every Python distribution
and Debian package with what the lock knows of it, and the same bytes for the same image."""

from __future__ import annotations

import json
import subprocess
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from runtime_builder.images import sbom
from runtime_builder.in_image import sbom as collector

LOCK = """\
# Lock of Runtime 14.0.4 for Python 3.13 on linux/amd64.
apache-airflow-core==3.3.2 \\
    --hash=sha256:{a} \\
    --hash=sha256:{b}
Celery==5.6.3 \\
    --hash=sha256:{c}
""".format(a="a" * 64, b="b" * 64, c="c" * 64)
FACTS = {
    "python": [{"name": "apache-airflow-core", "version": "3.3.2+runtime.14.0.4",
                "license": {"expression": "Apache-2.0"}},
               {"name": "celery", "version": "5.6.3", "license": {"name": "BSD-3-Clause"}},
               {"name": "airflow-runtime-plugin", "version": "1.0.0", "license": None}],
    "debian": [{"name": "tini", "version": "0.19.0-1+b3", "arch": "amd64", "source": ""},
               {"name": "libc6", "version": "2.41-12", "arch": "amd64", "source": "glibc"}],
    "os": {"VERSION_ID": "13"},
}
IMAGE = {"name": "airflow-runtime:14.0.4-python-3.13-base-amd64", "version": "14.0.4", "python": "3.13",
         "platform": "linux/amd64"}
CREATED = "2026-11-30T11:00:00+00:00"


def validate(document: dict) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert error is None, error


def test_the_document_is_valid_cyclonedx_and_names_everything():
    document = sbom.document(FACTS, LOCK, IMAGE, CREATED)
    validate(document)
    by_purl = {c["purl"]: c for c in document["components"]}
    core = by_purl["pkg:pypi/apache-airflow-core@3.3.2+runtime.14.0.4"]
    assert [h["content"] for h in core["hashes"]] == ["a" * 64, "b" * 64]
    assert core["licenses"] == [{"expression": "Apache-2.0"}]
    assert by_purl["pkg:pypi/celery@5.6.3"]["hashes"] == [{"alg": "SHA-256", "content": "c" * 64}]
    assert "hashes" not in by_purl["pkg:pypi/airflow-runtime-plugin@1.0.0"]  # built from inhouse/, not locked
    libc = by_purl["pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13"]
    assert libc["properties"] == [{"name": "airflow-runtime:debian-source", "value": "glibc"}]
    assert document["metadata"]["component"]["name"] == IMAGE["name"]
    assert {"name": "airflow-runtime:platform", "value": "linux/amd64"} in document["metadata"]["component"][
        "properties"]


def test_the_same_image_gives_the_same_bytes():
    first = sbom.dumps(sbom.document(FACTS, LOCK, IMAGE, CREATED))
    assert first == sbom.dumps(sbom.document(FACTS, LOCK, IMAGE, CREATED))
    other = sbom.document({**FACTS, "debian": FACTS["debian"][:1]}, LOCK, IMAGE, CREATED)
    assert json.loads(first)["serialNumber"] != other["serialNumber"]


def test_the_collector_reads_a_real_environment_and_dpkg():
    """The in-image collector, run by a Python as the builder runs it (script on stdin, no arguments)."""
    result = subprocess.run([sys.executable, "-"], input=sbom.COLLECTOR.read_text(), capture_output=True,
                            text=True, check=True)
    facts = json.loads(result.stdout)
    names = {dist["name"].lower() for dist in facts["python"]}
    assert {"jinja2", "pyyaml", "packaging"} <= names  # this venv's own distributions
    assert any(package["name"] == "dpkg" for package in facts["debian"])  # the host is Debian
    validate(sbom.document(facts, "", IMAGE, CREATED))


def test_license_statements():
    assert collector.license_of({"license-expression": ["MIT"]}) == {"expression": "MIT"}
    assert collector.license_of({"license": ["BSD"]}) == {"name": "BSD"}
    assert collector.license_of({"license": ["x" * 200], "classifier": [
        "License :: OSI Approved :: Apache Software License"]}) == {"name": "Apache Software License"}
    assert collector.license_of({"license": ["UNKNOWN"]}) is None
