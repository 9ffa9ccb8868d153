"""Rekor v1 wire facts both sides need: the bytes a signed entry timestamp (SET) signs.

A SET is the log key's signature over the RFC 8785 (JCS) serialisation of
``{"body": base64(canonicalized body), "integratedTime": int, "logID": hex, "logIndex": int}``
(spec/rekor.md section 3). The log signs it for every answer and the verifier checks it; both build
the bytes with ``set_payload``. It is written out directly instead of through a general JCS encoder
because every value is plain: base64 and hex need no escaping, the keys are already in JCS order,
and integers are in JCS's exact range (|n| < 2**53, checked: RFC 8785 numbers are IEEE doubles,
so no log can have signed a larger one).
"""

from __future__ import annotations

from .errors import ValidationError

_JCS_MAX_INT = 2**53 - 1  # the largest integer a double holds exactly next to its neighbours


def set_payload(body_b64: str, integrated_time: int, log_id_hex: str, log_index: int) -> bytes:
    """The bytes of a SET; ``ValidationError`` for an integer outside RFC 8785's exact range."""
    for name, value in (("integratedTime", integrated_time), ("logIndex", log_index)):
        if not -_JCS_MAX_INT <= value <= _JCS_MAX_INT:
            raise ValidationError(f"the SET's {name} {value} is out of RFC 8785's integer range")
    return (
        f'{{"body":"{body_b64}","integratedTime":{integrated_time:d},'
        f'"logID":"{log_id_hex}","logIndex":{log_index:d}}}'
    ).encode()
