"""Structure-aware mutations of seed inputs, shared by the hypothesis properties and the atheris
harnesses (tests/fuzz).

Every choice goes through a ``Picker`` (one method: an integer in a closed range), so the same
mutation code runs under hypothesis (``DrawPicker``: each choice is a draw, so failures shrink)
and under atheris (``RandomPicker``: a ``random.Random`` seeded by libFuzzer). ``mutate`` picks a
level that fits the seed:

- bytes: bit flips, interesting bytes, cuts, insertions, duplicated runs, truncation;
- tokens (UTF-8 text): words, spaces and punctuation deleted, duplicated, swapped, or replaced by
  tokens that break parsers (quotes, brackets, huge and negative numbers, ``\\ud800``, em dashes,
  base64 padding, PEM armour);
- JSON: a node deleted, retyped, replaced by an interesting value or by another node of the same
  document, keys renamed (camelCase / snake_case) or added, list items duplicated, numbers moved,
  and base64 strings decoded, mutated (recursively: JSON in base64, PEM, DER) and re-encoded;
- PEM: the DER inside one block mutated, the armour kept;
- DER: one TLV element of a well-formed DER tree given other content, tag or length, with every
  enclosing length fixed up, so certificates still parse and the code behind the parser runs.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
from collections.abc import Callable
from typing import Any, Protocol


class Picker(Protocol):
    def int(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""
        ...


class DrawPicker:
    """Choices drawn from hypothesis (``draw`` of a ``st.composite``)."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self._draw, self._st = draw, st

    def int(self, lo: int, hi: int) -> int:
        return int(self._draw(self._st.integers(lo, hi)))


