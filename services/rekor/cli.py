"""``sigstack rekor freeze``: make a Rekor v1 log read-only for good (a shard replaced by a new log).

The command opens the log the data directory (or ``--database-url``) holds, with its key, and
freezes it in the database (``RekorLog.freeze``): every server worker and host sharing that
database refuses writes from the next batch on (405, naming ``--successor``), with no restart; the
final checkpoint is stored and served. It prints the final size, root and checkpoint and the
freeze time, which is the end of the log's window in the trusted root (docs/rotating-keys.md,
"Rotating a log shard"). Freezing a frozen log changes nothing (a new ``--successor`` is kept).

The checkpoint origin is the one the log has signed with so far (read from its latest
checkpoint); ``--hostname`` is needed only for a log that has never signed one.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from sigstack.protocol import note
from sigstack.protocol.errors import ConfigError
from sigstack.services.tlog import describe, freeze_parser


def _parser() -> argparse.ArgumentParser:
    p, sp = freeze_parser("rekor", "Rekor v1")
    sp.add_argument("--hostname", help="checkpoint signer name, for a log that never signed one")
    return p


def _stored_hostname(text: str) -> str | None:
    """The signer name of the log's latest checkpoint (None for a log that signed none)."""
    if not text:
        return None
    return note.SignedNote.from_text(text).signatures[0].name


def freeze(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from sigstack.services.keys import load_signer
    from sigstack.services.runtime import datadir, db
    from sigstack.services.tlog import TreeReader, open_reader

    from .config import RekorConfig
    from .log import RekorLog

    config = RekorConfig.load(file=args.config, environ=environ,
                              flags={"database_url": args.database_url, "key_uri": args.key_uri})  # fmt: skip
    directory = datadir.existing_log_dir(args.data_dir, "rekor", "Rekor log",
                                         database_url=config.database_url, key_uri=config.key_uri)  # fmt: skip
    engine = db.make_engine(directory.database_url)
    try:
        reader: TreeReader | None = open_reader(engine, "rekor")
        if reader is None:
            raise ConfigError("this database holds no Rekor log")
        stored = _stored_hostname(reader.head().note)
        if stored and args.hostname and args.hostname != stored:
            raise ConfigError(f"the log signs its checkpoints as {stored}, not {args.hostname}")
        hostname = stored or args.hostname
        if not hostname:
            raise ConfigError("the log has signed no checkpoint yet: give --hostname")
        rekor = RekorLog(engine, load_signer(directory.key_uri), hostname)
        print(describe("rekor", rekor.origin, rekor.freeze(args.successor)))
    finally:
        engine.dispose()
    return 0


def main(argv: list[str]) -> int:
    return freeze(_parser().parse_args(argv), os.environ)
