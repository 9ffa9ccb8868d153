"""Rekor v2 request validation (services.rekor2.entries): the entries real rekor-tiles logs are
reproduced byte for byte, every algorithm of the registry is accepted with its own key, and every
refusal is a ValidationError naming what is wrong."""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

from sigstack.protocol import x509ext
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.services.rekor2.entries import ALGORITHMS, prepare_entry, signing_algorithms
from sigstack.services.tlog.engine import MAX_LEAF
from tests.support.entries import v2_dsse, v2_hashedrekord, v2_request
from tests.support.keys import b64, der_public, leaf_certificate
from tests.support.testdata import ROOT

CASES = ROOT / "tests/data/pyassets/cases"


def _raw(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


def _real_request(case: str) -> tuple[dict[str, Any], bytes]:
    """The request a client sent for a real staging Rekor v2 bundle, and the entry logged."""
    bundle = json.loads((CASES / case / "bundle.sigstore.json").read_text())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    body = base64.b64decode(entry["canonicalizedBody"])
    verifier = json.loads(body)["spec"]["hashedRekordV002"]["signature"]["verifier"]
    cert = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    if "dsseEnvelope" in bundle:
        env = bundle["dsseEnvelope"]
        payload, ptype = base64.b64decode(env["payload"]), env["payloadType"]
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
        digest = hashlib.sha256(pae).digest()
        signature = base64.b64decode(env["signatures"][0]["sig"])
    else:
        digest = base64.b64decode(bundle["messageSignature"]["messageDigest"]["digest"])
        signature = base64.b64decode(bundle["messageSignature"]["signature"])
    request = v2_request(digest, signature, cert, key_details=verifier["keyDetails"])
    return request, body


@pytest.mark.parametrize(
    "case", ["staging-rekor-v2-happy-path", "staging-rekor-v2-dsse-happy-path"]
)
def test_real_rekor_tiles_entries_are_reproduced_byte_for_byte(case: str) -> None:
    request, logged = _real_request(case)
    prepared = prepare_entry(_raw(request))
    assert prepared.body == logged
    digest = base64.b64decode(request["hashedRekordRequestV002"]["digest"])
    assert f"sha256:{digest.hex()}" in prepared.index_keys


def test_snake_case_names_and_url_safe_base64_give_the_same_entry() -> None:
    signed = v2_hashedrekord(b"artifact")
    spec = signed.request["hashedRekordRequestV002"]
    verifier = spec["signature"]["verifier"]
    snake = {
        "hashed_rekord_request_v002": {
            "digest": base64.urlsafe_b64encode(signed.digest).decode().rstrip("="),
            "signature": {
                "content": spec["signature"]["content"],
                "verifier": {
                    "x509_certificate": {"raw_bytes": verifier["x509Certificate"]["rawBytes"]},
                    "key_details": verifier["keyDetails"],
                },
            },
        }
    }
    assert prepare_entry(_raw(snake)) == prepare_entry(_raw(signed.request))


def test_index_keys_digest_key_identity_and_issuer() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.RFC822Name("Alice@Example.com"),
        x509.UniformResourceIdentifier(
            "https://github.com/Org/repo/.github/workflows/ci.yml@refs/heads/main"
        ),
    ]
    issuer = x509ext.encode_extensions({"issuer": "https://Issuer.example"})
    cert = leaf_certificate(key, sans, issuer)
    digest = hashlib.sha256(b"x").digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    der = cert.public_bytes(serialization.Encoding.DER)
    prepared = prepare_entry(_raw(v2_request(digest, sig, der)))
    assert prepared.index_keys == (
        f"sha256:{digest.hex()}",
        f"key:{hashlib.sha256(der_public(key)).hexdigest()}",
        "id:alice@example.com",
        "id:https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main",
        "issuer:https://issuer.example",
    )


def _sign(key: Any, digest: bytes, hash_: hashes.HashAlgorithm) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hash_))
    return key.sign(digest, ec.ECDSA(utils.Prehashed(hash_)))


_KEYS: dict[str, Any] = {}


