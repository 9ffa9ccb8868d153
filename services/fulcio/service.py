"""Issuance, HTTP-free: token -> principal -> issuance policy -> key and proof of possession ->
allow-list -> certificate.

``Fulcio.issue(token, key_request)`` follows the order of fulcio.md section 2 and, with a CT log,
the embedded-SCT flow of section 6.1 (precertificate logged with add-pre-chain, then the final
certificate with the same serial and the SCT list). Without a CT log the certificate is returned
without an SCT ("detached" with no timestamp, as upstream does with ``--ct-log-url=""``).
Nothing is logged to CT and nothing is signed unless every check before it passed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.protocol import sct as ctsct
from sigstack.services.runtime.observe import CERTIFICATES

from .ca import CertificateAuthority
from .config import IdentityConfig
from .ctclient import CTClient
from .errors import MSG_KEY_PARSE, client_error
from .identity import principal as make_principal
from .policy import check as check_policy
from .pop import (
    DEFAULT_ALGORITHMS,
    check_allowed,
    default_hash,
    parse_csr,
    parse_public_key,
    verify_proof,
)
from .tokens import TokenVerifier

log = logging.getLogger("sigstack.fulcio")


@dataclass(frozen=True)
class KeyRequest:
    """Either ``csr_pem`` or (``public_key`` bytes, ``proof`` signature bytes)."""

    csr_pem: bytes | None = None
    public_key: bytes | None = None
    proof: bytes | None = None


@dataclass(frozen=True)
class Result:
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    sct: ctsct.SignedCertificateTimestamp | None
    embedded: bool

    def pem_chain(self) -> list[str]:
        return [pem(c) for c in [self.certificate, *self.chain]]


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode().strip()


class Fulcio:
    def __init__(
        self,
        identity: IdentityConfig,
        ca: CertificateAuthority,
        ct: CTClient | None,
        *,
        verifier: TokenVerifier | None = None,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    ) -> None:
        self.identity = identity
        self.ca = ca
        self.ct = ct
        self.verifier = verifier or TokenVerifier(identity)
        self.algorithms = frozenset(algorithms)
        self._issued = 0
        self._issued_lock = threading.Lock()

    @property
    def issued(self) -> int:
        """Certificates this process has issued (requests run on many threads: counted under a
        lock, since ``+=`` on an attribute can lose an update between threads)."""
        return self._issued

    def issue(self, token: str, request: KeyRequest) -> Result:
        issuer, claims = self.verifier.verify(token)
        who = make_principal(issuer, claims)
        check_policy(issuer.policy, issuer.url, claims)  # 403 before the key is looked at
        if request.csr_pem is not None:
            key, hash_name = parse_csr(request.csr_pem)
        elif request.public_key is not None:
            key = parse_public_key(request.public_key)
            verify_proof(key, request.proof or b"", who.name)
            hash_name = default_hash(key)
        else:
            raise client_error(MSG_KEY_PARSE, "request has neither a public key nor a CSR")
        check_allowed(key, hash_name, self.algorithms)
        builder = self.ca.leaf_builder(who, key)
        if self.ct is None:
            cert = self.ca.plain(builder)
            result = Result(cert, self.ca.chain, None, embedded=False)
        else:
            precert = self.ca.precertificate(builder)
            precert_der = precert.public_bytes(serialization.Encoding.DER)
            sct = self.ct.add_pre_chain([precert_der, *self.ca.chain_der])
            cert = self.ca.final(builder, [sct])
            result = Result(cert, self.ca.chain, sct, embedded=True)
        with self._issued_lock:
            self._issued += 1
        CERTIFICATES.labels("fulcio").inc()
        log.info(
            "issued certificate serial=%x to %s (%s)", cert.serial_number, who.name, issuer.url
        )
        return result

    def trust_bundle(self) -> list[list[str]]:
        return [[pem(c) for c in self.ca.chain]]

    def configuration(self) -> list[dict[str, object]]:
        return [issuer.configuration_json() for issuer in self.identity.all()]
