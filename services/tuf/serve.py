"""``sigstack serve tuf``: the repository's ``public/`` directory as a TUF mirror over HTTP
(``api``). Metadata changes for offline roles are made with ``sigstack tuf``
(``services.tuf.cli``), never over HTTP; the mirror's re-signing of snapshot/timestamp is serialised
across server workers by the repository's file lock.
"""

from __future__ import annotations

import argparse

from sigstack.services.runtime import server

from .app import create_app
from .config import TUFConfig
from .online import PublishedRepository


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sigstack serve tuf", description="serve a TUF repository's public/ as a mirror"
    )
    parser.add_argument("--data-dir", help="repository directory made by `sigstack tuf init`")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", help="JSON configuration file")
    parser.add_argument(
        "--resign-margin",
        type=float,
        dest="resign_margin_seconds",
        help="re-sign snapshot/timestamp this many seconds before they expire",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    flags = {"data_dir": args.data_dir, "resign_margin_seconds": args.resign_margin_seconds}
    config = TUFConfig.load(file=args.config, flags=flags)
    PublishedRepository(config.data_dir).layout.require()  # fail before forking workers
    server.run(lambda: create_app(config), host=args.host, port=args.port, workers=args.workers,
               limits=server.Limits.from_config(config))  # fmt: skip
    return 0
