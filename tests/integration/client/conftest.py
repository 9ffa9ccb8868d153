"""The ``stack`` for the client's integration tests when no project-wide fixture provides one:
the project's own CT log, Fulcio and Rekor started as real gunicorn servers (``sigstack serve``)
with a throw-away OIDC issuer, exactly as the Fulcio integration tests start them. The contract
the tests rely on is documented in ``test_sign_verify.py``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.protojson import b64


def _services_available() -> bool:
    try:
        import services.fulcio  # noqa: F401
        import services.rekor  # noqa: F401
        from tests.servers import Service  # noqa: F401
        from tests.unit.fulcio.support import OIDCIssuer  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not _services_available():
        pytest.skip("needs the services")
    from services.keys import load_signer
    from tests.servers import ROOT, Service
    from tests.unit.fulcio.support import OIDCIssuer

    tmp: Path = tmp_path_factory.mktemp("client-stack")
    env = {**os.environ, "SIGSTACK_TEST_CA_PASS": "client tests"}
    os.environ["SIGSTACK_TEST_CA_PASS"] = "client tests"
    done = subprocess.run(
        [sys.executable, "-m", "client.cli", "ca", "create", "--out-dir", str(tmp / "ca"),
         "--algorithm", "ecdsa-p384", "--passphrase-env", "SIGSTACK_TEST_CA_PASS"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"needs the services (ca create failed: {done.stderr[-300:]})")
    issuer = OIDCIssuer(("RS256", "ES256"))
    ct = Service("ctlog", "--data-dir", str(tmp / "ct"), "--roots", str(tmp / "ca" / "root.pem"),
                 log=tmp / "ct.log").start()  # fmt: skip
    rekor = Service("rekor", "--data-dir", str(tmp / "rekor"), "--hostname", "rekor.test",
                    log=tmp / "rekor.log").start()  # fmt: skip
    ct_signer = load_signer(f"file:{tmp / 'ct' / 'ctlog-key.pem'}")
    (tmp / "ct.pub").write_bytes(ct_signer.public_pem)
    (tmp / "fulcio.json").write_text(json.dumps({"OIDCIssuers": {issuer.url: {"Type": "email"}}}))
    fulcio = Service(
        "fulcio", "--data-dir", str(tmp / "fulcio"), "--config", str(tmp / "fulcio.json"),
        "--ct-url", ct.url, "--ct-public-key", str(tmp / "ct.pub"),
        "--ca-key", f"file:{tmp / 'ca' / 'intermediate-key.pem'}?passphrase-env=SIGSTACK_TEST_CA_PASS",
        "--ca-chain", str(tmp / "ca" / "chain.pem"), log=tmp / "fulcio.log",
    ).start()  # fmt: skip
    rekor_der = load_signer(f"file:{tmp / 'rekor' / 'rekor-key.pem'}").public_der
    try:
        config = _trust_config(tmp, fulcio.url, rekor.url, rekor_der, ct.url, ct_signer.public_der)
        (tmp / "trust_config.json").write_text(json.dumps(config))
        yield {
            "trust_config": tmp / "trust_config.json",
            "token": lambda: issuer.email_token("client@example.com"),
            "identity": "client@example.com",
            "issuer": issuer.url,
        }
    finally:
        for service in (fulcio, rekor, ct):
            service.kill()
        issuer.close()


def _trust_config(
    tmp: Path, fulcio: str, rekor: str, rekor_der: bytes, ct: str, ct_der: bytes
) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    chain = x509.load_pem_x509_certificates((tmp / "ca" / "chain.pem").read_bytes())
    start = {"start": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()}

    def log(url: str, der: bytes) -> dict[str, Any]:
        return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(der), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": start},
                "logId": {"keyId": b64(hashlib.sha256(der).digest())}}  # fmt: skip

    service = {"majorApiVersion": 1, "validFor": start, "operator": "sigstack.test"}
    return {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(rekor, rekor_der)],
            "certificateAuthorities": [{
                "subject": {"organization": "sigstack", "commonName": "sigstack"},
                "uri": fulcio,
                "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(Encoding.DER))}
                                               for c in chain]},
                "validFor": start,
            }],
            "ctlogs": [log(ct, ct_der)],
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
