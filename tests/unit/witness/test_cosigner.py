"""The witness's add-checkpoint answers through its Flask app on a real SQLite database: every
status of C2SP tlog-witness (200, 400, 403, 404, 409 with ``text/x.tlog.size``, 422), nothing
written for a refusal, the cosignature byte for byte against the spec's worked vector, the monitor
retrieval and the vkey."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.protocol import cosignature, merkle, note, vkeys
from sigstack.services.witness.store import checkpoints
from tests.unit.witness.helpers import NAME, TestLog, body, origin_hash, witness_app

# witness-monitor spec section 2: RFC 8032 test 1 seed, name witness.example/w1, time 1679315147,
# the C2SP tlog-checkpoint example body (computed there, byte-exact since Ed25519 is deterministic)
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
SPEC_VKEY = "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
SPEC_LINE = (
    "\u2014 witness.example/w1 63YswgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0"
    "yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n"
)
SPEC_ORIGIN, SPEC_SIZE = "example.com/behind-the-sofa", 20852163
SPEC_ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")


@pytest.fixture
def log() -> TestLog:
    return TestLog("log.example/one").grow(10)


@pytest.fixture
def p256() -> TestLog:
    return TestLog("log.example/p256", ec.generate_private_key(ec.SECP256R1())).grow(3)


@pytest.fixture
def client(tmp_path: Path, log: TestLog, p256: TestLog) -> Any:
    return witness_app(tmp_path / "w", log, p256).test_client()


def post(client: Any, data: bytes) -> Any:
    return client.post("/add-checkpoint", data=data)


def rows(client: Any) -> list[tuple[Any, ...]]:
    engine = client.application.extensions["witness"].store.engine
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(checkpoints.select().order_by("origin"))]


def witness_verifier(client: Any) -> note.NoteVerifier:
    return vkeys.parse_vkey(client.get("/vkey").get_data(as_text=True).strip())


def test_first_checkpoint_is_cosigned_and_the_line_verifies_with_the_vkey(
    client: Any, log: TestLog
) -> None:
    checkpoint = log.checkpoint()
    resp = post(client, body(0, [], checkpoint))
    assert resp.status_code == 200, resp.data
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    line = resp.get_data(as_text=True)
    assert line.startswith(f"\u2014 {NAME} ") and line.endswith("\n") and line.count("\n") == 1
    verifier = witness_verifier(client)
    assert isinstance(verifier, cosignature.CosignatureVerifier)
    opened = note.open_note(checkpoint + line, [verifier])
    timestamp, _ = cosignature.parse_cosignature(opened.signatures[0])
    assert timestamp > 0
    # the monitor retrieval: the log's line and the witness's
    latest = client.get(f"/{origin_hash(log.origin)}/checkpoint")
    assert latest.status_code == 200 and latest.get_data(as_text=True) == checkpoint + line


def test_the_cosignature_matches_the_spec_vector_byte_for_byte(tmp_path: Path) -> None:
    key_path = tmp_path / "seed.pem"
    pem = ed25519.Ed25519PrivateKey.from_private_bytes(SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())  # fmt: skip
    key_path.write_bytes(pem)
    os.chmod(key_path, 0o600)
    log = TestLog(SPEC_ORIGIN)
    app = witness_app(tmp_path / "w", log, name="witness.example/w1", key_path=key_path,
                      clock=lambda: 1679315147.9)  # fmt: skip
    client = app.test_client()
    assert client.get("/vkey").get_data(as_text=True) == SPEC_VKEY + "\n"
    resp = post(client, body(0, [], log.checkpoint(SPEC_SIZE, SPEC_ROOT)))
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, SPEC_LINE)


def test_growth_with_a_valid_proof_and_resubmission_of_the_same_checkpoint(
    client: Any, log: TestLog
) -> None:
    assert post(client, body(0, [], log.checkpoint())).status_code == 200
    for extra in (1, 255, 300):
        old = len(log.leaves)
        log.grow(extra)
        resp = post(client, body(old, log.proof(old), log.checkpoint()))
        assert resp.status_code == 200, resp.data
    size = len(log.leaves)
    again = post(client, body(size, [], log.checkpoint()))  # old = size, same root: cosigned again
    assert again.status_code == 200
    assert [r[:2] for r in rows(client)] == [(log.origin, size)]


def test_a_p256_log_is_followed_through_its_type_0x02_vkey(client: Any, p256: TestLog) -> None:
    impostor = TestLog(p256.origin, ec.generate_private_key(ec.SECP256R1()), list(p256.leaves))
    assert post(client, body(0, [], impostor.checkpoint())).status_code == 403
    resp = post(client, body(0, [], p256.checkpoint()))
    assert resp.status_code == 200
    note.open_note(p256.checkpoint() + resp.get_data(as_text=True), [witness_verifier(client)])


def _refused(client: Any, data: bytes, status: int, text: str | None = None) -> Any:
    before = rows(client)
    resp = post(client, data)
    assert resp.status_code == status, (resp.status_code, resp.data)
    if status != 409:
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        if text is not None:
            assert text in resp.get_data(as_text=True)
    assert rows(client) == before  # nothing written
    return resp


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"old 0",
        b"old 01\n\nx",
        b"old -1\n\nx",
        b"old 0 \n\nx",
        b"old 18446744073709551616\n\nx",
        b"OLD 0\n\nx",
        b"old 0\nnot base64!\n\nx",
        b"old 0\n" + base64.b64encode(b"\x00" * 31) + b"\n\nx",
        b"old 0\n" + b"AA==\n\nx",
        b"old 0\n" + (base64.b64encode(b"\x00" * 32) + b"\n") * 64 + b"\nx",
        b"old 0\n\n",
        b"old 0\n\n\xff\xfe",
        b"old 0\n\nlog.example/one\n1\n",  # no signature lines
        b"old 0\n\nlog.example/one\nten\nAAAA\n\n\xe2\x80\x94 x AAAAAAA=\n",
    ],
)
def test_unparsable_bodies_get_400(client: Any, data: bytes) -> None:
    _refused(client, data, 400)


def test_unknown_origin_gets_404(client: Any) -> None:
    other = TestLog("log.example/unknown").grow(2)
    _refused(client, body(0, [], other.checkpoint()), 404, "unknown log")


def test_unsigned_or_badly_signed_checkpoints_get_403(client: Any, log: TestLog) -> None:
    impostor = TestLog(log.origin, leaves=list(log.leaves))  # same origin, another key
    _refused(client, body(0, [], impostor.checkpoint()), 403)
    signed = note.SignedNote.from_text(log.checkpoint())
    (line,) = signed.signatures
    bad = note.NoteSignature(
        line.name, line.key_id, bytes([line.signature[0] ^ 1]) + line.signature[1:]
    )
    tampered = note.SignedNote(signed.text, (bad,)).to_text()
    _refused(client, body(0, [], tampered), 403)
    # a checkpoint body the log did not sign: its line over another body
    other = note.Checkpoint(log.origin, 10, merkle.root_of([b"x" * 32]))
    _refused(client, body(0, [], other.to_text() + "\n" + line.to_line()), 403)


def test_old_larger_than_the_checkpoint_gets_400(client: Any, log: TestLog) -> None:
    _refused(client, body(11, [], log.checkpoint()), 400, "old size")


def test_size_of_2_63_or_more_gets_400(client: Any, log: TestLog) -> None:
    _refused(client, body(0, [], log.checkpoint(1 << 63, b"\x01" * 32)), 400, "out of range")


def test_a_wrong_old_size_gets_409_with_the_size_as_text_x_tlog_size(
    client: Any, log: TestLog
) -> None:
    resp = _refused(client, body(5, log.proof(5), log.checkpoint()), 409)  # never cosigned: 0
    assert resp.headers["Content-Type"] == "text/x.tlog.size"  # exactly: no charset
    assert resp.get_data() == b"0\n"
    assert post(client, body(0, [], log.checkpoint())).status_code == 200
    log.grow(5)
    for old in (0, 3, 11):
        resp = _refused(client, body(old, log.proof(old), log.checkpoint()), 409)
        assert (resp.headers["Content-Type"], resp.get_data()) == ("text/x.tlog.size", b"10\n")


def test_inconsistent_checkpoints_get_422_and_are_logged_as_evidence(
    client: Any, log: TestLog, caplog: pytest.LogCaptureFixture
) -> None:
    assert post(client, body(0, [], log.checkpoint())).status_code == 200
    fork = log.fork(6).grow(10, tag="fork")
    caplog.set_level(logging.WARNING, "sigstack.witness")
    # same size, another root
    _refused(client, body(10, [], fork.checkpoint(10)), 422, "root differs")
    assert "INCONSISTENT CHECKPOINTS" in caplog.text and log.origin in caplog.text
    # a larger forked tree: the honest proof of the fork does not lead to the cosigned root
    _refused(client, body(10, fork.proof(10, 16), fork.checkpoint(16)), 422, "consistency proof")
    # the real log's proof with the forked checkpoint
    log.grow(6)
    _refused(client, body(10, log.proof(10), fork.checkpoint(16)), 422)
    # a proof where none belongs, and a proof of the wrong length
    _refused(client, body(10, [b"\x00" * 32], log.checkpoint(10)), 422, "must be empty")
    _refused(client, body(10, log.proof(10)[:-1], log.checkpoint()), 422)
    assert post(client, body(10, log.proof(10), log.checkpoint())).status_code == 200


def test_proofs_from_zero_and_empty_trees(tmp_path: Path) -> None:
    log = TestLog("log.example/empty")
    client = witness_app(tmp_path / "w", log).test_client()
    _refused(client, body(0, [], log.checkpoint(0, b"\x00" * 32)), 422, "empty tree")
    _refused(client, body(0, [b"\x00" * 32], log.checkpoint(0)), 422, "must be empty")
    assert post(client, body(0, [], log.checkpoint(0))).status_code == 200
    log.grow(3)
    _refused(client, body(0, [b"\x00" * 32], log.checkpoint()), 422, "must be empty")
    assert post(client, body(0, [], log.checkpoint())).status_code == 200  # from 0: no proof
    assert [r[:2] for r in rows(client)] == [(log.origin, 3)]


def test_other_signature_lines_are_ignored_and_not_kept(client: Any, log: TestLog) -> None:
    stranger = TestLog("someone.else").grow(1)
    extra = note.SignedNote.from_text(stranger.checkpoint()).signatures[0]
    checkpoint = log.checkpoint() + extra.to_line().replace("someone.else", "other.witness")
    resp = post(client, body(0, [], checkpoint))
    assert resp.status_code == 200
    kept = client.get(f"/{origin_hash(log.origin)}/checkpoint").get_data(as_text=True)
    assert "other.witness" not in kept and kept == log.checkpoint() + resp.get_data(as_text=True)


def test_monitor_retrieval_404s_and_oversized_bodies(client: Any, log: TestLog) -> None:
    assert client.get(f"/{origin_hash(log.origin)}/checkpoint").status_code == 404  # not yet
    assert client.get(f"/{origin_hash('log.example/unknown')}/checkpoint").status_code == 404
    assert client.get(f"/{origin_hash(log.origin).upper()}/checkpoint").status_code == 404
    assert client.get("/checkpoint").status_code == 404
    big = body(0, [], log.checkpoint()) + b"\xe2\x80\x94 x AAAAAAA=\n" * 6000
    assert post(client, big).status_code == 413
    assert rows(client) == []
