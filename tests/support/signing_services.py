"""CT log, Rekor and Fulcio started as real gunicorn servers (``sigstack serve``) around a CA made
with ``sigstack ca create`` (encrypted key) and a throw-away OIDC issuer: what the Fulcio and the
client integration tests sign against; ``trust_config`` is the ClientTrustConfig a client needs to
sign and verify with them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sigstack.services.keys import load_signer
from tests.support.keys import b64
from tests.support.oidc import OIDCIssuer
from tests.support.servers import Service, sigstack_cli

PASS_ENV = "SIGSTACK_TEST_CA_PASS"


@contextmanager
def signing_services(tmp: Path, issuer: OIDCIssuer | None = None) -> Iterator[dict[str, Any]]:
    """The CA in ``tmp/ca``, then the CT log, Rekor and Fulcio, each in ``tmp/NAME`` with its log
    in ``tmp/NAME.log``; Fulcio trusts ``issuer`` (default: a new provider with RS256 and ES256
    keys, closed at the end). Yields the running parts by name and the logs' public keys."""
    os.environ[PASS_ENV] = "correct horse"
    done = sigstack_cli("ca", "create", "--out-dir", str(tmp / "ca"), "--algorithm", "ecdsa-p384",
                        "--passphrase-env", PASS_ENV, timeout=120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ca create failed: {done.stderr[-500:]}")
    with ExitStack() as running:
        if issuer is None:
            issuer = OIDCIssuer(("RS256", "ES256"))
            running.callback(issuer.close)
        ct = running.enter_context(Service(
            "ctlog", "--data-dir", str(tmp / "ct"), "--roots", str(tmp / "ca" / "root.pem"),
            log=tmp / "ct.log"))  # fmt: skip
        rekor = running.enter_context(Service(
            "rekor", "--data-dir", str(tmp / "rekor"), "--hostname", "rekor.test",
            log=tmp / "rekor.log"))  # fmt: skip
        config = {"OIDCIssuers": {issuer.url: {"Type": "email"}}}
        (tmp / "fulcio.json").write_text(json.dumps(config))
        fulcio = running.enter_context(Service(
            "fulcio", "--data-dir", str(tmp / "fulcio"), "--config", str(tmp / "fulcio.json"),
            "--ct-url", ct.url, "--ct-public-key", str(tmp / "ct" / "ctlog.pub"),
            "--ca-key", f"file:{tmp / 'ca' / 'intermediate-key.pem'}?passphrase-env={PASS_ENV}",
            "--ca-chain", str(tmp / "ca" / "chain.pem"), log=tmp / "fulcio.log"))  # fmt: skip
        yield {
            "tmp": tmp, "issuer": issuer, "ct": ct, "fulcio": fulcio, "rekor": rekor,
            "ct_der": load_signer(f"file:{tmp / 'ct' / 'ctlog-key.pem'}").public_der,
            "rekor_der": load_signer(f"file:{tmp / 'rekor' / 'rekor-key.pem'}").public_der,
        }  # fmt: skip


def trust_config(running: dict[str, Any]) -> dict[str, Any]:
    """The ClientTrustConfig (proto3 JSON) of the ``signing_services`` in ``running``: the CA's
    chain, the CT log and Rekor keys, valid from an hour ago; Fulcio and Rekor to sign with."""
    chain = x509.load_pem_x509_certificates((running["tmp"] / "ca" / "chain.pem").read_bytes())
    start = {"start": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()}

    def log(url: str, der: bytes) -> dict[str, Any]:
        return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(der), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": start},
                "logId": {"keyId": b64(hashlib.sha256(der).digest())}}  # fmt: skip

    fulcio, rekor = running["fulcio"].url, running["rekor"].url
    service = {"majorApiVersion": 1, "validFor": start, "operator": "sigstack.test"}
    return {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(rekor, running["rekor_der"])],
            "certificateAuthorities": [{
                "subject": {"organization": "sigstack", "commonName": "sigstack"},
                "uri": fulcio,
                "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(Encoding.DER))}
                                               for c in chain]},
                "validFor": start,
            }],
            "ctlogs": [log(running["ct"].url, running["ct_der"])],
            "timestampAuthorities": [],
        },
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{"url": fulcio, **service}],
            "oidcUrls": [],
            "rekorTlogUrls": [{"url": rekor, **service}],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": [],
            "tsaConfig": {"selector": "ANY"},
        },
    }  # fmt: skip
