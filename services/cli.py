"""Server-side commands: ``sigstack serve <service> ...`` and ``sigstack db ...``.

Database URLs carry passwords, so none needs to appear on a command line (which every user of the
machine can read in /proc): ``sigstack db`` reads ``--database-url-file FILE`` or the environment
(``SIGSTACK_DATABASE_URL``, or ``SIGSTACK_DATABASE_URL_FILE`` naming a file, Docker secrets style),
and each service reads ``SIGSTACK_<SERVICE>_DATABASE_URL`` through its configuration, or
``SIGSTACK_<SERVICE>_DATABASE_URL_FILE``, which ``serve`` resolves here before the service starts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from sigstack.protocol.errors import ConfigError

SERVICES = ("rekor", "rekor2", "ctlog", "fulcio", "oidc", "tuf", "tsa", "witness", "mirror")
# the services with tables in the database
WITH_DATABASE = ("oidc", "ctlog", "rekor", "rekor2", "witness")
DATABASE_URL_ENV = "SIGSTACK_DATABASE_URL"  # the migrations' (owner's) URL, for `sigstack db`


def _read_secret(path: str, what: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} from {path}: {exc.__class__.__name__}") from exc
    if not value or "\n" in value:
        raise ConfigError(f"{path} must hold {what} on one line")
    return value


def _from_environment(name: str, environ: Mapping[str, str], what: str) -> str | None:
    """``NAME`` or the content of the file ``NAME_FILE`` names (not both)."""
    value, file = environ.get(name), environ.get(f"{name}_FILE")
    if value and file:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    return _read_secret(file, what) if file else value or None


def service_database_url(service: str, environ: Mapping[str, str]) -> str | None:
    """The URL ``service`` connects with, as its environment gives it (``SIGSTACK_<S>_...``)."""
    name = f"SIGSTACK_{service.upper()}_DATABASE_URL"
    return _from_environment(name, environ, f"the {service} database URL")


def _resolve_url_file(service: str, environ: MutableMapping[str, str]) -> None:
    """Turn ``SIGSTACK_<S>_DATABASE_URL_FILE`` into ``SIGSTACK_<S>_DATABASE_URL`` for the service's
    configuration (defaults, file, environment, flags: services.runtime.config)."""
    name = f"SIGSTACK_{service.upper()}_DATABASE_URL"
    if f"{name}_FILE" in environ:
        url = service_database_url(service, environ)
        del environ[f"{name}_FILE"]
        if url:
            environ[name] = url


def serve(argv: list[str]) -> int:
    if not argv or argv[0] not in SERVICES:
        usage = (f"usage: sigstack serve {{{','.join(SERVICES)}}} [--help]\n\n"
                 "Runs one service until SIGTERM or Ctrl-C; `sigstack serve SERVICE --help` lists "
                 "its flags, docs/configuration.md its configuration keys.")  # fmt: skip
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(usage, file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    from sigstack.services.runtime.server import prepare_metrics_dir

    if argv[0] in WITH_DATABASE:
        _resolve_url_file(argv[0], os.environ)
    os.umask(0o077)  # databases, keys, logs and metrics a server writes are its user's alone
    prepare_metrics_dir()  # shared by the workers the server will fork
    module = importlib.import_module(f"sigstack.services.{argv[0]}.serve")
    return int(module.main(argv[1:]) or 0)


def _database_arguments(parser: argparse.ArgumentParser) -> None:
    given = parser.add_mutually_exclusive_group()
    given.add_argument(
        "--database-url",
        help=f"URL of the database, as the owner of its tables (default: ${DATABASE_URL_ENV}; "
        "prefer the environment: a command line is visible to every user of the machine)",
    )
    given.add_argument(
        "--database-url-file", metavar="FILE", help="read the URL from FILE (Docker secrets)"
    )


def _database_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    if args.database_url:
        return str(args.database_url)
    if args.database_url_file:
        return _read_secret(args.database_url_file, "the database URL")
    url = _from_environment(DATABASE_URL_ENV, environ, "the database URL")
    if not url:
        raise ConfigError(
            f"give the database with {DATABASE_URL_ENV} (or {DATABASE_URL_ENV}_FILE, "
            "--database-url-file FILE, --database-url URL)"
        )
    return url


def _grant(url: str, service: str, role: str | None, environ: Mapping[str, str]) -> None:
    """``db grant``: the role and password come from the URL the service itself connects with
    (``SIGSTACK_<S>_DATABASE_URL`` or ``..._FILE``), so they cannot disagree with it; ``--role``
    alone names an existing role and leaves its password as it is."""
    from sigstack.services.runtime import grants

    service_url = service_database_url(service, environ)
    login = grants.Login.from_url(service_url) if service_url else None
    if login is None:
        if not role:
            raise ConfigError(
                f"give --role, or SIGSTACK_{service.upper()}_DATABASE_URL (the URL {service} "
                "connects with: the role and password are taken from it)"
            )
        login = grants.Login(role)
    elif role and role != login.role:
        raise ConfigError(
            f"--role {role} differs from the role in SIGSTACK_{service.upper()}_DATABASE_URL "
            f"({login.role})"
        )
    done = grants.grant(url, service, login)
    made = "created" if done.created else "updated" if done.password_set else "kept"
    print(f"{service}: role {done.role} {made}, granted on {len(done.tables)} tables "
          f"({', '.join(sorted(done.tables))})")  # fmt: skip


def db(argv: list[str]) -> int:
    from sigstack.services.runtime import db as dbmod

    parser = argparse.ArgumentParser(
        prog="sigstack db", description="manage the database schema and the services' roles"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    upgrade = sub.add_parser("upgrade", help="run migrations up to head")
    _database_arguments(upgrade)
    upgrade.add_argument(
        "--grant",
        action="append",
        default=[],
        choices=WITH_DATABASE,
        metavar="SERVICE",
        help="then run `db grant --service SERVICE` (repeatable; role and password from "
        "SIGSTACK_<SERVICE>_DATABASE_URL)",
    )
    check = sub.add_parser("check", help="exit 1 if behind")
    _database_arguments(check)
    grant = sub.add_parser(
        "grant",
        help="create or update a service's login role and grant it exactly what it needs",
        description="Give SERVICE's role exactly the privileges its queries use on its own "
        "tables (run after every upgrade: tables a migration creates start without grants). "
        "The role and password are taken from SIGSTACK_<SERVICE>_DATABASE_URL (or _FILE) when "
        "set: the role is created if missing and its password set. With --role alone the role "
        "must exist and keeps its password.",
    )
    _database_arguments(grant)
    grant.add_argument("--service", required=True, choices=WITH_DATABASE)
    grant.add_argument("--role", help="the service's login role (default: from its URL)")
    args = parser.parse_args(argv)
    url = _database_url(args, os.environ)
    if args.action == "upgrade":
        dbmod.upgrade(url)
        print("database schema is at head")
        for service in dict.fromkeys(args.grant):
            _grant(url, service, None, os.environ)
        return 0
    if args.action == "grant":
        _grant(url, args.service, args.role, os.environ)
        return 0
    engine = dbmod.make_engine(url)
    try:
        dbmod.require_current_schema(engine)
    finally:
        engine.dispose()
    print("database schema is at head")
    return 0
