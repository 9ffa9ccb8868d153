"""``sigstack serve rekor``: configure (the data directory checked or initialised, the log made
once, here, before workers fork), then run the API on the HTTP server."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from sigstack.services.runtime import datadir, server

from .app import create_app, open_rekor
from .config import RekorConfig
from .trustedca import load_trusted_ca


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
    p.add_argument("--trusted-ca-file", metavar="PEM",
                   help="accept only entries whose certificates these CA certificates issued "
                   "(default: any entry that verifies)")  # fmt: skip
    return p.parse_args(argv)


def configure(
    data_dir: str,
    *,
    database_url: str | None = None,
    key_uri: str | None = None,
    config_file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    default_hostname: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RekorConfig:
    """Load the configuration, check or initialise the data directory and the log; return the
    workers' configuration.

    Flags (the keyword arguments) win over ``SIGSTACK_REKOR_*`` variables, which win over the file.
    """
    flags = {**(overrides or {}), "database_url": database_url, "key_uri": key_uri}
    config = RekorConfig.load(file=config_file, environ=environ, flags=flags)
    load_trusted_ca(config.trusted_ca_file)  # a bad file stops the start here, not each worker
    directory = datadir.prepare_data_dir(data_dir, "rekor", database_url=config.database_url,
                                         key_uri=config.key_uri)  # fmt: skip
    config = config.with_values(database_url=directory.database_url, key_uri=directory.key_uri,
                                hostname=config.hostname or default_hostname)  # fmt: skip
    # Create the log once, here, before workers fork; workers only open it. The parent's connection
    # is closed at once: a SQLite connection must not cross the fork (runtime.server).
    open_rekor(config.with_values(create=directory.created)).close()
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = configure(args.data_dir, database_url=args.database_url, key_uri=args.key_uri,
                       config_file=args.config, default_hostname=f"{args.host}:{args.port}",
                       overrides={"hostname": args.hostname, "max_body_bytes": args.max_body_bytes,
                                  "trusted_ca_file": args.trusted_ca_file})  # fmt: skip
    print(f"rekor: serving on http://{args.host}:{args.port} (data in {args.data_dir})", flush=True)
    server.run(lambda: create_app(config), host=args.host, port=args.port,
               max_body_bytes=config.max_body_bytes, limits=server.Limits.from_config(config),
               **server.log_workers(args.workers, args.threads, str(config.database_url)))  # fmt: skip
    return 0
