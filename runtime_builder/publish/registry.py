"""One thin adapter over a registry's v2 HTTP API: read and copy manifests, list tags.

Publishing moves tags by copying a manifest list's bytes from one tag to another, so no
image is ever pulled to move a tag. The same code talks to the plain-HTTP registry on the
build host's loopback and to an HTTPS registry such as quay.io: HTTP is used for loopback
addresses only (`layout.is_loopback`). Credentials come from the environment
(``REGISTRY_TOKEN``, or ``REGISTRY_USERNAME`` with ``REGISTRY_PASSWORD``; a client made with
another ``credentials`` prefix, such as the staging repository's, reads ``<prefix>_TOKEN`` and so
on instead, never these); registries that answer 401 with a ``Bearer`` challenge get a token
from their realm, as the docker client does.

Where credentials may go, since a leaked password or token can push to the repository:

- The ``Authorization`` header (basic credentials or a token) goes to the registry's own
  origin (scheme, host and port) only. Registries redirect blob downloads to CDN and object
  store hosts; a redirect to another origin is followed without it, a same-origin one keeps it.
- Only a 401 from the registry's origin is answered: a host it redirected to could otherwise
  name a token realm of its choosing and be sent the basic credentials.
- Basic credentials go to a token realm only over HTTPS, or to a loopback realm (nothing
  leaves the host); a plain-HTTP realm elsewhere is refused with `RegistryError`, never sent
  them (an anonymous token request there is allowed: it carries nothing to leak). A realm
  that is not an http(s) URL is refused. Redirects from the realm obey the origin rule
  above, for the realm's origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPMessage, HTTPResponse
from typing import IO

from .. import faults
from ..errors import RegistryError
from ..layout import is_loopback

TIMEOUT = 60
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LIST_TYPES = (MANIFEST_LIST, OCI_INDEX)
EMPTY_CONFIG = b"{}"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
ACCEPT = ", ".join((MANIFEST_LIST, OCI_INDEX, MANIFEST_V2, OCI_MANIFEST))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes: its digest is the sha256 of these bytes, so never re-encode."""

    media_type: str
    body: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_TYPES

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def descriptor(self) -> Descriptor:
        """What a manifest that refers to this one (a signature, an SBOM) says of it."""
        return Descriptor(self.media_type, self.digest, len(self.body))


@dataclass(frozen=True)
class Descriptor:
    """What a manifest that refers to another says of it (OCI's descriptor)."""

    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Target:
    """``host[:port]/repository``, e.g. ``127.0.0.1:5000/airflow-runtime`` or ``quay.io/org/runtime``."""

    host: str
    repository: str

    @classmethod
    def parse(cls, text: str, default_repository: str) -> Target:
        host, _, repository = text.strip("/").partition("/")
        if not host or ("." not in host and ":" not in host and host != "localhost"):
            raise ValueError(f"--registry {text!r}: expected a registry host such as 127.0.0.1:5000 or quay.io, "
                             "optionally followed by /repository")
        return cls(host, repository or default_repository)

    @property
    def secure(self) -> bool:
        """HTTPS everywhere except loopback, where the build host's registry speaks plain HTTP."""
        return not is_loopback(self.host)

    def ref(self, tag_or_digest: str) -> str:
        separator = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{self.repository}{separator}{tag_or_digest}"

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}"


