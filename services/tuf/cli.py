"""``sigstack tuf ...``: operator commands for the TUF repository and the trust documents.

Repository: ``init``, ``add-target``, ``remove-target``, ``sign``, ``status``, ``publish``,
``discard``, ``renew``, ``rotate-key``, ``refresh``. Trust documents: ``trusted-root`` (build from
the stack's keys and certificates, given as files or fetched from ``http(s)://`` URLs),
``trusted-root-rotate``, ``trusted-root-end`` and ``signing-config-rotate`` (a log shard replaced:
``services.tuf.shards``), ``signing-config``, ``trust-config``. Parsing and printing only; the
work is done by ``services.tuf.repo``, ``.trustroot`` and ``.signingconfig``. Never prints key
material.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.protocol.protojson import strict_b64decode

from . import keys as tufkeys
from . import shards, signingconfig, trustroot
from .online import DEFAULT_SETTINGS, ONLINE_ROLES
from .repo import OFFLINE_ROLES, Repository
from .store import check_outside


def _read(ref: str) -> bytes:
    """Bytes of a file, or of an ``http(s)://`` URL (a running service's public endpoint)."""
    if ref.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(ref, timeout=10) as resp:  # noqa: S310 (scheme checked)
                return bytes(resp.read())
        except OSError as exc:
            raise ConfigError(f"cannot fetch {ref}: {exc}") from exc
    try:
        return Path(ref).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {ref}: {exc.strerror}") from exc


def _log_id(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text) if len(text) == 64 else strict_b64decode(text, "the log id")
    except (ValueError, ValidationError) as exc:
        raise ValidationError("log ids are 64 hex digits or base64") from exc


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    return trustroot.parse_time(text)


def _maybe_when(text: str | None) -> datetime | None:
    return trustroot.parse_time(text) if text else None


def _emit(doc: Any, out: str | None) -> None:
    text = json.dumps(doc, indent=2) + "\n"
    if out:
        Path(out).write_text(text)
        print(f"wrote {out}")
    else:
        sys.stdout.write(text)


