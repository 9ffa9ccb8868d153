"""Strict JSON: the one decoder for JSON that sigstack reads from outside (RFC 8259).

Both sides use it: the verifier for bundles, trust material, in-toto payloads, logged bodies and
registry answers (``protojson.parse_json``); the services for request bodies, identity tokens,
discovery documents, JWKS and the CT log's answers.

Python's ``json`` accepts more than RFC 8259 allows, and every extra is a way past a check or into
a crash, so ``loads`` refuses, with a ``ValidationError`` naming the document:

- text that is not JSON or not UTF-8;
- ``NaN``, ``Infinity`` and ``-Infinity`` (RFC 8259 section 6 has no such literals: ``exp:
  Infinity`` is a token that never expires) and number literals that overflow a float (``1e999``);
- an object naming the same key twice (parsers disagree on which value wins, and a signature
  checked over one reading must not be shown with another; Go's protojson refuses it too);
- strings and keys holding a lone surrogate (``"\\ud800"``), which have no UTF-8 form (section
  8.2) and fail later wherever the value is encoded again;
- nesting deeper than ``max_depth`` (``MAX_DEPTH`` by default), which would otherwise end in a
  ``RecursionError`` inside the decoder or in whatever walks the value.

It leaves to the caller what a document must contain; ``loads_object`` only adds that it is an
object.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import ValidationError

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects accepted: no Sigstore document comes near it (a bundle is
6 levels deep, an SLSA provenance about 10), and Python's recursion limit is far above it."""


class _Refused(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:20]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"names the key {key[:100]!r} twice")
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(
    parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique_keys
)


def _walk(value: Any, limit: int) -> None:
    """Iterative (no recursion of its own): nesting at most ``limit`` deep, every string and key
    encodable as UTF-8."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii():
                node.encode("utf-8")  # UnicodeEncodeError on a lone surrogate
        elif isinstance(node, dict):
            if depth >= limit:
                raise _Refused(f"is nested more than {limit} levels deep")
            stack.extend((k, depth) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            if depth >= limit:
                raise _Refused(f"is nested more than {limit} levels deep")
            stack.extend((v, depth + 1) for v in node)


def _plainly_within(text: str, limit: int) -> bool:
    """True when the text alone shows what ``_walk`` checks: ASCII without ``\\u`` escapes has no
    string without a UTF-8 form, and no more than ``limit`` brackets cannot nest deeper than
    ``limit``. A request body of a log write passes this in 1 us instead of walking its values
    in 15 us; anything else is walked."""
    return text.isascii() and "\\u" not in text and text.count("{") + text.count("[") <= limit


def loads(data: str | bytes, what: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON value strictly (see the module docstring); ``what`` names the document in
    the ``ValidationError``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        value = _DECODER.decode(text)
        if not _plainly_within(text, max_depth):
            _walk(value, max_depth)
    except _Refused as exc:
        raise ValidationError(f"{what} {exc}" if str(exc).startswith(("is ", "names "))
                              else f"{what} is not valid JSON: {exc}") from None  # fmt: skip
    except RecursionError:
        raise ValidationError(f"{what} is nested more than {max_depth} levels deep") from None
    except UnicodeEncodeError:
        raise ValidationError(
            f"{what} holds a string with no UTF-8 form (a lone surrogate)"
        ) from None
    except UnicodeError:
        raise ValidationError(f"{what} is not valid JSON: it is not UTF-8 text") from None
    except ValueError as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}") from None
    return value


def loads_object(data: str | bytes, what: str) -> dict[str, Any]:
    """``loads`` for a document that must be a JSON object."""
    value = loads(data, what)
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object")
    return value
