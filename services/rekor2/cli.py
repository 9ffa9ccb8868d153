"""``sigstack rekor2 freeze``: make a Rekor v2 log read-only for good (rekor-tiles' ``--read-only``
and freeze-checkpoint in one step), for a shard replaced by a new log.

As ``sigstack rekor freeze`` (services/rekor/cli.py): the log the data directory or
``--database-url`` holds is frozen in its database, so every worker and host refuses writes from
the next batch on (405, naming ``--successor``) without a restart; the final checkpoint carries
``Log frozen — <time>``; the command prints it with the freeze time. ``--origin`` names the log
when the database holds several v2 logs. Freezing a frozen log changes nothing.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from sigstack.protocol.errors import ConfigError
from sigstack.services.tlog import describe, freeze_parser


def _parser() -> argparse.ArgumentParser:
    p, sp = freeze_parser("rekor2", "Rekor v2")
    sp.add_argument("--origin", help="the log's origin, when the database holds several")
    return p


def freeze(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from sigstack.services.keys import load_signer
    from sigstack.services.runtime import datadir, db

    from .config import Rekor2Config
    from .log import Rekor2Log, origins_in, resolve_origin

    flags = {"database_url": args.database_url, "key_uri": args.key_uri, "origin": args.origin}
    config = Rekor2Config.load(file=args.config, environ=environ, flags=flags)
    directory = datadir.existing_log_dir(args.data_dir, "rekor2", "Rekor v2 log",
                                         database_url=config.database_url, key_uri=config.key_uri)  # fmt: skip
    engine = db.make_engine(directory.database_url)
    try:
        if not origins_in(engine):
            raise ConfigError("this database holds no Rekor v2 log")
        origin = resolve_origin(engine, config.origin, "", create=False)
        log = Rekor2Log(engine, load_signer(directory.key_uri), origin)
        print(describe("rekor2", origin, log.freeze(args.successor)))
    finally:
        engine.dispose()
    return 0


def main(argv: list[str]) -> int:
    return freeze(_parser().parse_args(argv), os.environ)
