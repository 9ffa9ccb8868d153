"""``sigstack initialize``: trust a TUF root for a mirror and fill the cache (like cosign's)."""

from __future__ import annotations

import hashlib
import os

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.files import read_file

from .common import ArgumentParser, say


def main(argv: list[str]) -> int:
    from sigstack.client import tuf

    p = ArgumentParser("initialize", "Bootstrap trust from a TUF repository (no TOFU).")
    p.add_argument("--mirror", help=f"TUF repository URL (default {tuf.PRODUCTION})")
    p.add_argument("--root", metavar="FILE", help="the initial root.json to trust (required)")
    p.add_argument("--root-checksum", metavar="sha256:HEX", help="expected digest of --root")
    p.add_argument("--staging", action="store_true", help=f"use {tuf.STAGING}")
    ns = p.parse_args(argv)
    mirror = ns.mirror or (tuf.STAGING if ns.staging else tuf.PRODUCTION)
    if not ns.root:
        raise ValidationError(
            "--root FILE is required: the initial root.json must come from a trusted channel"
        )
    root = read_file(ns.root)
    if ns.root_checksum:
        algo, _, want = ns.root_checksum.partition(":")
        if algo not in ("sha256", "sha512"):
            raise ValidationError("--root-checksum must be sha256:<hex> or sha512:<hex>")
        if hashlib.new(algo, root).hexdigest() != want.lower():
            raise ValidationError(f"{ns.root} does not match --root-checksum")
    where, got = tuf.initialize(mirror, root, os.environ, root_name=ns.root)
    say(f"Root status for {mirror}: trusted, cache at {where}")
    for name in got:
        say(f"  fetched and verified {name}")
    return 0
