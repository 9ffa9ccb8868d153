"""Timestamp requests in, checked values out: the DER ``TimeStampReq`` of RFC 3161 section 2.4.1
and the JSON form of sigstore/timestamp-authority (``pkg/api/timestamp.go`` ``JSONRequest``).

Both forms become one ``TimestampRequest``. Refused with ``protocol.errors.ValidationError`` (an
HTTP 400, and nothing signed): a body over ``MAX_REQUEST_BYTES``; anything that is not exactly one
DER ``TimeStampReq`` (BER leniencies such as an explicit ``certReq FALSE``, a non-minimal INTEGER
or a long-form length are refused: the DER re-encoding of what was read must equal what arrived);
version other than 1; a hash other than SHA-256/384/512 (SHA-1 and MD5 named as weak); an imprint
whose length does not fit its hash; hash parameters other than absent or NULL (asn1crypto's
``DigestAlgorithm`` refuses anything else for SHA-2, so they fail as not DER); request extensions
(RFC 3161 section 2.4.1: a TSA that does not know them must refuse; upstream refuses them unless
configured otherwise). Whether the requested policy is accepted is the authority's decision
(``authority.TimestampAuthority``), not the parser's.

The imprint is kept as the DER received so that the TSTInfo echoes it byte for byte (RFC 3161
section 2.4.2: "MUST have the same value as the similar field in TimeStampReq").

Two readers, one answer: the requests Sigstore clients send (version 1, an accepted hash with NULL
or absent parameters, a nonce or not, certReq TRUE or absent, nothing else) are read by a direct
DER reader (``_fast``, a few microseconds against 50-70 for asn1crypto's load and re-encoding);
anything else, every malformed request included, goes to the complete parser, which alone
decides refusals. tests/unit/tsa/test_request_fast.py holds the two to the same result on
generated and mutated requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from asn1crypto import tsp

from sigstack.protocol import protojson
from sigstack.protocol.errors import ValidationError

from . import der

MAX_REQUEST_BYTES = 1024  # upstream's limit on JSON requests; ours on DER ones too
SHA256, SHA384, SHA512 = (
    "2.16.840.1.101.3.4.2.1",
    "2.16.840.1.101.3.4.2.2",
    "2.16.840.1.101.3.4.2.3",
)
HASHES = {SHA256: ("sha256", 32), SHA384: ("sha384", 48), SHA512: ("sha512", 64)}
_BY_NAME = {name: oid for oid, (name, _) in HASHES.items()}
_WEAK = {"1.3.14.3.2.26": "sha1", "1.2.840.113549.2.5": "md5"}
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]{0,19})){1,127}$")  # at most 128 arcs

MSG_TOO_LARGE = "timestamp request is too large"
MSG_NOT_DER = "timestamp request is not a DER-encoded RFC 3161 TimeStampReq"
MSG_WEAK = "Weak hash algorithm in timestamp request"
MSG_UNKNOWN_HASH = "unsupported hash algorithm in timestamp request: use sha256, sha384 or sha512"
MSG_LENGTH = "Message digest has incorrect length for specified algorithm"


@dataclass(frozen=True)
class TimestampRequest:
    """What a timestamp is made from. ``hash_name`` is ``sha256``, ``sha384`` or ``sha512``;
    ``imprint`` is the DER ``MessageImprint`` to echo; ``policy`` a dotted OID or ``None``."""

    hash_name: str
    digest: bytes
    imprint: bytes
    policy: str | None
    nonce: int | None
    cert_req: bool


def _hash(oid: str) -> tuple[str, int]:
    if oid in _WEAK:
        raise ValidationError(MSG_WEAK)
    if oid not in HASHES:
        raise ValidationError(MSG_UNKNOWN_HASH)
    return HASHES[oid]


def _load(body: bytes) -> tsp.TimeStampReq:
    """The parsed request, or ``ValidationError``. asn1crypto raises assorted exception types on
    hostile input (ValueError, TypeError, KeyError, OverflowError...), hence the broad catch here,
    at the parser boundary only."""
    try:
        req = tsp.TimeStampReq.load(body, strict=True)
        again = req.dump(force=True)  # parses every field, then encodes them again as DER
    except Exception as exc:  # noqa: BLE001
        raise ValidationError(MSG_NOT_DER) from exc
    if again != body:
        raise ValidationError(MSG_NOT_DER)
    return req


# The AlgorithmIdentifier of each accepted hash as sent: parameters NULL or absent.
_IMPRINT_ALGORITHMS = {
    der.tlv(der.SEQUENCE, der.tlv(der.OID, oid_der) + null): HASHES[dotted]
    for dotted, oid_der in (
        (SHA256, bytes.fromhex("608648016503040201")),
        (SHA384, bytes.fromhex("608648016503040202")),
        (SHA512, bytes.fromhex("608648016503040203")),
    )
    for null in (b"", b"\x05\x00")
}
_CERT_REQ_TRUE = b"\x01\x01\xff"


def _fast(body: bytes) -> TimestampRequest | None:
    """The request when it has the shape Sigstore clients send (version 1, an accepted hash and
    a digest of its length, no policy, perhaps a nonce, certReq TRUE or absent, no extensions),
    every element plain DER; ``None`` for anything else, which the complete parser then reads
    (and refuses or accepts, with its messages). What this accepts, the complete parser accepts
    with the same values (tests/unit/tsa/test_request_fast.py)."""
    end = len(body)
    outer = der.element(body, 0, end)
    if outer is None or outer[0] != der.SEQUENCE or outer[2] != end:
        return None
    pos = outer[1]
    if body[pos : pos + 3] != b"\x02\x01\x01":  # version v1
        return None
    start = pos + 3
    imprint = der.element(body, start, end)
    if imprint is None or imprint[0] != der.SEQUENCE:
        return None
    algorithm = der.element(body, imprint[1], imprint[2])
    if algorithm is None:
        return None
    hash_ = _IMPRINT_ALGORITHMS.get(body[imprint[1] : algorithm[2]])
    digest = der.element(body, algorithm[2], imprint[2])
    if hash_ is None or digest is None or digest[0] != der.OCTET_STRING:
        return None
    if digest[2] != imprint[2] or digest[2] - digest[1] != hash_[1]:
        return None
    pos, nonce = imprint[2], None
    field = der.element(body, pos, end)
    if field is not None and field[0] == der.INTEGER:
        value = body[field[1] : field[2]]
        if not value or (len(value) > 1 and (value[0], value[1] >> 7) in ((0, 0), (0xFF, 1))):
            return None  # empty, or not in the fewest octets
        nonce, pos = int.from_bytes(value, "big", signed=True), field[2]
    cert_req = body[pos:] == _CERT_REQ_TRUE
    if pos != end and not cert_req:
        return None
    digest_bytes, imprint_der = body[digest[1] : digest[2]], body[start : imprint[2]]
    return TimestampRequest(hash_[0], digest_bytes, imprint_der, None, nonce, cert_req)


def parse_der(body: bytes) -> TimestampRequest:
    """An ``application/timestamp-query`` body (see module docstring)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ValidationError(MSG_TOO_LARGE)
    if not body:
        raise ValidationError("timestamp request is empty")
    return _fast(body) or _complete(body)


