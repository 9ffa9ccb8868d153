"""``sign-blob``, ``attest-blob`` (cosign's habits) and ``sign-bundle`` (sigstore-conformance
protocol): parse, get a token, one library call, write the v0.3 bundle."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.files import read_file

from .common import (
    PREDICATE_TYPES,
    ArgumentParser,
    add_trust_flags,
    load_predicate,
    say,
    trust_options,
)

if TYPE_CHECKING:  # the commands import these on first use
    from sigstack.client.sign.signer import Signer
    from sigstack.protocol.bundle import Bundle
    from sigstack.protocol.trust import TrustedRoot


def _add_signing_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, metavar="FILE", help="where to write the bundle")
    p.add_argument("--identity-token", metavar="JWT|FILE", help="OIDC token, or a file with one")
    p.add_argument("--oidc-client-id", default="sigstore")
    p.add_argument("--oidc-client-secret", default="")
    p.add_argument("--device", action="store_true", help="use the device flow to sign in")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument("-y", "--yes", action="store_true", help="accepted for cosign compatibility")
    p.add_argument("--rekor-version", type=int, choices=(1, 2),
                   help="write to a Rekor log of this API version (default: the signing config's "
                   "choice, the highest version per operator)")  # fmt: skip
    add_trust_flags(p, signing=True)


def make_signer(
    ns: argparse.Namespace, progress: bool, what: str = "the bundle"
) -> tuple[Signer, TrustedRoot | None]:
    """(Signer, trusted root or None) from the parsed signing flags: trust sources, the OIDC
    issuer from the flag or the signing config, and the identity token's source."""
    from sigstack.client import trust
    from sigstack.client.sign.oidc import get_token
    from sigstack.client.sign.signer import Signer, choose_rekor
    from sigstack.protocol.trust import select_services

    opts = trust_options(ns)
    config = trust.signing_config(opts)
    choose_rekor(config, getattr(ns, "rekor_version", None))  # refused before any sign-in
    root: TrustedRoot | None
    try:
        root = trust.trusted_root(opts)
    except ValidationError as exc:
        say(f"Warning: {what} will not be checked after signing ({exc.message})")
        root = None
    issuer = ns.oidc_issuer if getattr(ns, "oidc_issuer", None) else None
    if issuer is None and config.oidc_urls:
        issuer = select_services(config.oidc_urls, (1,))[0].url
    token = get_token(
        ns.identity_token,
        os.environ,
        issuer,
        client_id=ns.oidc_client_id,
        client_secret=ns.oidc_client_secret,
        device=ns.device,
    )
    signer = Signer(config, root, token, progress=say if progress else (lambda _m: None),
                    rekor_version=getattr(ns, "rekor_version", None))  # fmt: skip
    return signer, root


def _signer(ns: argparse.Namespace, progress: bool) -> Signer:
    return make_signer(ns, progress)[0]


class Output:
    """The bundle's destination, claimed before any service is called: a certificate and a log
    entry are permanent, so a path that cannot be written must fail first. A temporary file next to
    the destination proves it writable; the bundle goes there and is renamed into place."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ValidationError(f"cannot write the bundle to {path}: it is a directory")
        try:
            fd, self._tmp = tempfile.mkstemp(dir=directory, prefix=".sigstack-", suffix=".tmp")
        except OSError as exc:
            raise ValidationError(
                f"cannot write the bundle to {path}: {exc.strerror} ({directory})"
            ) from None
        os.close(fd)

    def write(self, text: str) -> None:
        try:
            with open(self._tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise ValidationError(
                f"cannot write the bundle to {self.path}: {exc.strerror}"
            ) from None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


def _signed(ns: argparse.Namespace, sign: Callable[[Signer], Bundle]) -> int:
    """Claim the output, sign (``sign(signer)`` returns the bundle), write, report."""
    out = Output(ns.bundle)
    try:
        bundle = sign(_signer(ns, progress=ns.output == "text"))
        out.write(bundle.to_json(indent=None))
    finally:
        out.discard()
    if ns.output == "json":
        print(json.dumps(_summary(ns.bundle, bundle)))
    elif ns.output == "text":
        say(f"Wrote bundle to file {ns.bundle}")
    return 0


def _summary(path: str, bundle: Bundle) -> dict[str, Any]:
    """What ``--output json`` says of a new bundle: where it is, its log entry, whom the
    certificate names and how long it was valid."""
    from cryptography import x509

    from sigstack.client.verify.certs import certificate_identities
    from sigstack.protocol import x509ext

    entry = bundle.verification_material.tlog_entries[0]
    out: dict[str, Any] = {"bundle": path, "logIndex": entry.log_index,
                           "logId": entry.log_id.hex(), "integratedTime": entry.integrated_time}  # fmt: skip
    leaf_der = bundle.verification_material.leaf_certificate
    if leaf_der is not None:
        leaf = x509.load_der_x509_certificate(leaf_der)
        out["identity"] = ", ".join(certificate_identities(leaf))
        out["issuer"] = x509ext.oidc_issuer(leaf)
        out["certificate"] = {"notBefore": leaf.not_valid_before_utc.isoformat(),
                              "notAfter": leaf.not_valid_after_utc.isoformat()}  # fmt: skip
    return out


def sign_blob(argv: list[str]) -> int:
    from sigstack.client.hashing import hash_file

    p = ArgumentParser("sign-blob", "Sign a file keylessly and write a Sigstore bundle.")
    p.add_argument("file", metavar="FILE")
    _add_signing_flags(p)
    ns = p.parse_args(argv)
    digest = hash_file(ns.file)
    return _signed(ns, lambda signer: signer.sign_digest(digest))


def attest_blob(argv: list[str]) -> int:
    from sigstack.client.hashing import hash_file
    from sigstack.client.verify.intoto import make_statement

    p = ArgumentParser("attest-blob", "Attest a file: an in-toto statement in a DSSE envelope.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--predicate", required=True, metavar="FILE", help="the predicate JSON")
    p.add_argument("--type", default="custom", help="predicate type URI or cosign alias")
    _add_signing_flags(p)
    ns = p.parse_args(argv)
    predicate = load_predicate(ns.predicate)
    digest = hash_file(ns.file)
    statement = make_statement(
        [(os.path.basename(ns.file), digest.hex())],
        PREDICATE_TYPES.get(ns.type, ns.type),
        predicate,
    )
    return _signed(ns, lambda signer: signer.sign_dsse(statement))


def sign_bundle(argv: list[str]) -> int:
    """sigstore-conformance: ``sign-bundle [--staging] [--in-toto] --identity-token T --bundle F
    [--trusted-root F] [--signing-config F] FILE``."""
    from sigstack.client.hashing import hash_file

    p = ArgumentParser("sign-bundle", "Sign a file (conformance protocol).")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--in-toto", action="store_true", help="FILE is an in-toto statement")
    _add_signing_flags(p)
    ns = p.parse_args(argv)
    ns.output = "quiet"
    if ns.in_toto:
        payload = read_file(ns.file)
        return _signed(ns, lambda signer: signer.sign_dsse(payload))
    digest = hash_file(ns.file, progress=False)
    return _signed(ns, lambda signer: signer.sign_digest(digest))
