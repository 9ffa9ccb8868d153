"""The ``stack`` for the client's (and the OCI) integration tests: the project's own CT log, Fulcio
and Rekor started as real gunicorn servers (``tests.support.signing_services``) with a throw-away OIDC
issuer. The contract the tests rely on is documented in ``test_sign_verify.py``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigstack.protocol.protojson import b64


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.support.oidc import OIDCIssuer
    from tests.support.signing_services import signing_services

    tmp: Path = tmp_path_factory.mktemp("client-stack")
    issuer = OIDCIssuer(("RS256", "ES256"))
    try:
        with signing_services(tmp, issuer) as running:
            config = _trust_config(tmp, running["fulcio"].url, running["rekor"].url,
                                   running["rekor_der"], running["ct"].url, running["ct_der"])  # fmt: skip
            (tmp / "trust_config.json").write_text(json.dumps(config))
            yield {
                "trust_config": tmp / "trust_config.json",
                "token": lambda: issuer.email_token("client@example.com"),
                "identity": "client@example.com",
                "issuer": issuer.url,
            }
    except RuntimeError as exc:
        pytest.skip(f"needs the services ({exc})")
    finally:
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
