"""Argument plumbing shared by the client commands (argparse; no heavy imports)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from sigstack.client.trust import TrustOptions
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.files import read_file

_DIGEST = re.compile(r"sha256:[0-9a-fA-F]{64}")

PREDICATE_TYPES = {
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "link": "https://in-toto.io/Link/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}


def _formatter(prog: str) -> argparse.HelpFormatter:
    # argparse's default asks shutil for the terminal width, an import the hot path can skip
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns - 2
    except (OSError, ValueError):
        width = 98
    return argparse.HelpFormatter(prog, width=max(width, 40))


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with 2 on usage errors (its default) and prefixes the program name."""

    def __init__(self, prog: str, description: str) -> None:
        super().__init__(
            prog=f"sigstack {prog}", description=description, formatter_class=_formatter
        )


def add_trust_flags(p: argparse.ArgumentParser, signing: bool = False) -> None:
    g = p.add_argument_group("trust material (first given wins; else SIGSTORE_* env, else TUF)")
    g.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json")
    g.add_argument("--trust-config", metavar="FILE", help="ClientTrustConfig JSON")
    g.add_argument("--staging", action="store_true", help="use the Sigstore staging TUF cache")
    g.add_argument("--offline", action="store_true", help="never refresh the TUF cache")
    if signing:
        g.add_argument("--signing-config", metavar="FILE", help="signing_config.v0.2.json")
        g.add_argument("--fulcio-url", help="Fulcio base URL (with --rekor-url, no signing config)")
        g.add_argument("--rekor-url", help="Rekor base URL")
        g.add_argument("--oidc-issuer", help="OIDC issuer URL for the interactive flows")


def trust_options(ns: argparse.Namespace) -> TrustOptions:
    return TrustOptions(
        trusted_root=ns.trusted_root,
        signing_config=getattr(ns, "signing_config", None),
        trust_config=ns.trust_config,
        staging=ns.staging,
        offline=ns.offline,
        fulcio_url=getattr(ns, "fulcio_url", None),
        rekor_url=getattr(ns, "rekor_url", None),
        oidc_issuer=getattr(ns, "oidc_issuer", None),
    )


def is_digest_input(value: str) -> bool:
    """The conformance rule: ``sha256:<64 hex>`` that is not an existing path is a digest."""
    return bool(_DIGEST.fullmatch(value)) and not os.path.exists(value)


def load_predicate(path: str) -> Any:
    """The JSON document in the file ``path`` (an attestation's ``--predicate``)."""
    data = read_file(path)
    try:
        return json.loads(data)
    except ValueError:
        raise ValidationError(f"{path} is not JSON") from None


def say(message: str) -> None:
    print(message, file=sys.stderr)
