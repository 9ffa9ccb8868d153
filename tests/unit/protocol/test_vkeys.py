"""sigstack.protocol.vkeys: verifier keys as text, each type read back as it was written.

Type 0x01 and 0x04 vectors from outside are test_note.py's (the C2SP and Go note vectors); here
the ECDSA type 0x02 a Rekor v1 log's key takes in a log list or a witness policy, and what
``parse_log_vkey`` refuses."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sigstack.protocol import cosignature, keys, note, vkeys
from sigstack.protocol.errors import ValidationError


def test_each_type_reads_back_as_written() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = keys.spki_der(p256)
    for verifier, kind in [
        (note.verifier_for_key("log.example", ed), 0x01),
        (note.verifier_for_key("rekor.example", spki, note.ecdsa_key_id(spki)), 0x02),
        (cosignature.cosignature_verifier("witness.example/w1", ed), 0x04),
    ]:
        text = vkeys.format_vkey(verifier)
        assert base64.b64decode(text.split("+", 2)[2])[0] == kind
        parse = vkeys.parse_vkey if kind == 0x04 else vkeys.parse_log_vkey
        back = parse(text)
        assert (back.name, back.key_id, type(back)) == (
            verifier.name,
            verifier.key_id,
            type(verifier),
        )
        assert keys.spki_der(back.public_key) == keys.spki_der(verifier.public_key)


def test_what_a_log_key_cannot_be() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    witness = vkeys.format_vkey(cosignature.cosignature_verifier("w.example", ed))
    with pytest.raises(ValidationError, match="witness's cosigning key, not a log's"):
        vkeys.parse_log_vkey(witness)
    p256 = keys.spki_der(ec.generate_private_key(ec.SECP256R1()).public_key())
    blob = base64.b64encode(b"\x02" + p256).decode()
    with pytest.raises(ValidationError, match="key ID does not match"):
        vkeys.parse_log_vkey(f"rekor.example+00000000+{blob}")
    ed_spki = base64.b64encode(b"\x02" + keys.spki_der(ed)).decode()
    with pytest.raises(ValidationError, match="must hold an ECDSA public key"):
        vkeys.parse_log_vkey(
            f"rekor.example+{note.ecdsa_key_id(keys.spki_der(ed)).hex()}+{ed_spki}"
        )
    with pytest.raises(ValidationError, match="not a DER public key"):
        vkeys.parse_log_vkey("rekor.example+00000000+" + base64.b64encode(b"\x02junk").decode())
    with pytest.raises(ValidationError, match="malformed verifier key"):
        vkeys.parse_log_vkey("rekor.example+0000+AA==")
    rsa_key = rsa.generate_private_key(65537, 2048).public_key()
    with pytest.raises(ValidationError, match="no C2SP vkey type"):
        vkeys.format_vkey(note.verifier_for_key("log.example", rsa_key))
