"""Certificates that cryptography loads (it parses extensions lazily) but whose extensions do not
parse: the regression inputs for the escapes the fuzzers found behind ``cert.extensions``."""

from __future__ import annotations

import copy
from typing import Any

from .mutate import der_parse, der_write


def _extensions(tree: list[Any]) -> list[Any]:
    tbs = tree[0][1][0][1]
    return next(e for e in tbs if e[0] == 0xA3)[1][0][1]


def duplicated_extension(der: bytes) -> bytes:
    """``der`` with its first extension twice (signature no longer valid)."""
    tree = der_parse(der, 0, len(der), 0)
    assert tree is not None
    exts = _extensions(tree)
    exts.append(copy.deepcopy(exts[0]))
    return der_write(tree)


def malformed_extension(der: bytes) -> bytes:
    """``der`` with the value of every extension cryptography understands replaced by a BOOLEAN
    where a SEQUENCE belongs."""
    tree = der_parse(der, 0, len(der), 0)
    assert tree is not None
    for ext in _extensions(tree):
        ext[1][-1][1] = b"\x01\x01\xff"
    return der_write(tree)
