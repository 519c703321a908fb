"""The CA bundle and package index a build should use, taken from the host's own clients.

Builds reach PyPI the way pip on this host does: the same CA bundle (for an intercepting
proxy) and the same index URL (for a private mirror), handed to BuildKit as secrets so
neither is ever stored in a layer. Nothing here names an index host: without any
configuration, no `indexurl` secret is passed and the clients in the build use their
defaults.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError

CA_ENV = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "UV_CA_BUNDLE")
INDEX_ENV = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL")
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CACERT_SECRET = "cacert"  # noqa: S105 - the secrets' ids, as the templates' RUN --mount=type=secret lines name them
INDEX_URL_SECRET = "indexurl"  # noqa: S105


def _pip_config(key: str) -> str | None:
    result = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                            capture_output=True, text=True, check=False)
    value = result.stdout.strip()
    return value if result.returncode == 0 and value else None


def host_cacert(explicit: Path | None = None) -> Path | None:
    """The CA bundle: --cacert, then the clients' env and pip config, then the system bundle."""
    candidates = [explicit] if explicit else []
    candidates += [Path(os.environ[name]) for name in CA_ENV if os.environ.get(name)]
    configured = _pip_config("global.cert")
    if configured:
        candidates.append(Path(configured))
    candidates.append(SYSTEM_BUNDLE)
    for path in candidates:
        if path.is_file():
            return path
    if explicit:
        raise UsageError(f"--cacert {explicit}: no such file")
    return None


def host_index_url(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    for name in INDEX_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return _pip_config("global.index-url")


def build_secrets(workdir: Path, cacert: Path | None, index_url: str | None) -> dict[str, Path]:
    """The `--secret` files: `cacert` and `indexurl`, each only when there is one.

    The index URL may carry credentials: its file is created readable by its owner only (never
    world-readable, not even for a moment), in `workdir`.
    """
    secrets: dict[str, Path] = {}
    if cacert:
        secrets[CACERT_SECRET] = cacert
    if index_url:
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = workdir / INDEX_URL_SECRET
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(index_url)
        secrets[INDEX_URL_SECRET] = path
    return secrets


@contextmanager
def for_build(workdir: Path, cacert: Path | None = None, index_url: str | None = None,
              enabled: bool = True) -> Iterator[dict[str, Path]]:
    """The secrets a build on this host passes (the host's, or the explicit ones; none if disabled),
    in a private folder made under `workdir` for this build and removed when it ends."""
    if not enabled:
        yield {}
        return
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="build-", dir=workdir))  # mode 0700
    try:
        yield build_secrets(folder, host_cacert(cacert), host_index_url(index_url))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
