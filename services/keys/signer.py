"""The Signer interface and the ``file:`` and ``ephemeral:`` schemes."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sigstack.protocol import keys
from sigstack.protocol.errors import ConfigError, ValidationError

ALGORITHMS = ("ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096")


# The private key types some algorithm of the registry signs with (``protocol.keys.PublicKey``'s).
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def public_key_der(key: keys.PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo (``protocol.keys.spki_der``)."""
    return keys.spki_der(key)


def public_key_pem(key: keys.PublicKey) -> bytes:
    """The PEM SubjectPublicKeyInfo (``protocol.keys.spki_pem``)."""
    return keys.spki_pem(key)


class Signer:
    """Signs messages with one private key.

    ``sign(message)`` returns what Sigstore's signers return for that key type, with the key's
    usual algorithm of the registry (``protocol.keys.Algorithm.for_key``, which verifiers use too):
    ECDSA as ASN.1 DER over SHA-256 (P-256) / SHA-384 (P-384) / SHA-512 (P-521), Ed25519 over the
    message itself, RSA PKCS#1 v1.5 with SHA-256. A key no algorithm of the registry covers is
    refused when it is opened. ``private_key`` is an object ``cryptography``'s certificate builders
    accept (the real key for files, an adapter for an HSM).
    """

    ephemeral = False

    def __init__(self, private_key: PrivateKeyTypes, uri: str) -> None:
        self.uri = uri
        public_key = private_key.public_key()
        try:
            self.algorithm = keys.Algorithm.for_key(public_key)
        except ValidationError as exc:
            raise ConfigError(f"key {uri.split('?')[0]}: {exc.message}") from None
        # for_key let only these through (a key pair's halves are of one type)
        assert isinstance(public_key, keys.PublicKey) and isinstance(private_key, PrivateKey)
        self.private_key: PrivateKey = private_key
        self.public_key: keys.PublicKey = public_key
        self.public_der = public_key_der(self.public_key)

    @property
    def public_pem(self) -> bytes:
        return public_key_pem(self.public_key)

    def sign(self, message: bytes) -> bytes:
        key = self.private_key
        digest = self.algorithm.hash_algorithm()
        if isinstance(key, ec.EllipticCurvePrivateKey) and digest is not None:
            return key.sign(message, ec.ECDSA(digest))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(message)
        if isinstance(key, rsa.RSAPrivateKey) and digest is not None:
            return key.sign(message, padding.PKCS1v15(), digest)
        raise ConfigError(f"unsupported key type {type(key).__name__} for {self.uri}")

    def __repr__(self) -> str:  # never shows key material
        return f"Signer({self.uri.split('?')[0]!r})"


class EphemeralSigner(Signer):
    ephemeral = True


def generate_private_key(algorithm: str = "ecdsa-p256") -> PrivateKeyTypes:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise ConfigError(f"unknown key algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def create_file_key(
    path: str | Path, algorithm: str = "ecdsa-p256", passphrase: bytes | None = None
) -> None:
    """Write a new PKCS#8 PEM key to ``path`` with mode 0600; never overwrites an existing file."""
    key = generate_private_key(algorithm)
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"refusing to overwrite existing key {path}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _load_file(
    uri: str, rest: str, query: Mapping[str, list[str]], environ: Mapping[str, str]
) -> Signer:
    path = Path(rest)
    passphrase = None
    env_name = (query.get("passphrase-env") or [""])[0]
    if env_name:
        if env_name not in environ:
            raise ConfigError(f"passphrase variable {env_name} for key {path} is not set")
        passphrase = environ[env_name].encode()
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"key {path} may be read by others (mode {mode & 0o777:04o}): chmod 600 it, and "
            "replace the key if others could have copied it"
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot load key {path}: wrong passphrase or not a PEM private key"
        ) from exc
    return Signer(key, uri)


def _load_ephemeral(
    uri: str, rest: str, query: Mapping[str, list[str]], environ: Mapping[str, str]
) -> Signer:
    return EphemeralSigner(generate_private_key(rest or "ecdsa-p256"), uri)


Loader = Callable[[str, str, Mapping[str, list[str]], Mapping[str, str]], Signer]

SIGNER_FOR_SCHEME: dict[str, Loader | str] = {
    "file": _load_file,
    "ephemeral": _load_ephemeral,
    "pkcs11": "sigstack.services.keys.pkcs11:load",
}


def load_signer(uri: str, environ: Mapping[str, str] | None = None) -> Signer:
    """Open the key named by ``uri``. ``environ`` supplies passphrases/PINs named in the URI."""
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme not in SIGNER_FOR_SCHEME:
        raise ConfigError(f"unsupported key URI scheme in {uri.split('?')[0]!r}")
    loader = SIGNER_FOR_SCHEME[scheme]
    if isinstance(loader, str):
        module, _, func = loader.partition(":")
        loader = getattr(importlib.import_module(module), func)
    if scheme == "pkcs11":
        query = parse_qs(urlsplit(uri).query)
    else:
        rest, _, q = rest.partition("?")
        query = parse_qs(q)
    return loader(uri, rest, query, os.environ if environ is None else environ)
