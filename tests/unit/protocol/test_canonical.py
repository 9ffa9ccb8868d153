"""sigstack.protocol.canonical against the rfc8785 package on generated values (fast path and fallback)."""

from __future__ import annotations

import random

import pytest
import rfc8785

from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.errors import ValidationError

ALPHABET = ['a', 'Z', '"', '\\', '\n', '\t', '\x00', '\x1f', '\x7f', 'é', '\u2028', '€', '\ufeff',
            '\U0001f600', '\ue000', '/', ' ', 'b', '0']  # fmt: skip


def _string(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(6)))


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return _string(rng)
    if kind == 1:
        return rng.choice(
            [0, 1, -1, 2**53 - 1, -(2**53 - 1), 2**53, 123456789, rng.randrange(-(10**9), 10**9)]
        )
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice([0.5, 1e21, -0.0, 3.0])  # fallback path
    if kind == 4:
        return _string(rng)
    if kind in (5, 6):
        return {_string(rng): _value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_matches_rfc8785_on_generated_values() -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        value = _value(rng)
        try:
            expected = bytes(rfc8785.dumps(value))
        except rfc8785.CanonicalizationError:
            with pytest.raises(ValidationError):
                canonicalize(value)
            continue
        assert canonicalize(value) == expected, value


def test_log_body_shape_is_byte_identical() -> None:
    body = {"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {"signature": {
        "content": "MEUCIQ==", "publicKey": {"content": "LS0t"}}, "data": {"hash": {
            "algorithm": "sha256", "value": "ab" * 32}}}}  # fmt: skip
    assert canonicalize(body) == bytes(rfc8785.dumps(body))
    assert canonicalize(body).startswith(b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":')


@pytest.mark.parametrize("bad", [float("nan"), 2**64, {"k": object()}, "\ud800"])
def test_refused_values(bad) -> None:
    with pytest.raises(ValidationError):
        canonicalize(bad)
