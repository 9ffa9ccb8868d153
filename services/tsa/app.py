"""TSA app factory: configuration in, Flask app out (once per server worker).

The chain is checked against the key here (``chain.check_chain``); a bad one stops the worker
before it answers anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime.app import create_app as _create_app

from .api import register
from .authority import TimestampAuthority
from .chain import load_chain_file
from .config import TSAConfig


def build_authority(
    config: TSAConfig, environ: Mapping[str, str] | None = None
) -> TimestampAuthority:
    options = config.options()
    if not config.key_uri:
        raise ConfigError("the TSA needs its signing key (--key URI)")
    chain = load_chain_file(config.chain_file)
    return TimestampAuthority(load_signer(config.key_uri, environ), chain, options)


def create_app(config: TSAConfig, environ: Mapping[str, str] | None = None) -> Flask:
    return _create_app("tsa", config, register(build_authority(config, environ)))
