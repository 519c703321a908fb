"""Signatures of published images (publish/signing.py): DSSE envelopes of in-toto statements,
Ed25519. Pure but for the last test, which checks one with openssl alone, as a user can."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime_builder.errors import SignatureError, UsageError
from runtime_builder.publish import signing
from runtime_builder.publish.signing import Signer

DIGEST = "sha256:" + "ab" * 32
REPOSITORY = "quay.io/org/airflow-runtime"


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def signed(signer: Signer, predicate: dict | None = None) -> bytes:
    return signer.envelope(signing.statement(REPOSITORY, DIGEST, predicate or signing.FEED_PREDICATE))


def test_pae_is_dsse_s_encoding():
    # The DSSE specification's own example.
    assert signing.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_an_envelope_opens_with_its_key_and_names_its_subject(signer):
    document = signing.open_envelope(signed(signer, signing.image_predicate("linux/arm64", "sha256:1", "sha256:2")),
                                     signer.key.public_key())
    assert signing.subject_of(document) == (REPOSITORY, DIGEST)
    assert document["predicate"] == {"kind": "platform image", "platform": "linux/arm64", "sbom": "sha256:1",
                                     "provenance": "sha256:2"}


def test_signing_twice_gives_the_same_bytes(signer):
    """Ed25519 is deterministic: a second publish attaches the same artifact, so nothing new."""
    assert signed(signer) == signed(signer)


def test_another_key_is_refused_naming_both(signer):
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match=rf"no signature by the key {signing.key_id(other)[:16]} "
                                              rf"\(signed by {signer.key_id[:16]}\)"):
        signing.open_envelope(signed(signer), other)


@pytest.mark.parametrize("change", ["payload", "payloadType", "sig"])
def test_a_changed_envelope_is_refused(signer, change):
    envelope = json.loads(signed(signer))
    if change == "payload":  # another subject, same signature
        document = json.loads(base64.b64decode(envelope["payload"]))
        document["subject"][0]["digest"]["sha256"] = "cd" * 32
        envelope["payload"] = base64.b64encode(json.dumps(document).encode()).decode()
    elif change == "payloadType":
        envelope["payloadType"] = "application/json"
    else:
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[0] ^= 1
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureError):
        signing.open_envelope(json.dumps(envelope).encode(), signer.key.public_key())


@pytest.mark.parametrize("data", [b"", b"{}", b"not json", b'{"payload": "!!", "payloadType": "x", "signatures": []}'])
def test_what_is_not_an_envelope_is_refused_not_a_traceback(signer, data):
    with pytest.raises(SignatureError):
        signing.open_envelope(data, signer.key.public_key())


def test_the_key_comes_from_the_option_then_the_environment(tmp_path, signer):
    path = tmp_path / "key.pem"
    path.write_bytes(pem(signer.key))
    other = Ed25519PrivateKey.generate()
    from_file = signing.load_signer(path, {signing.KEY_VARIABLE: pem(other).decode()})
    assert from_file is not None and from_file.key_id == signer.key_id
    from_variable = signing.load_signer(None, {signing.KEY_VARIABLE: pem(other).decode()})
    assert from_variable is not None and from_variable.key_id == Signer(other).key_id
    assert signing.load_signer(None, {}) is None


def test_bad_keys_are_named(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    ecdsa = tmp_path / "ec.pem"
    ecdsa.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(UsageError, match=r"--signing-key .*ec.pem: not an Ed25519 key"):
        signing.load_signer(ecdsa, {})
    with pytest.raises(UsageError, match=r"RUNTIME_SIGNING_KEY: not an unencrypted PEM private key"):
        signing.load_signer(None, {signing.KEY_VARIABLE: "-----BEGIN PRIVATE KEY-----\nnope\n"})
    with pytest.raises(UsageError, match=r"--signing-key .*missing.pem: No such file"):
        signing.load_signer(tmp_path / "missing.pem", {})
    public = tmp_path / "public.pem"
    public.write_text("hello\n")
    with pytest.raises(UsageError, match=r"--key .*public.pem: not a PEM public key"):
        signing.load_public_key(public)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_alone_checks_a_signature(tmp_path, signer):
    """What docs/verify.md tells a user who trusts no tool of ours: openssl over the DSSE encoding."""
    envelope = json.loads(signed(signer))
    (tmp_path / "signed.bin").write_bytes(signing.pae(envelope["payloadType"], base64.b64decode(envelope["payload"])))
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    (tmp_path / "key.pub").write_bytes(signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def check(data: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "key.pub", "-rawin",
                               "-in", data.name, "-sigfile", "sig.bin"], cwd=tmp_path, capture_output=True, text=True)

    assert check(tmp_path / "signed.bin").returncode == 0
    (tmp_path / "changed.bin").write_bytes((tmp_path / "signed.bin").read_bytes().replace(b"ab", b"cd", 1))
    assert check(tmp_path / "changed.bin").returncode != 0
