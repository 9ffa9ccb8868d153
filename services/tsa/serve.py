"""``sigstack serve tsa``: key, chain and data directory checked, then the API on granian.

``--key URI --chain FILE`` name the signing key (``file:`` or ``pkcs11:``) and its PEM chain
(leaf first, root last; ``sigstack tsa create-chain`` makes one). Without them the data
directory's chain is used: ``DIR/chain/leaf-key.pem`` and ``DIR/chain/chain.pem``; a directory
holding neither gets a **development** chain (root and leaf, P-256, the leaf key 0600 and
unencrypted, the root key thrown away once the leaf is signed); one holding only one of the two
is refused. ``ephemeral:`` keys are refused (each worker would sign under a different key).

The chain is checked before the server starts, and a bad one stops it with the reason
(``chain.check_chain``). An HSM session must not cross the fork into the workers
(``services.keys.pkcs11``), so a ``pkcs11:`` key is checked in a separate process
(``sigstack tsa check-chain``) and first opened by each worker.

The TSA keeps no state: serial numbers are random (``authority``), so any number of workers or
hosts may serve with the same key and chain.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import datadir, server

from .app import build_authority, create_app
from .config import TSAConfig


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sigstack serve tsa", description="Run the RFC 3161 timestamp authority."
    )
    p.add_argument("--data-dir", required=True, help="development chain (when --key is not given)")
    p.add_argument("--port", type=int, default=3004)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--key", dest="key_uri", help="signing key URI (file:, pkcs11:)")
    p.add_argument("--chain", dest="chain_file", help="PEM chain: TSA certificate first, root last")
    p.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    p.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    p.add_argument("--config", help="JSON configuration file")
    return p.parse_args(argv)


def prepare_data_dir(data_dir: str | Path) -> tuple[str, str]:
    """(key URI, chain path) of the data directory's chain, made now if the directory has none."""
    directory = datadir.private_dir(data_dir)
    chain_dir = directory / "chain"
    if chain_dir.exists():
        datadir.private_dir(chain_dir)
    key, chain = datadir.key_and_chain(chain_dir, "leaf-key.pem", "TSA chain")
    if not key.exists():
        from .certs import create_chain

        create_chain(chain_dir, root_key_uri="ephemeral:ecdsa-p256", common_name="sigstack-dev-tsa")
        print(
            f"tsa: made a development chain in {chain_dir} (use `sigstack tsa create-chain` "
            "for production)",
            flush=True,
        )
    return f"file:{key.resolve()}", str(chain.resolve())


def _check_in_child(config: TSAConfig) -> None:
    """``sigstack tsa check-chain`` in a separate process, the key URI passed in its environment
    (a PIN in ``pin-value=`` stays off command lines)."""
    prefix = TSAConfig.env_prefix()
    env = {
        **os.environ,
        f"{prefix}_KEY_URI": str(config.key_uri),
        f"{prefix}_CHAIN_FILE": str(config.chain_file),
    }
    done = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", "tsa", "check-chain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["no reason given"]
        raise ConfigError(reason[0].removeprefix("Error: "))


def configure(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> TSAConfig:
    """The workers' configuration, the key and chain checked (see module docstring)."""
    flags = {"key_uri": args.key_uri, "chain_file": args.chain_file}
    config = TSAConfig.load(file=args.config, environ=environ, flags=flags)
    datadir.private_dir(args.data_dir)
    if not config.key_uri and not config.chain_file:
        key_uri, chain_file = prepare_data_dir(args.data_dir)
        config = config.with_values(key_uri=key_uri, chain_file=chain_file)
    elif not (config.key_uri and config.chain_file):
        raise ConfigError("give the TSA key and its chain together (--key URI --chain FILE)")
    if str(config.key_uri).startswith("ephemeral:"):
        raise ConfigError(
            "an ephemeral TSA key is refused: each worker would sign under its own "
            "key; a new data directory gets a development chain instead"
        )
    config.options()
    if str(config.key_uri).startswith("pkcs11:"):
        _check_in_child(config)
    else:
        build_authority(config)
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = configure(args)
    print(f"tsa: serving on http://{args.host}:{args.port} (chain {config.chain_file})", flush=True)
    server.run(
        lambda: create_app(config),
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        max_body_bytes=config.max_body_bytes,
        limits=server.Limits.from_config(config),
    )
    return 0
