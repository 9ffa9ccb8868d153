"""Witness app factory: configuration in, Flask app out (once per server worker).

The keys are ``config.WitnessConfig``'s: ``name`` (the cosigner name, fixed for the life of the
key: ``serve`` reads it from the data directory), ``key_uri`` (an Ed25519 key behind
``services.keys``), ``database_url`` (the ``witness_checkpoints`` table), ``logs`` (log list
files, ``logs.parse_log_list``), ``trusted_root`` (a trusted_root.json whose Rekor v2 logs are
followed too) and ``max_body_bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app

from .api import register
from .config import WitnessConfig
from .cosigner import Witness
from .logs import load_logs
from .store import Store


def build_witness(config: WitnessConfig, environ: Mapping[str, str] | None = None) -> Witness:
    for key in ("name", "key_uri", "database_url"):
        if not getattr(config, key):
            raise ConfigError(f"the witness needs its {key}")
    logs = load_logs(config.logs, config.trusted_root)
    if not len(logs):
        raise ConfigError(
            "the witness follows no log: give a log list (--logs FILE) or a trusted root "
            "(--trusted-root FILE) with Rekor v2 logs"
        )
    signer = load_signer(str(config.key_uri), environ)
    store = Store(db.make_engine(str(config.database_url)))
    return Witness(str(config.name), signer.public_key, signer.sign, logs, store)


def create_app(config: WitnessConfig, environ: Mapping[str, str] | None = None) -> Flask:
    return _create_app("witness", config, register(build_witness(config, environ)))
