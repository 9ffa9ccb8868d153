"""``sigstack serve rekor``: prepare the data directory, then run the API under gunicorn."""

from __future__ import annotations

import argparse

from services.runtime import datadir, server
from services.runtime.config import load_config

from .app import DEFAULTS, create_app


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sigstack serve rekor", description="Run the Rekor-compatible transparency log."
    )
    p.add_argument("--data-dir", required=True, help="keys and (by default) the SQLite database")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in the data dir)")
    p.add_argument("--key", dest="key_uri", help="log key URI (default: file in the data dir)")
    p.add_argument("--hostname", help="checkpoint origin host name (default: this host's name)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--config", help="JSON configuration file")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    prepared = datadir.prepare(
        args.data_dir, "rekor", database_url=args.database_url, key_uri=args.key_uri
    )
    config = load_config(
        DEFAULTS,
        file=args.config,
        env_prefix="SIGSTACK_REKOR",
        overrides={
            "database_url": prepared.database_url,
            "key_uri": prepared.key_uri,
            "hostname": args.hostname,
            "max_body_bytes": args.max_body_bytes,
        },
    )
    # Create the log once, here, before workers fork; workers only open it.
    create_app({**config, "create": prepared.created})
    print(f"rekor: serving on http://{args.host}:{args.port} (data in {args.data_dir})", flush=True)
    server.run(
        lambda: create_app(config),
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
    )
    return 0
