"""Server-side commands: ``sigstack serve <service> ...`` and ``sigstack db ...``."""

from __future__ import annotations

import argparse
import importlib

SERVICES = ("rekor", "ctlog", "fulcio", "oidc", "tuf")


def serve(argv: list[str]) -> int:
    if not argv or argv[0] not in SERVICES:
        print(f"usage: sigstack serve {{{','.join(SERVICES)}}} [--help]")
        return 2
    import os

    from services.runtime.server import prepare_metrics_dir

    os.umask(0o077)  # databases, keys, logs and metrics a server writes are its user's alone
    prepare_metrics_dir()  # shared by the workers gunicorn will fork
    module = importlib.import_module(f"services.{argv[0]}.serve")
    return int(module.main(argv[1:]) or 0)


def db(argv: list[str]) -> int:
    from services.runtime import db as dbmod

    parser = argparse.ArgumentParser(prog="sigstack db", description="manage the database schema")
    sub = parser.add_subparsers(dest="action", required=True)
    for action, help_ in (("upgrade", "run migrations up to head"), ("check", "exit 1 if behind")):
        p = sub.add_parser(action, help=help_)
        p.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    if args.action == "upgrade":
        dbmod.upgrade(args.database_url)
        print("database schema is at head")
        return 0
    engine = dbmod.make_engine(args.database_url)
    dbmod.require_current_schema(engine)
    print("database schema is at head")
    return 0
