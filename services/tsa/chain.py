"""The TSA certificate chain, checked before a single timestamp is signed with it.

A chain is PEM, signing certificate (the *leaf*) first, root last, at least two certificates
(the shape of a trusted root's ``timestampAuthorities[].certChain``, which sigstore-python needs).
``check_chain`` refuses with ``ConfigError`` what any Sigstore verifier would later refuse
(docs/tsa.md, "What verifiers check"; upstream ``pkg/x509/x509.go VerifyCertChain``):

- leaf: extended key usage present, **critical**, exactly one purpose, id-kp-timeStamping
  (RFC 3161 section 2.3); not a CA; key usage absent or only digitalSignature/nonRepudiation (what
  OpenSSL's timestamp-signing purpose allows); an ECDSA P-256 or P-384 key (sigstore-js and
  digitorus/pkcs7 take only ecdsa-with-SHA* signatures) equal to the signer's key;
- intermediates and root: CA (BasicConstraints cA TRUE) with keyCertSign when key usage is
  present and a path length that allows the certificates below; an intermediate's extended key
  usage absent, or holding timeStamping or anyExtendedKeyUsage (sigstore-go's "EKU chaining");
- every certificate signed by the next with names matching, the last one self-signed, and every
  certificate valid now.

Checking against a trusted root is the verifier's business; this module only makes sure the
chain we serve can pass it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol import keys
from sigstack.protocol.errors import ConfigError, VerificationError

E = TypeVar("E", bound=x509.ExtensionType)

CURVES = ("secp256r1", "secp384r1")
TIMESTAMPING = ExtendedKeyUsageOID.TIME_STAMPING
ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


def load_chain(pem: bytes, where: str = "the TSA chain") -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(f"{where} is not a list of PEM certificates") from exc
    return chain


def load_chain_file(path: str | Path | None) -> list[x509.Certificate]:
    if not path:
        raise ConfigError("the TSA needs a certificate chain (--chain FILE: leaf first, root last)")
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the TSA chain {path}: {exc.strerror}") from exc
    return load_chain(pem, f"the TSA chain {path}")


def _ext(cert: x509.Certificate, cls: type[E]) -> x509.Extension[E] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, x509.BasicConstraints)
    return bc is not None and bool(bc.value.ca)


def _check_leaf(leaf: x509.Certificate, signer_public_der: bytes | None) -> None:
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if eku is None:
        raise ConfigError("the TSA certificate has no extended key usage (needs timeStamping)")
    if not eku.critical:
        raise ConfigError("the TSA certificate's extended key usage must be marked critical")
    if list(eku.value) != [TIMESTAMPING]:
        raise ConfigError(
            "the TSA certificate's extended key usage must hold exactly one purpose, "
            "timeStamping (1.3.6.1.5.5.7.3.8)"
        )
    if _is_ca(leaf):
        raise ConfigError("the TSA certificate must not be a CA (BasicConstraints cA TRUE)")
    ku = _ext(leaf, x509.KeyUsage)
    if ku is not None:
        usage = ku.value
        others = (
            usage.key_encipherment,
            usage.data_encipherment,
            usage.key_agreement,
            usage.key_cert_sign,
            usage.crl_sign,
        )
        if any(others) or not (usage.digital_signature or usage.content_commitment):
            raise ConfigError(
                "the TSA certificate's key usage may only be digitalSignature (and nonRepudiation)"
            )
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        raise ConfigError("the TSA key must be ECDSA P-256 or P-384")
    if signer_public_der is not None:
        if keys.spki_der(key) != signer_public_der:
            raise ConfigError("the TSA key does not match the first certificate of the chain")


def _check_issuer(cert: x509.Certificate, position: int) -> None:
    """A CA certificate at ``position`` (1 = the leaf's issuer) in the chain."""
    name = f"certificate {position + 1} of the TSA chain"
    if not _is_ca(cert):
        raise ConfigError(f"{name} is not a CA (BasicConstraints cA TRUE)")
    ku = _ext(cert, x509.KeyUsage)
    if ku is not None and not ku.value.key_cert_sign:
        raise ConfigError(f"{name} may not sign certificates (key usage lacks keyCertSign)")


def check_chain(
    chain: list[x509.Certificate],
    signer_public_der: bytes | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Refuse a chain a Sigstore verifier would refuse (see module docstring).

    ``signer_public_der`` (DER SubjectPublicKeyInfo) is the signing key's; ``None`` skips only that
    comparison (a key in an HSM not opened in this process)."""
    if len(chain) < 2:
        raise ConfigError(
            "the TSA chain needs at least two certificates: the TSA certificate first, its root "
            "last (clients take the last one as the trust anchor)"
        )
    now = now or dt.datetime.now(dt.UTC)
    leaf, issuers = chain[0], chain[1:]
    _check_leaf(leaf, signer_public_der)
    for position, (child, parent) in enumerate(zip(chain, chain[1:], strict=False)):
        _issued_by(
            child,
            parent,
            f"the TSA chain is not in order: certificate {position + 1} is not issued by "
            f"certificate {position + 2} (the chain goes leaf first, root last)",
        )
    _issued_by(
        chain[-1], chain[-1], "the last certificate of the TSA chain is not a self-signed root"
    )
    for position, cert in enumerate(chain):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ConfigError(
                f"certificate {position + 1} of the TSA chain ({cert.subject.rfc4514_string()}) "
                f"is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC)"
            )
    for position, cert in enumerate(issuers, start=1):
        _check_issuer(cert, position)
        bc = _ext(cert, x509.BasicConstraints)
        below = position - 1  # CA certificates between this one and the leaf
        if bc is not None and bc.value.path_length is not None and bc.value.path_length < below:
            raise ConfigError(
                f"certificate {position + 1} of the TSA chain allows {bc.value.path_length} "
                f"CA certificates below it, the chain has {below}"
            )
    for position, cert in enumerate(chain[1:-1], start=1):
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if eku is not None and not {TIMESTAMPING, ANY_EKU} & set(eku.value):
            raise ConfigError(
                f"intermediate certificate {position + 1} of the TSA chain has an extended key "
                "usage without timeStamping"
            )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate, refusal: str) -> None:
    """``ConfigError(refusal)`` unless ``cert`` names ``issuer`` and its key signed it
    (``keys.verify_issued_by``)."""
    try:
        keys.verify_issued_by(cert, issuer)
    except VerificationError:
        raise ConfigError(refusal) from None
