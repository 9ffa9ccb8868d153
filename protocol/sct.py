"""RFC 6962 Certificate Transparency structures: SCTs, signed data, Merkle leaves, tree heads.

Pure (stdlib + ``cryptography``). Used by the CT log (to sign), by Fulcio (to embed) and by the
client (to verify embedded SCTs). TLS presentation-language encodings (RFC 5246 section 4) with
big-endian integers and length prefixes.

- ``SignedCertificateTimestamp`` (RFC 6962 section 3.2): ``to_bytes`` / ``from_bytes``,
  ``to_json`` / ``from_json`` (the ``AddChainResponse`` of section 4.1).
- ``encode_sct_list`` / ``decode_sct_list`` (section 3.3) and ``sct_list_extension_value`` /
  ``scts_from_certificate`` for the X.509 extension 1.3.6.1.4.1.11129.2.4.2 (an OCTET STRING
  wrapping the TLS list).
- ``precert_signed_data`` / ``x509_signed_data``: the bytes an SCT signature covers (section 3.2);
  ``merkle_tree_leaf``: the MerkleTreeLeaf (section 3.4); ``tree_head_signed_data``: the STH
  signature input (section 3.5).
- ``digitally_signed`` / ``parse_digitally_signed``: the TLS ``DigitallySigned`` struct;
  ``verify_digitally_signed`` raises ``VerificationError``.
- ``strip_extension_from_tbs``: removes one extension (the precert poison) from a DER
  TBSCertificate, which is what the log signs for a precertificate.
- ``log_id(public_key)``: SHA-256 of the DER SubjectPublicKeyInfo (``protocol.keys.key_id``).

Parsers raise ``ValidationError`` on malformed input, never ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import keys, x509ext
from .errors import ValidationError, VerificationError
from .protojson import strict_b64decode

OID_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
OID_PRECERT_POISON = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")
OID_PRECERT_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.4")

X509_ENTRY = 0
PRECERT_ENTRY = 1
HASH_SHA256 = 4
SIG_RSA = 1
SIG_ECDSA = 3
_CERTIFICATE_TIMESTAMP = 0
_TREE_HASH = 1


def _u16_prefixed(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValidationError("value too long for a uint16 length prefix")
    return struct.pack(">H", len(data)) + data


def _u24_prefixed(data: bytes) -> bytes:
    if len(data) > 0xFFFFFF:
        raise ValidationError("value too long for a uint24 length prefix")
    return len(data).to_bytes(3, "big") + data


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValidationError(f"truncated {self.what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def vector(self, width: int) -> bytes:
        return self.take(self.uint(width))

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ValidationError(f"trailing bytes after {self.what}")


def log_id(public_key: keys.PublicKey) -> bytes:
    """RFC 6962 log ID: SHA-256 of the key's DER SubjectPublicKeyInfo (``keys.key_id``)."""
    return keys.key_id(public_key)


def digitally_signed(
    signature: bytes, hash_alg: int = HASH_SHA256, sig_alg: int = SIG_ECDSA
) -> bytes:
    """TLS ``DigitallySigned``: hash algorithm, signature algorithm, uint16-prefixed signature."""
    return bytes([hash_alg, sig_alg]) + _u16_prefixed(signature)


def parse_digitally_signed(data: bytes) -> tuple[int, int, bytes]:
    """(hash_alg, sig_alg, signature) from a TLS ``DigitallySigned``."""
    r = _Reader(data, "DigitallySigned")
    out = (r.uint(1), r.uint(1), r.vector(2))
    r.done()
    return out


def verify_digitally_signed(public_key: Any, hash_alg: int, signature: bytes, data: bytes) -> None:
    """Check an RFC 6962 signature over ``data``: SHA-256 (section 2.1.4), with an ECDSA or RSA
    PKCS#1 v1.5 key of the algorithm registry (``keys``)."""
    if hash_alg != HASH_SHA256:
        raise VerificationError("SCT is not signed with SHA-256")
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise VerificationError("CT log key must be ECDSA or RSA")
    try:
        algorithm = keys.Algorithm.for_key(public_key, "sha256")
    except ValidationError as exc:
        raise VerificationError(f"CT log key: {exc.message}") from None
    try:
        keys.verify(public_key, signature, data, algorithm)
    except VerificationError as exc:
        raise VerificationError(f"CT signature does not verify: {exc.message}") from None


