"""Just enough DER to read what a monitor matches in X.509 certificates, fast.

A log holds millions of certificates and a monitor looks at each one's SANs and a few extensions;
building cryptography's objects for all of them (every extension parsed into Python objects) costs
most of a scan. These functions walk the bytes instead (ITU-T X.690 DER; RFC 5280 section 4.1):

* ``element``: (tag, content start, content end) of one TLV, definite lengths only;
* ``certificate_tbs``, ``spki_of_tbs``: the TBSCertificate of a certificate, the
  SubjectPublicKeyInfo of a TBSCertificate; ``wrap_tbs``: a certificate around a bare
  TBSCertificate (a precertificate entry's, RFC 6962 section 3.2) with an empty signature;
* ``CertificateView``: the SANs (rfc822Name, dNSName, URI, and Fulcio's username otherName
  1.3.6.1.4.1.57264.1.7) and the raw ``extnValue`` of every extension by dotted OID.

Malformed input raises ``ValueError`` (callers treat the certificate as unreadable). Nothing
here verifies anything: it reads what a log holds, to compare it with a watch list. Pure.
"""

from __future__ import annotations

from sigstack.protocol.sct import der_header

_SAN_OID = "2.5.29.17"
_USERNAME_OID = "1.3.6.1.4.1.57264.1.7"
_SAN_TAGS = {0x81: "email", 0x82: "dns", 0x86: "uri"}
_STRING_TAGS = {0x0C, 0x16, 0x13}  # UTF8String, IA5String, PrintableString
_oids: dict[bytes, str] = {}


def element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``; ValueError if malformed.
    (The hot loop of a scan: one-byte and two-byte lengths are read inline.)"""
    try:
        tag, first = data[pos], data[pos + 1]
        if first < 0x80:
            start = pos + 2
            end = start + first
        elif first == 0x82:
            start = pos + 4
            end = start + (data[pos + 2] << 8 | data[pos + 3])
        elif first == 0x81:
            start = pos + 3
            end = start + data[pos + 2]
        else:
            width = first & 0x7F
            if not 3 <= width <= 4 or pos + 2 + width > len(data):
                raise ValueError("bad DER length")
            start = pos + 2 + width
            end = start + int.from_bytes(data[pos + 2 : start], "big")
    except IndexError:
        raise ValueError("truncated DER") from None
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each element in data[start:end]."""
    out, pos = [], start
    while pos < end:
        tag, cstart, cend = element(data, pos)
        out.append((tag, pos, cstart, cend))
        pos = cend
    if pos != end:
        raise ValueError("an element overruns its parent")
    return out


def oid_text(body: bytes) -> str:
    """Dotted text of an OBJECT IDENTIFIER's content octets."""
    text = _oids.get(body)
    if text is None:
        arcs, n = [], 0
        for byte in body:
            n = (n << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(n)
                n = 0
        if not arcs or body[-1] & 0x80:
            raise ValueError("malformed OBJECT IDENTIFIER")
        first = min(arcs[0] // 40, 2)
        text = ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))
        if len(_oids) < 4096:
            _oids[body] = text
    return text


def _tbs_fields(tbs: bytes) -> list[tuple[int, int, int, int]]:
    tag, start, end = element(tbs, 0)
    if tag != 0x30:
        raise ValueError("a TBSCertificate is a SEQUENCE")
    return _children(tbs, start, end)


def _first_field(fields: list[tuple[int, int, int, int]]) -> int:
    return 1 if fields and fields[0][0] == 0xA0 else 0  # [0] EXPLICIT version


def certificate_tbs(cert: bytes) -> bytes:
    """The TBSCertificate element of a DER certificate."""
    tag, start, _ = element(cert, 0)
    if tag != 0x30:
        raise ValueError("a certificate is a SEQUENCE")
    _, _, tbs_end = element(cert, start)
    return cert[start:tbs_end]


