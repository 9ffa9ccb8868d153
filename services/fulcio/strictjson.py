"""Strict JSON for what Fulcio reads from outside: identity tokens, discovery documents, JWKS and
request bodies.

Python's ``json`` accepts more than RFC 8259 allows, and each extra is a way past a check:
``NaN``/``Infinity``/``-Infinity`` (RFC 8259 section 6 has no such literals; ``exp: Infinity`` is a
token that never expires), number literals that overflow to an infinite float (``1e999``), and
strings holding a lone surrogate (``"\\ud800"``), which have no UTF-8 form (section 8.2) and made
certificate encoding fail with a 500. ``loads`` refuses all three, and turns a nesting too deep for
the parser (``RecursionError``) into the same ``ValueError`` as any other malformed input.

It leaves to the caller what a refusal means (a 400 with the caller's message).
"""

from __future__ import annotations

import json
import math
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _check_strings(value: Any) -> None:
    """Every string (and object key) in ``value`` is encodable as UTF-8; iterative, no recursion."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not node.isascii():
                node.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def loads(data: bytes | str) -> Any:
    """Parse RFC 8259 JSON; ``ValueError`` for anything else (see the module docstring)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = _DECODER.decode(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    _check_strings(value)
    return value
