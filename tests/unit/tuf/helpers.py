"""Helpers for the TUF tests: a trusted root matching a real bundle."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.services.tuf import trustroot
from tests.support.testdata import TESTDATA, load_json

CASE = TESTDATA / "pyassets" / "cases" / "staging-v0.3-happy-path"


def _entry(entries: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    return next(e for e in entries if e["baseUrl"] == base_url)


def staging_case_root() -> dict[str, Any]:
    """A trusted root built by ``build_trusted_root`` from the public material of the staging
    instance that produced the case's bundle (Fulcio chain, CT log 2022-2, Rekor v1)."""
    src = load_json(CASE / "trusted_root.json")
    ca = src["certificateAuthorities"][0]
    pems = [
        x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])).public_bytes(
            serialization.Encoding.PEM
        )
        for c in ca["certChain"]["certificates"]
    ]
    ct = _entry(src["ctlogs"], "https://ctfe.sigstage.dev/2022-2")
    rekor = _entry(src["tlogs"], "https://rekor.sigstage.dev")
    return trustroot.build_trusted_root(
        fulcio_chain_pem=pems,
        fulcio_url=ca["uri"],
        ctlog_public_key=base64.b64decode(ct["publicKey"]["rawBytes"]),
        ctlog_url=ct["baseUrl"],
        rekor_public_key=base64.b64decode(rekor["publicKey"]["rawBytes"]),
        rekor_url=rekor["baseUrl"],
        valid_from=datetime(2022, 7, 1, tzinfo=UTC),
    )
