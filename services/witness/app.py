"""Witness app factory: configuration in, Flask app out (once per server worker).

Keys: ``name`` (the cosigner name, fixed for the life of the key: ``serve`` reads it from the data
directory), ``key_uri`` (an Ed25519 key behind ``services.keys``), ``database_url`` (the
``witness_checkpoints`` table), ``logs`` (log list files, ``logs.parse_log_list``),
``trusted_root`` (a trusted_root.json whose Rekor v2 logs are followed too) and
``max_body_bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app

from .api import register
from .cosigner import Witness
from .logs import load_logs
from .store import Store

DEFAULTS: dict[str, Any] = {
    "name": None,
    "key_uri": None,
    "database_url": None,
    "logs": [],  # log list files (logs/v0)
    "trusted_root": None,  # follow the Rekor v2 logs of this trusted_root.json too
    "max_body_bytes": 64 << 10,  # a checkpoint, 63 proof lines and room for many signature lines
}


def build_witness(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Witness:
    cfg = {**DEFAULTS, **config}
    for key in ("name", "key_uri", "database_url"):
        if not cfg[key]:
            raise ConfigError(f"the witness needs its {key}")
    logs = load_logs(cfg)
    if not len(logs):
        raise ConfigError(
            "the witness follows no log: give a log list (--logs FILE) or a trusted root "
            "(--trusted-root FILE) with Rekor v2 logs"
        )
    signer = load_signer(str(cfg["key_uri"]), environ)
    store = Store(db.make_engine(str(cfg["database_url"])))
    return Witness(str(cfg["name"]), signer.public_key, signer.sign, logs, store)


def create_app(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Flask:
    cfg = {**DEFAULTS, **config}
    return _create_app("witness", cfg, register(build_witness(cfg, environ)))
