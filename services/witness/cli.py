"""``sigstack witness``: witness administration.

- ``vkey --data-dir DIR [--key URI]``: print the witness's C2SP verifier key
  (``<name>+<hex key ID>+base64(0x04 || Ed25519 key)``), the line a log's witness policy and a
  client's ``--witness-policy`` file name it by. The key is ``DIR/witness-key.pem`` unless
  ``--key`` (or ``SIGSTACK_WITNESS_KEY_URI``) names it.
- ``log-list [--trusted-root FILE] [--logs FILE]``: print the ``logs/v0`` list of the Rekor v2
  logs of a trusted root (and of log lists), each log's C2SP vkey: what a witness run by another
  party is given to follow our logs.
- ``feed --log URL --witness URL [--witness-vkey VKEY] [--bundle FILE --out FILE]``: take the
  log's current checkpoint (or the one in a bundle) to the witness with a consistency proof from
  the log's tiles; print the cosigned checkpoint (or write the bundle with it). ``feeder`` says why
  this exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sigstack.protocol.errors import ConfigError, ValidationError


def _vkey(args: argparse.Namespace) -> int:
    from sigstack.services.keys import load_signer

    from .config import WitnessConfig
    from .cosigner import vkey
    from .serve import KEY_FILE, read_name

    directory = Path(args.data_dir)
    name = read_name(directory) if directory.is_dir() else None
    if name is None:
        raise ConfigError(
            f"no witness in {directory}: start it once with `sigstack serve witness --data-dir "
            f"{directory} --name NAME ...`"
        )
    config = WitnessConfig.load(flags={"key_uri": args.key})
    key_uri = config.key_uri or f"file:{(directory / KEY_FILE).resolve()}"
    print(vkey(name, load_signer(str(key_uri)).public_key))
    return 0


def _feed(args: argparse.Namespace) -> int:
    from .client import WitnessClient
    from .feeder import cosign_bundle, feed

    if bool(args.bundle) != bool(args.out):
        raise ValidationError("give --bundle and --out together")
    witness = WitnessClient(args.witness, args.witness_vkey, timeout=args.timeout)
    if not args.bundle:
        sys.stdout.write(feed(args.log, witness, timeout=args.timeout))
        return 0
    try:
        raw = Path(args.bundle).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read bundle {args.bundle}: {exc.strerror}") from None
    cosigned = cosign_bundle(raw, args.log, witness)
    try:
        Path(args.out).write_bytes(cosigned)
    except OSError as exc:
        raise ValidationError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"wrote {args.out}: its checkpoint carries the witness's cosignature", file=sys.stderr)
    return 0


def _log_list(args: argparse.Namespace) -> int:
    from .logs import load_logs, to_log_list

    logs = load_logs(args.logs or [], args.trusted_root)
    for reason in logs.skipped:
        print(f"not listed: {reason}", file=sys.stderr)
    sys.stdout.write(to_log_list(logs))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sigstack witness", description="witness admin")
    sub = parser.add_subparsers(dest="action", required=True)
    v = sub.add_parser("vkey", help="print the witness's verifier key (vkey)")
    v.add_argument("--data-dir", required=True, help="the witness's data directory")
    v.add_argument("--key", help="the key URI, when not in the data directory")
    f = sub.add_parser(
        "feed",
        help="have a witness cosign a log's checkpoint (proof from the log's tiles)",
        description="Take the log's current checkpoint, or the one in --bundle, to the witness "
        "with a consistency proof built from the log's tlog-tiles; print the checkpoint with the "
        "cosignature, or write the bundle with it to --out.",
    )
    f.add_argument("--log", required=True, metavar="URL", help="the log (tlog-tiles) base URL")
    f.add_argument("--witness", required=True, metavar="URL", help="the witness's URL prefix")
    f.add_argument("--witness-vkey", metavar="VKEY", help="check the cosignature with this key")
    f.add_argument("--bundle", metavar="FILE", help="cosign this bundle's checkpoint")
    f.add_argument("--out", metavar="FILE", help="where the cosigned bundle goes")
    f.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    lst = sub.add_parser(
        "log-list",
        help="print a logs/v0 list (the logs' vkeys) of a trusted root's Rekor v2 logs",
        description="Print the logs/v0 list a witness (ours, or OmniWitness's vkeys) is given: "
        "the Rekor v2 logs of --trusted-root and the logs of --logs files, merged.",
    )
    lst.add_argument("--trusted-root", metavar="FILE", help="a trusted_root.json")
    lst.add_argument("--logs", action="append", metavar="FILE", help="a logs/v0 list (repeatable)")
    args = parser.parse_args(argv)
    actions = {"vkey": _vkey, "feed": _feed, "log-list": _log_list}
    return actions[args.action](args)
