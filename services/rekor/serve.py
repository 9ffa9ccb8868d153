"""``sigstack serve rekor``: prepare the data directory, then run the API under gunicorn."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.services.runtime import datadir, server
from sigstack.services.runtime.config import load_config

from .app import DEFAULTS, create_app


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sigstack serve rekor", description="Run the Rekor-compatible transparency log."
    )
    server.add_log_server_arguments(p, port=3000)
    p.add_argument(
        "--hostname",
        help="checkpoint signer name and origin host (default HOST:PORT);"
        " must appear in the log's baseUrl in trusted roots (sigstore-js checks it)",
    )
    p.add_argument("--max-body-bytes", type=int)
    return p.parse_args(argv)


def prepare(
    data_dir: str,
    *,
    database_url: str | None = None,
    key_uri: str | None = None,
    config_file: str | None = None,
    overrides: dict[str, Any] | None = None,
    default_hostname: str | None = None,
) -> dict[str, Any]:
    """Check or initialise the data directory and the log; return the workers' configuration.

    Flags (the keyword arguments) win over ``SIGSTACK_REKOR_*`` variables, which win over the file.
    """
    config = load_config(DEFAULTS, file=config_file, env_prefix="SIGSTACK_REKOR", overrides={
        **(overrides or {}), "database_url": database_url, "key_uri": key_uri,
    })  # fmt: skip
    prepared = datadir.prepare(data_dir, "rekor", database_url=config["database_url"],
                               key_uri=config["key_uri"])  # fmt: skip
    config.update(database_url=prepared.database_url, key_uri=prepared.key_uri)
    config["hostname"] = config.get("hostname") or default_hostname
    # Create the log once, here, before workers fork; workers only open it. The parent's connection
    # is closed at once: a SQLite connection must not cross the fork (runtime.server).
    create_app({**config, "create": prepared.created}).extensions["rekor"].log.engine.dispose()
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = prepare(args.data_dir, database_url=args.database_url, key_uri=args.key_uri,
                     config_file=args.config, default_hostname=f"{args.host}:{args.port}",
                     overrides={"hostname": args.hostname, "max_body_bytes": args.max_body_bytes})  # fmt: skip
    print(f"rekor: serving on http://{args.host}:{args.port} (data in {args.data_dir})", flush=True)
    server.run(lambda: create_app(config), host=args.host, port=args.port,
               max_body_bytes=int(config["max_body_bytes"]),
               limits=server.Limits.from_config(config),
               **server.log_workers(args.workers, args.threads, config["database_url"]))  # fmt: skip
    return 0
