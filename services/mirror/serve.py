"""``sigstack serve mirror --dir DIR``: serve a mirror made by ``sigstack mirror pull`` or
``sigstack mirror import`` read-only (``api``), for an air-gapped site's TUF clients, verifiers
and monitors (docs/mirror.md). Any static web server can serve ``DIR/current`` instead.

Configuration: defaults, then ``--config FILE``, then ``SIGSTACK_MIRROR_*``, then the flags.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import server

from .api import Directory
from .app import create_app
from .config import MirrorConfig


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sigstack serve mirror",
        description="serve a mirror directory (sigstack mirror pull/import) read-only",
    )
    parser.add_argument("--dir", help="the mirror directory (the one holding `current`)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--config", help="JSON configuration file")
    return parser.parse_args(argv)


def configure(directory: str | None, *, config_file: str | None = None,
              environ: Mapping[str, str] | None = None) -> MirrorConfig:  # fmt: skip
    """The workers' configuration, once the directory is checked to hold a mirror."""
    config = MirrorConfig.load(file=config_file, environ=environ, flags={"dir": directory})
    if not config.dir:
        raise ConfigError("give the mirror directory: --dir DIR")
    config = config.with_values(dir=str(Path(config.dir).resolve()))
    if Directory(config.dir).live() is None:
        raise ConfigError(f"{config.dir} holds no mirror (`sigstack mirror pull` or "
                          "`sigstack mirror import` makes one)")  # fmt: skip
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = configure(args.dir, config_file=args.config)
    server.run(lambda: create_app(config), host=args.host, port=args.port, workers=args.workers,
               threads=args.threads, max_body_bytes=config.max_body_bytes,
               limits=server.Limits.from_config(config))  # fmt: skip
    return 0
