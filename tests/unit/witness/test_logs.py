"""The logs a witness follows: the logs/v0 list, trusted roots, and the request body format."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.client.cli import main as sigstack
from sigstack.protocol import cosignature, note, vkeys
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.services.witness import request
from sigstack.services.witness.logs import load_logs, parse_log_list, to_log_list
from tests.unit.witness.helpers import TestLog, log_list

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_a_log_list_with_both_key_types_origins_and_comments() -> None:
    ed, p256 = (
        TestLog("a.example/log"),
        TestLog("b.example", ec.generate_private_key(ec.SECP256R1())),
    )
    text = (
        "# the logs this witness follows\n"
        "logs/v0\n\n"
        f"vkey {ed.vkey()}\nqpd 86400\ncontact ops@example.com\n"
        f"vkey {p256.vkey()}\norigin b.example - 1193050959916656506\n"
    )
    first, second = parse_log_list(text, "list")
    assert (first.origin, first.qpd, first.verifiers[0].key_id) == (ed.origin, 86400, ed.key_id)
    assert second.origin == "b.example - 1193050959916656506"
    assert second.verifiers[0].name == "b.example"  # Rekor v1: signer name != origin
    assert (
        second.verifiers[0].key_id
        == hashlib.sha256(p256.key.public_key().public_bytes(*SPKI)).digest()[:4]
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "starts with the line"),
        ("logs/v1\n", "starts with the line"),
        ("logs/v0\norigin x\n", "before any 'vkey'"),
        ("logs/v0\nvkey nonsense\n", "malformed"),
        ("logs/v0\nvkey {ed}\nqpd lots\n", "qpd"),
        ("logs/v0\nvkey {ed}\norigin a\norigin b\n", "second origin"),
        ("logs/v0\nvkey {ed}\nurl https://x\n", "unknown keyword"),
        ("logs/v0\nvkey {cosign}\n", "witness's cosigning key"),
        ("logs/v0\nvkey {wrong_id}\n", "does not match"),
        ("logs/v0\nvkey {ecdsa_wrong_id}\n", "does not match"),
    ],
)
def test_bad_log_lists_are_refused_with_the_line(text: str, reason: str) -> None:
    ed = TestLog("a.example")
    raw = ed.key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    cosign_id = cosignature.cosignature_key_id("a.example", raw).hex()
    p256 = TestLog("b.example", ec.generate_private_key(ec.SECP256R1()))
    values = {
        "ed": ed.vkey(),
        "cosign": f"a.example+{cosign_id}+{base64.b64encode(bytes([4]) + raw).decode()}",
        "wrong_id": "a.example+00000000+" + ed.vkey().split("+", 2)[2],
        "ecdsa_wrong_id": "b.example+00000000+" + p256.vkey().split("+", 2)[2],
    }
    with pytest.raises(ConfigError, match=reason):
        parse_log_list(text.format(**values), "list")


def test_vkey_types_other_than_0x01_and_0x02_are_refused() -> None:
    with pytest.raises(ValidationError):
        vkeys.parse_log_vkey("a+00000000+" + base64.b64encode(b"\x06" + b"\x00" * 32).decode())
    rsa_like = base64.b64encode(b"\x02" + b"not der").decode()
    with pytest.raises(ValidationError, match="DER"):
        vkeys.parse_log_vkey("a+00000000+" + rsa_like)


def _tlog(url: str, key: object, log_id: bytes) -> dict[str, object]:
    der = key.public_bytes(*SPKI)  # type: ignore[attr-defined]
    details = (
        "PKIX_ED25519" if isinstance(key, ed25519.Ed25519PublicKey) else "PKIX_ECDSA_P256_SHA_256"
    )
    return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": details},
            "logId": {"keyId": base64.b64encode(log_id).decode()}}  # fmt: skip


def test_a_trusted_roots_rekor_v2_logs_are_followed_and_v1_logs_skipped(tmp_path: Path) -> None:
    v2 = ed25519.Ed25519PrivateKey.generate().public_key()
    v2_p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    v1 = ec.generate_private_key(ec.SECP256R1()).public_key()
    renamed = ed25519.Ed25519PrivateKey.generate().public_key()
    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            _tlog("https://log2025-1.rekor.example.com", v2,
                  note.note_key_digest("log2025-1.rekor.example.com", v2)),
            _tlog("http://127.0.0.1:3003/", v2_p256,
                  hashlib.sha256(v2_p256.public_bytes(*SPKI)).digest()),
            _tlog("https://rekor.example.com", v1, hashlib.sha256(v1.public_bytes(*SPKI)).digest()),
            _tlog("https://v2.example.com", renamed, note.note_key_digest("other.origin", renamed)),
        ],
        "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": [],
    }  # fmt: skip
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(root))
    listed = TestLog("127.0.0.1:3003", ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "list").write_text(log_list(listed))
    logs = load_logs(str(tmp_path / "list"), str(path))
    origins = sorted(lg.origin for lg in logs)
    # an ECDSA v1 log's ID is its SPKI hash, as a v2 log's: it is followed under the origin of its
    # URL, which no v1 checkpoint carries ("<host> - <tree ID>"), so it never matches one
    assert origins == ["127.0.0.1:3003", "log2025-1.rekor.example.com", "rekor.example.com"]
    assert len(logs.skipped) == 1 and "https://v2.example.com" in logs.skipped[0]
    merged = logs.get("127.0.0.1:3003")
    assert merged is not None and len(merged.verifiers) == 2  # the list's key and the root's


def test_load_logs_refuses_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the log list"):
        load_logs([str(tmp_path / "missing")])
    (tmp_path / "bad").write_bytes(b"\xff")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_logs(str(tmp_path / "bad"))
    (tmp_path / "root.json").write_text("{}")
    with pytest.raises(ConfigError):
        load_logs(trusted_root=str(tmp_path / "root.json"))


def test_request_bodies_round_trip_and_limits() -> None:
    proof = [bytes([i]) * 32 for i in range(63)]
    parsed = request.parse(request.build(7, proof, "note\n"))
    assert (parsed.old, parsed.proof, parsed.note) == (7, tuple(proof), "note\n")
    with pytest.raises(ValidationError):
        request.build(7, proof + [b"\x00" * 32], "note\n")
    with pytest.raises(ValidationError):
        request.build(-1, [], "note\n")
    assert request.parse(b"old 18446744073709551615\n\nx").old == (1 << 64) - 1


def test_a_log_list_is_written_back_as_read(tmp_path: Path) -> None:
    ed, p256 = TestLog("a.example"), TestLog("b.example", ec.generate_private_key(ec.SECP256R1()))
    text = f"logs/v0\nvkey {ed.vkey()}\nvkey {p256.vkey()}\norigin b.example - 7\n"
    assert to_log_list(parse_log_list(text)) == text
    (tmp_path / "list").write_text(text)
    done = sigstack(["witness", "log-list", "--logs", str(tmp_path / "list")])
    assert done == 0
