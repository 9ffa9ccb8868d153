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


def _tbs(tree: list[Any]) -> list[Any]:
    return tree[0][1][0][1]


def bad_version(der: bytes) -> bytes:
    """``der`` claiming X.509 version 4 (cryptography raises ``InvalidVersion`` on loading)."""
    tree = der_parse(der, 0, len(der), 0)
    assert tree is not None
    _tbs(tree)[0][1][0][1] = b"\x03"
    return der_write(tree)


def malformed_subject(der: bytes) -> bytes:
    """``der`` whose subject's first RDN holds the same attribute twice: cryptography loads it,
    but its chain builder refuses the SET (``ValueError``)."""
    tree = der_parse(der, 0, len(der), 0)
    assert tree is not None
    rdn = _tbs(tree)[5][1][0][1]
    rdn.append(copy.deepcopy(rdn[0]))
    return der_write(tree)


def unknown_key_type(der: bytes) -> bytes:
    """``der`` whose public key algorithm is the prime256v1 curve OID (``UnsupportedAlgorithm``
    from ``public_key()``)."""
    tree = der_parse(der, 0, len(der), 0)
    assert tree is not None
    _tbs(tree)[6][1][0][1][0][1] = bytes.fromhex("2a8648ce3d030107")
    return der_write(tree)
