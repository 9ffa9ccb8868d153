"""``sigstack serve ctlog``: prepare the data directory, then run the RFC 6962 API under gunicorn.

Data directory rules are the shared ones (``services.runtime.datadir``): a new DIR gets
``ctlog-key.pem`` (P-256, 0600) and ``ctlog.db`` (Alembic); an existing one is reused; a key without
a database or the reverse is refused. ``--roots`` names the PEM file of accepted roots (for Fulcio's
development CA: ``FULCIO_DATA_DIR/ca/root.pem``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sigstack.services.runtime import datadir, server
from sigstack.services.runtime.config import load_config

from .app import DEFAULTS, create_app, load_roots


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sigstack serve ctlog", description="Run the RFC 6962 CT log.")
    server.add_log_server_arguments(p, port=6962)
    p.add_argument("--roots", help="PEM file of the roots accepted (Fulcio's CA)")
    return p.parse_args(argv)


def prepare(
    data_dir: str,
    *,
    roots_file: str | None,
    database_url: str | None = None,
    key_uri: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Check or initialise the data directory and the log; return the workers' configuration.

    Also writes ``DATA_DIR/ctlog.pub``, the log's public key, which Fulcio (``--ct-public-key``)
    and the trusted root need (RFC 6962 has no endpoint for it).
    """
    config = load_config(DEFAULTS, file=config_file, env_prefix="SIGSTACK_CTLOG", overrides={
        "roots_file": roots_file, "database_url": database_url, "key_uri": key_uri,
    })  # fmt: skip
    load_roots(config["roots_file"])  # refuse before touching the data directory
    prepared = datadir.prepare(data_dir, "ctlog", database_url=config["database_url"],
                               key_uri=config["key_uri"])  # fmt: skip
    config.update(database_url=prepared.database_url, key_uri=prepared.key_uri)
    # Create the tree once, here, before workers fork; workers only open it.
    ct = create_app({**config, "create": prepared.created}).extensions["ctlog"]
    ct.log.engine.dispose()  # a SQLite connection must not cross the fork (runtime.server)
    Path(data_dir, "ctlog.pub").write_bytes(ct.signer.public_pem)
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = prepare(args.data_dir, roots_file=args.roots, database_url=args.database_url,
                     key_uri=args.key_uri, config_file=args.config)  # fmt: skip
    print(f"ctlog: serving on http://{args.host}:{args.port} (data in {args.data_dir})", flush=True)
    server.run(lambda: create_app(config), host=args.host, port=args.port,
               max_body_bytes=int(config["max_body_bytes"]),
               limits=server.Limits.from_config(config),
               **server.log_workers(args.workers, args.threads, config["database_url"]))  # fmt: skip
    return 0
