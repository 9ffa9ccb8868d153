"""``client.monitor.heads``: checkpoints of the real public logs and of throw-away ones verified
with the trusted-root key (or refused: another key, another origin, malformed), CT STHs, how two
heads relate, and the saved forms others keep checkpoints in."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.client.monitor.heads import (
    BEHIND,
    EXTENDS,
    FORK,
    SAME,
    CheckpointError,
    Head,
    LogKey,
    claims,
    parse_evidence,
    peek,
    relate,
)
from sigstack.protocol import cosignature, note, sct
from sigstack.protocol.errors import ValidationError
from tests.support.testdata import VECTORS, load_json
from tests.unit.monitor.certs import spki

REAL = load_json(VECTORS / "sigstore/checkpoints.json")
ROOT = hashlib.sha256(b"root").digest()


@pytest.mark.parametrize("vector", REAL, ids=[v["desc"] for v in REAL])
def test_real_rekor_checkpoints_verify_with_their_trusted_root_key(vector: dict[str, Any]) -> None:
    der = base64.b64decode(vector["logPublicKeyDerB64"])
    log_id = base64.b64decode(vector["logIdB64"])
    v2 = vector["logKeyDetails"] == "PKIX_ED25519"
    origin = vector["checkpoint"].split("\n", 1)[0]
    key = LogKey("tiles" if v2 else "rekor", der, log_id, None, origin if v2 else None)
    head = key.verify(vector["checkpoint"])
    assert head.size == vector["proofTreeSize"] and head.origin == origin
    assert head.root == base64.b64decode(vector["proofRootHashB64"])
    other = LogKey(key.kind, spki(ec.generate_private_key(ec.SECP256R1())), bytes(32), None,
                   key.origin)  # fmt: skip
    with pytest.raises(CheckpointError) as exc:
        other.verify(vector["checkpoint"])
    assert exc.value.alert == "bad_signature"


def _v2_log(origin: str = "log.example") -> tuple[LogKey, ed25519.Ed25519PrivateKey]:
    k = ed25519.Ed25519PrivateKey.generate()
    log_id = note.note_key_digest(origin, k.public_key())
    return LogKey("tiles", spki(k), log_id, None, origin), k


def _v2_note(k: Any, size: int, origin: str = "log.example", root: bytes = ROOT) -> str:
    key_id = note.note_key_digest(origin, k.public_key())[:4]
    return note.sign_checkpoint(note.Checkpoint(origin, size, root), origin, key_id, k.sign)


def test_tiles_checkpoints_cosigned_other_origin_and_tampered() -> None:
    key, k = _v2_log()
    text = _v2_note(k, 7)
    witness = ed25519.Ed25519PrivateKey.generate()
    cosigned = text + cosignature.cosign_line(text.split("\n\n")[0] + "\n", "w.example",
                                       b"\x01\x02\x03\x04", 1700000000, witness.sign)  # fmt: skip
    for t in (text, cosigned):
        assert key.verify(t) == Head(7, ROOT, t, "log.example")
    elsewhere = _v2_note(k, 7, origin="other.example")
    with pytest.raises(CheckpointError) as exc:
        key.verify(elsewhere)  # its key ID names another origin: no known signature
    assert exc.value.alert == "bad_signature"
    tampered = text.replace("\n7\n", "\n8\n")
    with pytest.raises(CheckpointError):
        key.verify(tampered)
    for garbage in ("", "not a note", text.split("\n\n")[0]):
        with pytest.raises(CheckpointError):
            key.verify(garbage)


def test_rekor_v1_checkpoint_for_another_origin_is_a_bad_checkpoint() -> None:
    k = ec.generate_private_key(ec.SECP256R1())
    der = spki(k)
    log_id = hashlib.sha256(der).digest()
    text = note.sign_checkpoint(note.Checkpoint("rekor.example - 1", 3, ROOT), "rekor.example",
                                log_id[:4], lambda m: k.sign(m, ec.ECDSA(hashes.SHA256())))  # fmt: skip
    assert LogKey("rekor", der, log_id, None, None).verify(text).origin == "rekor.example - 1"
    with pytest.raises(CheckpointError) as exc:
        LogKey("rekor", der, log_id, None, "rekor.example - 2").verify(text)
    assert exc.value.alert == "bad_checkpoint"


def _sth(k: Any, size: int, root: bytes = ROOT, ts: int = 1700000000000) -> dict[str, Any]:
    sig = k.sign(sct.tree_head_signed_data(ts, size, root), ec.ECDSA(hashes.SHA256()))
    return {"tree_size": size, "timestamp": ts, "sha256_root_hash": base64.b64encode(root).decode(),
            "tree_head_signature": base64.b64encode(sct.digitally_signed(sig)).decode()}  # fmt: skip


def test_ct_sths() -> None:
    k = ec.generate_private_key(ec.SECP256R1())
    der = spki(k)
    key = LogKey("ct", der, hashlib.sha256(der).digest(), None, None)
    sth = _sth(k, 9)
    head = key.verify(json.dumps(sth))
    assert (head.size, head.root) == (9, ROOT) and json.loads(head.evidence) == sth
    with pytest.raises(CheckpointError) as exc:
        key.verify(json.dumps({**sth, "tree_size": 10}))
    assert exc.value.alert == "bad_signature"
    for bad in ({**sth, "tree_size": -1}, {**sth, "tree_size": True}, {**sth, "timestamp": "1"},
                {**sth, "sha256_root_hash": "AAAA"}, {**sth, "tree_head_signature": "%%"},
                {"tree_size": 1}, [], "x"):  # fmt: skip
        with pytest.raises(CheckpointError) as exc:
            key.verify(json.dumps(bad))
        assert exc.value.alert == "bad_checkpoint"


def test_relate() -> None:
    held = Head(5, ROOT, "")
    assert relate(held, Head(5, ROOT, "x")) == SAME
    assert relate(held, Head(5, bytes(32), "")) == FORK
    assert relate(held, Head(6, bytes(32), "")) == EXTENDS
    assert relate(held, Head(4, ROOT, "")) == BEHIND


def test_saved_forms_peek_and_claims() -> None:
    key, k = _v2_log()
    text = _v2_note(k, 3)
    assert parse_evidence(text.encode(), "f") == [text]
    info = {"rootHash": ROOT.hex(), "signedTreeHead": text, "treeID": "1", "treeSize": 3}
    assert parse_evidence(json.dumps(info, indent=2).encode(), "f") == [text]
    ck = ec.generate_private_key(ec.SECP256R1())
    sths = [_sth(ck, 1), _sth(ck, 2)]
    lines = "\n".join(json.dumps(s) for s in sths) + "\n\n"
    assert [json.loads(t) for t in parse_evidence(lines.encode(), "f")] == sths
    for bad in (b"\xff", b'{"a": 1}', b'{"tree_head_signature": "x"}', b"{}\n{", b"{\n[1]\n"):
        with pytest.raises(ValidationError):
            parse_evidence(bad, "f")
    assert peek("tiles", text) == Head(3, ROOT, text, "log.example")
    assert peek("ct", json.dumps(sths[1])) is not None and peek("tiles", "junk") is None
    assert claims(key, text) and not claims(key, _v2_note(ed25519.Ed25519PrivateKey.generate(), 3))
    assert not claims(key, "junk")


def test_log_keys_that_do_not_load_are_refused() -> None:
    with pytest.raises(ValidationError):
        LogKey("tiles", b"not a key", bytes(32), None, "o")
    with pytest.raises(ValidationError):
        LogKey("nope", spki(ec.generate_private_key(ec.SECP256R1())), bytes(32), None, None)
    with pytest.raises(ValidationError):
        LogKey("rekor", spki(ec.generate_private_key(ec.SECP256R1())), b"12", None, None)
