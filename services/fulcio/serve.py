"""``sigstack serve fulcio``: flags, data directory, then the app on the HTTP server.

``--config FILE`` (JSON, see docs/fulcio.md) holds the issuers and optional server keys
(``ca_key``, ``ca_chain``, ``ct_log_url``, ``ct_log_public_key``, ``client_signing_algorithms``,
``oidc_cache_max_age``, ``oidc_fetch_timeout``: ``config.FulcioConfig``);
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

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime.datadir import key_and_chain, private_dir

from .config import FulcioConfig


def prepare_data_dir(data_dir: Path) -> tuple[str, str]:
    """(key URI, chain path) of the data directory's CA, creating a development CA if new."""
    ca_dir = data_dir / "ca"
    key, chain = key_and_chain(ca_dir, "intermediate-key.pem", "CA")
    if not key.exists():
        from .cli import create_ca

        private_dir(data_dir)
        create_ca(ca_dir, algorithm="ecdsa-p256", common_name="sigstack-dev")
    return f"file:{key}", str(chain)


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
    from sigstack.services.runtime.server import Limits, run

    from .app import create_app

    args = parse_args(argv)
    flags = {"ct_log_url": args.ct_url, "ct_log_public_key": args.ct_public_key,
             "ca_key": args.ca_key, "ca_chain": args.ca_chain}  # fmt: skip
    config = FulcioConfig.load(file=args.config, flags=flags)
    if not config.ca_key:
        ca_key, ca_chain = prepare_data_dir(args.data_dir)
        config = config.with_values(ca_key=ca_key, ca_chain=ca_chain)
    elif config.ca_key.startswith("ephemeral:"):
        args.workers = 1  # each worker would invent its own CA otherwise
    elif not config.ca_chain:
        raise ConfigError("--ca-key needs --ca-chain")
    if not config.ca_key.startswith("pkcs11:"):
        # Fail fast in the master. PKCS#11 sessions must not cross a fork, so HSM keys are
        # first opened in the workers.
        create_app(config, os.environ)
    run(lambda: create_app(config, os.environ), host=args.host, port=args.port,
        workers=args.workers, threads=args.threads, max_body_bytes=config.max_body_bytes,
        limits=Limits.from_config(config))  # fmt: skip
    return 0
