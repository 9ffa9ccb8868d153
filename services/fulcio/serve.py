"""``sigstack serve fulcio``: flags, data directory, and the app factory.

``--config FILE`` (JSON, see docs/fulcio.md) holds the issuers and optional server keys
(``ca_key``, ``ca_chain``, ``ct_log_url``, ``ct_log_public_key``, ``client_signing_algorithms``,
``oidc_cache_max_age``, ``oidc_fetch_timeout``);
flags override the file, ``SIGSTACK_FULCIO_*`` variables override both file and defaults.
``--ca-key ephemeral:`` makes an in-memory self-signed CA (development only; one worker).
Without ``--ca-key`` the CA lives in ``DATA_DIR/ca``: a new directory gets a development root and
intermediate (P-256, keys 0600, unencrypted: use ``sigstack ca create`` for production); a directory
with only one of key and chain is refused.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime.datadir import private_dir

DEFAULTS: dict[str, Any] = {
    "max_body_bytes": 4 << 20,
    "ct_log_url": "",
    "ct_log_public_key": "",
    "client_signing_algorithms": None,
    "ca_key": "",
    "ca_chain": "",
    "oidc_cache_max_age": 300,
    "oidc_fetch_timeout": 10,
}


def _seconds(config: dict[str, Any], key: str, low: float, high: float) -> float:
    value = config.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{key} must be a number of seconds from {low:g} to {high:g}")
    return float(value)


def prepare_data_dir(data_dir: Path) -> tuple[str, str]:
    """(key URI, chain path) of the data directory's CA, creating a development CA if new."""
    ca_dir = data_dir / "ca"
    key, chain = ca_dir / "intermediate-key.pem", ca_dir / "chain.pem"
    if key.exists() != chain.exists():
        missing = chain if key.exists() else key
        raise ConfigError(
            f"{ca_dir} holds a CA key or chain but not both ({missing.name} is missing); "
            "refusing to create a new CA over existing material"
        )
    if not key.exists():
        from .cli import create_ca

        private_dir(data_dir)
        create_ca(ca_dir, algorithm="ecdsa-p256", common_name="sigstack-dev")
    return f"file:{key}", str(chain)


def build_app(config: dict[str, Any], environ: Any = None) -> Flask:
    """The Fulcio WSGI app for a merged configuration (called once per gunicorn worker)."""
    from sigstack.services.keys import load_signer
    from sigstack.services.runtime.app import create_app
    from sigstack.services.runtime.errors import grpc_body

    from .api import register
    from .ca import CertificateAuthority
    from .config import parse_identity_config
    from .ctclient import CTClient
    from .pop import DEFAULT_ALGORITHMS, KNOWN_ALGORITHMS
    from .service import Fulcio
    from .tokens import TokenVerifier

    identity = parse_identity_config(config)
    if not config.get("ca_key"):
        raise ConfigError("Fulcio needs ca_key (a key URI) and ca_chain (a PEM file)")
    signer = load_signer(config["ca_key"], environ)
    if signer.ephemeral and not config.get("ca_chain"):
        from .cli import _name, ca_certificate

        chain = [ca_certificate(signer, _name("sigstack-ephemeral", "sigstack"), years=10,
                                path_length=1, code_signing=False)]  # fmt: skip
    else:
        try:
            chain = x509.load_pem_x509_certificates(Path(config["ca_chain"]).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the CA chain {config['ca_chain']!r}") from exc
    ca = CertificateAuthority(signer, chain)
    ct = None
    if config.get("ct_log_url"):
        public_key = None
        if config.get("ct_log_public_key"):
            try:
                data = Path(config["ct_log_public_key"]).read_bytes()
                public_key = serialization.load_pem_public_key(data)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read CT log key {config['ct_log_public_key']}") from exc
        ct = CTClient(config["ct_log_url"], public_key=public_key)
    algorithms = config.get("client_signing_algorithms") or DEFAULT_ALGORITHMS
    unknown = sorted(set(algorithms) - set(KNOWN_ALGORITHMS))
    if unknown:
        raise ConfigError(f"unknown client signing algorithm(s): {', '.join(unknown)}")
    verifier = TokenVerifier(
        identity,
        max_age=_seconds(config, "oidc_cache_max_age", 1, 3600),
        timeout=_seconds(config, "oidc_fetch_timeout", 0.1, 60),
    )
    fulcio = Fulcio(identity, ca, ct, verifier=verifier, algorithms=algorithms)
    return create_app("fulcio", config, register(fulcio), error_body=grpc_body)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sigstack serve fulcio", description="Fulcio-compatible CA")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--config", required=True, help="JSON file with OIDCIssuers etc.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--ct-url", help="base URL of the CT log ('' disables CT: no SCTs)")
    p.add_argument("--ct-public-key", help="PEM public key of the CT log, to check its SCTs")
    p.add_argument("--ca-key", help="key URI of the issuing CA (file:, pkcs11:, ephemeral:)")
    p.add_argument("--ca-chain", help="PEM chain: issuing certificate first, root last")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    from sigstack.services.runtime.config import load_config
    from sigstack.services.runtime.server import Limits, run

    args = parse_args(argv)
    overrides = {
        "ct_log_url": args.ct_url,
        "ct_log_public_key": args.ct_public_key,
        "ca_key": args.ca_key,
        "ca_chain": args.ca_chain,
    }
    config = load_config(
        DEFAULTS, file=args.config, env_prefix="SIGSTACK_FULCIO", overrides=overrides
    )
    if not config.get("ca_key"):
        config["ca_key"], config["ca_chain"] = prepare_data_dir(args.data_dir)
    elif config["ca_key"].startswith("ephemeral:"):
        args.workers = 1  # each worker would invent its own CA otherwise
    elif not config.get("ca_chain"):
        raise ConfigError("--ca-key needs --ca-chain")
    if not config["ca_key"].startswith("pkcs11:"):
        # Fail fast in the master. PKCS#11 sessions must not cross a fork, so HSM keys are
        # first opened in the workers.
        build_app(dict(config), os.environ)
    run(lambda: build_app(dict(config), os.environ), host=args.host, port=args.port,
        workers=args.workers, threads=args.threads, max_body_bytes=int(config["max_body_bytes"]),
        limits=Limits.from_config(config))  # fmt: skip
    return 0
