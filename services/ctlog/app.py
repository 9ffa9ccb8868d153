"""CT log app factory: configuration in, Flask app out (one per gunicorn worker).

Keys: ``database_url``, ``key_uri`` (ECDSA P-256: RFC 6962 SCTs are SHA-256 and sigstore-python
insists on it), ``roots_file`` (PEM; every certificate in it is an accepted trust anchor),
``create`` (make the tree if absent: only the process that initialised the data directory),
``batch_max``, ``batch_wait_ms``, ``max_body_bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.observe import LOG_ENTRIES

from .api import blueprint
from .log import CTLog

DEFAULTS: dict[str, Any] = {
    "database_url": None,
    "key_uri": None,
    "roots_file": None,
    "max_body_bytes": 1 << 20,
    "batch_max": 256,
    "batch_wait_ms": 2,
    "create": False,
}


def load_roots(path: str | Path | None) -> list[x509.Certificate]:
    if not path:
        raise ConfigError("the CT log needs --roots FILE (PEM certificates it accepts chains to)")
    try:
        roots = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read CT roots from {path}") from exc
    return roots


def create_app(config: Mapping[str, Any]) -> Flask:
    cfg = {**DEFAULTS, **config}
    signer = load_signer(cfg["key_uri"])
    key = signer.public_key
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ConfigError("the CT log key must be ECDSA P-256")
    ct = CTLog(
        db.make_engine(cfg["database_url"]),
        signer,
        load_roots(cfg["roots_file"]),
        create=bool(cfg["create"]),
        batch_max=int(cfg["batch_max"]),
        batch_wait=float(cfg["batch_wait_ms"]) / 1000.0,
    )

    def register(app: Flask) -> None:
        app.register_blueprint(blueprint(ct))
        app.extensions["ctlog"] = ct

    def gauges() -> None:
        LOG_ENTRIES.labels("ctlog").set(ct.size())

    return _create_app("ctlog", cfg, register, metrics=gauges)