def _print_status(status: dict[str, dict[str, Any]]) -> None:
    if not status:
        print("nothing staged")
    for role, s in status.items():
        state = "ready to publish" if s["ready"] else f"needs {s['missing']} more signature(s)"
        note = f" ({s['note']})" if "note" in s else ""
        version = f"v{s['version']}" if s["version"] else "(not staged)"
        print(f"{role} {version}: {s['signatures']} signature(s), {state}{note}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sigstack tuf", description="TUF repository administration")
    sub = p.add_subparsers(dest="cmd", required=True)

    def repo_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--data-dir", default="./data/tuf", help="repository directory")
        return sp

    sp = repo_cmd("init", "create keys and publish version 1 of every role")
    sp.add_argument("--key-dir", required=True, help="where offline root/targets keys are written")
    sp.add_argument("--root-keys", type=int, default=1)
    sp.add_argument("--root-threshold", type=int, default=1)
    sp.add_argument("--targets-keys", type=int, default=1)
    sp.add_argument("--targets-threshold", type=int, default=1)
    sp.add_argument("--algorithm", default="ecdsa-p256", help="ecdsa-p256 (default) or ed25519")
    for key, value in DEFAULT_SETTINGS.items():
        sp.add_argument("--" + key.replace("_", "-"), type=int, default=value)
    sp = repo_cmd("add-target", "stage a new or changed target")
    sp.add_argument("name")
    sp.add_argument("file")
    sp.add_argument("--custom", help="custom metadata: JSON text or @FILE")
    sp = repo_cmd("remove-target", "stage the removal of a target")
    sp.add_argument("name")
    sp = repo_cmd("sign", "add one key holder's signature to a staged role")
    sp.add_argument("role", choices=OFFLINE_ROLES)
    sp.add_argument("--key", required=True, help="private key file or key URI (file:, pkcs11:)")
    sp.add_argument("--no-publish", action="store_true", help="do not publish even when ready")
    repo_cmd("status", "show staged roles and their signatures")
    repo_cmd("publish", "publish staged roles that meet their thresholds")
    sp = repo_cmd("discard", "drop a staged role change")
    sp.add_argument("role", choices=OFFLINE_ROLES)
    sp = repo_cmd("renew", "stage a new version of an offline role with a fresh expiry")
    sp.add_argument("role", choices=OFFLINE_ROLES)
    sp = repo_cmd("rotate-key", "stage a root version that replaces one key of a role")
    sp.add_argument("role", choices=OFFLINE_ROLES + ONLINE_ROLES)
    sp.add_argument("--old", required=True, help="old key: public or private PEM file, or key URI")
    sp.add_argument(
        "--new",
        required=True,
        help="new key: PEM file (a private key is created if the file is missing) or URI",
    )
    sp = repo_cmd("refresh", "re-sign snapshot/timestamp if they are close to expiry (for cron)")
    sp.add_argument("--margin", type=float, help="seconds; default from repo.json")

    sp = sub.add_parser("trusted-root", help="build trusted_root.json from the stack's public keys")
    sp.add_argument("--fulcio-chain", required=True, help="PEM chain (issuer first, root last)")
    sp.add_argument("--fulcio-url", required=True)
    sp.add_argument("--ctlog-key", required=True, help="CT log public key (PEM/DER file or URL)")
    sp.add_argument("--ctlog-url", required=True)
    sp.add_argument("--ctlog-id", help="log id (hex or base64); default SHA-256 of the key")
    sp.add_argument(
        "--rekor-key",
        required=True,
        help="Rekor public key, e.g. https://rekor.example/api/v1/log/publicKey",
    )
    sp.add_argument("--rekor-url", required=True)
    sp.add_argument("--rekor-log-id", help="log id (hex or base64); default SHA-256 of the key")
    sp.add_argument("--rekor2-key", help="Rekor v2 log's checkpoint public key (PEM/DER file)")
    sp.add_argument("--rekor2-url", help="Rekor v2 log's base URL")
    sp.add_argument("--rekor2-origin", help="Rekor v2 checkpoint origin (its logId derives from "
                    "key and origin; `sigstack serve rekor2` prints both)")  # fmt: skip
    sp.add_argument("--rekor2-log-id", help="Rekor v2 log id (hex or base64) instead of --origin")
    sp.add_argument("--rekor2-valid-from", help="ISO 8601; default --valid-from")
    sp.add_argument("--rekor2-valid-until", help="ISO 8601; default open")
    sp.add_argument("--tsa-chain", help="TSA PEM chain (signing certificate first, root last)")
    sp.add_argument("--tsa-url", help="the TSA's timestamp endpoint")
    sp.add_argument("--tsa-valid-from", help="ISO 8601; default --valid-from")
    sp.add_argument("--tsa-valid-until", help="ISO 8601; default open")
    sp.add_argument("--valid-from", help="ISO 8601; default now")
    sp.add_argument("-o", "--output")
    sp = sub.add_parser(
        "trusted-root-rotate",
        help="add a new key/CA to trusted_root.json and close the old one's window",
    )
    sp.add_argument("trusted_root")
    sp.add_argument("--kind", required=True, choices=trustroot.KINDS)
    sp.add_argument("--key", help="new log public key (tlogs, ctlogs)")
    sp.add_argument("--chain", help="new PEM chain (certificateAuthorities, timestampAuthorities)")
    sp.add_argument("--url", required=True, help="log base URL or CA/TSA URI")
    sp.add_argument("--log-id")
    sp.add_argument("--origin", help="a Rekor v2 log's checkpoint origin: the log id is its C2SP "
                    "key ID")  # fmt: skip
    sp.add_argument("--at", help="rotation time, ISO 8601; default now")
    sp.add_argument("-o", "--output")
    sp = sub.add_parser("trusted-root-end", help="close a log's or CA's window (a frozen shard)")
    sp.add_argument("trusted_root")
    sp.add_argument("--kind", required=True, choices=trustroot.KINDS)
    sp.add_argument("--url", required=True, help="the entry's baseUrl (logs) or uri (CAs, TSAs)")
    sp.add_argument("--key", help="the log's public key, when several open entries share --url")
    sp.add_argument("--at", help="end of the window, ISO 8601 (a frozen log's frozen_at); "
                    "default now")  # fmt: skip
    sp.add_argument("-o", "--output")
    sp = sub.add_parser("signing-config-rotate", help="move a service to a new URL (a new shard)")
    sp.add_argument("signing_config")
    sp.add_argument("--service", required=True, choices=shards.SERVICES)
    sp.add_argument("--url", required=True, help="the new service's URL")
    sp.add_argument("--replaces", required=True, metavar="URL", help="the URL it replaces")
    sp.add_argument("--operator", help="default: the replaced service's")
    sp.add_argument("--at", help="switch time, ISO 8601; default now")
    sp.add_argument("-o", "--output")
    sp = sub.add_parser("signing-config", help="build signing_config.v0.2.json from service URLs")
    spec = "URL, or url=URL[,api-version=N][,start-time=T][,end-time=T][,operator=NAME] (cosign's form); repeat for several"
    sp.add_argument("--ca-url", action="append", required=True, help="Fulcio: " + spec)
    sp.add_argument("--oidc-url", action="append", default=[], help="OIDC issuer: " + spec)
    sp.add_argument("--rekor-url", action="append", default=[],
                    help="Rekor (API version 1 unless given): " + spec)  # fmt: skip
    sp.add_argument("--rekor2-url", action="append", default=[],
                    help="Rekor v2 (API version 2 unless given): " + spec)  # fmt: skip
    sp.add_argument("--tsa-url", action="append", default=[],
                    help="TSA timestamp endpoint (.../api/v1/timestamp): " + spec)  # fmt: skip
    sp.add_argument("--operator", required=True)
    sp.add_argument("--valid-from")
    sp.add_argument("-o", "--output")
    sp = sub.add_parser("trust-config", help="wrap both in a ClientTrustConfig (--trust-config)")
    sp.add_argument("--trusted-root", required=True)
    sp.add_argument("--signing-config", required=True)
    sp.add_argument("-o", "--output")
    return p