def spki_of_tbs(tbs: bytes) -> bytes:
    """The SubjectPublicKeyInfo element of a TBSCertificate (the fields after it are not read)."""
    tag, pos, end = element(tbs, 0)
    if tag != 0x30:
        raise ValueError("a TBSCertificate is a SEQUENCE")
    field = 0
    while pos < end:
        tag, _, cend = element(tbs, pos)
        if field == 0 and tag != 0xA0:
            field = 1  # no [0] EXPLICIT version
        if field == 6:
            return tbs[pos:cend]
        pos, field = cend, field + 1
    raise ValueError("the TBSCertificate is too short")


def wrap_tbs(tbs: bytes) -> bytes:
    """A DER certificate around ``tbs``: its own signature algorithm, an empty signature."""
    fields = _tbs_fields(tbs)
    first = _first_field(fields)
    if len(fields) < first + 3:
        raise ValueError("the TBSCertificate is too short")
    _, pos, _, end = fields[first + 1]
    body = tbs + tbs[pos:end] + b"\x03\x01\x00"
    return der_header(0x30, len(body)) + body


def string(raw: bytes) -> str | None:
    """A DER UTF8String, IA5String or PrintableString spanning ``raw``, else ``raw`` as UTF-8."""
    if len(raw) >= 2 and raw[0] in _STRING_TAGS:
        try:
            _, start, end = element(raw, 0)
            if end == len(raw):
                return raw[start:end].decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class CertificateView:
    """The SANs, the raw extension values (by dotted OID) and the SubjectPublicKeyInfo of a DER
    certificate (or a wrapped TBS). One pass over the bytes, no copies but the values kept."""

    __slots__ = ("sans", "extensions", "spki")

    def __init__(self, cert: bytes) -> None:
        tag, start, _ = element(cert, 0)
        tbs_tag, pos, tbs_end = element(cert, start)
        if tag != 0x30 or tbs_tag != 0x30:
            raise ValueError("a certificate and its TBSCertificate are SEQUENCEs")
        self.extensions: dict[str, bytes] = {}
        self.spki = b""
        field = 0
        while pos < tbs_end:
            tag, cstart, cend = element(cert, pos)
            if field == 0 and tag != 0xA0:
                field = 1  # no [0] EXPLICIT version: v1 fields start at the serial number
            if field == 6:
                self.spki = cert[pos:cend]
            elif tag == 0xA3:
                self._extensions(cert, cstart, cend)
            pos, field = cend, field + 1
        if pos != tbs_end or not self.spki:
            raise ValueError("malformed TBSCertificate")
        self.sans = _sans(self.extensions.get(_SAN_OID))

    def _extensions(self, cert: bytes, start: int, end: int) -> None:
        tag, pos, seq_end = element(cert, start)
        if tag != 0x30 or seq_end != end:
            raise ValueError("extensions are one SEQUENCE")
        while pos < seq_end:
            ext_tag, estart, eend = element(cert, pos)
            oid_tag, ostart, oend = element(cert, estart)
            value_tag, vstart, vend = element(cert, oend)
            if value_tag == 0x01:  # critical BOOLEAN
                value_tag, vstart, vend = element(cert, vend)
            if ext_tag != 0x30 or oid_tag != 0x06 or value_tag != 0x04 or vend != eend:
                raise ValueError("malformed extension")
            self.extensions.setdefault(oid_text(cert[ostart:oend]), cert[vstart:vend])
            pos = eend


def _sans(value: bytes | None) -> list[str]:
    if not value:
        return []
    tag, start, end = element(value, 0)
    if tag != 0x30:
        raise ValueError("SubjectAltName is a SEQUENCE")
    out: list[str] = []
    for name_tag, _, cstart, cend in _children(value, start, end):
        if name_tag in _SAN_TAGS:
            try:
                out.append(value[cstart:cend].decode("ascii"))
            except UnicodeDecodeError:
                continue
        elif name_tag == 0xA0:  # otherName: type-id, [0] EXPLICIT value
            parts = _children(value, cstart, cend)
            if len(parts) == 2 and parts[0][0] == 0x06 and parts[1][0] == 0xA0:
                if oid_text(value[parts[0][2] : parts[0][3]]) == _USERNAME_OID:
                    text = string(value[parts[1][2] : parts[1][3]])
                    if text is not None:
                        out.append(text)
    return out
