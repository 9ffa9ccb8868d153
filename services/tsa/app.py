"""TSA app factory: configuration in, Flask app out (once per server worker).

Keys: ``key_uri`` (the leaf's signer URI: ``file:`` or ``pkcs11:``), ``chain_file`` (PEM, leaf
first, root last), ``default_policy_oid``, ``accepted_policy_oids``, ``include_chain_in_response``,
``accuracy_seconds`` (``authority.Options``) and ``max_body_bytes``. The chain is checked against
the key here (``chain.check_chain``); a bad one stops the worker before it answers anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime.app import create_app as _create_app

from .api import register
from .authority import SIGSTORE_POLICY, Options, TimestampAuthority
from .chain import load_chain_file

DEFAULTS: dict[str, Any] = {
    "key_uri": None,
    "chain_file": None,
    "default_policy_oid": SIGSTORE_POLICY,
    "accepted_policy_oids": None,  # None: the default policy only
    "include_chain_in_response": False,
    "accuracy_seconds": 1,
    "max_body_bytes": 1 << 20,  # upstream's --max-request-body-size; requests over 1 KiB get 400
}


def build_authority(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> TimestampAuthority:
    cfg = {**DEFAULTS, **config}
    options = Options.from_config(cfg)
    if not cfg["key_uri"]:
        raise ConfigError("the TSA needs its signing key (--key URI)")
    chain = load_chain_file(cfg["chain_file"])
    return TimestampAuthority(load_signer(cfg["key_uri"], environ), chain, options)


def create_app(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Flask:
    cfg = {**DEFAULTS, **config}
    return _create_app("tsa", cfg, register(build_authority(cfg, environ)))