def _rekor_v2(args: argparse.Namespace) -> trustroot.RekorV2 | None:
    given = [args.rekor2_key, args.rekor2_url]
    if not any(given):
        if args.rekor2_origin or args.rekor2_log_id:
            raise ValidationError(
                "--rekor2-origin/--rekor2-log-id need --rekor2-key and --rekor2-url"
            )
        return None
    if not all(given):
        raise ValidationError("a Rekor v2 log needs --rekor2-key and --rekor2-url")
    log_id = _log_id(args.rekor2_log_id)
    if log_id is None and not args.rekor2_origin:
        raise ValidationError("a Rekor v2 log needs --rekor2-origin (or --rekor2-log-id)")
    return trustroot.RekorV2(
        public_key=_read(args.rekor2_key),
        url=args.rekor2_url,
        origin=args.rekor2_origin or "",
        start=_maybe_when(args.rekor2_valid_from),
        end=_maybe_when(args.rekor2_valid_until),
        log_id=log_id,
    )


def _json_arg(text: str) -> Any:
    raw = _read(text[1:]).decode() if text.startswith("@") else text
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationError("--custom is not valid JSON") from exc


def _rotate_key(repo: Repository, args: argparse.Namespace) -> None:
    old = tufkeys.public_key_of(args.old)
    new_ref = args.new
    if ":" not in new_ref:
        check_outside(Path(new_ref), repo.layout.public)
    if ":" not in new_ref and not Path(new_ref).exists():
        tufkeys.create_key(Path(new_ref), public_path=Path(new_ref + ".pub"))
        print(f"created new key {new_ref} (mode 0600) and {new_ref}.pub")
    new = tufkeys.public_key_of(new_ref)
    uri = tufkeys.key_uri(new_ref) if args.role in ONLINE_ROLES else None
    repo.rotate_key(args.role, old, new, new_uri=uri)
    if args.role == "root":
        for ref in (args.old, new_ref):  # private keys at hand sign for the old and new thresholds
            if Path(ref).is_file() and b"PRIVATE KEY" in Path(ref).read_bytes():
                repo.sign("root", tufkeys.open_signer(ref))
    print(f"staged root v{repo.staged('root').signed.version}")  # type: ignore[union-attr]
    _print_status(repo.status())


