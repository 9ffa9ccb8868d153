"""Where trust material and service URLs come from, in order:

1. files: ``--trusted-root``, ``--signing-config``, ``--trust-config`` (ClientTrustConfig);
2. cosign-style flags and environment: ``--fulcio-url`` / ``--rekor-url`` / ``--oidc-issuer``
   for signing, and for verification ``SIGSTORE_ROOT_FILE`` (Fulcio root + intermediates PEM),
   ``SIGSTORE_REKOR_PUBLIC_KEY``, ``SIGSTORE_CT_LOG_PUBLIC_KEY_FILE``,
   ``SIGSTORE_TSA_CERTIFICATE_FILE`` (leaf ... root), assembled into a TrustedRoot;
3. the TUF cache written by ``sigstack initialize`` (``client.tuf``).

No trust on first use: with none of these, commands fail and say how to provide trust.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.files import read_file
from sigstack.protocol.record import record
from sigstack.protocol.trust import (
    TRUSTED_ROOT_V01,
    CertificateAuthority,
    ClientTrustConfig,
    PublicKey,
    Service,
    SigningConfig,
    TimeRange,
    TransparencyLogInstance,
    TrustedRoot,
)

ENV_VARS = (
    "SIGSTORE_ROOT_FILE",
    "SIGSTORE_REKOR_PUBLIC_KEY",
    "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
    "SIGSTORE_TSA_CERTIFICATE_FILE",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@record(frozen=True)
class TrustOptions:
    trusted_root: str | None = None
    signing_config: str | None = None
    trust_config: str | None = None
    staging: bool = False
    offline: bool = False
    fulcio_url: str | None = None
    rekor_url: str | None = None
    oidc_issuer: str | None = None


def _pem_blocks(data: bytes, what: str) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, x509.InvalidVersion):
        raise ValidationError(f"{what} holds no PEM certificates") from None
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _pem_key(path: str, what: str) -> PublicKey:
    """A trusted-root key from a PEM file: its DER SubjectPublicKeyInfo and the registry's
    ``keyDetails`` for it (``protocol.keys``)."""
    from sigstack.protocol import keys

    data = read_file(path, what)
    if not data.lstrip().startswith(b"-----"):
        raise ValidationError(f"{what} {path} is not a PEM public key")
    key = keys.load_public_key(data, f"{what} {path}")
    details = keys.Algorithm.for_key(key).name
    return PublicKey(raw_bytes=keys.spki_der(key), key_details=details, valid_for=TimeRange(_EPOCH))


def _log(key: PublicKey, url: str = "") -> TransparencyLogInstance:
    from sigstack.protocol import keys

    return TransparencyLogInstance(
        base_url=url,
        hash_algorithm="SHA2_256",
        public_key=key,
        log_id=keys.key_id(keys.load_public_key(key.raw_bytes)),
    )


def root_from_env(env: Mapping[str, str]) -> TrustedRoot | None:
    """A TrustedRoot assembled from the cosign-style SIGSTORE_* variables, or None if unset."""
    if not any(env.get(v) for v in ENV_VARS):
        return None
    missing = [v for v in ENV_VARS[:3] if not env.get(v)]
    if missing:
        raise ValidationError(
            f"{', '.join(missing)} must be set too when trust comes from SIGSTORE_* variables"
        )
    fulcio = _pem_blocks(
        read_file(env["SIGSTORE_ROOT_FILE"], "SIGSTORE_ROOT_FILE"), "SIGSTORE_ROOT_FILE"
    )
    # PEM files list root first or leaf first; the trusted root wants the anchor last.
    ca = CertificateAuthority(cert_chain=tuple(_leaf_first(fulcio)), valid_for=TimeRange(_EPOCH))
    tsas: tuple[CertificateAuthority, ...] = ()
    if env.get("SIGSTORE_TSA_CERTIFICATE_FILE"):
        chain = _pem_blocks(
            read_file(env["SIGSTORE_TSA_CERTIFICATE_FILE"], "SIGSTORE_TSA_CERTIFICATE_FILE"),
            "SIGSTORE_TSA_CERTIFICATE_FILE",
        )
        tsas = (CertificateAuthority(cert_chain=tuple(chain), valid_for=TimeRange(_EPOCH)),)
    return TrustedRoot(
        media_type=TRUSTED_ROOT_V01,
        tlogs=(_log(_pem_key(env["SIGSTORE_REKOR_PUBLIC_KEY"], "SIGSTORE_REKOR_PUBLIC_KEY")),),
        certificate_authorities=(ca,),
        ctlogs=(
            _log(
                _pem_key(env["SIGSTORE_CT_LOG_PUBLIC_KEY_FILE"], "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE")
            ),
        ),
        timestamp_authorities=tsas,
    )


def _leaf_first(ders: list[bytes]) -> list[bytes]:
    from cryptography import x509

    certs = [x509.load_der_x509_certificate(d) for d in ders]
    if len(certs) > 1 and certs[0].subject == certs[0].issuer:
        return list(reversed(ders))
    return ders


def trusted_root(opts: TrustOptions, env: Mapping[str, str] | None = None) -> TrustedRoot:
    """The trusted root for verification, from the first source that is configured."""
    env = os.environ if env is None else env
    if opts.trusted_root:
        return TrustedRoot.from_file(opts.trusted_root)
    if opts.trust_config:
        return ClientTrustConfig.from_file(opts.trust_config).trusted_root
    from_env = root_from_env(env)
    if from_env is not None:
        return from_env
    from . import tuf

    return TrustedRoot.from_json(tuf.cached_target("trusted_root.json", opts, env))


def signing_config(opts: TrustOptions, env: Mapping[str, str] | None = None) -> SigningConfig:
    """The signing config: file, trust config, URL flags, then the TUF cache."""
    env = os.environ if env is None else env
    if opts.signing_config:
        return SigningConfig.from_file(opts.signing_config)
    if opts.trust_config:
        return ClientTrustConfig.from_file(opts.trust_config).signing_config
    if opts.fulcio_url or opts.rekor_url:
        if not (opts.fulcio_url and opts.rekor_url):
            raise ValidationError("--fulcio-url and --rekor-url go together")
        start = TimeRange(_EPOCH)
        oidc = (Service(opts.oidc_issuer, 1, start),) if opts.oidc_issuer else ()
        return SigningConfig(
            ca_urls=(Service(opts.fulcio_url, 1, start),),
            oidc_urls=oidc,
            rekor_tlog_urls=(Service(opts.rekor_url, 1, start),),
        )
    from . import tuf

    return SigningConfig.from_json(tuf.cached_target("signing_config.v0.2.json", opts, env))
