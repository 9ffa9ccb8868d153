"""Verification of cosign's legacy ``.sig`` / ``.att`` layers (spec/clients.md section 2.1).

A legacy layer carries a certificate, a signature and a Rekor bundle (the signed entry timestamp
and the logged body) but no inclusion proof, so the log check here is the one cosign makes for
these layers: the SET verified offline with the trusted Rekor key its log ID names, valid at the
integrated time (which must be a representable time, not in the future), and the
logged body matching this signature and certificate. Everything else is the blob verifier's
order of checks, built from the same pieces (``client.verify``): certificate chain at the signed
time, embedded SCT, key usage, identity policy, validity at the signed time, signature.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.client.verify import IdentityPolicy, VerificationResult, tlog
from sigstack.client.verify.certs import ChainVerifier, verify_signing_certificate
from sigstack.client.verify.keys import Keyring
from sigstack.protocol import keys
from sigstack.protocol.bundle import DsseEnvelope, TransparencyLogEntry
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.protojson import strict_b64decode
from sigstack.protocol.trust import TrustedRoot

from . import formats


class LegacyVerifier:
    """Keyless checks for one trusted root; ``verify_signature`` / ``verify_attestation`` per
    layer (its annotations and blob) raise ``VerificationError`` or return a ``VerificationResult``."""

    def __init__(self, root: TrustedRoot, now: datetime | None = None) -> None:
        self.root = root
        self.now = now or datetime.now(UTC)
        self._rekor = Keyring(root.tlogs, self.now, "log")
        self._ct = Keyring(root.ctlogs, self.now, "CT log")
        self._chains: ChainVerifier | None = None

    def verify_signature(
        self, annotations: dict[str, Any], payload: bytes, policy: IdentityPolicy
    ) -> VerificationResult:
        """A simple-signing layer: the signature annotation over the payload bytes."""
        raw_sig = _annotation(annotations, formats.ANN_SIGNATURE)
        if not raw_sig:
            raise VerificationError(
                f"the layer has no signature annotation ({formats.ANN_SIGNATURE})"
            )
        try:
            signature = strict_b64decode(raw_sig, "the layer's signature annotation")
        except ValidationError:
            raise VerificationError("the layer's signature annotation is not base64") from None
        leaf, entry, result = self._certificate_and_log(annotations, policy)
        _verify(leaf.public_key(), signature, payload)
        result.checks.append("The signature over the simple-signing payload was verified")
        tlog.check_hashedrekord(entry, leaf, signature, hashlib.sha256(payload).digest())
        result.checks.append("The log entry records this payload, signature and certificate")
        result.payload_type, result.payload = formats.SIMPLESIGNING, payload
        return result

    def verify_attestation(
        self, annotations: dict[str, Any], envelope: DsseEnvelope, policy: IdentityPolicy
    ) -> VerificationResult:
        """A ``.att`` layer: a DSSE envelope whose one signature is over its PAE."""
        if len(envelope.signatures) != 1:
            raise VerificationError("the DSSE envelope must hold exactly one signature")
        leaf, entry, result = self._certificate_and_log(annotations, policy)
        _verify(leaf.public_key(), envelope.signatures[0].sig, envelope.pae())
        result.checks.append("The DSSE envelope signature was verified")
        tlog.check_dsse(entry, leaf, envelope)
        result.checks.append("The log entry records this envelope and certificate")
        result.payload_type, result.payload = envelope.payload_type, envelope.payload
        return result

    def _certificate_and_log(
        self, annotations: dict[str, Any], policy: IdentityPolicy
    ) -> tuple[x509.Certificate, TransparencyLogEntry, VerificationResult]:
        pem = _annotation(annotations, formats.ANN_CERTIFICATE)
        if not pem:
            raise VerificationError(
                f"the layer has no certificate annotation ({formats.ANN_CERTIFICATE}); keyless "
                "verification needs the signing certificate"
            )
        try:
            leaf = x509.load_pem_x509_certificate(pem.encode())
        except (ValueError, x509.InvalidVersion):
            raise VerificationError(
                "the layer's certificate annotation is not a PEM certificate"
            ) from None
        raw_bundle = _annotation(annotations, formats.ANN_BUNDLE)
        if not raw_bundle:
            raise VerificationError(
                f"the layer has no Rekor bundle annotation ({formats.ANN_BUNDLE}): nothing proves "
                "the signature was logged"
            )
        entry = formats.parse_rekor_bundle(raw_bundle)
        result = VerificationResult()
        # the signed time: the integrated time, trusted through the SET
        when = tlog.integrated_time(entry, self._rekor, [], self.now)
        result.times = [when]
        result.checks.append(
            "Existence of the claims in the transparency log was verified offline (SET)"
        )
        if self._chains is None:
            self._chains = ChainVerifier(self.root)
        result.identity, result.issuer = verify_signing_certificate(
            leaf, [when], self._chains, self._ct, policy, result.checks, self.now
        )
        if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
            raise VerificationError(
                f"the signing certificate was not valid at the log's integrated time {when.isoformat()}"
            )
        result.log_index = entry.log_index
        return leaf, entry, result


def _annotation(annotations: dict[str, Any], name: str) -> str | None:
    """A layer annotation: a string (OCI image-spec annotations are a string map), or None."""
    value = annotations.get(name)
    if value is not None and not isinstance(value, str):
        raise VerificationError(f"the layer's annotation {name} is not a string")
    return value


def _verify(key: PublicKeyTypes, signature: bytes, message: bytes) -> None:
    """cosign's legacy layers: ECDSA or RSA PKCS#1 v1.5 with SHA-256 over the payload."""
    try:
        algorithm = keys.Algorithm.for_key(key, "sha256")
    except ValidationError:
        raise VerificationError("unsupported signing key type in the certificate") from None
    try:
        keys.verify(key, signature, message, algorithm)
    except VerificationError:
        raise VerificationError("the signature is not valid for the signed payload") from None
