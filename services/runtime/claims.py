"""Conditions on a verified token's claims, written in configuration: which claim, and the patterns
its value must match. Shared by Fulcio's issuance policy and the OIDC issuer's token-exchange
rules (docs/fulcio.md "Issuance policy", docs/oidc.md "Token exchange"); what a failed condition
means (a 403, an ``invalid_request``) is each service's.

- A claim is named by its top-level name (``repository``, ``email``) or, for nested claims, by an
  RFC 6901 JSON Pointer (``/kubernetes.io/namespace``; ``~1`` is ``/`` and ``~0`` is ``~`` inside
  a name; ``/groups/0`` is an array's first element). A claim that is absent, or a pointer that
  leads nowhere, matches nothing.
- A pattern is the whole value: ``*`` matches any run of characters (none included); every other
  character stands for itself (``?`` and ``[`` too). Patterns are case-sensitive.
- A string value matches if one of the condition's patterns matches it; ``true``, ``false`` and
  whole numbers as their JSON text (``"true"``, ``"42"``); a list (``groups``) if one of its
  elements does; objects, fractions and ``null`` never match.

``Condition.parse`` refuses a malformed condition with ``ConfigError`` naming ``where`` it is, so
a bad configuration stops the service at start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigstack.protocol.errors import ConfigError

MAX_PATTERNS = 256
MAX_PATTERN_CHARS = 1024


def pointer(name: str, where: str) -> tuple[str, ...]:
    """The path of a claim name or RFC 6901 JSON Pointer (module docstring)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: a claim name must be a non-empty string")
    if not name.startswith("/"):
        return (name,)
    parts = name[1:].split("/")
    for part in parts:
        if re.search(r"~(?![01])", part):
            raise ConfigError(f"{where}: {name!r} is not a JSON Pointer (~ must be ~0 or ~1)")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in parts)


_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")  # RFC 6901 section 4 array-index (ASCII digits)


def lookup(claims: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in ``claims``, or None when there is none. As RFC 6901 section 4
    says, a part names an object's member or, below an array, an element by its decimal index
    (no leading zero, no ``-``)."""
    node: Any = claims
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _pattern(pattern: Any, where: str) -> str:
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
        raise ConfigError(
            f"{where}: a pattern must be a string of at most {MAX_PATTERN_CHARS} characters"
        )
    return pattern


def glob(pattern: str, text: str) -> bool:
    """``text`` matches ``pattern`` as a whole, ``*`` standing for any run of characters. The
    classic two-index matcher (back to the last ``*`` on a mismatch): at most
    len(pattern) x len(text) steps whatever the pattern, where a regular expression of several
    ``.*`` can take far longer on a long claim."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif p < len(pattern) and pattern[p] == text[t]:
            p += 1
            t += 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _texts(value: Any) -> list[str]:
    """The strings a claim value is compared as (module docstring)."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, list):
        return [text for item in value if not isinstance(item, list) for text in _texts(item)]
    return []


@dataclass(frozen=True)
class Condition:
    """One claim and the patterns its value must match (any of them)."""

    claim: str  # as written in the configuration (shown in logs, never the value)
    path: tuple[str, ...]
    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, claim: Any, patterns: Any, where: str) -> Condition:
        """``patterns`` is one pattern or a non-empty list of them."""
        listed = patterns if isinstance(patterns, list) else [patterns]
        if not listed or len(listed) > MAX_PATTERNS:
            raise ConfigError(f"{where}: give 1 to {MAX_PATTERNS} patterns for {claim!r}")
        path = pointer(claim, where)
        return cls(claim, path, tuple(_pattern(p, f"{where} ({claim})") for p in listed))

    def holds(self, claims: Mapping[str, Any]) -> bool:
        texts = _texts(lookup(claims, self.path))
        return any(glob(pattern, text) for text in texts for pattern in self.patterns)


def parse_conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    """A JSON object of claim → pattern(s), as a tuple of conditions (all must hold)."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: claims must be a non-empty JSON object of claim: pattern(s)")
    return tuple(Condition.parse(claim, patterns, where) for claim, patterns in raw.items())


def all_hold(conditions: tuple[Condition, ...], claims: Mapping[str, Any]) -> bool:
    return all(condition.holds(claims) for condition in conditions)


__all__ = ["Condition", "all_hold", "glob", "lookup", "parse_conditions", "pointer"]
