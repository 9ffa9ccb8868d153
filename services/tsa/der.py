"""The handful of DER (X.690) pieces a timestamp needs per request, written and read directly.

The TSA builds the constant parts of its answers once with asn1crypto (``authority``) and, per
request, only the parts that change: those are made here, without asn1crypto's object trees.

Writing: ``tlv`` (definite lengths in their shortest form, X.690 sections 8.1.3 and 10.1),
``integer`` (two's complement in the fewest octets, section 8.3), ``generalized_time`` (whole
seconds, ``YYYYMMDDHHMMSSZ``, section 11.7) and ``utc_time`` (``YYMMDDHHMMSSZ``, section 11.8).
tests/unit/tsa/test_der.py holds each to asn1crypto's encoding of the same value.

Reading: ``element`` reads one tag-length header the DER way and returns ``None`` (not an
exception) for anything that is not plainly DER: a multi-octet tag, an indefinite or non-minimal
length, a value running past the end. ``request.parse_der`` uses it for its fast path only and
hands everything it does not recognise to the complete parser.
"""

from __future__ import annotations

import datetime as dt

SEQUENCE, SET, CONTEXT_0 = 0x30, 0x31, 0xA0
BOOLEAN, INTEGER, OCTET_STRING, OID = 0x01, 0x02, 0x04, 0x06
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18


def length(n: int) -> bytes:
    """The DER length octets for ``n`` content octets."""
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def tlv(tag: int, content: bytes) -> bytes:
    """One element: ``tag`` (a single octet), its length, ``content``."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + length(n) + content


def integer(value: int) -> bytes:
    """An INTEGER: two's complement, big-endian, in the fewest octets."""
    size = (value if value >= 0 else ~value).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def generalized_time(at: dt.datetime) -> bytes:
    """GeneralizedTime of the UTC ``at`` in whole seconds (its microseconds must be 0)."""
    text = f"{at.year:04d}{at.month:02d}{at.day:02d}{at.hour:02d}{at.minute:02d}{at.second:02d}Z"
    return tlv(GENERALIZED_TIME, text.encode())


def utc_time(at: dt.datetime) -> bytes:
    """UTCTime of the UTC ``at`` (years 1950-2049), whole seconds."""
    year = at.year % 100
    text = f"{year:02d}{at.month:02d}{at.day:02d}{at.hour:02d}{at.minute:02d}{at.second:02d}Z"
    return tlv(UTC_TIME, text.encode())


def element(data: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
    """(tag, content start, content end) of the element at ``data[pos:]``, which must end by
    ``end``; ``None`` if it is not a plain DER element (see the module docstring)."""
    if pos + 2 > end:
        return None
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:  # a tag number over 30 takes more octets: never ours
        return None
    start = pos + 2
    if first < 0x80:
        size = first
    elif first == 0x81:
        if start >= end or data[start] < 0x80:  # 0x81 0x00-0x7F is not the shortest form
            return None
        size, start = data[start], start + 1
    elif first == 0x82:
        if start + 2 > end or (data[start] << 8 | data[start + 1]) < 0x100:
            return None
        size, start = data[start] << 8 | data[start + 1], start + 2
    else:  # indefinite (0x80), or lengths no timestamp request of ours needs
        return None
    if start + size > end:
        return None
    return tag, start, start + size
