"""``sigstack serve ctlog``: configure (the data directory checked or initialised, the log made
once, before workers fork), then run the RFC 6962 API on the HTTP server.

Data directory rules are the shared ones (``services.runtime.datadir``): a new DIR gets
``ctlog-key.pem`` (P-256, 0600) and ``ctlog.db`` (Alembic); an existing one is reused; a key without
a database or the reverse is refused. ``--roots`` names the PEM file of accepted roots (for Fulcio's
development CA: ``FULCIO_DATA_DIR/ca/root.pem``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from sigstack.services.runtime import datadir, server

from .app import create_app, load_roots, open_ctlog
from .config import CTLogConfig


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sigstack serve ctlog", description="Run the RFC 6962 CT log.")
    server.add_log_server_arguments(p, port=6962)
    p.add_argument("--roots", help="PEM file of the roots accepted (Fulcio's CA)")
    return p.parse_args(argv)


def configure(
    data_dir: str,
    *,
    roots_file: str | None,
    database_url: str | None = None,
    key_uri: str | None = None,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> CTLogConfig:
    """Load the configuration, check or initialise the data directory and the log; return the
    workers' configuration.

    Also writes ``DATA_DIR/ctlog.pub``, the log's public key, which Fulcio (``--ct-public-key``)
    and the trusted root need (RFC 6962 has no endpoint for it).
    """
    flags = {"roots_file": roots_file, "database_url": database_url, "key_uri": key_uri}
    config = CTLogConfig.load(file=config_file, environ=environ, flags=flags)
    load_roots(config.roots_file)  # refuse before touching the data directory
    directory = datadir.prepare_data_dir(data_dir, "ctlog", database_url=config.database_url,
                                         key_uri=config.key_uri)  # fmt: skip
    config = config.with_values(database_url=directory.database_url, key_uri=directory.key_uri)
    # Create the tree once, here, before workers fork; workers only open it.
    ct = open_ctlog(config.with_values(create=directory.created))
    ct.close()  # a SQLite connection must not cross the fork (runtime.server)
    Path(data_dir, "ctlog.pub").write_bytes(ct.signer.public_pem)
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = configure(args.data_dir, roots_file=args.roots, database_url=args.database_url,
                       key_uri=args.key_uri, config_file=args.config)  # fmt: skip
    print(f"ctlog: serving on http://{args.host}:{args.port} (data in {args.data_dir})", flush=True)
    server.run(lambda: create_app(config), host=args.host, port=args.port,
               max_body_bytes=config.max_body_bytes, limits=server.Limits.from_config(config),
               **server.log_workers(args.workers, args.threads, str(config.database_url)))  # fmt: skip
    return 0
