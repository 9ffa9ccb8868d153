"""The JSON-level operators of the bundle mutation generator (``mutations`` has the seeds, the
allow-list and the runner): every node of a seed's document dropped, nulled and retyped; byte
fields flipped, cut, extended, emptied; integers moved (integrated times by a day and a decade);
enum-like strings changed; list items duplicated, reversed, added; the checkpoint note changed
line by line; parts grafted from other seeds; the whole document in other legal spellings and with
a key given twice."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

from sigstack.protocol.bundle import (
    MEDIA_TYPE_V01,
    MEDIA_TYPE_V02,
    MEDIA_TYPE_V03,
    MEDIA_TYPE_V03_ALT,
)
from tests.support.spellings import snake_case

from .mutations import Mutant, Path, Seed, allowed_for, nodes

BYTES = {"rawBytes", "canonicalizedBody", "signedEntryTimestamp", "rootHash", "keyId",
         "signature", "digest", "payload", "sig", "signedTimestamp"}  # fmt: skip
INTEGERS = {"logIndex", "integratedTime", "treeSize"}
DAY, YEARS_10 = 86400, 10 * 365 * 86400
STRINGS: dict[str, tuple[str, ...]] = {
    "kind": ("hashedrekord", "dsse", "intoto", "rekord", "HASHEDREKORD"),
    "version": ("0.0.1", "0.0.2", "0.0.3", "0.0.1 "),
    "algorithm": ("SHA2_256", "SHA2_384", "SHA2_512", "HASH_ALGORITHM_UNSPECIFIED", "sha256"),
    "payloadType": ("application/vnd.in-toto+json", "text/plain", "application/json"),
    "keyid": ("", "someone-else"),
    "hint": ("", "another key"),
}
MEDIA_TYPES = {"v01": MEDIA_TYPE_V01, "v02": MEDIA_TYPE_V02, "v03": MEDIA_TYPE_V03,
               "v03-alt": MEDIA_TYPE_V03_ALT}  # fmt: skip


def _set(doc: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _drop(doc: Any, path: Path) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def _get(doc: Any, path: Path) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _bytes_variants(value: str) -> Iterator[tuple[str, str]]:
    raw = base64.b64decode(value)
    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    if raw:
        for where in sorted({0, len(raw) // 3, len(raw) // 2, (2 * len(raw)) // 3, len(raw) - 1}):
            flipped = bytearray(raw)
            flipped[where] ^= 0x01
            yield f"flip-{where}", enc(bytes(flipped))
        yield "truncate", enc(raw[:-1])
    yield "extend", enc(raw + b"\x00")
    yield "empty", ""
    yield "not-base64", "!!" + value[2:]


def _int_variants(key: str, value: int) -> Iterator[tuple[str, Any]]:
    yield "plus-1", str(value + 1)
    yield "minus-1", str(value - 1)
    yield "zero", "0"
    yield "negative", str(-abs(value) - 1)
    yield "huge", str(10**18)
    yield "int64-max", str(2**63 - 1)
    yield "over-64-bits", "99999999999999999999"
    yield "not-a-number", "12a"
    if key == "integratedTime":
        for name, delta in (("day-later", DAY), ("day-earlier", -DAY),
                            ("decade-later", YEARS_10), ("decade-earlier", -YEARS_10)):  # fmt: skip
            yield name, str(value + delta)


def _checkpoint_variants(text: str) -> Iterator[tuple[str, str]]:
    body, _, sigs = text.partition("\n\n")
    lines = body.split("\n")
    sig_lines = [s for s in sigs.split("\n") if s]
    rest = "\n".join(sig_lines) + "\n"
    yield "checkpoint-origin", "\n".join(["x" + lines[0], *lines[1:]]) + "\n\n" + rest
    yield (
        "checkpoint-size",
        "\n".join([lines[0], str(int(lines[1]) + 1), *lines[2:]]) + "\n\n" + rest,
    )
    root = base64.b64encode(bytes(32)).decode()
    yield "checkpoint-root", "\n".join([*lines[:2], root, *lines[3:]]) + "\n\n" + rest
    yield "checkpoint-extension", body + "\nextra line\n\n" + rest
    yield "checkpoint-no-blank-line", body + "\n" + rest
    yield "checkpoint-no-signature", body + "\n\n"
    first = sig_lines[0]
    dash, name, b64 = first.split(" ")
    raw = base64.b64decode(b64)
    sig_flip = bytearray(raw)
    sig_flip[-1] ^= 1
    yield "checkpoint-sig", text.replace(b64, base64.b64encode(bytes(sig_flip)).decode())
    hint_flip = bytearray(raw)
    hint_flip[0] ^= 1
    yield "checkpoint-hint", text.replace(b64, base64.b64encode(bytes(hint_flip)).decode())
    yield "checkpoint-keyname", text.replace(f"{dash} {name} ", f"{dash} other.example ", 1)
    junk = base64.b64encode(raw[:4] + b"\x00" * (len(raw) - 4)).decode()
    yield "checkpoint-second-bad-sig", text + f"{dash} {name} {junk}\n"
    witness = base64.b64encode(b"\xab\xcd\xef\x01" + bytes(64)).decode()
    yield "checkpoint-cosignature", text + f"{dash} witness.example {witness}\n"
    yield "checkpoint-crlf", text.replace("\n", "\r\n")
    yield "checkpoint-signature-twice", text + first + "\n"


def field_mutants(seed: Seed) -> Iterator[tuple[str, Path, Any]]:
    """(op, path, mutated document) for every node of the seed's document."""
    doc = seed.doc
    for path, value in nodes(doc):
        key = path[-1]
        yield "drop", path, _drop(doc, path)
        yield "null", path, _set(doc, path, None)
        for name, other in (("retype-object", {}), ("retype-list", []), ("retype-number", 123457)):
            if type(other) is not type(value):
                yield name, path, _set(doc, path, other)
        parent = path[-2] if len(path) > 1 else None
        if isinstance(value, str) and (key in BYTES or parent == "hashes"):
            for name, variant in _bytes_variants(value):
                yield name, path, _set(doc, path, variant)
        elif key in INTEGERS:
            for name, variant in _int_variants(str(key), int(value)):
                yield name, path, _set(doc, path, variant)
        elif key == "mediaType" and len(path) == 1:
            for name, media_type in MEDIA_TYPES.items():
                if media_type != value:
                    yield f"mediatype-{name}", path, _set(doc, path, media_type)
            yield "change", path, _set(doc, path, value + ";x")
        elif key == "envelope":
            for name, variant in _checkpoint_variants(value):
                yield name, path, _set(doc, path, variant)
        elif isinstance(value, str):
            for other in STRINGS.get(str(key), ()):
                if other != value:
                    yield f"change-{other or 'empty'}", path, _set(doc, path, other)
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield "dup", (*path, i), _set(doc, path, [*value, item])
            if len(value) > 1:
                yield "reverse", path, _set(doc, path, value[::-1])
            junk = base64.b64encode(bytes(32)).decode() if key == "hashes" else {"rawBytes": "AAAA"}
            yield "append-junk", path, _set(doc, path, [*value, junk])
    entry = ("verificationMaterial", "tlogEntries", 0)
    if "dsseEnvelope" in doc and "keyid" not in doc["dsseEnvelope"]["signatures"][0]:
        where: Path = ("dsseEnvelope", "signatures", 0, "keyid")
        yield "add", where, _set(doc, where, "someone")
    if not seed.has_set:
        yield "add", (*entry, "integratedTime"), _set(doc, (*entry, "integratedTime"), "1700000000")
    for place in ((), ("verificationMaterial",), entry):
        yield "unknown-field", place, _set(doc, (*place, "notAField"), {"x": 1})


