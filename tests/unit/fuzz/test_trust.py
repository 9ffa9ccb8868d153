"""Fuzzing trust material (protocol.trust) and what the verifier builds from it: only
``protocol.errors.Error`` escapes.

Entry points: ``TrustedRoot.from_json`` followed by ``Verifier`` and ``LegacyVerifier``
construction and a chain check (``ChainVerifier.verify_at`` on a real leaf: every CA certificate
of the root is loaded), ``SigningConfig.from_json`` followed by ``select_services`` for each
service kind, ``ClientTrustConfig.from_json`` and ``CertificateAuthority.from_json``. Seeds: the
staging and production roots and configs, sigstore-python's trust test assets and the staging
TUF repository's targets in tests/data.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from cryptography import x509

from sigstack.client.oci.legacy import LegacyVerifier
from sigstack.client.verify import Verifier
from sigstack.client.verify.certs import ChainVerifier
from sigstack.protocol import trust

from . import seeds
from .core import Target, property_tests

WHEN = datetime(2024, 6, 1, tzinfo=UTC)


@functools.cache
def _leaf() -> x509.Certificate:
    return x509.load_der_x509_certificate(seeds.certificates()[0])


def _root(data: bytes) -> None:
    root = trust.TrustedRoot.from_json(data)
    Verifier(root, now=WHEN)
    LegacyVerifier(root, now=WHEN)
    ChainVerifier(root).verify_at(_leaf(), WHEN)


def _signing_config(data: bytes) -> None:
    config = trust.SigningConfig.from_json(data)
    for services, versions, selector in (
        (config.ca_urls, (1,), None),
        (config.oidc_urls, (1,), None),
        (config.rekor_tlog_urls, (1, 2), config.rekor_tlog_config),
        (config.tsa_urls, (1,), config.tsa_config),
    ):
        try:
            trust.select_services(services, versions, selector, WHEN)
        except trust.ValidationError:
            continue


def _trust_config(data: bytes) -> None:
    config = trust.ClientTrustConfig.from_json(data)
    Verifier(config.trusted_root, now=WHEN)


TARGETS = [
    Target("TrustedRoot+Verifier", _root, seeds.trusted_roots),
    Target("SigningConfig+select_services", _signing_config, seeds.signing_configs),
    Target("ClientTrustConfig", _trust_config, seeds.trust_configs),
    Target(
        "CertificateAuthority.from_json",
        trust.CertificateAuthority.from_json,
        seeds.certificate_authorities,
    ),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)
