"""Keys behind a ``Signer`` chosen by URI; services never open a PEM themselves.

Schemes: ``file:PATH[?passphrase-env=VAR]`` (PEM, PKCS#8, optionally encrypted, passphrase taken from
the environment variable named), ``ephemeral:[ecdsa-p256|ecdsa-p384|ed25519|rsa-2048]`` (a fresh key in
memory: tests and development only), ``pkcs11:`` (RFC 7512, see ``services.keys.pkcs11``).
"""

from __future__ import annotations

from .signer import (
    Signer,
    create_file_key,
    load_signer,
    public_key_der,
    public_key_pem,
)

__all__ = ["Signer", "create_file_key", "load_signer", "public_key_der", "public_key_pem"]