@dataclass
class Registry:
    target: Target
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    credentials: str = "REGISTRY"  # the environment's <credentials>_TOKEN, _USERNAME, _PASSWORD are this client's
    _authorization: str | None = None  # the Authorization header, once a challenge was answered

    @property
    def base(self) -> str:
        scheme = "https" if self.target.secure else "http"
        return f"{scheme}://{self.target.host}/v2/{self.target.repository}"

    # -- reads ----------------------------------------------------------------------------

    def digest(self, reference: str) -> str | None:
        """The digest a tag (or digest) resolves to, or None when the registry has none."""
        response = self._request("HEAD", f"/manifests/{reference}", headers={"Accept": ACCEPT}, missing_ok=True)
        if response is None:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        manifest = self.manifest(reference)  # some registries omit the header on HEAD
        return manifest.digest if manifest else None

    def manifest(self, reference: str) -> Manifest | None:
        response = self._request("GET", f"/manifests/{reference}", headers={"Accept": ACCEPT}, missing_ok=True)
        if response is None:
            return None
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        manifest = Manifest(media_type, response.body)
        if reference.startswith("sha256:") and manifest.digest != reference:
            raise RegistryError(f"{self.target.ref(reference)}: the registry sent a manifest of {manifest.digest}")
        return manifest

    def tags(self) -> list[str]:
        """Every tag of the repository (following the API's pagination); [] for a new repository."""
        found: list[str] = []
        path = "/tags/list?n=1000"
        while path:
            response = self._request("GET", path, missing_ok=True)
            if response is None:
                return found
            found += json.loads(response.body).get("tags") or []
            path = _next_page(response.headers.get("Link", ""), self.target.repository)
        return found

    def blob(self, digest: str) -> bytes:
        response = self._request("GET", f"/blobs/{digest}")
        assert response is not None
        if "sha256:" + hashlib.sha256(response.body).hexdigest() != digest:
            raise RegistryError(f"{self.target.ref(digest)}: the registry sent a blob of another digest")
        return response.body

    def has_blob(self, digest: str) -> bool:
        return self._request("HEAD", f"/blobs/{digest}", missing_ok=True) is not None

    def read_blob(self, digest: str, consume: Callable[[IO[bytes]], object]) -> None:
        """Hand the blob to ``consume`` as a stream: an image layer is not read into memory."""
        self._request("GET", f"/blobs/{digest}", stream=consume)

    # -- writes ---------------------------------------------------------------------------

    def put_manifest(self, reference: str, manifest: Manifest) -> str:
        """Store ``manifest`` under a tag (or its digest) and return the digest the registry reports."""
        return self._put_manifest(reference, manifest)[0]

    def _put_manifest(self, reference: str, manifest: Manifest) -> tuple[str, dict[str, str]]:
        response = self._request("PUT", f"/manifests/{reference}", body=manifest.body,
                                 headers={"Content-Type": manifest.media_type})
        assert response is not None
        headers = {name.lower(): value for name, value in response.headers.items()}
        stored = headers.get("docker-content-digest") or manifest.digest
        if stored != manifest.digest:
            raise RegistryError(f"{self.target.ref(reference)}: the registry stored {stored}, "
                                f"expected {manifest.digest}")
        return stored, headers

    def put_blob(self, data: bytes) -> str:
        """Upload ``data`` as a blob (monolithic upload) unless the registry has it; return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest):
            self.upload_blob(digest, data, len(data))
        return digest

    def upload_blob(self, digest: str, data: bytes | IO[bytes], size: int) -> None:
        """Upload ``size`` bytes (or a stream of them) in one request; the registry refuses them unless
        they hash to ``digest``."""
        started = self._request("POST", "/blobs/uploads/", body=b"")
        assert started is not None
        location = started.headers.get("Location") or started.headers.get("location")
        if not location:
            raise RegistryError(f"{self.target}: the registry started an upload without a Location")
        url = urllib.parse.urlsplit(location)
        path = url.path.removeprefix(f"/v2/{self.target.repository}")
        query = (url.query + "&" if url.query else "") + urllib.parse.urlencode({"digest": digest})
        self._request("PUT", f"{path}?{query}", body=data,
                      headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})

    def mount_blob(self, digest: str, repository: str) -> bool:
        """Mount a blob from another repository of this registry, nothing transferred; False when the
        registry would not (no read access there, or no such blob): then it must be uploaded."""
        query = urllib.parse.urlencode({"mount": digest, "from": repository})
        answer = self._request("POST", f"/blobs/uploads/?{query}", body=b"")
        return answer is not None and answer.status == 201  # 202: an upload session instead, left to expire

    def put_artifact(self, tag: str, data: bytes, *, artifact_type: str, media_type: str, title: str) -> str:
        """Store one file as an OCI artifact under ``tag`` (what `oras pull` fetches); return its digest."""
        return self.put_manifest(tag, self.prepare_artifact(data, artifact_type=artifact_type, media_type=media_type,
                                                            title=title))

    def prepare_artifact(self, data: bytes, *, artifact_type: str, media_type: str, title: str) -> Manifest:
        """The manifest of a one-file artifact, its blobs pushed, for a caller to `put_manifest` when it chooses."""
        document = self._artifact(data, artifact_type=artifact_type, media_type=media_type, title=title)
        return Manifest(OCI_MANIFEST, json.dumps(document, indent=2).encode())

    def _artifact(self, data: bytes, *, artifact_type: str, media_type: str, title: str) -> dict:
        """An OCI artifact manifest of one file (its blobs pushed first): an empty config, one layer."""
        empty = self.put_blob(EMPTY_CONFIG)
        layer = self.put_blob(data)
        return {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty, "size": len(EMPTY_CONFIG)},
            "layers": [{"mediaType": media_type, "digest": layer, "size": len(data),
                        "annotations": {"org.opencontainers.image.title": title}}],
        }

    def attach(self, subject: Descriptor, data: bytes, *, artifact_type: str, media_type: str, title: str,
               annotations: Mapping[str, str] | None = None) -> str:
        """Attach one file to the image `subject` as an OCI artifact that refers to it; its digest.

        Stored by digest (no tag of its own) with `subject` set, so the referrers API lists it; a
        registry without that API (no `OCI-Subject` in its answer: the distribution registry 2.x
        among them) gets the OCI 1.1 fallback, an index under the tag `sha256-<subject digest>`.
        Attaching the same file twice changes nothing.
        """
        document = self._artifact(data, artifact_type=artifact_type, media_type=media_type, title=title) | {
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
            "annotations": dict(annotations or {}),
        }
        return self.put_referrer(Manifest(OCI_MANIFEST, json.dumps(document, indent=2, sort_keys=True).encode()))

    def put_referrer(self, manifest: Manifest) -> str:
        """Store an artifact manifest that names its `subject` by digest, and list it as the subject's
        referrer where the registry does not (the tag fallback, see `attach`); its digest."""
        document = manifest.json()
        digest, headers = self._put_manifest(manifest.digest, manifest)
        if "oci-subject" not in headers:
            self._add_referrer(document["subject"]["digest"], {
                "mediaType": manifest.media_type, "digest": digest, "size": len(manifest.body),
                "artifactType": document.get("artifactType") or document["config"]["mediaType"],
                "annotations": document.get("annotations") or {}})
        return digest

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict]:
        """The descriptors of the artifacts attached to `digest` (of one type, if given)."""
        response = self._request("GET", f"/referrers/{digest}", headers={"Accept": OCI_INDEX}, missing_ok=True)
        if response is not None and response.headers.get("Content-Type", "").startswith(OCI_INDEX):
            found = json.loads(response.body).get("manifests") or []
        else:  # no referrers API: the tag schema
            index = self.manifest(referrers_tag(digest))
            found = index.json().get("manifests") or [] if index else []
        return [entry for entry in found if artifact_type is None or entry.get("artifactType") == artifact_type]

    def _add_referrer(self, subject: str, descriptor: dict) -> None:
        tag = referrers_tag(subject)
        current = self.manifest(tag)
        entries = (current.json().get("manifests") or []) if current else []
        if any(entry.get("digest") == descriptor["digest"] for entry in entries):
            return
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*entries, descriptor]}
        self.put_manifest(tag, Manifest(OCI_INDEX, json.dumps(index, indent=2).encode()))

    def artifact(self, tag: str) -> bytes | None:
        """The single file of the artifact ``tag`` (or digest), or None when there is none."""
        manifest = self.manifest(tag)
        if manifest is None:
            return None
        layers = manifest.json().get("layers") or []
        if len(layers) != 1:
            raise RegistryError(f"{self.target.ref(tag)} is not a one-file artifact")
        return self.blob(layers[0]["digest"])

    def copy(self, source: str, tag: str) -> str:
        """Point ``tag`` at what ``source`` (a tag or digest) names, without pulling any image."""
        manifest = self.manifest(source)
        if manifest is None:
            raise RegistryError(f"{self.target.ref(source)} does not exist; cannot copy it to {tag}")
        return self.put_manifest(tag, manifest)

    # -- HTTP -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                 body: bytes | IO[bytes] | None = None, missing_ok: bool = False,
                 stream: Callable[[IO[bytes]], object] | None = None) -> _Response | None:
        """One request, answering the registry's 401 once; ``stream``, if given, reads the answer's body."""
        url = self.base + path
        for attempt in range(2):
            request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            authorization = self._authorization or self._initial_authorization()
            try:
                with _open(request, authorization) as response:
                    if stream is not None:
                        stream(response)
                    answer = _Response(response.status, dict(response.headers), b"" if stream else response.read())
                if method in ("PUT", "POST", "PATCH", "DELETE"):
                    faults.wrote(f"{method} {path}")
                return answer
            except urllib.error.HTTPError as error:
                # Only the registry's own challenge is answered (see the module's docstring).
                if (error.code == 401 and attempt == 0 and _origin(error.url) == _origin(url)
                        and self._authenticate(error.headers.get("WWW-Authenticate"))):
                    continue
                if error.code == 404 and missing_ok:
                    return None
                detail = error.read().decode(errors="replace")[:500]
                raise RegistryError(f"{method} {url}: HTTP {error.code} {error.reason} {detail}".strip()) from error
            except (urllib.error.URLError, OSError) as error:
                raise RegistryError(f"{method} {url}: {error}; is the registry running and reachable?") from error
        raise RegistryError(f"{method} {url}: still unauthorized after authenticating; check "
                            f"{self.credentials}_USERNAME/{self.credentials}_PASSWORD (or {self.credentials}_TOKEN)")

    def _basic(self) -> str | None:
        user = self.environ.get(f"{self.credentials}_USERNAME")
        password = self.environ.get(f"{self.credentials}_PASSWORD")
        if not (user and password):
            return None
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _initial_authorization(self) -> str | None:
        token = self.environ.get(f"{self.credentials}_TOKEN")
        return f"Bearer {token}" if token else None

    def _authenticate(self, challenge: str | None) -> bool:
        """Answer a 401: fetch a bearer token from the realm, or fall back to basic credentials."""
        if not challenge:
            return False
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic":
            self._authorization = self._basic()
            return self._authorization is not None
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        realm = params.pop("realm", None)
        if scheme.lower() != "bearer" or not realm:
            return False
        # Ask for push as well as pull: one token serves reads and tag moves.
        params.setdefault("scope", f"repository:{self.target.repository}:pull,push")
        basic = self._basic()
        realm_url = urllib.parse.urlsplit(realm)
        if realm_url.scheme.lower() not in ("http", "https"):
            raise RegistryError(f"{self.target}: refusing the token realm {realm}: not an http(s) URL")
        if basic and realm_url.scheme.lower() == "http" and not is_loopback(realm_url.netloc):
            raise RegistryError(f"{self.target}: refusing to send {self.credentials}_USERNAME/_PASSWORD to the token "
                                f"realm {realm}: it is plain HTTP to a host other than this one, so anyone on the "
                                "way could read them; the realm must be https:// (or a loopback address)")
        request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(params)}")
        try:
            with _open(request, basic) as response:
                answer = json.load(response)
        except (urllib.error.URLError, OSError) as error:
            raise RegistryError(f"token request to {realm} failed: {error}") from error
        token = answer.get("token") or answer.get("access_token")
        self._authorization = f"Bearer {token}" if token else None
        return token is not None


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of ``url``, the default port spelled out: what a credential is bound to."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # no valid host or port: it matches no origin a credential is bound to
        return None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, re-adding ``authorization`` only where the URL keeps ``origin``.

    The header is set with ``add_unredirected_header``, which urllib leaves off every
    redirected request; this handler puts it back for a same-origin redirect only.
    """

    def __init__(self, origin: tuple[str, str, int | None] | None, authorization: str | None) -> None:
        self.origin, self.authorization = origin, authorization

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if req.full_url.startswith("https:") and not newurl.startswith("https:"):
            # What HTTPS protects (the bytes, and who answers) would end at the redirect.
            raise urllib.error.URLError(f"refused a redirect from HTTPS to {newurl.split('?')[0]}")
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None and self.origin is not None and _origin(newurl) == self.origin and self.authorization:
            redirected.add_unredirected_header("Authorization", self.authorization)
        return redirected


def _open(request: urllib.request.Request, authorization: str | None) -> HTTPResponse:
    """``urlopen(request)`` with ``authorization`` sent to the request's origin only, never past a redirect,
    and no redirect from HTTPS to plain HTTP, with credentials or without."""
    if authorization:
        request.add_unredirected_header("Authorization", authorization)
    opener = urllib.request.build_opener(_SameOriginRedirects(_origin(request.full_url), authorization))
    return opener.open(request, timeout=TIMEOUT)


def referrers_tag(digest: str) -> str:
    """The OCI 1.1 referrers tag schema: `sha256:abc...` -> `sha256-abc...`."""
    return digest.replace(":", "-", 1)


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _next_page(link: str, repository: str) -> str | None:
    """The path of the next page from a ``Link: </v2/...>; rel="next"`` header."""
    match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link)
    if not match:
        return None
    url = urllib.parse.urlsplit(match.group(1))
    prefix = f"/v2/{repository}"
    return url.path.removeprefix(prefix) + (f"?{url.query}" if url.query else "")
