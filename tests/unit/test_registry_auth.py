"""Where the registry client sends credentials, and which transport it uses, against real HTTP servers.

Each test starts small servers on 127.0.0.1 (one playing the registry, others a CDN a blob is
redirected to or a token realm) and records every request's headers: credentials must reach
the registry's own origin and nothing else. Nothing leaves the host: the one non-loopback
address used, 192.0.2.1 (TEST-NET-1), is routed to a local server when something connects to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runtime_builder.images import bootstrap
from runtime_builder.layout import is_loopback
from runtime_builder.publish import registry as registry_module
from runtime_builder.publish.registry import Registry, RegistryError, Target

USER, PASSWORD = "robot", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
CREDENTIALS = {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD}
BLOB_BYTES = b"blob bytes"
DIGEST = "sha256:" + hashlib.sha256(BLOB_BYTES).hexdigest()  # a blob is checked against its digest
BLOB = f"/v2/repo/blobs/{DIGEST}"
TEST_NET = "192.0.2.1"  # RFC 5737: never routed; connections to it go to a local server here

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Server:
    """A local HTTP server answering with ``answer(method, path, authorization)``; it records every request."""

    answer: Callable[[str, str, str | None], Reply]
    seen: list[Seen] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authorizations(self) -> list[str | None]:
        return [request.authorization for request in self.seen]


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            authorization = self.headers.get("Authorization")
            server.seen.append(Seen(self.command, self.path, authorization))
            status, headers, body = server.answer(self.command, self.path, authorization)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:  # keep pytest's output clean
            pass

    return Handler


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would see (and answer) the requests instead of the servers."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str, str, str | None], Reply]], Server]]:
    """serve(answer) -> a running Server; all are shut down after the test."""
    running: list[Server] = []

    def start(answer: Callable[[str, str, str | None], Reply]) -> Server:
        server = Server(answer)
        server.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        server.httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for it, once per server.
        threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        running.append(server)
        return server

    yield start
    for server in running:
        assert server.httpd is not None
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def test_net(monkeypatch: pytest.MonkeyPatch) -> Callable[[Server], None]:
    """test_net(server): connections to 192.0.2.1 reach ``server`` (which records what would have left the host)."""

    def route(server: Server) -> None:
        connect = socket.create_connection

        def rerouted(address, *args, **kwargs):
            if address[0] == TEST_NET:
                address = ("127.0.0.1", server.port)
            return connect(address, *args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", rerouted)

    monkeypatch.setattr(registry_module, "TIMEOUT", 5)  # a mistake fails the test, it does not hang it
    return route


def client(server: Server, environ: dict[str, str]) -> Registry:
    target = Target.parse(f"127.0.0.1:{server.port}/repo", "unused")
    assert not target.secure  # loopback: plain HTTP, as the test servers speak
    return Registry(target, environ=environ)


def ok(body: bytes = b"data", **headers: str) -> Reply:
    return 200, headers, body


def redirect(location: str, code: int = 307) -> Reply:
    return code, {"Location": location}, b""


def challenge(value: str) -> Reply:
    return 401, {"WWW-Authenticate": value}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'


def basic_registry(route: Callable[[str], Reply]) -> Callable[[str, str, str | None], Reply]:
    """A registry that wants the basic credentials on every request, then answers with ``route(path)``."""

    def answer(method: str, path: str, authorization: str | None) -> Reply:
        if authorization != BASIC:
            return challenge('Basic realm="registry"')
        return route(path)

    return answer


def bearer_registry(realm: str, token: str, route: Callable[[str], Reply]) -> Callable[[str, str, str | None], Reply]:
    """A registry that sends clients to ``realm`` for a token and then wants ``Bearer <token>``."""

    def answer(method: str, path: str, authorization: str | None) -> Reply:
        if authorization != f"Bearer {token}":
            return challenge(f'Bearer realm="{realm}",service="registry"')
        return route(path)

    return answer


def token_realm(token: str) -> Callable[[str, str, str | None], Reply]:
    def answer(method: str, path: str, authorization: str | None) -> Reply:
        return ok(json.dumps({"token": token}).encode(), **{"Content-Type": "application/json"})

    return answer


def cdn(method: str, path: str, authorization: str | None) -> Reply:
    """Object storage: serves anything, the way a presigned URL does, without asking for credentials."""
    return ok(b"blob bytes")


# -- (a) (b): the Authorization header stays with the registry's origin --------------------


@pytest.mark.parametrize("environ", [CREDENTIALS, {"REGISTRY_TOKEN": "pat-123"}], ids=["basic", "token"])
@pytest.mark.parametrize("elsewhere", ["other port", "localhost"])
def test_a_cross_origin_redirect_drops_the_credentials(serve, environ: dict[str, str], elsewhere: str) -> None:
    """A blob redirected to another origin (another port, or the same server named `localhost`)
    is fetched without the Authorization header the registry itself was sent."""
    sent = BASIC if "REGISTRY_USERNAME" in environ else "Bearer pat-123"
    storage = serve(cdn)

    def route(path: str) -> Reply:
        if path == BLOB:
            where = storage.origin if elsewhere == "other port" else f"http://localhost:{registry.port}"
            return redirect(f"{where}/storage/blob?X-Amz-Signature=abc")
        return ok(b"blob bytes")

    def answer(method: str, path: str, authorization: str | None) -> Reply:
        if path.startswith("/storage/"):  # the `localhost` case: this server is the object store too
            return cdn(method, path, authorization)
        return route(path) if authorization == sent else challenge('Basic realm="registry"')

    registry = serve(answer)
    assert client(registry, environ).blob(DIGEST) == b"blob bytes"
    assert [s.authorization for s in registry.seen if s.path == BLOB][-1] == sent
    target = storage if elsewhere == "other port" else registry
    fetched = [s for s in target.seen if s.path.startswith("/storage/")]
    assert fetched and all(s.authorization is None for s in fetched), fetched


def test_a_same_origin_redirect_keeps_the_credentials(serve) -> None:
    def route(path: str) -> Reply:
        if path == BLOB:
            return redirect("/v2/repo/storage/blob")
        return ok(b"blob bytes") if path == "/v2/repo/storage/blob" else (404, {}, b"")

    registry = serve(basic_registry(route))
    assert client(registry, CREDENTIALS).blob(DIGEST) == b"blob bytes"
    assert [(s.path, s.authorization) for s in registry.seen[-2:]] == [(BLOB, BASIC), ("/v2/repo/storage/blob", BASIC)]


def test_a_redirect_target_cannot_ask_for_the_credentials(serve) -> None:
    """A host the registry redirects to answers 401 with a realm of its own: the client does not answer it."""
    realm = serve(token_realm("stolen"))

    def storage_answer(method: str, path: str, authorization: str | None) -> Reply:
        return challenge(f'Bearer realm="{realm.origin}/token"') if authorization is None else ok(b"blob bytes")

    storage = serve(storage_answer)
    # A public repository: reads need no credentials, so the 401 comes on the first attempt.
    registry = serve(lambda method, path, authorization: redirect(f"{storage.origin}/blob"))
    with pytest.raises(RegistryError, match="HTTP 401"):
        client(registry, CREDENTIALS).blob(DIGEST)
    assert realm.seen == []
    assert storage.authorizations == [None]


# -- (c) (d) (e): token realms ---------------------------------------------------------------


def test_credentials_are_not_sent_to_a_plain_http_realm_elsewhere(serve, test_net) -> None:
    realm = serve(token_realm("t0ken"))
    test_net(realm)  # had the client connected to the realm, this server would have seen it
    registry = serve(bearer_registry(f"http://{TEST_NET}:9/token", "t0ken", lambda path: ok()))
    with pytest.raises(RegistryError, match=r"refusing .* realm http://192\.0\.2\.1:9/token: it is plain HTTP"):
        client(registry, CREDENTIALS).manifest("latest")
    assert realm.seen == []


def test_an_anonymous_token_may_come_from_a_plain_http_realm(serve, test_net) -> None:
    """Without credentials there is nothing to leak: anonymous reads keep working."""
    realm = serve(token_realm("anonymous"))
    test_net(realm)
    registry = serve(bearer_registry(f"http://{TEST_NET}:9/token", "anonymous", lambda path: ok(b"{}")))
    assert client(registry, {}).manifest("latest") is not None
    assert realm.authorizations == [None]


def test_a_realm_that_is_not_http_is_refused(serve) -> None:
    registry = serve(bearer_registry("file:///etc/passwd", "t0ken", lambda path: ok()))
    with pytest.raises(RegistryError, match="refusing the token realm file:///etc/passwd"):
        client(registry, CREDENTIALS).manifest("latest")


def test_a_loopback_realm_gets_the_credentials_and_its_token_is_used(serve) -> None:
    realm = serve(token_realm("t0ken"))
    registry = serve(bearer_registry(f"{realm.origin}/token", "t0ken", lambda path: ok(b"{}")))
    assert client(registry, CREDENTIALS).manifest("latest") is not None
    assert realm.authorizations == [BASIC]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(realm.seen[0].path).query)
    assert query == {"service": ["registry"], "scope": ["repository:repo:pull,push"]}
    assert registry.authorizations == [None, "Bearer t0ken"]


def test_the_token_is_not_forwarded_on_a_cross_origin_redirect(serve) -> None:
    realm, storage = serve(token_realm("t0ken")), serve(cdn)
    registry = serve(bearer_registry(f"{realm.origin}/token", "t0ken",
                                     lambda path: redirect(f"{storage.origin}/blob", code=302)))
    assert client(registry, CREDENTIALS).blob(DIGEST) == b"blob bytes"
    assert registry.authorizations == [None, "Bearer t0ken"]
    assert storage.authorizations == [None]


def test_the_realm_does_not_forward_the_credentials_on_a_cross_origin_redirect(serve) -> None:
    elsewhere = serve(token_realm("t0ken"))
    realm = serve(lambda method, path, authorization: redirect(f"{elsewhere.origin}/token"))
    registry = serve(bearer_registry(f"{realm.origin}/token", "t0ken", lambda path: ok(b"{}")))
    assert client(registry, CREDENTIALS).manifest("latest") is not None
    assert realm.authorizations == [BASIC]
    assert elsewhere.authorizations == [None]


# -- (f): which registries are spoken to over plain HTTP ----------------------------------------


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True),
    ("localhost:5000", True),
    ("127.0.0.1:5000", True),
    ("127.8.9.10", True),
    ("[::1]:5000", True),
    ("quay.io", False),
    ("10.0.0.5:5000", False),
    ("localhost.example.com", False),
    ("127.0.0.1.nip.io:5000", False),
    ("[::1", False),
])
def test_only_loopback_registries_are_plain_http(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert Target.parse(f"{host}/repo", "unused").secure is not loopback


def test_bootstrap_reads_a_remote_registry_over_https(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def urlopen(request, timeout):
        asked.append(request.full_url)
        raise urllib.error.HTTPError(request.full_url, 404, "not found", {}, None)

    monkeypatch.setattr(bootstrap.urllib.request, "urlopen", urlopen)
    for registry in ("quay.io", "10.0.0.5:5000", "127.0.0.1:5000", "[::1]:5000"):
        assert bootstrap._published(registry, f"{registry}/runtime-bases/python:3.12-trixie") is None
    assert asked == [
        "https://quay.io/v2/runtime-bases/python/manifests/3.12-trixie",
        "https://10.0.0.5:5000/v2/runtime-bases/python/manifests/3.12-trixie",
        "http://127.0.0.1:5000/v2/runtime-bases/python/manifests/3.12-trixie",
        "http://[::1]:5000/v2/runtime-bases/python/manifests/3.12-trixie",
    ]


@pytest.mark.parametrize(("registry", "insecure"), [("127.0.0.1:5000", True), ("localhost:5000", True),
                                                      ("quay.io", False), ("10.0.0.5:5000", False)])
def test_bootstrap_pushes_insecurely_to_loopback_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     registry: str, insecure: bool) -> None:
    pushed: list[bool] = []

    class Engine:
        def build(self, **kwargs: object) -> None:
            pass

        def push(self, ref: str) -> None:
            pass

        def manifest_push(self, ref: str, images: list[str], *, insecure: bool) -> str:
            pushed.append(insecure)
            return DIGEST

    monkeypatch.setattr(bootstrap, "_published", lambda registry, ref: None)
    monkeypatch.setattr(bootstrap, "_make_rootfs", lambda image, platform, context, engine: None)
    image = bootstrap.BaseImage(registry, "trixie", None)
    assert bootstrap._ensure_image(image, ["linux/amd64"], Engine(), tmp_path, force=False) == DIGEST
    assert pushed == [insecure]


def test_a_blob_or_manifest_of_another_digest_is_refused(serve) -> None:
    """What is fetched by digest is that digest's bytes, or an error: a registry (or anything between)
    cannot hand over others (issue 30)."""
    registry = serve(basic_registry(lambda path: ok(b"other bytes")))
    with pytest.raises(RegistryError, match="the registry sent a blob of another digest"):
        client(registry, CREDENTIALS).blob(DIGEST)
    with pytest.raises(RegistryError, match="the registry sent a manifest of sha256:"):
        client(registry, CREDENTIALS).manifest(DIGEST)


@pytest.mark.parametrize("authorization", ["Basic abc", None])
def test_a_redirect_from_https_to_plain_http_is_refused(authorization: str | None) -> None:
    """With credentials or without: what HTTPS protects would end at the redirect."""
    import urllib.error
    import urllib.request
    from email.message import Message

    from runtime_builder.publish.registry import _SameOriginRedirects

    handler = _SameOriginRedirects(("https", "quay.io", None), authorization)
    request = urllib.request.Request("https://quay.io/v2/org/runtime/blobs/" + DIGEST)
    with pytest.raises(urllib.error.URLError, match=r"refused a redirect from HTTPS to http://cdn\.example/blob"):
        handler.redirect_request(request, None, 307, "Temporary Redirect", Message(), "http://cdn.example/blob?sig=1")
    kept = handler.redirect_request(request, None, 307, "Temporary Redirect", Message(), "https://cdn.example/blob")
    assert kept is not None and kept.full_url == "https://cdn.example/blob"
