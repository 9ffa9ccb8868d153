"""Keyless signing: an ephemeral P-256 key, a Fulcio certificate for it, a signature over the
artifact's SHA-256 (hashedrekord) or over a DSSE envelope (in-toto statements), RFC 3161
timestamps from the signing config's TSAs, one transparency-log entry, and a v0.3 bundle.

The log follows the signing config (spec/clients.md section 4.2, as sigstore-python 4.5.1 and
sigstore-go choose): per operator the valid Rekor with the highest API version this client speaks
(1 or 2), then the ``rekorTlogConfig`` selector; ``rekor_version`` forces one version. On Rekor v1
a message signature is a hashedrekord 0.0.1 and an envelope a dsse 0.0.1 entry; on Rekor v2 both
are hashedrekord 0.0.2 (an envelope over its PAE). A v2 entry carries no signed time, so with v2
at least one timestamp is required, and its absence stops signing *before* anything is logged
(sigstore-python logs first and fails after). With v1, timestamps are optional and a TSA that
fails is a warning.

The fresh bundle is verified against the trusted root before it is returned (chain, SCT, log
entry, timestamps, signature), so a misconfigured stack is caught at signing time rather than by
the first verifier.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from sigstack.protocol.bundle import (
    MEDIA_TYPE_V03,
    Bundle,
    DsseEnvelope,
    DsseSignature,
    HashOutput,
    MessageSignature,
    TransparencyLogEntry,
    VerificationMaterial,
    pae,
)
from sigstack.protocol.errors import UnavailableError, ValidationError
from sigstack.protocol.trust import Service, SigningConfig, TrustedRoot, select_services

from . import services
from .oidc import IdentityToken


def _quiet(_: str) -> None:
    pass


def choose_rekor(config: SigningConfig, version: int | None = None) -> Service:
    """The Rekor log to write to: per operator the valid one with the highest API version this
    client speaks (or ``version`` alone), then the ``rekorTlogConfig`` selector."""
    try:
        return select_services(
            config.rekor_tlog_urls, (version,) if version else (1, 2), config.rekor_tlog_config
        )[0]
    except ValidationError as exc:
        forced = f" (--rekor-version {version})" if version else ""
        raise ValidationError(
            f"the signing config lists no usable Rekor log{forced}: {exc.message}"
        ) from None


@dataclass
class Signer:
    signing_config: SigningConfig
    trusted_root: TrustedRoot | None
    token: IdentityToken
    progress: Callable[[str], None] = _quiet
    rekor_version: int | None = None  # force Rekor API v1 or v2 (``--rekor-version``)
    _key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    _chain: list[x509.Certificate] = field(default_factory=list, repr=False)

    def _certificate(self) -> None:
        if self._key is not None:
            return
        fulcio = select_services(self.signing_config.ca_urls, (1,))[0]
        self.progress("Generating ephemeral keys...")
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.progress("Retrieving signed certificate...")
        self._chain = services.request_certificate(fulcio.url, self._key, self.token.raw)
        self.progress(f"Certificate issued to {self.token.identity} by {self.token.issuer}")

    @property
    def certificate_pem(self) -> bytes:
        self._certificate()
        pem: bytes = self._chain[0].public_bytes(serialization.Encoding.PEM)
        return pem

    def _timestamps(self, signature: bytes, required: bool) -> tuple[bytes, ...]:
        """A timestamp from each selected TSA; failures are warnings unless ``required`` (Rekor
        v2) leaves none, which stops signing before anything is logged."""
        tsas: list[Service] = []
        reason = "the signing config lists no timestamp authority"
        if self.signing_config.tsa_urls:
            try:
                tsas = select_services(
                    self.signing_config.tsa_urls, (1,), self.signing_config.tsa_config
                )
            except ValidationError as exc:  # no usable TSA now
                reason = f"no timestamp authority is usable: {exc.message}"
        out = []
        for tsa in tsas:
            try:
                out.append(services.timestamp(tsa.url, signature))
            except UnavailableError as exc:
                reason = f"no timestamp from {tsa.url}: {exc.message}"
                print(f"Warning: {reason}", file=sys.stderr)
        if required and not out:
            raise UnavailableError(
                f"a Rekor v2 entry carries no signed time, so signing needs an RFC 3161 "
                f"timestamp, and there is none ({reason}); nothing was logged"
            )
        if out:
            self.progress(f"{len(out)} signed timestamp(s) from a timestamp authority")
        return tuple(out)

    def rekor(self) -> Service:
        """The log this signer writes to (see the module docstring)."""
        return choose_rekor(self.signing_config, self.rekor_version)

    def _log(
        self, digest: bytes, signature: bytes, v1_entry: Callable[[], dict[str, Any]]
    ) -> tuple[tuple[bytes, ...], TransparencyLogEntry]:
        """(timestamps, log entry): timestamps first, then one entry on the chosen log."""
        rekor = self.rekor()
        v2 = rekor.major_api_version == 2
        stamps = self._timestamps(signature, required=v2)
        self.progress(
            f"Uploading to the transparency log {rekor.url} (Rekor v{rekor.major_api_version}) ..."
        )
        if v2:
            der = self._chain[0].public_bytes(serialization.Encoding.DER)
            entry = services.upload_entry_v2(
                rekor.url, services.hashedrekord_v2(digest, signature, der)
            )
        else:
            entry = services.upload_entry(rekor.url, v1_entry())
        self.progress(f"tlog entry created with index: {entry.log_index}")
        return stamps, entry

    def sign_digest(self, digest: bytes) -> Bundle:
        """Sign a SHA-256 digest (of a file hashed by the caller)."""
        self._certificate()
        assert self._key is not None
        signature = self._key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        stamps, entry = self._log(
            digest,
            signature,
            lambda: services.hashedrekord(digest.hex(), signature, self.certificate_pem),
        )
        return self._bundle(
            entry, stamps, message=MessageSignature(signature, HashOutput("SHA2_256", digest))
        )

    def sign_dsse(
        self, payload: bytes, payload_type: str = "application/vnd.in-toto+json"
    ) -> Bundle:
        """Sign ``payload`` as a DSSE envelope (e.g. an in-toto statement)."""
        self._certificate()
        assert self._key is not None
        encoded = pae(payload_type, payload)
        signature = self._key.sign(encoded, ec.ECDSA(hashes.SHA256()))
        envelope = DsseEnvelope(payload, payload_type, (DsseSignature(signature),))
        stamps, entry = self._log(
            hashlib.sha256(encoded).digest(),
            signature,
            lambda: services.dsse_entry(json.dumps(envelope._write()), self.certificate_pem),
        )
        return self._bundle(entry, stamps, envelope=envelope)

    def _bundle(
        self,
        entry: TransparencyLogEntry,
        stamps: tuple[bytes, ...],
        message: MessageSignature | None = None,
        envelope: DsseEnvelope | None = None,
    ) -> Bundle:
        bundle = Bundle(
            media_type=MEDIA_TYPE_V03,
            verification_material=VerificationMaterial(
                certificate=self._chain[0].public_bytes(serialization.Encoding.DER),
                tlog_entries=(entry,),
                rfc3161_timestamps=stamps,
            ),
            message_signature=message,
            dsse_envelope=envelope,
        )
        if self.trusted_root is not None:
            self._self_check(bundle)
        return bundle

    def _self_check(self, bundle: Bundle) -> None:
        from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
        from sigstack.client.verify.certs import certificate_identities, load_certificate
        from sigstack.protocol import x509ext

        assert self.trusted_root is not None
        leaf = load_certificate(bundle.verification_material.certificate or b"")
        sans = certificate_identities(leaf)
        policy = IdentityPolicy(identity=sans[0] if sans else "", issuer=x509ext.oidc_issuer(leaf))
        verifier = Verifier(self.trusted_root)
        if bundle.message_signature is not None:
            digest = bundle.message_signature.message_digest
            assert digest is not None
            verifier.verify_artifact(bundle, Artifact(digest.digest), policy)
        else:
            verifier.verify_dsse(bundle, policy)
