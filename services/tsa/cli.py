"""``sigstack tsa``: TSA administration.

- ``create-chain --out-dir DIR [--intermediate] [--key URI] [--root-key URI]
  [--intermediate-key URI] [--generate] [--algorithm ecdsa-p256|ecdsa-p384] [--organization O]
  [--common-name CN] [--passphrase-env VAR]``: a root, an optional intermediate and the
  timestamping leaf (``certs.create_chain``); prints how to serve with it.
- ``check-chain [--key URI] [--chain FILE]``: the checks ``sigstack serve tsa`` makes at start
  (``chain.check_chain`` with the key); the key and chain may come from ``SIGSTACK_TSA_KEY_URI``
  and ``SIGSTACK_TSA_CHAIN_FILE``. Exit 0 when they would be accepted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _create(args: argparse.Namespace) -> int:
    from .certs import create_chain

    paths = create_chain(
        args.out_dir,
        intermediate=args.intermediate,
        key_uri=args.key,
        root_key_uri=args.root_key,
        intermediate_key_uri=args.intermediate_key,
        generate=args.generate,
        algorithm=args.algorithm,
        organization=args.organization,
        common_name=args.common_name,
        passphrase_env=args.passphrase_env,
    )
    for name, path in paths.items():
        print(f"wrote {name}: {path}")
    file_keys = [n for n in paths if n.endswith("-key.pem")]
    if file_keys and not args.passphrase_env:
        print(
            f"warning: {', '.join(file_keys)} NOT encrypted; use --passphrase-env VAR (or an "
            "HSM) for a production TSA, and keep the root key offline",
            file=sys.stderr,
        )
    suffix = f"?passphrase-env={args.passphrase_env}" if args.passphrase_env else ""
    key = args.key or f"file:{paths['leaf-key.pem'].resolve()}{suffix}"
    print(
        f"serve with: sigstack serve tsa --data-dir DIR --key '{key}' "
        f"--chain {paths['chain.pem'].resolve()}"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from .app import build_authority
    from .config import TSAConfig

    config = TSAConfig.load(flags={"key_uri": args.key, "chain_file": args.chain})
    tsa = build_authority(config)
    leaf = tsa.chain[0]
    print(
        f"ok: {leaf.subject.rfc4514_string()} (valid to {leaf.not_valid_after_utc:%Y-%m-%d}), "
        f"{len(tsa.chain)} certificates"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sigstack tsa", description="timestamp authority admin")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("create-chain", help="create a TSA root, optional intermediate and leaf")
    p.add_argument("--out-dir", required=True, type=Path, help="where certificates (and keys) go")
    p.add_argument("--intermediate", action="store_true", help="put an intermediate CA between")
    p.add_argument("--key", help="the TSA (leaf) key URI (default: a new file key in --out-dir)")
    p.add_argument(
        "--root-key",
        help="root key URI (default: a new file key; ephemeral: to discard it after signing)",
    )
    p.add_argument("--intermediate-key", help="intermediate key URI (default: a new file key)")
    p.add_argument(
        "--generate",
        action="store_true",
        help="generate the pkcs11: keys named by --key/--root-key/--intermediate-key "
        "on their token first",
    )
    p.add_argument("--algorithm", default="ecdsa-p256", choices=("ecdsa-p256", "ecdsa-p384"))
    p.add_argument("--organization", default="sigstack")
    p.add_argument("--common-name", default="sigstack-tsa")
    p.add_argument("--passphrase-env", help="encrypt new file keys with the passphrase in VAR")
    c = sub.add_parser("check-chain", help="check a key and chain as `serve tsa` does at start")
    c.add_argument("--key", help="the TSA key URI (or SIGSTACK_TSA_KEY_URI)")
    c.add_argument("--chain", help="PEM chain, leaf first (or SIGSTACK_TSA_CHAIN_FILE)")
    args = parser.parse_args(argv)
    return _create(args) if args.action == "create-chain" else _check(args)