@dataclass(frozen=True)
class SignedCertificateTimestamp:
    """An RFC 6962 v1 SCT. ``extensions`` are passed through untouched (they are signed)."""

    log_id: bytes
    timestamp: int
    signature: bytes
    extensions: bytes = b""
    hash_alg: int = HASH_SHA256
    sig_alg: int = SIG_ECDSA
    version: int = 0

    def to_bytes(self) -> bytes:
        return (
            bytes([self.version])
            + self.log_id
            + struct.pack(">Q", self.timestamp)
            + _u16_prefixed(self.extensions)
            + digitally_signed(self.signature, self.hash_alg, self.sig_alg)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedCertificateTimestamp:
        r = _Reader(data, "SCT")
        version = r.uint(1)
        if version != 0:
            raise ValidationError(f"unsupported SCT version {version}")
        lid, ts, ext = r.take(32), r.uint(8), r.vector(2)
        hash_alg, sig_alg, sig = r.uint(1), r.uint(1), r.vector(2)
        r.done()
        return cls(lid, ts, sig, ext, hash_alg, sig_alg, version)

    def to_json(self) -> dict[str, Any]:
        """RFC 6962 section 4.1 ``AddChainResponse``."""
        return {
            "sct_version": self.version,
            "id": base64.b64encode(self.log_id).decode(),
            "timestamp": self.timestamp,
            "extensions": base64.b64encode(self.extensions).decode(),
            "signature": base64.b64encode(
                digitally_signed(self.signature, self.hash_alg, self.sig_alg)
            ).decode(),
        }

    @classmethod
    def from_json(cls, obj: Any) -> SignedCertificateTimestamp:
        try:
            version = int(obj["sct_version"])
            lid = strict_b64decode(obj["id"], "id")
            ts = int(obj["timestamp"])
            ext = strict_b64decode(obj.get("extensions") or "", "extensions")
            signed = strict_b64decode(obj["signature"], "signature")
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise ValidationError("malformed AddChainResponse") from exc
        hash_alg, sig_alg, sig = parse_digitally_signed(signed)
        if version != 0 or len(lid) != 32:
            raise ValidationError("malformed AddChainResponse")
        return cls(lid, ts, sig, ext, hash_alg, sig_alg, version)

    def verify(self, public_key: Any, signed_data: bytes) -> None:
        """Raise ``VerificationError`` unless the signature covers ``signed_data`` under the key."""
        verify_digitally_signed(public_key, self.hash_alg, self.signature, signed_data)


def encode_sct_list(scts: list[SignedCertificateTimestamp]) -> bytes:
    """TLS ``SignedCertificateTimestampList``: uint16 total, then uint16-prefixed SCTs."""
    return _u16_prefixed(b"".join(_u16_prefixed(s.to_bytes()) for s in scts))


def decode_sct_list(data: bytes) -> list[SignedCertificateTimestamp]:
    r = _Reader(data, "SCT list")
    inner = _Reader(r.vector(2), "SCT list")
    r.done()
    out = []
    while inner.pos < len(inner.data):
        out.append(SignedCertificateTimestamp.from_bytes(inner.vector(2)))
    return out


def der_header(tag: int, length: int) -> bytes:
    """A DER tag and definite length (X.690 8.1.3) for ``length`` content octets."""
    if length < 0x80:
        return bytes([tag, length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw


def sct_list_extension_value(scts: list[SignedCertificateTimestamp]) -> bytes:
    """extnValue contents of 1.3.6.1.4.1.11129.2.4.2: a DER OCTET STRING around the TLS list."""
    tls = encode_sct_list(scts)
    return der_header(0x04, len(tls)) + tls


def sct_list_extension(scts: list[SignedCertificateTimestamp]) -> x509.UnrecognizedExtension:
    """The SCT list as an extension object to add (non-critical) to a certificate builder."""
    return x509.UnrecognizedExtension(OID_SCT_LIST, sct_list_extension_value(scts))


def scts_from_certificate(cert: x509.Certificate) -> list[SignedCertificateTimestamp]:
    """The embedded SCTs of ``cert`` (empty list if it has none)."""
    try:
        ext = x509ext.extensions(cert).get_extension_for_oid(OID_SCT_LIST)
    except x509.ExtensionNotFound:
        return []
    value = ext.value
    if isinstance(value, x509.PrecertificateSignedCertificateTimestamps):
        raw = value.public_bytes()
    else:
        raw = value.value  # type: ignore[attr-defined]
    tag, start, end = _der_element(raw, 0)
    if tag != 0x04 or end != len(raw):
        raise ValidationError("SCT list extension is not an OCTET STRING")
    return decode_sct_list(raw[start:end])


def signed_data(
    timestamp: int, entry_type: int, signed_entry: bytes, extensions: bytes = b""
) -> bytes:
    """What an SCT signs (RFC 6962 section 3.2, ``digitally-signed struct``): version v1,
    signature_type certificate_timestamp, the timestamp, the entry type, the entry (already
    encoded: ``x509_signed_entry`` / ``precert_signed_entry``) and the SCT's extensions. The log
    that signs and every verifier build it here."""
    return (
        bytes([0, _CERTIFICATE_TIMESTAMP])
        + struct.pack(">QH", timestamp, entry_type)
        + signed_entry
        + _u16_prefixed(extensions)
    )


def precert_signed_data(
    timestamp: int, issuer_key_hash: bytes, tbs: bytes, extensions: bytes = b""
) -> bytes:
    """What an SCT for a precertificate signs (entry_type precert_entry)."""
    return signed_data(timestamp, PRECERT_ENTRY, precert_signed_entry(issuer_key_hash, tbs),
                       extensions)  # fmt: skip


def x509_signed_data(timestamp: int, cert_der: bytes, extensions: bytes = b"") -> bytes:
    """What an SCT for a final certificate signs (entry_type x509_entry)."""
    return signed_data(timestamp, X509_ENTRY, x509_signed_entry(cert_der), extensions)


def merkle_tree_leaf(
    timestamp: int, entry_type: int, signed_entry: bytes, extensions: bytes
) -> bytes:
    """RFC 6962 section 3.4 MerkleTreeLeaf (version v1, leaf_type timestamped_entry). Its bytes are
    those of the SCT's signed data (both leading enums are 0), by the RFC's design."""
    return signed_data(timestamp, entry_type, signed_entry, extensions)


def precert_signed_entry(issuer_key_hash: bytes, tbs: bytes) -> bytes:
    return issuer_key_hash + _u24_prefixed(tbs)


def x509_signed_entry(cert_der: bytes) -> bytes:
    return _u24_prefixed(cert_der)


def tree_head_signed_data(timestamp: int, tree_size: int, root_hash: bytes) -> bytes:
    """RFC 6962 section 3.5 TreeHeadSignature input."""
    return bytes([0, _TREE_HASH]) + struct.pack(">QQ", timestamp, tree_size) + root_hash


def _der_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValidationError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValidationError("unsupported DER tag")
    if first < 0x80:
        start, length = pos + 2, first
    else:
        width = first & 0x7F
        if width == 0 or width > 4 or pos + 2 + width > len(data):
            raise ValidationError("bad DER length")
        start, length = pos + 2 + width, int.from_bytes(data[pos + 2 : pos + 2 + width], "big")
    if start + length > len(data):
        raise ValidationError("truncated DER")
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each DER element in data[start:end]."""
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _der_element(data, pos)
        out.append((tag, pos, cstart, cend))
        pos = cend
    if pos != end:
        raise ValidationError("malformed DER")
    return out


def _extension_oid(data: bytes, start: int, end: int) -> bytes:
    tag, cstart, cend = _der_element(data, start)
    if tag != 0x06:
        raise ValidationError("malformed extension")
    return data[start:cend]


def _der_oid(oid: x509.ObjectIdentifier) -> bytes:
    parts = [int(p) for p in oid.dotted_string.split(".")]
    body = bytearray()
    for n in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body.extend(reversed(chunk))
    return der_header(0x06, len(body)) + bytes(body)


def strip_extension_from_tbs(tbs: bytes, oid: x509.ObjectIdentifier = OID_PRECERT_POISON) -> bytes:
    """Return the DER TBSCertificate ``tbs`` without the extension ``oid`` (re-encoded lengths).

    Raises ``ValidationError`` if ``tbs`` is malformed or does not carry that extension.
    """
    tag, start, end = _der_element(tbs, 0)
    if tag != 0x30 or end != len(tbs):
        raise ValidationError("TBSCertificate is not a DER SEQUENCE")
    target = _der_oid(oid)
    pieces, found = [], False
    for ctag, epos, cstart, cend in _children(tbs, start, end):
        if ctag != 0xA3:
            pieces.append(tbs[epos:cend])
            continue
        stag, sstart, send = _der_element(tbs, cstart)
        if stag != 0x30 or send != cend:
            raise ValidationError("malformed extensions")
        kept = []
        for etag, eepos, ecstart, ecend in _children(tbs, sstart, send):
            if etag != 0x30:
                raise ValidationError("malformed extension")
            if _extension_oid(tbs, ecstart, ecend) == target:
                found = True
            else:
                kept.append(tbs[eepos:ecend])
        if kept:
            seq = b"".join(kept)
            seq = der_header(0x30, len(seq)) + seq
            pieces.append(der_header(0xA3, len(seq)) + seq)
    if not found:
        raise ValidationError("certificate does not carry the expected extension")
    body = b"".join(pieces)
    return der_header(0x30, len(body)) + body
