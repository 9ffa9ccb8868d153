"""``sigstack oidc add-user | set-password | add-service-account | rotate-key | token``.

The admin commands take ``--data-dir DIR`` and/or ``--database-url URL`` and initialise a new data
dir like ``sigstack serve oidc`` would. Passwords are read from the terminal (twice) or, for
scripts, from standard input with ``--password-stdin``; they never appear on the command line. A
service account's secret is printed once and only its hash is stored.

``token --account FILE`` is a client, not an admin command: it makes the client_credentials grant
with a service account's file (``client_id``, ``client_secret``, ``token_endpoint``, as
``sigstack up`` writes ``demo-service-account.json``) over HTTP and prints the identity token.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError, ValidationError

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="issuer data directory (keys, and oidc.db by default)")
    parser.add_argument("--database-url", help="database URL (default sqlite in the data dir)")
    parser.add_argument("--config", help="JSON configuration file")


def _store(args: argparse.Namespace, **extra: Any) -> Any:
    from .config import OIDCConfig
    from .datadir import prepare_data_dir

    flags = {"data_dir": args.data_dir, "database_url": args.database_url, **extra}
    config = OIDCConfig.load(file=args.config, flags=flags)
    return config, prepare_data_dir(config)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise ValidationError("the passwords differ")
    return password


def create_user(store: Any, username: str, email: str, password: str) -> str:
    """Add a person who can sign in; return their immutable ``sub``."""
    from .passwords import hash_password

    username = username.strip()
    if not _NAME.match(username.lower()):
        raise ValidationError(
            "usernames are 1-63 of a-z 0-9 . _ - (starting with a letter or digit)"
        )
    if not _EMAIL.match(email):
        raise ValidationError(f"{email!r} is not an email address")
    _check_password(password)
    if store.user_by_name(username) is not None:
        raise ValidationError(
            f"user {username!r} exists already (`sigstack oidc set-password {username}` "
            "gives them a new password)"
        )
    sub = "u-" + secrets.token_hex(16)
    store.add_user(sub, username, email, hash_password(password))
    store.audit("add_user", "success", username=username)
    return sub


def _check_password(password: str) -> None:
    """The rules every password of a user follows (hash_password adds the byte limits)."""
    if len(password) < 8:
        raise ValidationError("the password must have at least 8 characters")


def set_user_password(store: Any, username: str, password: str) -> None:
    """Give an existing user a new password (same rules and hashing as ``create_user``)."""
    import sqlalchemy as sa

    from .passwords import hash_password
    from .store import users

    username = username.strip()
    _check_password(password)
    hashed = hash_password(password)
    with store.engine.begin() as conn:
        done = conn.execute(
            sa.update(users).where(users.c.username == username).values(password_hash=hashed)
        )
    if done.rowcount != 1:
        raise ValidationError(f"there is no user {username!r} (`sigstack oidc add-user` adds one)")
    store.audit("set_password", "success", username=username)


def set_password(args: argparse.Namespace) -> int:
    _config, store = _store(args)
    set_user_password(store, args.username, _read_password(args))
    print(f"set a new password for {args.username.strip()}")
    return 0


def add_user(args: argparse.Namespace) -> int:
    _config, store = _store(args)
    sub = create_user(store, args.username, args.email, _read_password(args))
    print(f"added user {args.username.strip()} <{args.email}> sub={sub}")
    return 0


def create_service_account(
    store: Any, config: Any, name: str, domain: str | None = None
) -> tuple[str, str, str]:
    """Add a machine identity; return (email, client_id, client_secret). The secret is not kept."""
    from .passwords import new_client_secret

    name = name.strip().lower()
    if not _NAME.match(name):
        raise ValidationError(
            "service account names are 1-63 of a-z 0-9 . _ - (starting with a letter or digit)"
        )
    domain = (domain or config.service_account_domain or "").strip().lower()
    if not domain or not _EMAIL.match(f"{name}@{domain}"):
        raise ConfigError("set a service account domain (--domain or service_account_domain)")
    if store.service_account_by_name(name) is not None:
        raise ValidationError(f"service account {name!r} exists already")
    client_id = "sa-" + secrets.token_hex(12)
    secret, secret_hash = new_client_secret()
    email = f"{name}@{domain}"
    store.add_service_account(client_id, name, "sa-" + secrets.token_hex(16), email, secret_hash)
    store.audit("add_service_account", "success", username=name, client_id=client_id)
    return email, client_id, secret


def add_service_account(args: argparse.Namespace) -> int:
    config, store = _store(args)
    email, client_id, secret = create_service_account(store, config, args.name, args.domain)
    print(f"service account: {email}")
    print(f"client_id: {client_id}")
    print(f"client_secret: {secret}")
    print("The secret is shown only this once; store it in your CI secret store.")
    return 0


def rotate_key(args: argparse.Namespace) -> int:
    from . import keys

    config, store = _store(args)
    alg = args.alg or config.signing_alg or "RS256"
    kid = keys.rotate(store, Path(config.data_dir), alg, publish_only=args.prepare)
    store.audit("rotate_key", "success", detail={"kid": kid, "prepare": args.prepare})
    if args.prepare:
        print(f"published next signing key {kid} ({alg}); run rotate-key again to sign with it")
    else:
        print(
            f"now signing with key {kid}; the previous key stays in the JWKS until the last "
            "token it signed has expired"
        )
    return 0


def service_account_token(account: Mapping[str, Any], audience: str = "sigstore") -> str:
    """The client_credentials grant (RFC 6749 section 4.4) with a service account's id and secret
    (HTTP Basic) at its token endpoint; returns the ``id_token``."""
    try:
        client_id, secret = str(account["client_id"]), str(account["client_secret"])
        endpoint = str(account["token_endpoint"])
    except (KeyError, TypeError):
        raise ConfigError(
            "a service account file holds client_id, client_secret and token_endpoint"
        ) from None
    if urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"token endpoint {endpoint!r} is not an http(s) URL")
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "audience": audience})
    req = urllib.request.Request(endpoint, data=body.encode(), method="POST",  # noqa: S310
                                 headers={"Authorization": f"Basic {basic}",
                                          "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (scheme checked)
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", "")
        except (ValueError, AttributeError):
            error = ""
        raise ConfigError(
            f"{endpoint} refused the client credentials (HTTP {exc.code} {error})".rstrip()
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach {endpoint}: {reason}") from None
    except ValueError:
        raise ConfigError(f"{endpoint} answered with something that is not JSON") from None
    token = answer.get("id_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise ConfigError(f"{endpoint} answered without an id_token")
    return token


def token(args: argparse.Namespace) -> int:
    try:
        account = json.loads(Path(args.account).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {args.account}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{args.account} is not JSON (a service account file)") from None
    if not isinstance(account, dict):
        raise ConfigError(f"{args.account} is not a service account file (a JSON object)")
    print(service_account_token(account, args.audience))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sigstack oidc", description="OIDC issuer administration")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("add-user", help="add a person who can sign in")
    p.add_argument("username")
    p.add_argument("--email", required=True, help="verified email address put into tokens")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _common(p)
    p.set_defaults(func=add_user)

    p = sub.add_parser("set-password", help="give an existing user a new password")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _common(p)
    p.set_defaults(func=set_password)

    p = sub.add_parser("add-service-account", help="add a machine identity; prints id and secret")
    p.add_argument("name")
    p.add_argument(
        "--domain", help="email domain of service accounts (config service_account_domain)"
    )
    _common(p)
    p.set_defaults(func=add_service_account)

    p = sub.add_parser("rotate-key", help="publish a new signing key and sign with it")
    p.add_argument("--alg", choices=["RS256", "ES256"], help="algorithm of the new key")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="only publish the next key; a later rotate-key starts using it",
    )
    _common(p)
    p.set_defaults(func=rotate_key)

    p = sub.add_parser(
        "token",
        help="print an identity token for a service account (client_credentials grant)",
        description="Ask the issuer for an identity token with a service account's client id "
        "and secret, and print it: TOKEN=$(sigstack oidc token --account FILE).",
    )
    p.add_argument(
        "--account",
        required=True,
        metavar="FILE",
        help="JSON with client_id, client_secret and token_endpoint (as `sigstack up` writes "
        "demo-service-account.json)",
    )
    p.add_argument("--audience", default="sigstore", help="the token's audience (default sigstore)")
    p.set_defaults(func=token)

    args = parser.parse_args(argv)
    if args.func is not token and not args.data_dir and not args.database_url:
        parser.error("give --data-dir DIR and/or --database-url URL")
    return int(args.func(args))