def graft_mutants(seed: Seed, others: list[Seed]) -> Iterator[tuple[str, Path, Any]]:
    """Parts of other seeds moved into this one (same path, or the entry's parts)."""
    entry = ("verificationMaterial", "tlogEntries", 0)
    paths: list[Path] = [
        entry, (*entry, "inclusionProof"), (*entry, "inclusionProof", "checkpoint"),
        (*entry, "inclusionProof", "hashes"), (*entry, "inclusionPromise"),
        (*entry, "canonicalizedBody"), (*entry, "logId"), (*entry, "integratedTime"),
        (*entry, "logIndex"), ("verificationMaterial", "certificate"),
        ("verificationMaterial", "x509CertificateChain"), ("messageSignature",),
        ("messageSignature", "signature"), ("dsseEnvelope",), ("dsseEnvelope", "payload"),
        ("verificationMaterial", "timestampVerificationData"),
    ]  # fmt: skip
    for other in others:
        for path in paths:
            try:
                theirs = _get(other.doc, path)
            except (KeyError, IndexError):
                continue
            try:
                mine = _get(seed.doc, path)
            except (KeyError, IndexError):
                mine = None
            parent_exists = True
            try:
                _get(seed.doc, path[:-1])
            except (KeyError, IndexError):
                parent_exists = False
            if theirs != mine and parent_exists:
                yield f"graft-{other.name}", path, _set(seed.doc, path, theirs)


def _urlsafe(obj: Any, key: str = "") -> Any:
    if isinstance(obj, dict):
        return {k: _urlsafe(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_urlsafe(v, key) for v in obj]
    if isinstance(obj, str) and (key in BYTES or key == "hashes"):
        return obj.replace("+", "-").replace("/", "_").rstrip("=")
    return obj


def _numbers(obj: Any, key: str = "") -> Any:
    if isinstance(obj, dict):
        return {k: _numbers(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v, key) for v in obj]
    return int(obj) if key in INTEGERS else obj


def text_mutants(seed: Seed) -> Iterator[tuple[str, Path, bytes]]:
    """Whole-document spellings, and the same key twice."""
    doc = seed.doc
    yield "reformat", (), json.dumps(doc, indent=3).encode()
    yield "reorder", (), json.dumps(_reverse_keys(doc)).encode()
    yield "snake-case", (), json.dumps(snake_case(doc)).encode()
    yield "base64url", (), json.dumps(_urlsafe(doc)).encode()
    yield "int-as-number", (), json.dumps(_numbers(doc)).encode()
    text = json.dumps(doc)
    for key in ("mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"):
        if key in doc:
            same = text[:-1] + f', "{key}": ' + json.dumps(doc[key]) + "}"
            yield "duplicate-key-same-value", (key,), same.encode()
    entry = seed.entry
    twice = dict(entry, log_index=str(int(entry["logIndex"]) + 1))
    doc2 = _set(doc, ("verificationMaterial", "tlogEntries", 0), twice)
    yield (
        "both-spellings",
        ("verificationMaterial", "tlogEntries", 0, "logIndex"),
        json.dumps(doc2).encode(),
    )


def _reverse_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _reverse_keys(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [_reverse_keys(v) for v in obj]
    return obj


def json_mutants(seeds: list[Seed]) -> list[Mutant]:
    out: list[Mutant] = []
    for seed in seeds:
        others = [s for s in seeds if s is not seed]
        docs = [*field_mutants(seed), *graft_mutants(seed, others)]
        for op, path, doc in docs:
            out.append(
                Mutant(seed, op, path, json.dumps(doc).encode(), allowed_for(seed, op, path))
            )
        for op, path, text in text_mutants(seed):
            out.append(Mutant(seed, op, path, text, allowed_for(seed, op, path)))
    return out
