"""``sigstack mirror``: copy transparency logs and a TUF repository for an air-gapped site.

Thin: parse the flags, make one library call, print what happened (docs/mirror.md).

```
sigstack mirror pull   --out DIR [--log [NAME=]URL ...] [--tuf-mirror URL [--tuf-root FILE]]
                       [--trusted-root FILE]        make or update a mirror from URLs
sigstack mirror update --dir DIR                    the same, from the URLs the mirror recorded
sigstack mirror export --dir DIR --out FILE.tar [--since last|all|PATH ...]
sigstack mirror import FILE.tar --into DIR [--tuf-root FILE | --trusted-root FILE]
sigstack mirror status --dir DIR [--json | --monitor-config URL]
```
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sigstack.client.commands.common import ArgumentParser, say
from sigstack.protocol.errors import ValidationError

if TYPE_CHECKING:
    from .mirror import Report


def _read(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc.strerror}") from None


def _log_arg(value: str) -> tuple[str | None, str]:
    name, sep, url = value.partition("=")
    if sep and "://" not in name:
        return name, url
    return None, value


def _parser() -> ArgumentParser:
    p = ArgumentParser("mirror", "Copy transparency logs (C2SP tlog-tiles: Rekor v2, or Rekor v1's "
                       "tiles API) and a TUF repository into a directory an air-gapped site can "
                       "serve, verifying every checkpoint and its consistency (docs/mirror.md).")  # fmt: skip
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION",
                           parser_class=argparse.ArgumentParser)  # fmt: skip
    timeout = argparse.ArgumentParser(add_help=False)
    timeout.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")

    pull = sub.add_parser("pull", parents=[timeout], help="make or update a mirror from URLs")
    pull.add_argument("--out", "--dir", dest="dir", required=True, metavar="DIR")
    pull.add_argument("--log", action="append", default=[], type=_log_arg, metavar="[NAME=]URL",
                      help="a log's tlog-tiles URL (where /checkpoint is), repeatable; the "
                           "mirror remembers it")  # fmt: skip
    pull.add_argument("--tuf-mirror", metavar="URL", help="the TUF repository to copy (its "
                      "trusted_root.json is then the mirror's trust)")  # fmt: skip
    pull.add_argument("--tuf-root", metavar="FILE", help="the TUF root to start from (a new "
                      "mirror only; the root.json your clients are given)")  # fmt: skip
    pull.add_argument("--trusted-root", metavar="FILE", help="the trusted root (mirrors without "
                      "TUF), copied into the mirror")  # fmt: skip

    update = sub.add_parser("update", parents=[timeout],
                            help="update a mirror from the URLs it recorded")  # fmt: skip
    update.add_argument("--dir", required=True)

    export = sub.add_parser("export", help="write what is new into a tar file to carry")
    export.add_argument("--dir", required=True, help="the (connected) mirror to export from")
    export.add_argument("--out", required=True, metavar="FILE.tar")
    export.add_argument("--since", action="append", metavar="last|all|PATH",
                        help="what the site holds: `last` (what the previous export carried; "
                             "the default), `all` (everything), or checkpoint files, "
                             "directories of them, or `mirror status --json` output from the "
                             "site (repeatable)")  # fmt: skip

    imp = sub.add_parser("import", help="verify an exported bundle and apply it to a mirror")
    imp.add_argument("bundle", metavar="FILE.tar")
    imp.add_argument("--into", "--dir", dest="dir", required=True, metavar="DIR")
    imp.add_argument("--tuf-root", metavar="FILE", help="the TUF root to start from (a new "
                     "mirror only)")  # fmt: skip
    imp.add_argument("--trusted-root", metavar="FILE", help="the trusted root (mirrors without "
                     "TUF; a new mirror, or to replace it)")  # fmt: skip

    stat = sub.add_parser("status", help="what a mirror holds")
    stat.add_argument("--dir", required=True)
    form = stat.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="as JSON (what export --since reads)")
    form.add_argument("--monitor-config", metavar="URL", help="print a `sigstack monitor` "
                      "configuration for the mirror served at URL")  # fmt: skip
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from . import bundle, mirror, status

    if args.action in ("pull", "update", "import"):
        os.umask(0o022)  # public data, read by web servers running as other users

    if args.action == "pull":
        report = mirror.pull(args.dir, logs_to_add=args.log, tuf_url=args.tuf_mirror,
                             tuf_root=_read(args.tuf_root, "the TUF root"),
                             trusted_root=_read(args.trusted_root, "the trusted root"),
                             timeout=args.timeout)  # fmt: skip
    elif args.action == "update":
        report = mirror.pull(args.dir, timeout=args.timeout)
    elif args.action == "import":
        report = bundle.import_bundle(args.bundle, args.dir,
                                      tuf_root=_read(args.tuf_root, "the TUF root"),
                                      trusted_root=_read(args.trusted_root, "the trusted root"))  # fmt: skip
    elif args.action == "export":
        since = args.since or ["last"]
        if since == ["last"]:
            sizes = None
        elif since == ["all"]:
            sizes = {}
        elif "last" in since or "all" in since:
            raise ValidationError("--since last or --since all stands alone")
        else:
            sizes = bundle.read_since(since)
        done = bundle.export(args.dir, args.out, sizes)
        for log in done.logs:
            say(f"log {log['name']}: entries {log['since']} to {log['size']}")
        print(f"{done.path}: {done.files} files, {done.size} bytes, sha256 {done.sha256}")
        return 0
    else:
        doc = status.describe(args.dir)
        if args.json:
            print(json.dumps(doc, indent=2))
        elif args.monitor_config:
            config = status.monitor_config(doc, args.monitor_config)
            skipped = [log["name"] for log in doc["logs"] if status.flavour(log) is None]
            if skipped:
                say(f"not in the configuration (no checkpoint held): {', '.join(skipped)}")
            print(json.dumps(config, indent=2))
        else:
            print(status.render(doc))
        return 0
    _print(report)
    return 0


def _print(report: Report) -> None:
    if report.tuf is not None:
        t = report.tuf
        say(f"TUF: root v{t.root_version}, timestamp v{t.timestamp_version} (expires "
            f"{t.timestamp_expires}), {len(t.targets)} targets, {t.fetched} fetched")  # fmt: skip
        if t.delegations:
            say("TUF: the repository delegates targets: delegated metadata is not mirrored")
    for outcome in report.logs:
        r = outcome.record
        what = {"new": f"new, {r.size} entries", "grew": f"+{outcome.added} entries, now {r.size}",
                "same": f"unchanged at {r.size}",
                "behind": f"the source shows {outcome.source_size} < {r.size}, consistent; kept "
                          "the mirror's"}[outcome.status]  # fmt: skip
        say(f"log {r.name} ({r.origin}): {what}")
    print(f"mirror updated: {report.generation}", file=sys.stdout)
