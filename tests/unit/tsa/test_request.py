"""TimeStampReq (DER) and JSON request parsing: what each client sends is accepted, every refusal
is a ValidationError with the documented message, and hostile bytes never escape as another
exception type."""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from asn1crypto import core, tsp
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from sigstack.protocol.errors import ValidationError
from sigstack.services.tsa.request import (
    MAX_REQUEST_BYTES,
    MSG_LENGTH,
    MSG_NOT_DER,
    MSG_TOO_LARGE,
    MSG_UNKNOWN_HASH,
    MSG_WEAK,
    parse_der,
    parse_json,
)
from tests.unit.tsa.helpers import der_request

D256, D384, D512 = (hashlib.new(h, b"sig").digest() for h in ("sha256", "sha384", "sha512"))


def test_sigstore_python_request() -> None:
    """rfc3161-client's builder, as sigstore-python uses it: SHA-256, nonce, certReq TRUE."""
    req = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256).data(b"signature").build()
    parsed = parse_der(req.as_bytes())
    assert parsed.hash_name == "sha256"
    assert parsed.digest == hashlib.sha256(b"signature").digest()
    assert parsed.nonce == req.nonce and parsed.nonce is not None
    assert parsed.cert_req is True and parsed.policy is None
    assert parsed.imprint == tsp.TimeStampReq.load(req.as_bytes())["message_imprint"].dump()


def test_sigstore_go_request() -> None:
    """No nonce, certReq absent, hash parameters absent: accepted and echoed as sent."""
    body = der_request(D256, null_params=False)
    parsed = parse_der(body)
    assert (parsed.nonce, parsed.cert_req) == (None, False)
    assert b"\x05\x00" not in parsed.imprint
    assert parsed.imprint == tsp.TimeStampReq.load(body)["message_imprint"].dump()


@pytest.mark.parametrize(("name", "digest"), [("sha256", D256), ("sha384", D384), ("sha512", D512)])
def test_sha2_imprints(name: str, digest: bytes) -> None:
    parsed = parse_der(
        der_request(digest, name, nonce=2**64 - 1, cert_req=True, policy="1.3.6.1.4.1.57264.2")
    )
    assert (parsed.hash_name, parsed.digest, parsed.nonce) == (name, digest, 2**64 - 1)
    assert parsed.policy == "1.3.6.1.4.1.57264.2"


def _flip_cert_req_false(body: bytes) -> bytes:
    """The same request with ``certReq FALSE`` written out (a DEFAULT: DER forbids it)."""
    return bytes([0x30, body[1] + 3]) + body[2:] + b"\x01\x01\x00"


