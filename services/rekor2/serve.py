"""``sigstack serve rekor2``: configure (the data directory checked or initialised, the log made
once, before workers fork), then run the API.

``sigstack serve rekor2 export-tiles ...`` writes the log's tlog-tiles to a directory instead
(``services.rekor2.export``).
"""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable, Mapping
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.rekor.trustedca import load_trusted_ca
from sigstack.services.runtime import datadir, db, server

from .app import create_app, open_rekor2
from .config import Rekor2Config
from .log import resolve_origin

KEY_ALGORITHMS = ("ed25519", "ecdsa-p256")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sigstack serve rekor2",
        description="Run the Rekor v2 (rekor-tiles compatible) transparency log. "
        "`sigstack serve rekor2 export-tiles --help`: write its tiles to a directory.",
    )
    server.add_log_server_arguments(p, port=3003)
    p.add_argument(
        "--origin",
        help="checkpoint origin and signer name, fixed for the life of the log (default: the "
        "log in the database; HOST:PORT for a new one); the log's host name, e.g. "
        "log2025-1.rekor.example.com",
    )
    p.add_argument("--key-algorithm", choices=KEY_ALGORITHMS,
                   help="the key a new data directory gets (default ed25519)")  # fmt: skip
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--trusted-ca-file", metavar="PEM",
                   help="accept only entries whose certificates these CA certificates issued "
                   "(default: any entry that verifies)")  # fmt: skip
    return p.parse_args(argv)


def load(
    config_file: str | None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Rekor2Config:
    """Defaults, then the file, then ``SIGSTACK_REKOR2_*``, then the flags."""
    return Rekor2Config.load(file=config_file, environ=environ, flags=flags)


def configure(
    data_dir: str,
    *,
    database_url: str | None = None,
    key_uri: str | None = None,
    config_file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    default_origin: str = "localhost",
    report: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Rekor2Config:
    """Load the configuration, check or initialise the data directory and the log; return the
    workers' configuration."""
    config = load(config_file, {**(overrides or {}), "database_url": database_url,
                                "key_uri": key_uri}, environ)  # fmt: skip
    load_trusted_ca(config.trusted_ca_file)  # a bad file stops the start here, not each worker
    algorithm = config.key_algorithm
    if algorithm not in KEY_ALGORITHMS:
        raise ConfigError(f"key_algorithm must be one of {', '.join(KEY_ALGORITHMS)}")
    directory = datadir.prepare_data_dir(data_dir, "rekor2", database_url=config.database_url,
                                         key_uri=config.key_uri, key_algorithm=algorithm)  # fmt: skip
    engine = db.make_engine(directory.database_url)
    try:
        origin = resolve_origin(engine, config.origin, default_origin, create=directory.created)
    finally:
        engine.dispose()
    config = config.with_values(database_url=directory.database_url, key_uri=directory.key_uri,
                                origin=origin)  # fmt: skip
    # Create the log once, here, before workers fork; workers only open it. The parent's
    # connection is closed at once: a SQLite connection must not cross the fork (runtime.server).
    log = open_rekor2(config.with_values(create=directory.created))
    try:
        if report is not None:
            key_id = base64.b64encode(log.key_id).decode()
            report(f"rekor2: log {origin}, key {log.key_details}, logId.keyId {key_id}, "
                   f"{log.size()} entries")  # fmt: skip
    finally:
        log.close()
    return config


def main(argv: list[str]) -> int:
    if argv[:1] == ["export-tiles"]:
        from .export import main as export_main

        return export_main(argv[1:])
    args = parse(argv)
    config = configure(args.data_dir, database_url=args.database_url, key_uri=args.key_uri,
                     config_file=args.config, default_origin=f"{args.host}:{args.port}",
                     overrides={"origin": args.origin, "key_algorithm": args.key_algorithm,
                                "max_body_bytes": args.max_body_bytes,
                                "trusted_ca_file": args.trusted_ca_file},
                     report=lambda line: print(line, flush=True))  # fmt: skip
    print(
        f"rekor2: serving on http://{args.host}:{args.port} (data in {args.data_dir})", flush=True
    )
    server.run(lambda: create_app(config), host=args.host, port=args.port,
               max_body_bytes=config.max_body_bytes, limits=server.Limits.from_config(config),
               **server.log_workers(args.workers, args.threads, str(config.database_url)))  # fmt: skip
    return 0
