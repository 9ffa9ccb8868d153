"""``sigstack serve witness``: data directory, key, name and followed logs checked, then the API.

``--data-dir DIR`` holds the Ed25519 key (``witness-key.pem``, made 0600 for a new directory
unless ``--key URI`` names one kept elsewhere), the cosigner name (``witness-name``, written when
the key is made: ``--name``, default ``HOST:PORT``) and, unless ``--database-url`` (or
``SIGSTACK_WITNESS_DATABASE_URL``) names PostgreSQL, the SQLite database. The rules of
``services.runtime.datadir`` apply: a key without its database, or the reverse, is refused, as is
an ``ephemeral:`` key (the state would outlive it). A name, once written, is the witness's for
life: its key ID and every cosignature depend on it, and C2SP forbids one Ed25519 key to serve two
names, so another ``--name`` is refused.

The logs come from ``--logs FILE`` (repeatable; the ``logs/v0`` list) and ``--trusted-root FILE``
(its Rekor v2 logs); a witness that follows none is refused. The state lives in the database, so
any number of workers and hosts may serve with the same key, name and database.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import datadir, server

from .app import build_witness, create_app
from .config import WitnessConfig
from .cosigner import check_name
from .logs import load_logs

NAME_FILE = "witness-name"
KEY_FILE = "witness-key.pem"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sigstack serve witness",
        description="Run a C2SP tlog-witness: cosign the checkpoints of the logs it follows.",
    )
    server.add_log_server_arguments(p, port=3080)
    p.add_argument("--name", help="the cosigner name, fixed when the key is made (default "
                   "HOST:PORT); e.g. witness.example.com/w1")  # fmt: skip
    p.add_argument("--logs", action="append", metavar="FILE",
                   help="a log list (logs/v0: `vkey <vkey>` [`origin <origin>`] per log); "
                   "repeatable")  # fmt: skip
    p.add_argument("--trusted-root", metavar="FILE",
                   help="also follow the Rekor v2 logs of this trusted_root.json")  # fmt: skip
    p.add_argument("--max-body-bytes", type=int)
    return p.parse_args(argv)


def read_name(directory: Path) -> str | None:
    path = directory / NAME_FILE
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the witness name in {path}: {exc}") from None
    return check_name(text.strip())


def _write_name(directory: Path, name: str) -> None:
    fd = os.open(directory / NAME_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(name + "\n")


def resolve_name(directory: Path, wanted: str | None, default: str, *, created: bool) -> str:
    """The data directory's name; written now for a new key (``wanted`` or ``default``)."""
    stored = read_name(directory)
    if stored is None:
        if not created:
            raise ConfigError(
                f"{directory / NAME_FILE} is missing but the witness's key and database exist: "
                "restore it from backup (the name is part of the key ID every cosignature carries)"
            )
        name = check_name(wanted or default)
        _write_name(directory, name)
        return name
    if wanted and wanted != stored:
        raise ConfigError(
            f"this witness is named {stored!r} for life (its key ID and cosignatures depend on "
            f"the name); --name {wanted!r} is refused: a new name needs a new key and data dir"
        )
    return stored


def configure(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> WitnessConfig:
    """The workers' configuration, everything checked (see module docstring)."""
    flags = {"key_uri": args.key_uri, "database_url": args.database_url, "name": args.name,
             "logs": args.logs, "trusted_root": args.trusted_root,
             "max_body_bytes": args.max_body_bytes}  # fmt: skip
    config = WitnessConfig.load(file=args.config, environ=environ, flags=flags)
    if config.name:
        check_name(config.name)
    load_logs(config.logs, config.trusted_root)  # a bad log list is refused before a data dir
    prepared = datadir.prepare_data_dir(args.data_dir, "witness",
                                        database_url=config.database_url,
                                        key_uri=config.key_uri, key_algorithm="ed25519")  # fmt: skip
    name = resolve_name(Path(args.data_dir), config.name, f"{args.host}:{args.port}",
                        created=prepared.created)  # fmt: skip
    config = config.with_values(database_url=prepared.database_url, key_uri=prepared.key_uri,
                                name=name)  # fmt: skip
    witness = build_witness(config)  # checks key type, logs; workers build their own
    witness.store.engine.dispose()  # nothing of the parent's may stay open into the workers
    print(f"witness: {witness.vkey}", flush=True)
    for log in witness.logs:
        print(f"witness: follows {log.describe()}", flush=True)
    for reason in witness.logs.skipped:
        print(f"witness: not following {reason}", flush=True)
    return config


def main(argv: list[str]) -> int:
    args = parse(argv)
    config = configure(args)
    print(f"witness: serving on http://{args.host}:{args.port} (data in {args.data_dir})",
          flush=True)  # fmt: skip
    layout = server.log_workers(args.workers, args.threads, str(config.database_url))
    server.run(lambda: create_app(config), host=args.host, port=args.port,
               workers=layout["workers"], threads=layout["threads"],
               max_body_bytes=config.max_body_bytes,
               limits=server.Limits.from_config(config))  # fmt: skip
    return 0
