"""TUF keys on top of ``services.keys``: a securesystemslib ``Signer`` backed by a key URI.

Repository keys are opened only through ``services.keys.load_signer`` (``file:``, ``pkcs11:`` ...),
so an HSM can hold the online key by configuration. This module adapts such a signer to the
interface python-tuf's ``Metadata.sign`` expects and reads public keys from PEM files. It never
logs or prints key material.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from securesystemslib.signer import Key, Signature, Signer, SSlibKey

from sigstack.protocol import keys as registry
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.services import keys as keystore
from sigstack.services.runtime.datadir import private_dir


def sslib_key(public_key: PublicKeyTypes) -> SSlibKey:
    """The TUF key for ``public_key``, whose scheme is the algorithm ``services.keys`` signs with
    (the registry's, ``protocol.keys.Algorithm.for_key``): RSA keys use PKCS#1 v1.5 (securesystemslib
    would default to PSS); ECDSA and Ed25519 take securesystemslib's defaults, the same hashes."""
    try:
        algorithm = registry.Algorithm.for_key(public_key)
    except ValidationError as exc:
        raise ConfigError(f"not a TUF key: {exc.message}") from None
    scheme = None
    if algorithm.family == registry.RSA_PKCS1V15:
        scheme = f"rsa-pkcs1v15-{algorithm.hash}"
    return SSlibKey.from_crypto(public_key, scheme=scheme)


class UriSigner(Signer):
    """Signs TUF metadata with a ``services.keys.Signer`` (signature bytes are hex-encoded)."""

    def __init__(self, signer: keystore.Signer) -> None:
        self._signer = signer
        self._public = sslib_key(signer.public_key)

    @classmethod
    def from_priv_key_uri(
        cls, priv_key_uri: str, public_key: Key, secrets_handler: Any = None
    ) -> UriSigner:
        signer = cls(keystore.load_signer(priv_key_uri))
        if signer.public_key.keyid != public_key.keyid:
            raise ConfigError("the key behind the URI does not match the expected public key")
        return signer

    @property
    def public_key(self) -> SSlibKey:
        return self._public

    def sign(self, payload: bytes) -> Signature:
        return Signature(self._public.keyid, self._signer.sign(payload).hex())

    def __repr__(self) -> str:
        return f"UriSigner(keyid={self._public.keyid[:12]})"


def key_uri(ref: str, base: Path | None = None) -> str:
    """Turn a ``--key`` argument into a key URI: URIs pass through, paths become ``file:`` URIs.

    A relative ``file:`` path is resolved against ``base`` (the repository directory) when given.
    """
    scheme, sep, rest = ref.partition(":")
    if sep and scheme in keystore.signer.SIGNER_FOR_SCHEME:
        if scheme == "file" and base is not None and not Path(rest.split("?")[0]).is_absolute():
            return f"file:{base / rest}"
        return ref
    return f"file:{Path(ref).resolve()}"


def open_signer(ref: str, base: Path | None = None) -> UriSigner:
    return UriSigner(keystore.load_signer(key_uri(ref, base)))


def public_key_of(ref: str) -> SSlibKey:
    """The public key in a PEM file (public or private key) or behind a key URI."""
    path = Path(ref)
    if path.is_file():
        data = path.read_bytes()
        if b"PUBLIC KEY-----" in data:
            try:
                return sslib_key(serialization.load_pem_public_key(data))
            except ValueError as exc:
                raise ConfigError(f"{ref} is not a PEM public key") from exc
    return open_signer(ref).public_key


def create_key(
    path: Path, algorithm: str = "ecdsa-p256", public_path: Path | None = None
) -> SSlibKey:
    """Write a new private key (mode 0600, never over an existing file) and return its public key.

    With ``public_path`` the public key is also written there as PEM, for key holders to pass on.
    """
    private_dir(path.parent)  # a folder of private keys: 0700, tightened if looser
    keystore.create_file_key(path, algorithm)
    signer = keystore.load_signer(key_uri(str(path)))
    if public_path is not None:
        public_path.write_bytes(signer.public_pem)
    return UriSigner(signer).public_key
