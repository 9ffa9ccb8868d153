"""Keyless signing: an ephemeral P-256 key, a Fulcio certificate for it, a signature over the
artifact's SHA-256 (hashedrekord) or over a DSSE envelope (in-toto statements), optional RFC 3161
timestamps, one Rekor v1 entry, and a v0.3 bundle. The fresh bundle is verified against the
trusted root before it is returned (chain, SCT, log entry, signature), so a misconfigured stack is
caught at signing time rather than by the first verifier.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from protocol.bundle import (
    MEDIA_TYPE_V03,
    Bundle,
    DsseEnvelope,
    DsseSignature,
    HashOutput,
    MessageSignature,
    VerificationMaterial,
    pae,
)
from protocol.errors import UnavailableError, ValidationError
from protocol.trust import SigningConfig, TrustedRoot, select_services

from . import services
from .oidc import IdentityToken


def _quiet(_: str) -> None:
    pass


@dataclass
class Signer:
    signing_config: SigningConfig
    trusted_root: TrustedRoot | None
    token: IdentityToken
    progress: Callable[[str], None] = _quiet
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

    def _timestamps(self, signature: bytes) -> tuple[bytes, ...]:
        if not self.signing_config.tsa_urls:
            return ()
        out = []
        try:
            tsas = select_services(
                self.signing_config.tsa_urls, (1,), self.signing_config.tsa_config
            )
        except ValidationError:  # no usable TSA now: timestamps are optional with Rekor v1
            return ()
        for tsa in tsas:
            try:
                out.append(services.timestamp(tsa.url, signature))
            except UnavailableError as exc:
                print(f"Warning: no timestamp from {tsa.url}: {exc.message}", file=sys.stderr)
        return tuple(out)

    def _rekor_url(self) -> str:
        return select_services(
            self.signing_config.rekor_tlog_urls, (1,), self.signing_config.rekor_tlog_config
        )[0].url

    def sign_digest(self, digest: bytes) -> Bundle:
        """Sign a SHA-256 digest (of a file hashed by the caller)."""
        self._certificate()
        assert self._key is not None
        signature = self._key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        stamps = self._timestamps(signature)
        rekor = self._rekor_url()
        self.progress(f"Uploading to the transparency log {rekor} ...")
        entry = services.upload_entry(
            rekor, services.hashedrekord(digest.hex(), signature, self.certificate_pem)
        )
        self.progress(f"tlog entry created with index: {entry.log_index}")
        return self._bundle(
            entry, stamps, message=MessageSignature(signature, HashOutput("SHA2_256", digest))
        )

    def sign_dsse(
        self, payload: bytes, payload_type: str = "application/vnd.in-toto+json"
    ) -> Bundle:
        """Sign ``payload`` as a DSSE envelope (e.g. an in-toto statement)."""
        self._certificate()
        assert self._key is not None
        signature = self._key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
        envelope = DsseEnvelope(payload, payload_type, (DsseSignature(signature),))
        stamps = self._timestamps(signature)
        rekor = self._rekor_url()
        self.progress(f"Uploading to the transparency log {rekor} ...")
        env_json = json.dumps(envelope._write())
        entry = services.upload_entry(rekor, services.dsse_entry(env_json, self.certificate_pem))
        self.progress(f"tlog entry created with index: {entry.log_index}")
        return self._bundle(entry, stamps, envelope=envelope)

    def _bundle(
        self,
        entry: object,
        stamps: tuple[bytes, ...],
        message: MessageSignature | None = None,
        envelope: DsseEnvelope | None = None,
    ) -> Bundle:
        bundle = Bundle(
            media_type=MEDIA_TYPE_V03,
            verification_material=VerificationMaterial(
                certificate=self._chain[0].public_bytes(serialization.Encoding.DER),
                tlog_entries=(entry,),  # type: ignore[arg-type]
                rfc3161_timestamps=stamps,
            ),
            message_signature=message,
            dsse_envelope=envelope,
        )
        if self.trusted_root is not None:
            self._self_check(bundle)
        return bundle

    def _self_check(self, bundle: Bundle) -> None:
        from client.verify import Artifact, IdentityPolicy, Verifier
        from client.verify.certs import certificate_identities, load_certificate
        from protocol import x509ext

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
