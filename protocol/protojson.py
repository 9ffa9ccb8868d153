"""Reading and writing proto3 canonical JSON (the encoding of Sigstore's protobuf-specs messages).

The rules followed (https://protobuf.dev/programming-guides/json/): field names are emitted in
lowerCamelCase and accepted in both lowerCamelCase and the original snake_case; ``bytes`` are
standard base64 (URL-safe base64 accepted on input); 64-bit integers are emitted as strings and
accepted as strings or numbers; enums are emitted by name; a field with its zero value may be
absent; ``Timestamp`` is RFC 3339 in UTC.

``Reader`` wraps one decoded JSON object and turns every type or encoding mistake into a
``ValidationError`` naming the field path, so the model parsers in ``bundle.py`` and ``trust.py``
never leak ``KeyError``, ``ValueError`` or ``binascii.Error``. Unknown fields are ignored (the
protojson "discard unknown" mode); this module does not decide which fields are required beyond
what the caller asks for. Integers must fit in 64 bits (int64 or uint64, the proto types behind
every integer field read here).

``parse_json`` decodes untrusted input on the verifying side (bundles, trust material, in-toto
payloads, log bodies, registry answers) with ``strictjson``, the one strict decoder: malformed
text, non-UTF-8, NaN/Infinity, nesting deeper than ``MAX_DEPTH``, lone surrogates and duplicate
keys are ``ValidationError``s. For the reason duplicate keys are refused, a field given in both its
camelCase and its snake_case spelling is refused too.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from datetime import UTC, datetime
from typing import Any

from . import strictjson
from .errors import ValidationError
from .strictjson import MAX_DEPTH

_SNAKE = re.compile(r"_([a-z0-9])")


@functools.lru_cache(maxsize=512)
def camel(name: str) -> str:
    """``snake_case`` → ``lowerCamelCase`` (the names are the schema's, a few dozen: kept once
    made; every entry a log writes asks for about thirty)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1


def parse_json(text: str | bytes, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON value strictly (``strictjson.loads``)."""
    return strictjson.loads(text, what, max_depth=max_depth)


def loads(text: str | bytes, what: str) -> dict[str, Any]:
    """Decode a JSON document that must be an object; ``what`` names it in errors."""
    return strictjson.loads_object(text, what)


def b64(data: bytes) -> str:
    """Standard base64 with padding, as proto3 JSON writes ``bytes``."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: object, where: str) -> bytes:
    """Decode proto3 JSON ``bytes`` (standard or URL-safe alphabet, padding optional)."""
    if not isinstance(text, str):
        raise ValidationError(f"{where} must be a base64 string")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{where} is not valid base64") from None


def strict_b64decode(text: object, where: str, *, canonical: bool = False) -> bytes:
    """Decode standard base64 with its padding and nothing else: no URL-safe alphabet, no
    whitespace (what Go's ``encoding/json`` takes for ``[]byte``: Rekor v1 bodies and SETs, CT's
    JSON, cosign's annotations). ``canonical`` also refuses set trailing bits, so that one value
    has one encoding (signed notes). ``ValidationError`` naming ``where`` otherwise."""
    if not isinstance(text, str):
        raise ValidationError(f"{where} must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{where} is not valid base64") from None
    if canonical and base64.b64encode(raw).decode("ascii") != text:
        raise ValidationError(f"{where} is not canonical base64")
    return raw


def rfc3339(value: datetime) -> str:
    """Format a timestamp the way protojson does (UTC, ``Z``, fractional seconds only if needed)."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: object, where: str) -> datetime:
    """Parse an RFC 3339 timestamp; a timestamp without an offset is rejected."""
    if not isinstance(text, str):
        raise ValidationError(f"{where} must be an RFC 3339 timestamp string")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python < 3.11 style parsers choke on more than 6 fractional digits; trim nanoseconds.
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)", value, re.ASCII)
    if match is None:
        raise ValidationError(f"{where} is not an RFC 3339 timestamp: {text!r}")
    frac = (match.group(2) or "")[:7]
    try:
        parsed = datetime.fromisoformat(match.group(1) + frac + match.group(3))
    except ValueError:
        raise ValidationError(f"{where} is not an RFC 3339 timestamp: {text!r}") from None
    return parsed.astimezone(UTC)


class Reader:
    """Typed access to the fields of one JSON object, by proto field name (snake_case)."""

    __slots__ = ("_obj", "_path")

    def __init__(self, obj: object, path: str) -> None:
        if not isinstance(obj, dict):
            raise ValidationError(f"{path} must be a JSON object")
        self._obj: dict[str, Any] = obj
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def where(self, name: str) -> str:
        return f"{self._path}.{camel(name)}"

    def has(self, name: str) -> bool:
        return self.raw(name) is not None

    def raw(self, name: str) -> Any:
        """The value under the camelCase or snake_case spelling; ``None`` if absent or null."""
        key = camel(name)
        if key != name and key in self._obj and name in self._obj:
            raise ValidationError(f"{self.where(name)} is given twice ({key} and {name})")
        if key in self._obj and self._obj[key] is not None:
            return self._obj[key]
        return self._obj.get(name)

    def _need(self, name: str) -> Any:
        value = self.raw(name)
        if value is None:
            raise ValidationError(f"{self.where(name)} is required")
        return value

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw(name)
        if value is None:
            if default is None:
                raise ValidationError(f"{self.where(name)} is required")
            return default
        if not isinstance(value, str):
            raise ValidationError(f"{self.where(name)} must be a string")
        return value

    def opt_text(self, name: str) -> str | None:
        return self.text(name) if self.has(name) else None

    def blob(self, name: str, *, required: bool = True) -> bytes:
        value = self.raw(name)
        if value is None:
            if required:
                raise ValidationError(f"{self.where(name)} is required")
            return b""
        return b64decode(value, self.where(name))

    def opt_blob(self, name: str) -> bytes | None:
        return self.blob(name) if self.has(name) else None

    def integer(self, name: str, *, required: bool = False) -> int:
        value = self.raw(name)
        if value is None:
            if required:
                raise ValidationError(f"{self.where(name)} is required")
            return 0
        if isinstance(value, bool):
            raise ValidationError(f"{self.where(name)} must be an integer")
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value):
            value = int(value)
        if not isinstance(value, int):
            raise ValidationError(f"{self.where(name)} must be an integer (or a decimal string)")
        if not _INT_MIN <= value <= _UINT_MAX:
            raise ValidationError(f"{self.where(name)} is out of the 64-bit integer range")
        return value

    def obj(self, name: str) -> Reader:
        return Reader(self._need(name), self.where(name))

    def opt_obj(self, name: str) -> Reader | None:
        return self.obj(name) if self.has(name) else None

    def array(self, name: str) -> list[Any]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValidationError(f"{self.where(name)} must be a list")
        return value

    def objs(self, name: str) -> list[Reader]:
        where = self.where(name)
        return [Reader(item, f"{where}[{i}]") for i, item in enumerate(self.array(name))]

    def time(self, name: str) -> datetime:
        return parse_rfc3339(self._need(name), self.where(name))