class RandomPicker:
    """Choices from ``random.Random(seed)`` (atheris custom mutators)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - fuzzing, not cryptography

    def int(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)


def choice(pick: Picker, items: Any) -> Any:
    return items[pick.int(0, len(items) - 1)]


INTERESTING_BYTES = (0x00, 0x01, 0x0A, 0x20, 0x22, 0x2B, 0x2D, 0x3D, 0x7F, 0x80, 0x81, 0xFF)
INTERESTING_TOKENS = (
    '"', "{", "}", "[", "]", ",", ":", "null", "true", "0", "-1", "1e999", "-0", "1.5",
    "18446744073709551616", "-9223372036854775809", "\\ud800", "\\u0000", "\n", "\n\n", "\r",
    "\t", " ", "\u2014 ", "\u2014", "+", "=", "==", "/", ".", "..", "é", "\x00", "\x7f",
    "[" * 150, "AAAA", "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----", "Bearer ",
    "realm=", "sha256:", "@", "%", "\\",
)  # fmt: skip
_DEEP = "x"
for _ in range(150):
    _DEEP = [_DEEP]  # type: ignore[assignment]
INTERESTING_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**63, 2**64, -(2**63) - 1, 10**40, 0.5, -1.0, 1e300, "",
    " ", "A", "AAAA", "====", "\x00", "\ud800", "é", "-1", "18446744073709551616",
    "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-02-30T00:00:00Z", "x" * 300,
    [], {}, [None], {"": None}, _DEEP,
)  # fmt: skip
_B64 = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


def mutate(seed: bytes, pick: Picker, depth: int = 0) -> bytes:
    """One mutant of ``seed`` at a level that fits it (see the module docstring)."""
    levels: list[Callable[[bytes, Picker, int], bytes | None]] = [mutate_bytes]
    stripped = seed.lstrip()
    if stripped[:1] in (b"{", b"["):
        levels += [mutate_json, mutate_json, mutate_tokens]
    elif b"-----BEGIN " in seed:
        levels += [mutate_pem, mutate_pem, mutate_tokens]
    elif seed[:1] == b"\x30":
        levels += [mutate_der, mutate_der]
    else:
        levels += [mutate_tokens]
    out = choice(pick, levels)(seed, pick, depth)
    return seed if out is None else out


def mutate_bytes(seed: bytes, pick: Picker, depth: int = 0) -> bytes:
    data = bytearray(seed)
    for _ in range(pick.int(1, 3)):
        op = pick.int(0, 5)
        pos = pick.int(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << pick.int(0, 7)
        elif op == 1 and data:
            data[min(pos, len(data) - 1)] = choice(pick, INTERESTING_BYTES)
        elif op == 2:
            del data[pos : pos + pick.int(1, 64)]
        elif op == 3:
            data[pos:pos] = bytes(pick.int(0, 255) for _ in range(pick.int(1, 8)))
        elif op == 4:
            data[pos:pos] = data[pos : pos + pick.int(1, 64)]
        else:
            del data[pos:]
    return bytes(data)


def mutate_tokens(seed: bytes, pick: Picker, depth: int = 0) -> bytes | None:
    try:
        text = seed.decode("utf-8")
    except UnicodeDecodeError:
        return None
    tokens = _TOKEN.findall(text) or [""]
    for _ in range(pick.int(1, 3)):
        op = pick.int(0, 4)
        i = pick.int(0, len(tokens) - 1)
        if op == 0 and len(tokens) > 1:
            del tokens[i]
        elif op == 1:
            tokens.insert(i, tokens[i])
        elif op == 2:
            tokens[i] = choice(pick, INTERESTING_TOKENS)
        elif op == 3:
            tokens.insert(i, choice(pick, INTERESTING_TOKENS))
        else:
            j = pick.int(0, len(tokens) - 1)
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens).encode("utf-8", "surrogatepass")


# -- JSON ---------------------------------------------------------------------------------------


def _nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every node below the root, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack and len(out) < 5000:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            out.append((node, key))
            if isinstance(value, dict | list) and value is not _DEEP:
                stack.append(value)
    return out


def _spellings(key: str) -> list[str]:
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)
    camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)
    return [k for k in (snake, camel, key.upper(), key + "x", "") if k != key]


def _mutate_string(value: str, pick: Picker, depth: int) -> str:
    if depth < 3 and _B64.fullmatch(value) and pick.int(0, 3):
        urlsafe = "-" in value or "_" in value
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "==")
        except (binascii.Error, ValueError):
            raw = None
        if raw is not None:
            inner = mutate(raw, pick, depth + 1)
            encoded = base64.b64encode(inner).decode()
            if urlsafe:
                encoded = encoded.replace("+", "-").replace("/", "_").rstrip("=")
            return encoded
    out = mutate_tokens(value.encode("utf-8", "surrogatepass"), pick, depth)
    return value if out is None else out.decode("utf-8", "surrogatepass")


def _interesting(pick: Picker) -> Any:
    """A fresh copy (mutations edit values in place; the table must never change)."""
    return copy.deepcopy(choice(pick, INTERESTING_VALUES))


def _mutate_value(value: Any, pick: Picker, depth: int) -> Any:
    if isinstance(value, str):
        return _mutate_string(value, pick, depth)
    if isinstance(value, bool) or value is None:
        return _interesting(pick)
    if isinstance(value, int):
        return choice(
            pick,
            (
                value + 1,
                value - 1,
                -value,
                value * 2**32,
                str(value),
                value / 3 if abs(value) < 2**1000 else 0,
            ),
        )
    if isinstance(value, float):
        return choice(pick, (round(value) if value == value and abs(value) < 1e300 else 0,
                             -value, value * 1e300, str(value)))  # fmt: skip
    if isinstance(value, list):
        if value and pick.int(0, 1):
            value.insert(pick.int(0, len(value)), copy.deepcopy(choice(pick, value)))
        else:
            value.reverse()
        return value
    if isinstance(value, dict):
        if value and pick.int(0, 1):
            key = choice(pick, list(value))
            spelled = choice(pick, _spellings(key))
            value[spelled] = value.pop(key) if pick.int(0, 1) else copy.deepcopy(value[key])
        else:
            value[choice(pick, ("unknown", "x", "", "mediaType", "kind"))] = _interesting(pick)
        return value
    return value


def mutate_json(seed: bytes, pick: Picker, depth: int = 0) -> bytes | None:
    try:
        doc = json.loads(seed)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict | list):
        return None
    for _ in range(pick.int(1, 3)):
        nodes = _nodes(doc)
        if not nodes:
            doc = _mutate_value(doc, pick, depth)
            break
        container, key = choice(pick, nodes)
        op = pick.int(0, 5)
        if op == 0:
            del container[key]
        elif op == 1:
            container[key] = _interesting(pick)
        elif op == 2:
            other, other_key = choice(pick, nodes)
            container[key] = copy.deepcopy(other[other_key])
        elif op == 3:
            container[key] = choice(pick, ([container[key]], {"value": container[key]}))
        else:
            container[key] = _mutate_value(container[key], pick, depth)
    text = json.dumps(doc, ensure_ascii=bool(pick.int(0, 1)), indent=choice(pick, (None, 1)))
    return text.encode("utf-8", "surrogatepass")


# -- PEM and DER --------------------------------------------------------------------------------

_PEM = re.compile(rb"(-----BEGIN [A-Z ]+-----\r?\n)([A-Za-z0-9+/=\r\n]+)(-----END [A-Z ]+-----)")


def mutate_pem(seed: bytes, pick: Picker, depth: int = 0) -> bytes | None:
    blocks = list(_PEM.finditer(seed))
    if not blocks:
        return None
    block = choice(pick, blocks)
    try:
        der = base64.b64decode(block.group(2))
    except (binascii.Error, ValueError):
        return None
    inner = mutate(der, pick, depth + 1)
    body = base64.b64encode(inner)
    wrapped = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64)) + b"\n"
    return seed[: block.start(2)] + wrapped + seed[block.end(2) :]


def der_parse(data: bytes, pos: int, end: int, depth: int) -> list[Any] | None:
    """[tag, content bytes or children list] per element of data[pos:end]; None if not DER."""
    out = []
    while pos < end:
        if pos + 2 > end:
            return None
        tag, first = data[pos], data[pos + 1]
        if first < 0x80:
            start, length = pos + 2, first
        else:
            width = first & 0x7F
            if not 1 <= width <= 3 or pos + 2 + width > end:
                return None
            start = pos + 2 + width
            length = int.from_bytes(data[pos + 2 : start], "big")
        if start + length > end:
            return None
        content: Any = data[start : start + length]
        if tag & 0x20 and depth < 12:
            children = der_parse(data, start, start + length, depth + 1)
            if children is None:
                return None
            content = children
        out.append([tag, content])
        pos = start + length
    return out


def _der_header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes([tag, length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw


def der_write(elements: list[Any]) -> bytes:
    out = b""
    for tag, content in elements:
        body = der_write(content) if isinstance(content, list) else content
        out += _der_header(tag, len(body)) + body
    return out


def mutate_der(seed: bytes, pick: Picker, depth: int = 0) -> bytes | None:
    tree = der_parse(seed, 0, len(seed), 0)
    if not tree:
        return None
    flat: list[list[Any]] = []
    stack = list(tree)
    while stack:
        element = stack.pop()
        flat.append(element)
        if isinstance(element[1], list):
            stack.extend(element[1])
    element = choice(pick, flat)
    op = pick.int(0, 4)
    if op == 0:
        element[0] = choice(pick, (0x01, 0x02, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x17, 0x30, 0xA0))
    elif op == 1 and isinstance(element[1], list) and element[1]:
        children = element[1]
        i = pick.int(0, len(children) - 1)
        if pick.int(0, 1):
            del children[i]
        else:
            children.insert(i, copy.deepcopy(children[i]))
    elif isinstance(element[1], bytes):
        element[1] = mutate(element[1], pick, depth + 1) if depth < 3 else element[1][:-1]
    else:
        element[1] = der_write(element[1])[: pick.int(0, 8)]
    return der_write(tree)
