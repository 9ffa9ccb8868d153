"""RFC 8785 (JSON Canonicalization Scheme) encoding.

Used for transparency-log entry bodies and signed entry timestamps. This is *not* the OLPC
canonical JSON that TUF metadata uses; that lives with the TUF code.

Values made only of objects with Basic-Multilingual-Plane keys, arrays, strings without lone
surrogates, safe integers (below 2^53 in magnitude), booleans and null (every log body and SET payload)
are encoded by the standard library's C encoder: for them its output is byte-identical to RFC 8785
(same key order, since BMP code points sort like UTF-16 code units; the same escapes: the short
forms for \\b \\t \\n \\f \\r, lower-case \\u00xx for other controls, nothing else escaped). Anything
else (floats, larger integers, astral-plane keys) goes through the ``rfc8785`` package.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from .errors import ValidationError

_MAX_SAFE = 2**53 - 1  # rfc8785 refuses magnitudes beyond the safe integers


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value) if not value.isascii() else True
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_MAX_SAFE <= value <= _MAX_SAFE
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and (k.isascii() or all(ord(c) < 0xD800 or 0xE000 <= ord(c) < 0x10000
                                                        for c in k))
            and _plain(v)
            for k, v in value.items()
        )  # fmt: skip
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 bytes of ``value``; raise ValidationError for what JCS cannot encode."""
    if _plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationError("value cannot be canonicalized as RFC 8785 JSON") from exc
