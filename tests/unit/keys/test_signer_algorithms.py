"""``services.keys.Signer`` signs with the registry's algorithm for its key
(``protocol.keys.Algorithm.for_key``), the one every verifier assumes for that key; a key no
algorithm of the registry covers is refused when it is opened, not when it first signs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import keys
from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer, public_key_der, public_key_pem
from sigstack.services.keys.signer import ALGORITHMS


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_signature_verifies_with_the_keys_usual_algorithm(algorithm: str) -> None:
    signer = load_signer(f"ephemeral:{algorithm}")
    signature = signer.sign(b"a checkpoint")
    keys.verify(signer.public_key, signature, b"a checkpoint")
    assert signer.algorithm == keys.Algorithm.for_key(signer.public_key)
    assert (
        public_key_der(signer.public_key) == keys.spki_der(signer.public_key) == signer.public_der
    )
    assert public_key_pem(signer.public_key) == keys.spki_pem(signer.public_key)


def test_a_key_outside_the_registry_is_refused_when_opened(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    path = tmp_path / "k1.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with pytest.raises(ConfigError, match="ECDSA secp256k1 keys are not allowed"):
        load_signer(f"file:{path}")
