"""A local package index layered over the real one, for `build.py bisect`'s end-to-end test and
bench (issue 32, item 4): one wheel, a newer version of a small pure-Python dependency of Airflow
whose import fails, served as a PEP 691 simple index.

The host's uv sees it as an extra index beside its own (`UV_EXTRA_INDEX_URL`, with
`UV_INDEX_STRATEGY=unsafe-best-match` so a package's versions from both count): configuration,
as a release engineer's would be. A build sees it as its only index (`--index-url`): the broken
package's page is the real index's page with the local wheel added, every other page a redirect
to the real index. It listens on 127.0.0.1 (the host's resolutions) and, over TLS with a
certificate of its own, on the Docker bridge's gateway (what a build's RUN steps reach; pip in
the builder stage trusts no plain-HTTP index but loopback). The standard library, and
`cryptography` for that certificate.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

JSON = "application/vnd.pypi.simple.v1+json"


def broken_wheel(name: str, version: str, module: str, requires: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """(file name, bytes) of a py3-none-any wheel of `name` `version` whose `module` raises ImportError."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{module}/__init__.py": f"raise ImportError('{name} {version} is a deliberately broken build (a bisect "
                                 "test): nothing of it can be imported')\n",
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\n" f"Name: {name}\nVersion: {version}\n"
                                      + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: bisect-test\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(text.encode())},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, text in files.items():
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            wheel.writestr(info, text)
    return f"{dist}-py3-none-any.whl", buffer.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@dataclass
class LocalIndex:
    """The served index: the host's URL, the builds' URL (HTTPS: pip refuses a plain-HTTP index on
    any host but loopback), the CA bundle a build trusts it with, and the host uv's environment."""

    host_url: str
    build_url: str
    cacert: Path  # the host's bundle and the index's own certificate
    # Versions of the served project the index marks yanked (PEP 592), by version: the reason.
    yanked: dict[str, str] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, str]:
        return {"UV_EXTRA_INDEX_URL": self.host_url, "UV_INDEX_STRATEGY": "unsafe-best-match"}


def bridge_gateway(client: str = "docker") -> str:
    """The Docker bridge's gateway address: where a build's RUN steps reach the host. An engine that
    does not record it (IPAM's config with a subnet only) gives the bridge its subnet's first address."""
    found = subprocess.run([client, "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],
                           capture_output=True, text=True, check=True)
    for config in json.loads(found.stdout) or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
        if config.get("Subnet"):
            return str(ipaddress.ip_network(config["Subnet"]).network_address + 1)
    raise RuntimeError(f"the Docker bridge network has no gateway or subnet: {found.stdout.strip()}")


@contextmanager
def serve(upstream: str, name: str, filename: str, wheel: bytes, uploaded: str, gateway: str,
          cacert: Path | None = None) -> Iterator[LocalIndex]:
    """The index of one extra wheel over `upstream` (a simple index URL), until the block ends."""
    project = canonicalize_name(name)
    sha256 = hashlib.sha256(wheel).hexdigest()
    yanked: dict[str, str] = {}
    context = ssl.create_default_context(cafile=str(cacert) if cacert else None)
    upstream = upstream.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = [part for part in self.path.split("?")[0].split("/") if part]
            if parts == ["files", filename]:
                return self._send(200, "application/octet-stream", wheel)
            if len(parts) == 2 and parts[0] == "simple" and canonicalize_name(parts[1]) == project:
                page = self._upstream_page()
                scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
                base = f"{scheme}://{self.headers['Host']}"
                page["files"].append({"filename": filename, "url": f"{base}/files/{filename}",
                                      "hashes": {"sha256": sha256}, "upload-time": uploaded})
                page.setdefault("versions", []).append(filename.split("-")[1])
                for entry in page["files"]:
                    if _version_of(entry["filename"]) in yanked:
                        entry["yanked"] = yanked[_version_of(entry["filename"])]
                return self._send(200, JSON, json.dumps(page).encode())
            if len(parts) == 2 and parts[0] == "simple":
                self.send_response(302)
                self.send_header("Location", f"{upstream}/{parts[1]}/")
                self.end_headers()
                return None
            return self._send(404, "text/plain", b"not here\n")

        def do_HEAD(self) -> None:  # uv asks before it downloads
            self.head_only = True
            self.do_GET()

        def _upstream_page(self) -> dict:
            request = urllib.request.Request(f"{upstream}/{project}/", headers={"Accept": JSON})
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return json.loads(response.read())

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not getattr(self, "head_only", False):
                self.wfile.write(body)

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler)]
    servers.append(ThreadingHTTPServer((gateway, 0), Handler))
    authority, certificate, key = _self_signed(gateway)
    folder = Path(tempfile.mkdtemp(prefix="bisect-index-"))
    (folder / "cert.pem").write_bytes(certificate)
    (folder / "key.pem").write_bytes(key)
    (folder / "bundle.pem").write_bytes((cacert.read_bytes() if cacert else b"") + b"\n" + authority)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    servers[1].socket = tls.wrap_socket(servers[1].socket, server_side=True)
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        yield LocalIndex(f"http://127.0.0.1:{servers[0].server_address[1]}/simple",
                         f"https://{gateway}:{servers[1].server_address[1]}/simple", folder / "bundle.pem", yanked)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        shutil.rmtree(folder, ignore_errors=True)


def _version_of(filename: str) -> str:
    """The version of a distribution file's name (a wheel or an sdist), or "" for another name."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidSdistFilename, InvalidWheelFilename):
        return ""


def _self_signed(address: str) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server key), PEM, valid for a day: a CA of its own signs
    the certificate of the IP address `address` (rustls, in uv, refuses a CA as the server's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject: str, public: ec.EllipticCurvePublicKey, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("bisect test CA"))
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    return (certificate("bisect test CA", ca_key.public_key(), True).public_bytes(pem),
            certificate("bisect test index", key.public_key(), False).public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
