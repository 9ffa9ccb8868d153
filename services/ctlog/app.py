"""CT log app factory: configuration in, Flask app out (one per server worker).

The key (``key_uri``) must be ECDSA P-256: RFC 6962 SCTs are SHA-256 and sigstore-python insists
on it. Every certificate of ``roots_file`` (PEM) is an accepted trust anchor.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.direct import post_route
from sigstack.services.runtime.observe import LOG_ENTRIES

from .api import blueprint, chain_writer
from .config import CTLogConfig
from .log import CTLog


def load_roots(path: str | Path | None) -> list[x509.Certificate]:
    if not path:
        raise ConfigError("the CT log needs --roots FILE (PEM certificates it accepts chains to)")
    try:
        roots = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read CT roots from {path}") from exc
    return roots


def open_ctlog(config: CTLogConfig) -> CTLog:
    """The log the configuration names (made if ``config.create`` and absent)."""
    database_url, key_uri = config.storage()
    signer = load_signer(key_uri)
    if signer.algorithm.name != "PKIX_ECDSA_P256_SHA_256":  # RFC 6962 SCTs are SHA-256
        raise ConfigError("the CT log key must be ECDSA P-256")
    return CTLog(
        db.make_engine(database_url),
        signer,
        load_roots(config.roots_file),
        create=config.create,
        **config.batch_options(),
    )


def create_app(config: CTLogConfig) -> Flask:
    ct = open_ctlog(config)

    def register(app: Flask) -> None:
        post_route(app, "/ct/v1/add-chain", "ctlog_add_chain", chain_writer(ct, precert=False))
        post_route(
            app, "/ct/v1/add-pre-chain", "ctlog_add_pre_chain", chain_writer(ct, precert=True)
        )
        app.register_blueprint(blueprint(ct))
        app.extensions["ctlog"] = ct

    def gauges() -> None:
        LOG_ENTRIES.labels("ctlog").set(ct.size())

    return _create_app("ctlog", config, register, metrics=gauges)
