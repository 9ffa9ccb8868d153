"""Fuzzing signed notes and checkpoints (protocol.note): only ``protocol.errors.Error`` escapes.

Entry points: ``SignedNote.from_text``, ``Checkpoint.from_text``, ``open_note`` and
``verify_checkpoint`` (with the vectors' Ed25519 verifier keys), ``verify_rekor_checkpoint`` (with
each Sigstore vector's log ID and key), ``parse_vkey``, ``parse_cosignature``. Seeds: the C2SP,
golang sumdb and transparency-dev vectors and the Sigstore checkpoints in tests/data/vectors.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from sigstack.protocol import cosignature, note, vkeys
from tests.support.testdata import VECTORS

from .core import Target, property_tests, text


@functools.cache
def _vectors() -> dict[str, Any]:
    folder = VECTORS / "signed-note"
    out = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    out["sigstore"] = json.loads((VECTORS / "sigstore" / "checkpoints.json").read_text())
    return out


@functools.cache
def note_seeds() -> list[bytes]:
    v = _vectors()
    notes = [c["note"] for c in v["c2sp-examples"]["open"]]
    notes += [c["note"] for c in v["c2sp-examples"]["examplesWithoutKeys"]]
    notes += [c["note"] for c in v["golang-sumdb-note"]["open"]]
    notes += [c["checkpoint"] for c in v["sigstore"]]
    return [n.encode() for n in notes]


@functools.cache
def checkpoint_seeds() -> list[bytes]:
    v = _vectors()["transparency-dev-checkpoint-parse"]
    bodies = [c["m"] for c in v["unmarshal"]] + [c["want"] for c in v["marshal"]]
    bodies += [n.decode().partition("\n\n")[0] + "\n" for n in note_seeds()]
    return [b.encode() for b in bodies]


@functools.cache
def vkey_seeds() -> list[bytes]:
    v = _vectors()
    keys = list(v["golang-sumdb-note"]["verifierKeys"]["valid"])
    keys += [c["vkey"] for c in v["golang-sumdb-note"]["verifierKeys"]["invalid"]]
    keys += [k for c in v["c2sp-examples"]["open"] for k in c["verifiers"]]
    return [k.encode() for k in keys]


@functools.cache
def _verifiers() -> list[note.NoteVerifier]:
    return [vkeys.parse_vkey(k.decode()) for k in vkey_seeds()[:2] + vkey_seeds()[-1:]]


@functools.cache
def _rekor_keys() -> list[tuple[bytes, bytes]]:
    return [
        (base64.b64decode(c["logIdB64"]), base64.b64decode(c["logPublicKeyDerB64"]))
        for c in _vectors()["sigstore"]
    ]


def _verify_rekor(data: bytes) -> None:
    for log_id, key in _rekor_keys():
        try:
            note.verify_rekor_checkpoint(data, log_id, key)
        except note.VerificationError:
            continue


def _cosignature(data: bytes) -> None:
    cosignature.parse_cosignature(data)
    for line in note.SignedNote.from_text(data).signatures:
        cosignature.parse_cosignature(line)


TARGETS = [
    Target("SignedNote.from_text", note.SignedNote.from_text, note_seeds),
    Target("SignedNote.from_text(str)", lambda d: note.SignedNote.from_text(text(d)), note_seeds),
    Target("Checkpoint.from_text", lambda d: note.Checkpoint.from_text(text(d)), checkpoint_seeds),
    Target("open_note", lambda d: note.open_note(d, _verifiers()), note_seeds),
    Target("verify_checkpoint", lambda d: note.verify_checkpoint(d, _verifiers()), note_seeds),
    Target("verify_rekor_checkpoint", _verify_rekor, note_seeds),
    Target("parse_vkey", lambda d: vkeys.parse_vkey(text(d)), vkey_seeds),
    Target("parse_cosignature", _cosignature, note_seeds),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=200, mutated=800)
