"""``sigstack serve oidc --data-dir DIR --port PORT [--issuer-url URL] ...`` on the HTTP server.

The data dir is initialised or checked once in the parent process (so workers never race to create
keys); each worker then builds its own app and database connections.
"""

from __future__ import annotations

import argparse


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sigstack serve oidc", description="run the OIDC issuer")
    parser.add_argument("--data-dir", required=True, help="keys, and oidc.db unless --database-url")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--issuer-url",
        help="public issuer URL (default http://HOST:PORT); "
        "must match Fulcio's config byte for byte",
    )
    parser.add_argument("--database-url", help="e.g. postgresql://... (default sqlite in data dir)")
    parser.add_argument("--config", help="JSON configuration file (keys as in docs/oidc.md)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--signing-alg",
        choices=["RS256", "ES256"],
        help="algorithm of the first key of a new data dir (default RS256)",
    )
    args = parser.parse_args(argv)

    from sigstack.services.runtime.server import Limits, run

    from .app import create_app
    from .config import OIDCConfig
    from .connectors.registry import Registry
    from .datadir import prepare_data_dir
    from .exchangerules import parse_exchange
    from .issuer import Settings

    host_for_url = f"[{args.host}]" if ":" in args.host else args.host
    flags = {"data_dir": args.data_dir, "database_url": args.database_url,
             "issuer_url": args.issuer_url, "signing_alg": args.signing_alg}  # fmt: skip
    config = OIDCConfig.load(file=args.config, flags=flags)
    if not config.issuer_url:
        config = config.with_values(issuer_url=f"http://{host_for_url}:{args.port}")
    Settings.from_config(config)  # refuse a bad configuration before forking workers
    Registry.from_config(config)
    parse_exchange(config.token_exchange, config.issuer_url or "")
    prepare_data_dir(config).engine.dispose()  # nothing of the parent's may cross the fork
    print(f"OIDC issuer {config.issuer_url} listening on {host_for_url}:{args.port}", flush=True)
    run(lambda: create_app(config), host=args.host, port=args.port, workers=args.workers,
        max_body_bytes=config.max_body_bytes, limits=Limits.from_config(config))  # fmt: skip
    return 0
