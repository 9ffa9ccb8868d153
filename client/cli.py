"""The ``sigstack`` command's front door.

It only looks at the first word and hands the rest of the arguments to the module that owns that
command, importing it lazily so that ``sigstack verify-bundle`` never pays for Flask, SQLAlchemy
or gunicorn. Server-side commands (``serve``, ``db``, ``up``, ``oidc``, ``ca``, ``tsa``, ``tuf``)
are routed by name to ``services`` modules; the client library itself never imports them (see
docs/adr/0001). Client commands live in ``client.commands``. Each handler takes ``argv`` and
returns an exit code; ``protocol.errors.Error`` is caught once, here.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # server side
    "serve": (
        "sigstack.services.cli:serve",
        "run one service (rekor, rekor2, ctlog, fulcio, oidc, tuf, tsa, witness, mirror) on the HTTP server",
    ),
    "db": ("sigstack.services.cli:db", "database schema: `db upgrade`, `db check`"),
    "oidc": (
        "sigstack.services.oidc.cli:main",
        "OIDC issuer admin: add-user, add-service-account, rotate-key",
    ),
    "ca": ("sigstack.services.fulcio.cli:ca_main", "certificate authority admin: `ca create`"),
    "tsa": (
        "sigstack.services.tsa.cli:main",
        "timestamp authority admin: `tsa create-chain`, `tsa check-chain`",
    ),
    "rekor": ("sigstack.services.rekor.cli:main", "Rekor log admin: `rekor freeze`"),
    "rekor2": ("sigstack.services.rekor2.cli:main", "Rekor v2 log admin: `rekor2 freeze`"),
    "witness": (
        "sigstack.services.witness.cli:main",
        "witness admin: `witness vkey`, `witness log-list`, `witness feed`",
    ),
    "tuf": (
        "sigstack.services.tuf.cli:main",
        "TUF repository admin: init, add-target, sign, publish, rotate-key, trusted-root",
    ),
    "up": (
        "sigstack.services.stack:main",
        "start the whole stack on one machine (SQLite, keys in a dir)",
    ),
    # client side
    "sign-blob": (
        "sigstack.client.commands.sign:sign_blob",
        "sign a file keylessly, write a bundle",
    ),
    "attest-blob": ("sigstack.client.commands.sign:attest_blob", "attest a file (in-toto in DSSE)"),
    "verify-blob": (
        "sigstack.client.commands.verify:verify_blob",
        "verify a file against its bundle",
    ),
    "verify-blob-attestation": (
        "sigstack.client.commands.verify:verify_blob_attestation",
        "verify an in-toto attestation bundle",
    ),
    "sign-bundle": ("sigstack.client.commands.sign:sign_bundle", "conformance-protocol signing"),
    "verify-bundle": (
        "sigstack.client.commands.verify:verify_bundle",
        "conformance-protocol verification",
    ),
    "initialize": (
        "sigstack.client.commands.initialize:main",
        "trust a TUF root and fill the cache",
    ),
    "sign": ("sigstack.client.commands.oci:sign", "sign a container image, push the signature"),
    "verify": ("sigstack.client.commands.oci:verify", "verify a container image's signatures"),
    "attest": ("sigstack.client.commands.oci:attest", "attest a container image (in-toto in DSSE)"),
    "verify-attestation": (
        "sigstack.client.commands.oci:verify_attestation",
        "verify a container image's attestations",
    ),
    "download": (
        "sigstack.client.commands.oci:download",
        "`download signature IMAGE`: print signatures",
    ),
    "monitor": ("sigstack.client.monitor.cli:main", "follow logs: consistency, watched entries"),
    "mirror": ("sigstack.client.mirror.cli:main", "copy logs and TUF for an air-gapped site"),
    "triangulate": (
        "sigstack.client.commands.oci:triangulate",
        "print where an image's signatures live",
    ),
}


# Import names of the `server` extra's packages (pyproject.toml): a server command that misses one
# says which extra to install.
_SERVER = {"flask", "werkzeug", "sqlalchemy", "alembic", "granian", "a2wsgi", "uvloop",
           "prometheus_client", "gunicorn", "authlib", "jwt", "requests", "asn1crypto", "psycopg"}  # fmt: skip


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: sigstack COMMAND [ARGS...]   (sigstack --version)", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`sigstack COMMAND --help` describes a command. Exit status: 0 success, 1 a failure",
              "(the reason is printed after `Error:`), 2 a usage error (unknown command or flag)."]  # fmt: skip
    return "\n".join(lines)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("sigstack")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] in ("--version", "-V", "version"):
        print(f"sigstack {version()}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"sigstack: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, _, func = COMMANDS[name][0].partition(":")
    from sigstack.protocol.errors import Error

    try:
        handler = getattr(importlib.import_module(module), func)
        return int(handler(rest) or 0)
    except ModuleNotFoundError as exc:
        if (
            not module.startswith("sigstack.services.")
            or (exc.name or "").split(".")[0] not in _SERVER
        ):
            raise
        print(f"Error: `sigstack {name}` runs sigstack's services, which need the server extra "
              f"({exc.name} is not installed): pip install 'sigstack[server]'", file=sys.stderr)  # fmt: skip
        return 1
    except Error as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
