"""CT log, Rekor and Fulcio started as real gunicorn servers (``sigstack serve``) around a CA made
with ``sigstack ca create`` (encrypted key) and a throw-away OIDC issuer: what the Fulcio and the
client integration tests sign against; ``trust_config`` is the ClientTrustConfig a client needs to
sign and verify with them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sigstack.services.keys import load_signer
from tests.support.keys import b64
from tests.support.servers import Service
from tests.support.testdata import ROOT

PASS_ENV = "SIGSTACK_TEST_CA_PASS"


@contextmanager
def signing_services(tmp: Path, issuer: Any) -> Iterator[dict[str, Any]]:
    os.environ[PASS_ENV] = "correct horse"
    done = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", "ca", "create", "--out-dir", str(tmp / "ca"),
         "--algorithm", "ecdsa-p384", "--passphrase-env", PASS_ENV],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ca create failed: {done.stderr[-500:]}")
    ct = Service("ctlog", "--data-dir", str(tmp / "ct"), "--roots", str(tmp / "ca" / "root.pem"),
                 log=tmp / "ct.log").start()  # fmt: skip
    rekor = Service("rekor", "--data-dir", str(tmp / "rekor"), "--hostname", "rekor.test",
                    log=tmp / "rekor.log").start()  # fmt: skip
    (tmp / "fulcio.json").write_text(json.dumps({"OIDCIssuers": {issuer.url: {"Type": "email"}}}))
    fulcio = Service(
        "fulcio", "--data-dir", str(tmp / "fulcio"), "--config", str(tmp / "fulcio.json"),
        "--ct-url", ct.url, "--ct-public-key", str(tmp / "ct" / "ctlog.pub"),
        "--ca-key", f"file:{tmp / 'ca' / 'intermediate-key.pem'}?passphrase-env={PASS_ENV}",
        "--ca-chain", str(tmp / "ca" / "chain.pem"), log=tmp / "fulcio.log",
    ).start()  # fmt: skip
    try:
        yield {
            "tmp": tmp, "issuer": issuer, "ct": ct, "fulcio": fulcio, "rekor": rekor,
            "ct_der": load_signer(f"file:{tmp / 'ct' / 'ctlog-key.pem'}").public_der,
            "rekor_der": load_signer(f"file:{tmp / 'rekor' / 'rekor-key.pem'}").public_der,
        }  # fmt: skip
    finally:
        for service in (fulcio, rekor, ct):
            service.kill()


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
