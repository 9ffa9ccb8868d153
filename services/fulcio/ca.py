"""The certificate authority: an issuing key behind a ``Signer`` plus its chain, and the leaf profile.

``CertificateAuthority(signer, chain)`` checks the chain at start (fulcio ``VerifyCertChain``):
chain[0] is a CA whose public key is the signer's, every certificate is signed by the next, the last
is self-signed, and an intermediate issuer carries EKU codeSigning. ``leaf_builder`` makes the
template of fulcio.md section 3.1 (empty subject, 10 minutes, KU digitalSignature critical, EKU
codeSigning, SKI, AKI, one critical SAN, Sigstore extensions in OID order); ``precertificate`` adds
the CT poison last and signs; ``final`` adds the SCT list last to the *same* builder, so the final
TBS minus the SCT list is byte-identical to the precert TBS minus the poison (section 6.3).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol import keys, x509ext
from sigstack.protocol import sct as ctsct
from sigstack.protocol.errors import ConfigError, ValidationError, VerificationError
from sigstack.services.keys import Signer
from sigstack.services.keys.certificates import random_serial

from .errors import MSG_CA, MSG_SCT, server_error
from .identity import Principal

LEAF_LIFETIME = dt.timedelta(minutes=10)


# The hashes a CA key's algorithm of the registry signs with (all that cryptography's builders take
# are SHA-2 and SHA-3).
CertificateHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


def signing_hash(public_key: object) -> CertificateHash | None:
    """Certificate signature hash for a CA key: the key's usual algorithm of the registry
    (``protocol.keys``): follows the curve; SHA-256 for RSA; none for Ed25519."""
    try:
        digest = keys.Algorithm.for_key(public_key).hash_algorithm()
    except ValidationError as exc:
        raise ConfigError(f"unsupported CA key: {exc.message}") from None
    if digest is not None and not isinstance(digest, CertificateHash):
        raise ConfigError(f"unsupported CA key: it signs with {digest.name}")
    return digest


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_chain(signer: Signer, chain: list[x509.Certificate]) -> None:
    """Refuse a chain Fulcio would refuse (see module docstring)."""
    if not chain:
        raise ConfigError("the CA certificate chain is empty")
    if keys.spki_der(chain[0].public_key()) != signer.public_der:
        raise ConfigError("the CA key does not match the first certificate of the chain")
    if not _is_ca(chain[0]):
        raise ConfigError("the issuing certificate is not a CA (BasicConstraints CA:TRUE)")
    try:
        chain[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound as exc:
        raise ConfigError("the issuing certificate has no SubjectKeyIdentifier") from exc
    for child, parent in zip(chain, chain[1:], strict=False):
        try:
            keys.verify_issued_by(child, parent)
        except VerificationError:
            raise ConfigError(
                "the CA chain is not in order: a certificate is not signed by the next"
            ) from None
    try:
        keys.verify_issued_by(chain[-1], chain[-1])
    except VerificationError:
        raise ConfigError(
            "the last certificate of the CA chain is not a self-signed root"
        ) from None
    if len(chain) > 1:
        try:
            eku = chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise ConfigError("the intermediate CA certificate needs EKU codeSigning")


class CertificateAuthority:
    def __init__(self, signer: Signer, chain: list[x509.Certificate]) -> None:
        check_chain(signer, chain)
        self.signer = signer
        self.chain = chain
        self.issuer = chain[0]
        self.hash = signing_hash(signer.public_key)
        self.ski = self.issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        self.chain_der = [c.public_bytes(_DER) for c in chain]

    def leaf_builder(
        self, principal: Principal, public_key: keys.PublicKey, now: dt.datetime | None = None
    ) -> x509.CertificateBuilder:
        start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.issuer.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(start)
            .not_valid_after(start + LEAF_LIFETIME)
            .add_extension(_KEY_USAGE, critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([principal.san]), critical=True)
        )
        for ext in x509ext.encode_extensions(principal.extensions):
            builder = builder.add_extension(ext, critical=False)
        return builder

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        try:
            return builder.sign(self.signer.private_key, self.hash)
        except Exception as exc:  # an HSM or key failure: never leak its text
            raise server_error(MSG_CA, repr(exc)) from exc

    def precertificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return self._sign(builder.add_extension(x509.PrecertPoison(), critical=True))

    def final(
        self, builder: x509.CertificateBuilder, scts: list[ctsct.SignedCertificateTimestamp]
    ) -> x509.Certificate:
        try:
            ext = ctsct.sct_list_extension(scts)
        except ValidationError as exc:
            raise server_error(MSG_SCT, f"cannot encode the SCT list: {exc}") from exc
        return self._sign(builder.add_extension(ext, critical=False))

    def plain(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return self._sign(builder)


_DER = serialization.Encoding.DER
_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
    encipher_only=False, decipher_only=False,
)  # fmt: skip