def _key(details: str) -> Any:
    if details not in _KEYS:
        a = ALGORITHMS[details]
        curves = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}
        _KEYS[details] = (
            ec.generate_private_key(curves[a.curve]())
            if a.curve
            else rsa.generate_private_key(public_exponent=65537, key_size=a.rsa_bits or 2048)
        )
    return _KEYS[details]


@pytest.mark.parametrize("details", sorted(ALGORITHMS))
def test_every_algorithm_of_the_registry_with_a_public_key(details: str) -> None:
    a = ALGORITHMS[details]
    key = _key(details)
    hash_ = hashes.SHA256() if a.hash == "sha256" else hashes.SHA384() if a.hash == "sha384" else (
        hashes.SHA512())  # fmt: skip
    h = hashes.Hash(hash_)
    h.update(b"artifact")
    digest = h.finalize()
    request = v2_request(digest, _sign(key, digest, hash_), der_public(key), certificate=False,
                         key_details=details)  # fmt: skip
    body = json.loads(prepare_entry(_raw(request)).body)
    data = body["spec"]["hashedRekordV002"]["data"]
    assert data == {"algorithm": a.proto_hash, "digest": b64(digest)}
    assert body["spec"]["hashedRekordV002"]["signature"]["verifier"] == {
        "keyDetails": details,
        "publicKey": {"rawBytes": b64(der_public(key))},
    }


# ---- refusals --------------------------------------------------------------------------------


def _mutated(path: list[str], value: Any, delete: bool = False) -> dict[str, Any]:
    request = copy.deepcopy(v2_hashedrekord(b"refused").request)
    node = request
    for name in path[:-1]:
        node = node[name]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return request


SPEC = ["hashedRekordRequestV002"]
SIG = [*SPEC, "signature"]
VERIFIER = [*SIG, "verifier"]


def _certificate_der(change: Any) -> dict[str, Any]:
    """A signed request whose certificate's DER is ``change(der)``."""
    signed = v2_hashedrekord(b"refused")
    assert signed.certificate is not None
    der = change(signed.certificate.public_bytes(serialization.Encoding.DER))
    request = copy.deepcopy(signed.request)
    request["hashedRekordRequestV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"] = (
        b64(der)
    )
    return request


def _p384_with_p256_details() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP384R1())
    digest = hashlib.sha256(b"a").digest()
    return v2_request(
        digest, _sign(key, digest, hashes.SHA256()), der_public(key), certificate=False
    )


def _compressed_point() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(b"a").digest()
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    algorithm = der_public(key)[2:23]  # AlgorithmIdentifier: id-ecPublicKey, prime256v1
    bit_string = bytes([0x03, len(point) + 1, 0]) + point
    compressed = bytes([0x30, len(algorithm) + len(bit_string)]) + algorithm + bit_string
    return v2_request(digest, _sign(key, digest, hashes.SHA256()), compressed, certificate=False)


def _public_key_bytes(raw: bytes) -> dict[str, Any]:
    request = _mutated([*VERIFIER, "x509Certificate"], None, delete=True)
    request[SPEC[0]]["signature"]["verifier"]["publicKey"] = {"rawBytes": b64(raw)}
    return request


def _ed25519(details: str) -> dict[str, Any]:
    key = ed25519.Ed25519PrivateKey.generate()
    digest = hashlib.sha512(b"a").digest()
    return v2_request(
        digest, key.sign(digest), der_public(key), certificate=False, key_details=details
    )


def _rsa_2048_as_3072() -> dict[str, Any]:
    key = _key("PKIX_RSA_PKCS1V15_2048_SHA256")
    digest = hashlib.sha256(b"a").digest()
    return v2_request(digest, _sign(key, digest, hashes.SHA256()), der_public(key), certificate=False,
                      key_details="PKIX_RSA_PKCS1V15_3072_SHA256")  # fmt: skip


def _huge_certificate() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big")])
    blob = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x04\x82" +
                                      (50000).to_bytes(2, "big") + b"\0" * 50000)  # fmt: skip
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(minutes=1))
            .add_extension(blob, critical=False).sign(key, hashes.SHA256()))  # fmt: skip
    digest = hashlib.sha256(b"a").digest()
    return v2_request(digest, _sign(key, digest, hashes.SHA256()),
                      cert.public_bytes(serialization.Encoding.DER))  # fmt: skip