def _complete(body: bytes) -> TimestampRequest:
    """Any request, read by asn1crypto: every refusal is made here."""
    req = _load(body)
    if req["version"].native != "v1":
        raise ValidationError("timestamp request version must be 1")
    if req["extensions"].native is not None:
        raise ValidationError("timestamp request extensions are not accepted")
    imprint = req["message_imprint"]
    algorithm = imprint["hash_algorithm"]
    name, size = _hash(algorithm["algorithm"].dotted)
    digest = imprint["hashed_message"].native
    if len(digest) != size:
        raise ValidationError(MSG_LENGTH)
    policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
    return TimestampRequest(
        name, digest, imprint.dump(), policy, req["nonce"].native, bool(req["cert_req"].native)
    )


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:  # bool is an int in Python, not in JSON
        raise ValidationError(f"{name} must be {what}")
    if not isinstance(value, kind):
        raise ValidationError(f"{name} must be {what}")
    return value


def parse_json(body: bytes) -> TimestampRequest:
    """An ``application/json`` body: ``{"artifactHash": base64 of the digest, "hashAlgorithm":
    "sha256"|"sha384"|"sha512" (any case), "certificates": bool, "nonce": integer,
    "tsaPolicyOID": "1.2.3"}``; only ``artifactHash`` and ``hashAlgorithm`` are required. Other
    keys are ignored, as upstream (Go's encoding/json) ignores them; a key given twice is refused."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ValidationError(MSG_TOO_LARGE)
    doc = protojson.parse_json(body, "timestamp request")
    if not isinstance(doc, dict):
        raise ValidationError("timestamp request must be a JSON object")
    algorithm = _field(doc, "hashAlgorithm", str, "a string")
    if not algorithm:
        raise ValidationError("hashAlgorithm is required (sha256, sha384 or sha512)")
    algorithm = algorithm.lower()
    if algorithm in _WEAK.values():
        raise ValidationError(MSG_WEAK)
    if algorithm not in _BY_NAME:
        raise ValidationError(MSG_UNKNOWN_HASH)
    oid = _BY_NAME[algorithm]
    encoded = _field(doc, "artifactHash", str, "a base64 string")
    if not encoded:
        raise ValidationError("artifactHash is required (base64 of the digest)")
    try:
        digest = protojson.strict_b64decode(encoded, "artifactHash")
    except ValidationError:  # timestamp-authority's message
        raise ValidationError("artifactHash must be standard base64") from None
    if len(digest) != HASHES[oid][1]:
        raise ValidationError(MSG_LENGTH)
    policy = _field(doc, "tsaPolicyOID", str, "a dotted object identifier") or None
    if policy is not None and not _OID.match(policy):
        raise ValidationError("tsaPolicyOID must be a dotted object identifier")
    nonce = _field(doc, "nonce", int, "an integer")
    cert_req = bool(_field(doc, "certificates", bool, "true or false"))
    # Upstream's imprint carries NULL parameters, as its DER answers show (docs/tsa.md).
    # (asn1crypto writes NULL parameters for a SHA-2 algorithm given without them)
    imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": oid}, "hashed_message": digest})
    return TimestampRequest(HASHES[oid][0], digest, imprint.dump(), policy, nonce, cert_req)
