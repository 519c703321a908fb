"""Signatures of what `publish` writes: Ed25519 over DSSE envelopes of in-toto statements.

Every pushed platform image, every manifest list and the release feed get one, attached as an
OCI referrer (artifact type `MEDIA_TYPE`) beside the SBOM and provenance. What a statement's
predicate says is what `verify` holds the registry to:

- a platform image: its platform, and the digests of its SBOM and provenance artifacts;
- a manifest list: the Runtime version, the tags it is published under, its platform images;
- the feed: nothing more than its bytes (the subject), which record every tag's digest.

Ed25519 signatures are deterministic: publishing again makes the same envelope, so the same
artifact digest, and attaches nothing new. The private key comes from a file (`--signing-key`)
or from `RUNTIME_SIGNING_KEY` (PEM text: a secret of the release and nightly environments in
CI), never from the repository. A user checks a signature with `build.py verify`, or with
openssl alone (docs/verify.md shows how): the signed bytes are DSSE's pre-authentication
encoding of the payload.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import SignatureError, UsageError
from .registry import Descriptor, Registry

MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE = "https://github.com/airflow-runtime/airflow-runtime/signed/v1"
TITLE = "signature.dsse.json"
KEY_VARIABLE = "RUNTIME_SIGNING_KEY"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: the bytes a signature is made over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(public_key: Ed25519PublicKey) -> str:
    """sha256 of the raw public key, in hex: names the key in an envelope and in `verify`'s output."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def statement(repository: str, digest: str, predicate: Mapping[str, object]) -> dict:
    return {"_type": STATEMENT, "subject": [{"name": repository, "digest": {"sha256": digest.removeprefix("sha256:")}}],
            "predicateType": PREDICATE, "predicate": dict(predicate)}


def image_predicate(platform: str, sbom: str, provenance: str) -> dict:
    return {"kind": "platform image", "platform": platform, "sbom": sbom, "provenance": provenance}


def list_predicate(version: str, tags: list[str], platforms: Mapping[str, str]) -> dict:
    return {"kind": "manifest list", "version": version, "tags": sorted(tags),
            "platforms": dict(sorted(platforms.items()))}


FEED_PREDICATE = {"kind": "release feed"}


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey

    @classmethod
    def from_pem(cls, pem: bytes, source: str) -> Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as error:
            raise UsageError(f"{source}: not an unencrypted PEM private key ({error.__class__.__name__}); make one "
                             "with `openssl genpkey -algorithm ed25519 -out signing-key.pem`") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise UsageError(f"{source}: not an Ed25519 key; the images are signed with Ed25519 "
                             "(`openssl genpkey -algorithm ed25519 -out signing-key.pem`)")
        return cls(key)

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def envelope(self, document: Mapping) -> bytes:
        """The DSSE envelope of `document` (a statement), encoded deterministically."""
        payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        signature = self.key.sign(pae(PAYLOAD_TYPE, payload))
        envelope = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
                    "signatures": [{"keyid": self.key_id, "sig": base64.b64encode(signature).decode()}]}
        return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode()


def load_signer(path: Path | None, environ: Mapping[str, str]) -> Signer | None:
    """The signer of `--signing-key FILE`, else of `RUNTIME_SIGNING_KEY`; None when neither is set."""
    if path is not None:
        try:
            return Signer.from_pem(path.read_bytes(), f"--signing-key {path}")
        except OSError as error:
            raise UsageError(f"--signing-key {path}: {error.strerror}") from None
    if environ.get(KEY_VARIABLE):
        return Signer.from_pem(environ[KEY_VARIABLE].encode(), KEY_VARIABLE)
    return None


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise UsageError(f"--key {path}: {error.strerror}") from None
    except ValueError:
        raise UsageError(f"--key {path}: not a PEM public key (`openssl pkey -in signing-key.pem -pubout` "
                         "writes one)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"--key {path}: not an Ed25519 key; the images are signed with Ed25519")
    return key


def open_envelope(data: bytes, public_key: Ed25519PublicKey) -> dict:
    """The statement an envelope signed with `public_key` holds; SignatureError saying why not."""
    try:
        envelope = json.loads(data)
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = envelope["signatures"]
        kind = envelope["payloadType"]
    except (ValueError, KeyError, TypeError) as error:
        raise SignatureError(f"not a DSSE envelope ({error.__class__.__name__}: {error})") from None
    if kind != PAYLOAD_TYPE:
        raise SignatureError(f"payload type {kind!r}, not {PAYLOAD_TYPE!r}")
    wanted = key_id(public_key)
    for entry in signatures if isinstance(signatures, list) else []:
        try:
            public_key.verify(base64.b64decode(entry["sig"], validate=True), pae(kind, payload))
        except (InvalidSignature, ValueError, KeyError, TypeError):
            continue
        document = json.loads(payload)
        if document.get("_type") != STATEMENT or document.get("predicateType") != PREDICATE:
            raise SignatureError("signed, but not a statement of this project's kind")
        return document
    named = sorted({str(e.get("keyid"))[:16] for e in signatures if isinstance(e, dict)}
                   if isinstance(signatures, list) else ())
    raise SignatureError(f"no signature by the key {wanted[:16]} (signed by {', '.join(named) or 'no key'})")


def subject_of(document: Mapping) -> tuple[str, str]:
    """(repository, sha256:digest) a statement names; SignatureError when it names not exactly one."""
    subjects = document.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise SignatureError("the statement names no single subject")
    subject = subjects[0]
    return str(subject.get("name")), "sha256:" + str(subject.get("digest", {}).get("sha256"))


def attach_signature(registry: Registry, subject: Descriptor, signer: Signer, predicate: Mapping[str, object]) -> str:
    """Sign `subject` (in `registry`'s repository) with `predicate` and attach the envelope; its artifact digest."""
    document = statement(str(registry.target), subject.digest, predicate)
    return registry.attach(subject, signer.envelope(document), artifact_type=MEDIA_TYPE, media_type=MEDIA_TYPE,
                           title=TITLE)