def _certificate_with_sans(sans: list[x509.GeneralName]) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sans")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(minutes=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    digest = hashlib.sha256(b"a").digest()
    return v2_request(digest, _sign(key, digest, hashes.SHA256()),
                      cert.public_bytes(serialization.Encoding.DER))  # fmt: skip


def _other_signature() -> dict[str, Any]:
    good = v2_hashedrekord(b"one").request
    other = v2_hashedrekord(b"two").request
    good[SPEC[0]]["signature"]["content"] = other[SPEC[0]]["signature"]["content"]
    return good


def _both_spellings() -> bytes:
    raw = _raw(v2_hashedrekord(b"x").request)
    return raw[:-1] + b', "hashed_rekord_request_v002": {}}'


def _twice() -> bytes:
    request = v2_hashedrekord(b"x").request[SPEC[0]]
    text = json.dumps(request)
    return f'{{"{SPEC[0]}": {text}, "{SPEC[0]}": {text}}}'.encode()


REFUSALS: dict[str, tuple[Any, str]] = {
    "not json": (b"{", "not valid JSON"),
    "not an object": (b"[]", "must be a JSON object"),
    "empty object": ({}, "hashedRekordRequestV002 is required"),
    "unknown top-level field": (_mutated(["extra"], 1), "unknown field 'extra'"),
    "unknown spec field": (_mutated([*SPEC, "kind"], "x"), "unknown field 'kind'"),
    "unknown signature field": (_mutated([*SIG, "publicKey"], {}), "unknown field 'publicKey'"),
    "unknown verifier field": (_mutated([*VERIFIER, "chain"], []), "unknown field 'chain'"),
    "unknown rawBytes sibling": (
        _mutated([*VERIFIER, "x509Certificate", "der"], "AA=="), "unknown field 'der'"),
    "dsse request": ({"dsseRequestV002": {}}, "invalid type, must be hashedrekord"),
    "field in both spellings": (_both_spellings(), "given twice"),
    "key named twice": (_twice(), "twice"),
    "no digest": (_mutated([*SPEC, "digest"], None, delete=True), "digest is required"),
    "digest not base64": (_mutated([*SPEC, "digest"], "***"), "not valid base64"),
    "short digest": (_mutated([*SPEC, "digest"], b64(b"\1" * 31)), "the digest is 31 bytes"),
    "sha512-long digest": (_mutated([*SPEC, "digest"], b64(b"\1" * 64)), "the digest is 64 bytes"),
    "no signature": (_mutated(SIG, None, delete=True), "must be a JSON object"),
    "empty signature": (_mutated([*SIG, "content"], ""), "is empty"),
    "bad signature": (_other_signature(), "signature does not verify"),
    "no verifier key": (
        _mutated([*VERIFIER, "x509Certificate"], None, delete=True), "needs one of publicKey"),
    "two verifier keys": (_mutated([*VERIFIER, "publicKey"], {"rawBytes": "AA=="}),
                          "needs one of publicKey"),
    "no keyDetails": (_mutated([*VERIFIER, "keyDetails"], None, delete=True), "keyDetails"),
    "numeric keyDetails": (_mutated([*VERIFIER, "keyDetails"], 5), "must name a PublicKeyDetails"),
    "unknown keyDetails": (_mutated([*VERIFIER, "keyDetails"], "PKIX_FOO"),
                           "not one of this log's signing algorithms"),
    "Ed25519 without prehash": (_ed25519("PKIX_ED25519"), "Ed25519 signs whole messages"),
    "Ed25519ph": (_ed25519("PKIX_ED25519_PH"), "cannot verify Ed25519ph"),
    "keyDetails of another curve": (_p384_with_p256_details(), "does not describe the key"),
    "keyDetails of another RSA size": (_rsa_2048_as_3072(), "does not describe the key"),
    "certificate not DER": (
        _mutated([*VERIFIER, "x509Certificate", "rawBytes"], b64(b"junk")), "unreadable"),
    "certificate with a byte after it": (_certificate_der(lambda der: der + b"\x00"), "unreadable"),
    "certificate cut short": (_certificate_der(lambda der: der[:-1]), "unreadable"),
    "two certificates": (_certificate_der(lambda der: der + der), "unreadable"),
    "public key not DER": (_public_key_bytes(b"junk"), "is not a DER public key"),
    "certificate as a public key": (
        _public_key_bytes(v2_hashedrekord(b"c").certificate.public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.DER)), "is not a DER public key"),
    "compressed EC point": (_compressed_point(), "not a DER SubjectPublicKeyInfo"),
    "entry over 65535 bytes": (_huge_certificate(), "a log entry holds at most 65535 bytes"),
    "SAN with a control character": (
        _certificate_with_sans([x509.UniformResourceIdentifier("https://a.example/\x01")]),
        "control character"),
    "more than 256 identities": (
        _certificate_with_sans([x509.RFC822Name(f"u{i}@example.com") for i in range(300)]),
        "at most 256 search keys"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals(name: str) -> None:
    request, message = REFUSALS[name]
    raw = request if isinstance(request, bytes) else _raw(request)
    with pytest.raises(ValidationError) as refused:
        prepare_entry(raw)
    assert message in refused.value.message
    assert refused.value.message.startswith(("invalid hashedrekord request", "invalid type"))


def test_the_operator_narrows_the_signing_algorithms() -> None:
    only_p384 = signing_algorithms("PKIX_ECDSA_P384_SHA_384")
    with pytest.raises(ValidationError, match="not one of this log's signing algorithms"):
        prepare_entry(_raw(v2_hashedrekord(b"a").request), only_p384)
    assert signing_algorithms("") == frozenset(ALGORITHMS)
    assert signing_algorithms(["PKIX_ECDSA_P256_SHA_256"]) == {"PKIX_ECDSA_P256_SHA_256"}
    for bad in ("PKIX_ED25519_PH", "nonsense", ",", 5):
        with pytest.raises(ConfigError):
            signing_algorithms(bad)


def test_dsse_is_a_hashedrekord_over_the_pae() -> None:
    signed = v2_dsse(b'{"_type": "https://in-toto.io/Statement/v1"}')
    body = json.loads(prepare_entry(_raw(signed.request)).body)
    assert body["kind"] == "hashedrekord" and body["apiVersion"] == "0.0.2"
    assert body["spec"]["hashedRekordV002"]["data"]["digest"] == b64(signed.digest)


def test_oversized_entry_limit_is_the_bundle_length_prefix() -> None:
    assert MAX_LEAF == 65535


@pytest.mark.parametrize("details", sorted(ALGORITHMS))
@pytest.mark.parametrize("field", ["x509Certificate", "publicKey"])
def test_the_written_out_body_is_the_rfc8785_encoding(details: str, field: str) -> None:
    """``entry_body`` writes the logged entry without the canonicalizer: the same bytes as
    RFC 8785 over the entry's JSON, for every algorithm and verifier form."""
    from sigstack.protocol.canonical import canonicalize
    from sigstack.services.rekor2.entries import entry_body

    def logged_entry(algorithm, digest, content, field, der) -> dict[str, Any]:
        """The hashedrekord 0.0.2 Entry as protojson writes it."""
        b = base64.b64encode
        verifier = {"keyDetails": algorithm.name, field: {"rawBytes": b(der).decode()}}
        return {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
            "data": {"algorithm": algorithm.proto_hash, "digest": b(digest).decode()},
            "signature": {"content": b(content).decode(), "verifier": verifier}}}}  # fmt: skip

    algorithm = ALGORITHMS[details]
    for n in range(1, 40, 7):
        parts = (hashlib.sha512(b"d%d" % n).digest()[: algorithm.digest_size],
                 hashlib.sha256(b"s%d" % n).digest() * n, b"\x30\x82" + bytes(range(n)) * 3)  # fmt: skip
        want = canonicalize(logged_entry(algorithm, parts[0], parts[1], field, parts[2]))
        assert entry_body(algorithm, parts[0], parts[1], field, parts[2]) == want
        assert json.loads(want)["spec"]["hashedRekordV002"]["signature"]["verifier"][field]
    with pytest.raises(ValueError):
        entry_body(algorithm, b"d" * algorithm.digest_size, b"s", "x509_certificate", b"c")
