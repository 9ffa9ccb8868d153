"""RFC 8785 (JSON Canonicalization Scheme) encoding.

Used for transparency-log entry bodies and signed entry timestamps. This is *not* the OLPC
canonical JSON that TUF metadata uses; that lives with the TUF code.
"""

from __future__ import annotations

from typing import Any

import rfc8785

from .errors import ValidationError


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 bytes of ``value``; raise ValidationError for what JCS cannot encode."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationError("value cannot be canonicalized as RFC 8785 JSON") from exc
