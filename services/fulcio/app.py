"""Fulcio app factory: configuration in, Flask app out (once per server worker).

The CA (``ca_key``, ``ca_chain``; ``ephemeral:`` makes an in-memory self-signed CA for development),
the CT log client (``ct_log_url``, ``ct_log_public_key``), the accepted client signing algorithms
and the token verifier (``oidc_cache_max_age``, ``oidc_fetch_timeout``) are built here from the
typed configuration; a bad one stops the worker before it answers anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

from sigstack.protocol import keys
from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.errors import grpc_body

from .api import register
from .ca import CertificateAuthority
from .config import FulcioConfig
from .ctclient import CTClient
from .pop import DEFAULT_ALGORITHMS, KNOWN_ALGORITHMS
from .service import Fulcio
from .tokens import TokenVerifier


def _ca(config: FulcioConfig, environ: Mapping[str, str] | None) -> CertificateAuthority:
    if not config.ca_key:
        raise ConfigError("Fulcio needs ca_key (a key URI) and ca_chain (a PEM file)")
    signer = load_signer(config.ca_key, environ)
    if signer.ephemeral and not config.ca_chain:
        from sigstack.services.keys.certificates import name

        from .cli import ca_certificate

        chain = [ca_certificate(signer, name("sigstack-ephemeral", "sigstack"), years=10,
                                path_length=1, code_signing=False)]  # fmt: skip
    else:
        try:
            chain = x509.load_pem_x509_certificates(Path(config.ca_chain).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the CA chain {config.ca_chain!r}") from exc
    return CertificateAuthority(signer, chain)


def _ct(config: FulcioConfig) -> CTClient | None:
    if not config.ct_log_url:
        return None
    public_key = None
    if config.ct_log_public_key:
        try:
            data = Path(config.ct_log_public_key).read_bytes()
            loaded = serialization.load_pem_public_key(data)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read CT log key {config.ct_log_public_key}") from exc
        if not isinstance(loaded, keys.PublicKey):
            raise ConfigError(
                f"the CT log key {config.ct_log_public_key} is {keys.key_type(loaded)}, not a "
                "key a CT log signs with"
            )
        public_key = loaded
    return CTClient(config.ct_log_url, public_key=public_key)


def build_fulcio(config: FulcioConfig, environ: Mapping[str, str] | None = None) -> Fulcio:
    """The issuance service the configuration describes (no HTTP)."""
    identity = config.identity
    if identity is None:
        raise ConfigError("the Fulcio configuration lists no OIDCIssuers or MetaIssuers")
    ca = _ca(config, environ)
    ct = _ct(config)
    algorithms = config.client_signing_algorithms or DEFAULT_ALGORITHMS
    unknown = sorted(set(algorithms) - set(KNOWN_ALGORITHMS))
    if unknown:
        raise ConfigError(f"unknown client signing algorithm(s): {', '.join(unknown)}")
    verifier = TokenVerifier(identity, max_age=config.oidc_cache_max_age,
                             timeout=config.oidc_fetch_timeout)  # fmt: skip
    return Fulcio(identity, ca, ct, verifier=verifier, algorithms=algorithms)


def create_app(config: FulcioConfig, environ: Mapping[str, str] | None = None) -> Flask:
    return _create_app("fulcio", config, register(build_fulcio(config, environ)),
                       error_body=grpc_body)  # fmt: skip
