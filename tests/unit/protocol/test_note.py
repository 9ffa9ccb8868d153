"""sigstack.protocol.note against golang.org/x/mod sumdb/note, C2SP, transparency-dev and real Sigstore
checkpoints, plus sign/open round trips."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256, SHA384

from sigstack.protocol import cosignature, note, vkeys
from sigstack.protocol.errors import ValidationError, VerificationError
from tests.support.keys import der_public
from tests.support.testdata import VECTORS, load_json

SN = VECTORS / "signed-note"
GO = load_json(SN / "golang-sumdb-note.json")
C2SP = load_json(SN / "c2sp-examples.json")
TD = load_json(SN / "transparency-dev-checkpoint-parse.json")
TREE = load_json(SN / "golang-sumdb-tree.json")
SIGSTORE = load_json(VECTORS / "sigstore" / "checkpoints.json")


def _ids(cases: list[dict]) -> list[str]:
    return [c.get("desc", str(i)) for i, c in enumerate(cases)]


def _go_skey(skey: str) -> tuple[str, bytes, ed25519.Ed25519PrivateKey]:
    _, _, name, hex_id, b64 = skey.split("+", 4)
    blob = base64.b64decode(b64)
    assert blob[0] == 1
    return name, bytes.fromhex(hex_id), ed25519.Ed25519PrivateKey.from_private_bytes(blob[1:])


# --- golang.org/x/mod/sumdb/note ---------------------------------------------------------------


@pytest.mark.parametrize("vkey", GO["verifierKeys"]["valid"])
def test_go_valid_vkeys(vkey: str) -> None:
    v = vkeys.parse_vkey(vkey)
    name, hex_id, b64 = vkey.split("+")
    assert (v.name, v.key_id.hex()) == (name, hex_id)
    assert note.ed25519_key_id(name, base64.b64decode(b64)[1:]) == v.key_id


@pytest.mark.parametrize("case", GO["verifierKeys"]["invalid"], ids=lambda c: c["why"])
def test_go_invalid_vkeys(case: dict) -> None:
    with pytest.raises(ValidationError):
        vkeys.parse_vkey(case["vkey"])


@pytest.mark.parametrize("vkey", GO["verifierKeys"]["valid"])
def test_go_vkey_increments_and_substrings_rejected(vkey: str) -> None:
    # As in Go's TestNewVerifier: no single-byte increment and no proper substring is a valid key.
    for i in range(len(vkey)):
        with pytest.raises(ValidationError):
            vkeys.parse_vkey(vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :])
    for start in range(len(vkey)):
        for end in range(start, len(vkey) + 1):
            if (start, end) != (0, len(vkey)):
                with pytest.raises(ValidationError):
                    vkeys.parse_vkey(vkey[start:end])


@pytest.mark.parametrize("case", GO["signerKeys"]["valid"])
def test_go_signer_key_matches_vkey(case: dict) -> None:
    name, key_id, private = _go_skey(case["skey"])
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert note.ed25519_key_id(name, raw) == key_id
    v = vkeys.parse_vkey(case["matchingVkey"])
    assert (v.name, v.key_id) == (name, key_id)


@pytest.mark.parametrize("case", GO["sign"])
def test_go_sign_byte_exact(case: dict) -> None:
    name, key_id, private = _go_skey(case["skey"])
    assert note.sign_note(case["text"], name, key_id, private.sign) == case["wantSignedNote"]


@pytest.mark.parametrize("case", GO["open"], ids=_ids(GO["open"]))
def test_go_open(case: dict) -> None:
    verifiers = [vkeys.parse_vkey(k) for k in case["verifiers"] or []]
    if case.get("wantError"):
        with pytest.raises(VerificationError):
            note.open_note(case["note"], verifiers)
        return
    opened = note.open_note(case["note"], verifiers)
    assert opened.text == case["wantText"]
    got = [f"{s.name}+{s.key_id.hex()}" for s in opened.signatures]
    assert got == case["wantVerified"]
    every = [
        f"{s.name}+{s.key_id.hex()}" for s in note.SignedNote.from_text(case["note"]).signatures
    ]
    assert [x for x in every if x not in got] == (case["wantUnverified"] or [])
    assert note.SignedNote.from_text(case["note"]).to_text() == case["note"]


def test_go_open_rejects_invalid_utf8() -> None:
    good = GO["sign"][0]["wantSignedNote"].encode()
    verifiers = [vkeys.parse_vkey(GO["verifierKeys"]["valid"][0])]
    note.open_note(good, verifiers)
    with pytest.raises(VerificationError):
        note.open_note(b"\xff" + good, verifiers)
    with pytest.raises(ValidationError):
        note.SignedNote.from_text(b"\xff" + good)


def test_go_tree_head_format() -> None:
    ft = TREE["formatTree"]
    root = hashlib.sha256(b"\x00" + ft["recordHashOf"].encode()).digest()
    cp = note.Checkpoint("go.sum database tree", ft["n"], root)
    assert cp.to_text() == ft["want"]
    assert note.Checkpoint.from_text(ft["want"]) == cp


# --- C2SP examples --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", C2SP["open"], ids=_ids(C2SP["open"]))
def test_c2sp_open(case: dict) -> None:
    opened = note.open_note(case["note"], [vkeys.parse_vkey(k) for k in case["verifiers"]])
    assert opened.text == case["wantText"]
    assert [f"{s.name}+{s.key_id.hex()}" for s in opened.signatures] == case["wantVerified"]


@pytest.mark.parametrize("case", C2SP["examplesWithoutKeys"], ids=_ids(C2SP["examplesWithoutKeys"]))
def test_c2sp_parse_only(case: dict) -> None:
    parsed = note.SignedNote.from_text(case["note"])
    assert parsed.to_text() == case["note"]
    cp = note.Checkpoint.from_text(parsed.text)
    if "wantOrigin" in case:
        assert (cp.origin, cp.size) == (case["wantOrigin"], case["wantSize"])
        assert cp.root_hash == base64.b64decode(case["wantRootHashB64"])
    assert parsed.signatures[0].name == cp.origin
    with pytest.raises(VerificationError):  # no key known
        note.verify_checkpoint(case["note"], [])
    for key, want in case.items():
        if key.startswith("cosignedMessageForTime"):
            timestamp = int(key.removeprefix("cosignedMessageForTime"))
            cosig = parsed.signatures[1]
            assert cosignature.parse_cosignature(cosig) == (timestamp, cosig.signature[8:])
            assert cosignature.cosignature_message(parsed.text, timestamp) == want.encode()


# --- transparency-dev/formats checkpoint bodies ------------------------------------------------


@pytest.mark.parametrize("case", TD["marshal"], ids=lambda c: c["origin"])
def test_td_marshal(case: dict) -> None:
    cp = note.Checkpoint(case["origin"], case["size"], case["hashUtf8"].encode())
    assert cp.to_text() == case["want"]


@pytest.mark.parametrize("case", TD["unmarshal"], ids=_ids(TD["unmarshal"]))
def test_td_unmarshal(case: dict) -> None:
    if case["wantErr"]:
        with pytest.raises(ValidationError):
            note.Checkpoint.from_text(case["m"])
        return
    cp = note.Checkpoint.from_text(case["m"])
    assert (cp.origin, cp.size) == (case["wantOrigin"], case["wantSize"])
    assert cp.root_hash == case["wantHashUtf8"].encode()
    assert "".join(f"{e}\n" for e in cp.extensions) == case["wantRest"]
    assert cp.to_text() == case["m"]


@pytest.mark.parametrize(
    "body",
    ["Log\n0123\nYmFuYW5hcw==\n", "Log\n+1\nYmFuYW5hcw==\n", "Log\n1\nYmFuYW5hcw\n",
     "Log\n1\n\n", "Log\n1\nYmFuYW5hcw==\next", "Log\n١\nYmFuYW5hcw==\n", "Log\n1 \nYQ==\n",
     "Log\n18446744073709551616\nYQ==\n", "Lo\x00g\n1\nYQ==\n", "Log\n1\nYR==\n"],
)  # fmt: skip
def test_checkpoint_strictness(body: str) -> None:
    with pytest.raises(ValidationError):
        note.Checkpoint.from_text(body)


def test_checkpoint_max_size_and_zero() -> None:
    assert note.Checkpoint.from_text("L\n18446744073709551615\nYQ==\n").size == 2**64 - 1
    assert note.Checkpoint.from_text("L\n0\nYQ==\n").size == 0
    with pytest.raises(ValidationError):
        note.Checkpoint("L", -1, b"a")
    with pytest.raises(ValidationError):
        note.Checkpoint("L\nx", 1, b"a")


# --- real Sigstore checkpoints -----------------------------------------------------------------


@pytest.mark.parametrize("case", SIGSTORE, ids=_ids(SIGSTORE))
def test_sigstore_checkpoint(case: dict) -> None:
    assert case["wantErr"] is False or case.get("observedValid") is not False
    der = base64.b64decode(case["logPublicKeyDerB64"])
    log_id = base64.b64decode(case["logIdB64"])
    cp = note.verify_rekor_checkpoint(case["checkpoint"], log_id, der)
    assert cp.root_hash == base64.b64decode(case["proofRootHashB64"])
    assert cp.size == case["proofTreeSize"]
    # The C2SP path with the key ID rule of each Rekor generation gives the same answer.
    parsed = note.SignedNote.from_text(case["checkpoint"])
    name = parsed.signatures[0].name
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    if case["logKeyDetails"] == "PKIX_ED25519":
        assert name == cp.origin
        assert note.note_key_digest(name, key) == log_id
        verifier = note.verifier_for_key(name, key)
    else:
        assert cp.origin.startswith(name + " - ")
        assert note.ecdsa_key_id(der) == log_id[:4] and hashlib.sha256(der).digest() == log_id
        verifier = note.verifier_for_key(name, der)
    assert verifier.key_id == log_id[:4]
    assert note.verify_checkpoint(case["checkpoint"], [verifier]) == cp
    # A tampered body is rejected by both paths.
    tampered = case["checkpoint"].replace(f"\n{cp.size}\n", f"\n{cp.size + 1}\n", 1)
    with pytest.raises(VerificationError):
        note.verify_rekor_checkpoint(tampered, log_id, der)
    with pytest.raises(VerificationError):
        note.verify_checkpoint(tampered, [verifier])
    with pytest.raises(VerificationError):  # no line carries this hint
        note.verify_rekor_checkpoint(case["checkpoint"], b"\x00" * 32, der)


# --- round trips -------------------------------------------------------------------------------


NAME = "log.example/test"


def _key(kind: str) -> tuple[note.PublicKey, note.Sign, bytes]:
    """(public key, sign callable, expected default key ID) for one key type."""
    if kind in ("p256", "p384"):
        curve, alg = (ec.SECP256R1(), SHA256) if kind == "p256" else (ec.SECP384R1(), SHA384)
        priv = ec.generate_private_key(curve)
        pub = priv.public_key()
        return pub, lambda m: priv.sign(m, ec.ECDSA(alg())), note.ecdsa_key_id(der_public(pub))
    if kind == "ed25519":
        ed = ed25519.Ed25519PrivateKey.generate()
        raw = ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return ed.public_key(), ed.sign, note.ed25519_key_id(NAME, raw)
    rk = rsa.generate_private_key(65537, 2048)
    spki = der_public(rk.public_key())
    want = hashlib.sha256(NAME.encode() + b"\n\xff" + b"PKIX-RSA-PKCS#1v1.5" + spki).digest()[:4]
    return rk.public_key(), lambda m: rk.sign(m, padding.PKCS1v15(), SHA256()), want


@pytest.mark.parametrize("kind", ["p256", "p384", "ed25519", "rsa"])
def test_round_trip(kind: str) -> None:
    public, sign, want_id = _key(kind)
    name = NAME
    verifier = note.verifier_for_key(name, public)
    assert verifier.key_id == want_id
    cp = note.Checkpoint(name, 42, hashlib.sha256(b"root").digest(), ("ext line",))
    signed = note.sign_checkpoint(cp, name, verifier.key_id, sign)
    assert signed.startswith(cp.to_text() + "\n\u2014 " + name + " ")
    assert note.verify_checkpoint(signed, [verifier]) == cp
    raw = bytearray(signed.encode())
    for i in (0, len(cp.origin) + 1, len(cp.to_text()) - 2):  # origin, size, extension
        bad = raw.copy()
        bad[i] ^= 0x01
        with pytest.raises(VerificationError):
            note.verify_checkpoint(bytes(bad), [verifier])
    # Corrupt the signature itself (flip a bit inside the base64 blob, keep it canonical).
    line = signed.split("\n")[-2]
    blob = bytearray(base64.b64decode(line.split(" ")[-1]))
    blob[10] ^= 0x01
    forged = signed.replace(line.split(" ")[-1], base64.b64encode(bytes(blob)).decode())
    with pytest.raises(VerificationError):
        note.open_note(forged, [verifier])


def test_open_semantics() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    other = ed25519.Ed25519PrivateKey.generate()
    v = note.verifier_for_key("a.example", ed.public_key())
    w = note.verifier_for_key("b.example", other.public_key())
    text = "hello\n"
    signed = note.sign_note(text, v.name, v.key_id, ed.sign)
    unknown = note.NoteSignature("c.example", b"\x01\x02\x03\x04", b"x" * 64).to_line()
    second = note.sign_note(text, w.name, w.key_id, other.sign).split("\n\n")[1]
    # 16 signatures (spec floor) from unknown keys plus the known one are accepted.
    many = signed + unknown * 15
    assert note.open_note(many, [v]).signatures == note.SignedNote.from_text(signed).signatures
    both = note.open_note(signed + second, [v, w])
    assert [s.name for s in both.signatures] == ["a.example", "b.example"]
    # Only unknown signatures -> rejected; exactly 100 lines accepted, 101 rejected.
    with pytest.raises(VerificationError):
        note.open_note(text + "\n" + unknown, [v])
    note.open_note(signed + unknown * 99, [v])
    with pytest.raises(VerificationError):
        note.open_note(signed + unknown * 100, [v])
    # A known key whose line does not verify rejects the note even beside a good line.
    bad = note.NoteSignature(v.name, v.key_id, b"\x00" * 64).to_line()
    with pytest.raises(VerificationError):
        note.open_note(signed + bad, [v])
    # The right name with another key's ID is just an unknown signature.
    with pytest.raises(VerificationError):
        note.open_note(signed, [note.NoteVerifier(v.name, b"\x00" * 4, ed.public_key())])
    with pytest.raises(VerificationError):  # ambiguous verifier set
        note.open_note(signed, [v, note.verifier_for_key("a.example", ed.public_key())])


def test_cosignature_round_trip() -> None:
    log = ed25519.Ed25519PrivateKey.generate()
    witness = ed25519.Ed25519PrivateKey.generate()
    lv = note.verifier_for_key("log.example", log.public_key())
    wv = cosignature.cosignature_verifier("witness.example/w1", witness.public_key())
    raw = witness.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    vkey = f"{wv.name}+{wv.key_id.hex()}+" + base64.b64encode(b"\x04" + raw).decode()
    assert vkeys.parse_vkey(vkey).key_id == wv.key_id
    assert isinstance(vkeys.parse_vkey(vkey), cosignature.CosignatureVerifier)
    cp = note.Checkpoint("log.example", 7, b"\x11" * 32)
    signed = note.sign_checkpoint(cp, lv.name, lv.key_id, log.sign)
    line = cosignature.cosign_line(cp.to_text(), wv.name, wv.key_id, 1679315147, witness.sign)
    assert base64.b64decode(line.split(" ")[-1])[4:12] == struct.pack(">Q", 1679315147)
    cosigned = signed + line
    assert len(note.open_note(cosigned, [lv, wv]).signatures) == 2
    assert note.verify_checkpoint(cosigned, [wv]) == cp
    # Same witness key as a plain Ed25519 verifier does not accept a cosignature.
    plain = note.NoteVerifier(wv.name, wv.key_id, witness.public_key())
    with pytest.raises(VerificationError):
        note.open_note(cosigned, [plain])


def test_misc_helpers_and_input_checks() -> None:
    assert note.rekor_v1_origin("rekor.sigstore.dev", 1193050959916656506) == (
        "rekor.sigstore.dev - 1193050959916656506"
    )
    ed = ed25519.Ed25519PrivateKey.generate()
    for text, name, key_id in [("no newline", "a", b"1234"), ("x\n", "bad name", b"1234"),
                               ("x\n", "a+b", b"1234"), ("x\n", "a", b"123"),
                               ("x\x07\n", "a", b"1234")]:  # fmt: skip
        with pytest.raises(ValidationError):
            note.sign_note(text, name, key_id, ed.sign)
    with pytest.raises(ValidationError):
        note.verifier_for_key("a", b"not a key")
    with pytest.raises(ValidationError):
        note.verifier_for_key("a", ec.generate_private_key(ec.SECP256K1()).public_key())
    with pytest.raises(ValidationError):
        cosignature.parse_cosignature(b"\x00" * 71)


def test_key_names_without_utf8_form_are_refused() -> None:
    """A key name holding a lone surrogate (an undecodable byte of a command line) is a malformed
    key, not a UnicodeEncodeError from hashing it (found by fuzzing)."""
    with pytest.raises(ValidationError, match="malformed verifier key"):
        vkeys.parse_vkey("\udcd0eterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ValidationError, match="valid key name"):
        note.verifier_for_key("log\udcff", key)
    with pytest.raises(ValidationError, match="not UTF-8"):
        note.NoteSignature("log\ud800", b"\x00" * 4, b"sig")