REFUSED = {
    "sha1": (der_request(hashlib.sha1(b"x").digest(), "1.3.14.3.2.26"), MSG_WEAK),
    "md5": (der_request(hashlib.md5(b"x").digest(), "1.2.840.113549.2.5"), MSG_WEAK),
    "sha3-256": (der_request(D256, "2.16.840.1.101.3.4.2.8"), MSG_UNKNOWN_HASH),
    "unknown-oid": (der_request(D256, "1.2.3.4"), MSG_UNKNOWN_HASH),
    "sha256-short": (der_request(D256[:31]), MSG_LENGTH),
    "sha256-long": (der_request(D256 + b"\0"), MSG_LENGTH),
    "sha384-with-32": (der_request(D256, "sha384"), MSG_LENGTH),
    "sha512-with-48": (der_request(D384, "sha512"), MSG_LENGTH),
    "empty-digest": (der_request(b""), MSG_LENGTH),
    "oversized": (der_request(D256, nonce=2 ** (8 * 1100)), MSG_TOO_LARGE),
    "empty": (b"", "timestamp request is empty"),
    "garbage": (b"garbage\x00\xff", MSG_NOT_DER),
    "json-as-der": (b'{"artifactHash": "x"}', MSG_NOT_DER),
    "trailing-byte": (der_request(D256) + b"\x00", MSG_NOT_DER),
    "truncated": (der_request(D256)[:-1], MSG_NOT_DER),
    "explicit-certreq-false": (_flip_cert_req_false(der_request(D256)), MSG_NOT_DER),
    "boolean-true-01": (der_request(D256, cert_req=True)[:-1] + b"\x01", MSG_NOT_DER),
    "long-form-length": (b"\x30\x81" + der_request(D256)[1:], MSG_NOT_DER),
    "non-minimal-version": (
        b"\x30" + bytes([der_request(D256)[1] + 1]) + b"\x02\x02\x00\x01" + der_request(D256)[5:],
        MSG_NOT_DER,
    ),
    "version-2": (der_request(D256, version=2), "timestamp request version must be 1"),
    "extensions": (
        der_request(D256, extensions=[{"extn_id": "1.2.3.4", "extn_value": b"x"}]),
        "timestamp request extensions are not accepted",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_der_refusals(case: str) -> None:
    body, message = REFUSED[case]
    with pytest.raises(ValidationError) as err:
        parse_der(body)
    assert err.value.message == message
    assert type(err.value) is ValidationError


def test_hash_parameters_other_than_null_refused() -> None:
    """AlgorithmIdentifier {sha256, INTEGER 0}: SHA-2 parameters must be NULL or absent."""
    alg = core.Sequence(
        contents=core.ObjectIdentifier("2.16.840.1.101.3.4.2.1").dump() + core.Integer(0).dump()
    ).dump()
    imprint = core.Sequence(contents=alg + core.OctetString(D256).dump()).dump()
    body = core.Sequence(contents=core.Integer(1).dump() + imprint).dump()
    with pytest.raises(ValidationError):
        parse_der(body)


def test_size_limit_is_exact() -> None:
    """Requests grown byte by byte (a longer nonce) across the limit."""
    sizes = {}
    for octets in range(900, 1000):
        body = der_request(D256, nonce=2 ** (8 * octets - 2))
        sizes[len(body)] = body
    assert MAX_REQUEST_BYTES in sizes and MAX_REQUEST_BYTES + 1 in sizes
    for size, body in sizes.items():
        if size <= MAX_REQUEST_BYTES:
            assert parse_der(body).nonce
        else:
            with pytest.raises(ValidationError, match="too large"):
                parse_der(body)


def test_mutated_requests_never_escape() -> None:
    """Byte flips, cuts and insertions of valid requests: parsed, or refused with
    ValidationError; never another exception (a 500)."""
    rng = random.Random(3161)
    seeds = [
        der_request(D256, nonce=7, cert_req=True, policy="1.2.3"),
        der_request(D512),
        TimestampRequestBuilder().data(b"x").build().as_bytes(),
    ]
    for _ in range(3000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            if not body:
                break
            op, at = rng.randrange(3), rng.randrange(len(body))
            if op == 0:
                body[at] ^= 1 << rng.randrange(8)
            elif op == 1:
                del body[at:]
            else:
                body.insert(at, rng.randrange(256))
        try:
            parsed = parse_der(bytes(body))
        except ValidationError:
            continue
        assert len(parsed.digest) == {"sha256": 32, "sha384": 48, "sha512": 64}[parsed.hash_name]


# --- JSON ---------------------------------------------------------------------------------------


def _json(**fields: object) -> bytes:
    doc = {"artifactHash": base64.b64encode(D256).decode(), "hashAlgorithm": "sha256"}
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_json_request() -> None:
    body = _json(
        hashAlgorithm="SHA384",
        artifactHash=base64.b64encode(D384).decode(),
        nonce=2**100,
        certificates=True,
        tsaPolicyOID="1.3.6.1.4.1.57264.2",
        other=1,
    )
    parsed = parse_json(body)
    assert (parsed.hash_name, parsed.digest, parsed.nonce) == ("sha384", D384, 2**100)
    assert (parsed.cert_req, parsed.policy) == (True, "1.3.6.1.4.1.57264.2")
    imprint = tsp.MessageImprint.load(parsed.imprint)
    assert imprint["hash_algorithm"]["algorithm"].dotted == "2.16.840.1.101.3.4.2.2"
    assert imprint["hash_algorithm"]["parameters"].dump() == b"\x05\x00"  # as upstream
    assert imprint.dump(force=True) == parsed.imprint


def test_json_defaults() -> None:
    parsed = parse_json(_json())
    assert (parsed.nonce, parsed.cert_req, parsed.policy) == (None, False, None)
    assert parse_json(_json(nonce=None, certificates=None, tsaPolicyOID="")).policy is None


JSON_REFUSED = {
    "too-large": (_json(pad="x" * 1000), MSG_TOO_LARGE),
    "not-json": (b"{artifactHash", "timestamp request is not valid JSON"),
    "array": (b"[]", "timestamp request must be a JSON object"),
    "duplicate-key": (b'{"hashAlgorithm":"sha256","hashAlgorithm":"sha512"}', "twice"),
    "no-algorithm": (_json(hashAlgorithm=...), "hashAlgorithm is required"),
    "no-hash": (_json(artifactHash=...), "artifactHash is required"),
    "sha1": (_json(hashAlgorithm="sha1"), MSG_WEAK),
    "SHA1": (_json(hashAlgorithm="SHA1"), MSG_WEAK),
    "md5": (_json(hashAlgorithm="md5"), MSG_WEAK),
    "sha3": (_json(hashAlgorithm="sha3-256"), MSG_UNKNOWN_HASH),
    "algorithm-number": (_json(hashAlgorithm=256), "hashAlgorithm must be a string"),
    "bad-base64": (_json(artifactHash="not base64!"), "artifactHash must be standard base64"),
    "urlsafe-base64": (
        _json(artifactHash=base64.urlsafe_b64encode(b"\xfb" * 32).decode()),
        "artifactHash must be standard base64",
    ),
    "wrong-length": (_json(artifactHash=base64.b64encode(D384).decode()), MSG_LENGTH),
    "nonce-bool": (_json(nonce=True), "nonce must be an integer"),
    "nonce-float": (_json(nonce=1.5), "nonce must be an integer"),
    "nonce-string": (_json(nonce="12"), "nonce must be an integer"),
    "nonce-infinite": (_json().replace(b"}", b', "nonce": 1e999}'), "out of range"),
    "certificates-string": (_json(certificates="true"), "certificates must be true or false"),
    "policy-letters": (_json(tsaPolicyOID="1.2.x"), "tsaPolicyOID must be"),
    "policy-first-arc": (_json(tsaPolicyOID="3.1"), "tsaPolicyOID must be"),
    "policy-129-arcs": (_json(tsaPolicyOID="1" + ".1" * 128), "tsaPolicyOID must be"),
    "policy-number": (_json(tsaPolicyOID=1), "tsaPolicyOID must be"),
    "invalid-utf8": (b'{"hashAlgorithm": "\xff"}', "timestamp request is not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(JSON_REFUSED))
def test_json_refusals(case: str) -> None:
    body, message = JSON_REFUSED[case]
    with pytest.raises(ValidationError) as err:
        parse_json(body)
    assert message in err.value.message


def test_json_size_limit_is_exact() -> None:
    base = _json(pad="")
    at_limit = _json(pad="x" * (MAX_REQUEST_BYTES - len(base)))
    assert len(at_limit) == MAX_REQUEST_BYTES
    parse_json(at_limit)
    with pytest.raises(ValidationError, match="too large"):
        parse_json(_json(pad="x" * (MAX_REQUEST_BYTES - len(base) + 1)))


def test_policy_with_128_arcs_accepted() -> None:
    assert parse_json(_json(tsaPolicyOID="1" + ".1" * 127)).policy == "1" + ".1" * 127