def _repo_command(args: argparse.Namespace) -> int:
    repo = Repository(args.data_dir)
    cmd = args.cmd
    if cmd == "init":
        settings = {k: getattr(args, k) for k in DEFAULT_SETTINGS}
        paths = repo.init(
            args.key_dir,
            root_keys=args.root_keys,
            root_threshold=args.root_threshold,
            targets_keys=args.targets_keys,
            targets_threshold=args.targets_threshold,
            algorithm=args.algorithm,
            settings=settings,
        )
        print(
            f"initialised TUF repository in {repo.layout.root}; serving from {repo.layout.public}"
        )
        for role, files in paths.items():
            print(f"{role} keys (offline, mode 0600): {', '.join(files)}")
        print(f"clients bootstrap with {repo.layout.public / '1.root.json'}")
        return 0
    repo.layout.require()
    if cmd == "add-target":
        custom = _json_arg(args.custom) if args.custom else None
        md = repo.add_target(args.name, _read(args.file), custom)
        print(f"staged {args.name} in targets v{md.signed.version}")
    elif cmd == "remove-target":
        md = repo.remove_target(args.name)
        print(f"staged removal of {args.name} in targets v{md.signed.version}")
    elif cmd == "sign":
        s = repo.sign(args.role, tufkeys.open_signer(args.key))
        print(f"signed {args.role} v{s['version']}")
        status = repo.status()
        _print_status(status)
        if not args.no_publish and all(x["ready"] for x in status.values()):
            print("published: " + ", ".join(repo.publish()))
    elif cmd == "status":
        _print_status(repo.status())
    elif cmd == "publish":
        published = repo.publish()
        print("published: " + (", ".join(published) or "snapshot and timestamp only"))
    elif cmd == "discard":
        repo.discard(args.role)
        print(f"discarded the staged {args.role}")
    elif cmd == "renew":
        md = repo.renew(args.role)
        print(f"staged {args.role} v{md.signed.version}, expires {md.signed.expires:%Y-%m-%d}")
    elif cmd == "rotate-key":
        _rotate_key(repo, args)
    elif cmd == "refresh":
        from datetime import timedelta

        margin = timedelta(seconds=args.margin) if args.margin is not None else None
        print(f"re-signed {repo.refresh_online(margin) or 'nothing (not due)'}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "trusted-root":
        doc = trustroot.build_trusted_root(
            fulcio_chain_pem=_read(args.fulcio_chain),
            fulcio_url=args.fulcio_url,
            ctlog_public_key=_read(args.ctlog_key),
            ctlog_url=args.ctlog_url,
            ctlog_id=_log_id(args.ctlog_id),
            rekor_public_key=_read(args.rekor_key),
            rekor_url=args.rekor_url,
            rekor_log_id=_log_id(args.rekor_log_id),
            tsa_chain_pem=_read(args.tsa_chain) if args.tsa_chain else None,
            tsa_url=args.tsa_url,
            tsa_window=(_maybe_when(args.tsa_valid_from), _maybe_when(args.tsa_valid_until)),
            rekor_v2=_rekor_v2(args),
            valid_from=_when(args.valid_from),
        )
    elif args.cmd == "trusted-root-rotate":
        at = _when(args.at)
        if args.kind in ("tlogs", "ctlogs"):
            if not args.key:
                raise ValidationError(f"rotating {args.kind} needs --key")
            key, log_id = _read(args.key), _log_id(args.log_id)
            if log_id is None and args.origin:
                log_id = trustroot.rekor_v2_log_id(key, args.origin)
            entry = trustroot.log_instance(key, args.url, start=at, log_id=log_id)
        else:
            if not args.chain:
                raise ValidationError(f"rotating {args.kind} needs --chain")
            entry = trustroot.certificate_authority(_read(args.chain), args.url, start=at)
        current = json.loads(_read(args.trusted_root))
        doc = trustroot.rotate(current, args.kind, entry, at)
    elif args.cmd == "trusted-root-end":
        raw_key: str | None = None
        if args.key:
            instance = trustroot.log_instance(_read(args.key), args.url, start=_when(None))
            raw_key = instance["publicKey"]["rawBytes"]
        doc = shards.end_window(json.loads(_read(args.trusted_root)), args.kind, args.url,
                                _when(args.at), raw_key=raw_key)  # fmt: skip
    elif args.cmd == "signing-config-rotate":
        doc = shards.rotate_service(json.loads(_read(args.signing_config)), args.service,
                                    args.url, args.replaces, _when(args.at),
                                    operator=args.operator)  # fmt: skip
    elif args.cmd == "signing-config":
        start = _when(args.valid_from)

        def services(refs: list[str], version: int = 1) -> list[dict[str, Any]]:
            return [signingconfig.parse_service(r, args.operator, start=start, api_version=version)
                    for r in refs]  # fmt: skip

        doc = signingconfig.build_signing_config(
            ca_urls=services(args.ca_url),
            oidc_urls=services(args.oidc_url),
            rekor_urls=services(args.rekor_url),
            rekor_v2_urls=services(args.rekor2_url, 2),
            tsa_urls=services(args.tsa_url),
            operator=args.operator,
            valid_from=start,
        )
    elif args.cmd == "trust-config":
        doc = trustroot.build_client_trust_config(
            json.loads(_read(args.trusted_root)), json.loads(_read(args.signing_config))
        )
    else:
        return _repo_command(args)
    _emit(doc, getattr(args, "output", None))
    return 0


if __name__ == "__main__":  # `python -m services.tuf.cli ...`, same as `sigstack tuf ...`
    from sigstack.protocol.errors import Error

    try:
        sys.exit(main(sys.argv[1:]))
    except Error as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        sys.exit(1)
