"""RFC 8693 token exchange end to end (docs/oidc.md, "Token exchange"): `sigstack serve oidc` as a
real process trusts a test provider playing GitHub Actions (a real discovery/JWKS server on
127.0.0.1) and a second `sigstack serve oidc` process; the exchanged token gets a certificate
from our Fulcio (its CA and a real CT log over HTTP) naming the service account; the documented
curl example works as written; a bad ``token_exchange`` stops the server at start."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509

from sigstack.services.fulcio.app import create_app as fulcio_app
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.config import FulcioConfig
from sigstack.services.oidc.store import Store
from sigstack.services.runtime import db
from tests.support.fulcio import check_leaf, make_ctlog, san_value, v2_csr_body
from tests.support.keys import csr_pem, new_key, pem_public
from tests.support.oidc import GITHUB_CLAIMS, OIDCIssuer, claims_of
from tests.support.servers import Service, free_port, sigstack_out
from tests.support.testdata import ROOT

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
TAG = {**GITHUB_CLAIMS, "repository": "octo/app", "ref": "refs/tags/v2.0.0"}


@dataclass
class Issuers:
    ci: OIDCIssuer  # the GitHub Actions stand-in, at ci.url + "/github"
    url: str  # ours, trusting both
    data_dir: Path
    other_url: str  # the second sigstack issuer
    other_id: str
    other_secret: str
    other_email: str
    accounts: dict[str, str]  # name -> email, on ours


def _account(data_dir: Path, name: str) -> dict[str, str]:
    out = sigstack_out("oidc", "add-service-account", name, "--data-dir", str(data_dir))
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


@pytest.fixture(scope="module")
def issuers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuers]:
    tmp = tmp_path_factory.mktemp("exchange")
    ci = OIDCIssuer(("RS256",))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # the second issuer mints service-account tokens for us as well as for Sigstore
    other_dir = tmp / "other"
    other = _account(other_dir, "builder")
    (tmp / "other.json").write_text(json.dumps({"service_account_audiences": ["sigstore", url]}))
    ours = tmp / "ours"
    accounts = {n: _account(ours, n)["service account"] for n in ("release-bot", "deployer")}
    with Service("oidc", "--data-dir", str(other_dir), "--config", str(tmp / "other.json"),
                 "--workers", "1", log=tmp / "other.log") as other_srv:  # fmt: skip
        config = {"token_exchange": [
            {"issuer": ci.url + "/github", "rules": [
                {"name": "octo-app-releases", "service_accounts": ["release-bot"],
                 "claims": {"repository": "octo/app", "ref": "refs/tags/v*"}}]},
            {"issuer": other_srv.url, "rules": [
                {"name": "builder-of-the-build-issuer", "service_accounts": ["deployer"],
                 "claims": {"email": other["service account"]}}]},
        ]}  # fmt: skip
        (tmp / "ours.json").write_text(json.dumps(config))
        with Service("oidc", "--data-dir", str(ours), "--config", str(tmp / "ours.json"),
                     "--workers", "1", port=port, log=tmp / "ours.log"):  # fmt: skip
            yield Issuers(ci, url, ours, other_srv.url, other["client_id"],
                          other["client_secret"], other["service account"], accounts)  # fmt: skip
    ci.close()


def _exchange(issuers: Issuers, token: str, **fields: str) -> requests.Response:
    data = {"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": JWT_TYPE}
    return requests.post(issuers.url + "/token", data={**data, **fields}, timeout=30)


def _verify(issuers: Issuers, token: str) -> dict[str, Any]:
    key = jwt.PyJWKClient(issuers.url + "/keys").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience="sigstore", issuer=issuers.url)


def _audits(issuers: Issuers) -> list[dict[str, Any]]:
    engine = db.make_engine(db.sqlite_url(issuers.data_dir / "oidc.db"))
    try:
        rows = Store(engine).audit_rows()
    finally:
        engine.dispose()
    return [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows
            if r["event"] == "token_exchange"]  # fmt: skip


def test_discovery_lists_the_grant(issuers):
    doc = requests.get(issuers.url + "/.well-known/openid-configuration", timeout=10).json()
    assert EXCHANGE in doc["grant_types_supported"]


def test_github_job_token_gets_a_fulcio_certificate_for_the_service_account(issuers, tmp_path):
    job = issuers.ci.token("repo:octo/app:ref:refs/tags/v2.0.0", iss="/github", aud=issuers.url,
                           **TAG)  # fmt: skip
    resp = _exchange(issuers, job, requested_subject="release-bot")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    token = resp.json()["access_token"]
    claims = _verify(issuers, token)
    assert claims["email"] == issuers.accounts["release-bot"]
    assert claims["act"] == {"iss": issuers.ci.url + "/github", "sub": claims_of(job)["sub"]}
    # Fulcio trusts our issuer as an email issuer, as docs/oidc.md configures it
    paths = create_ca(tmp_path / "ca", algorithm="ecdsa-p256")
    ct_server, ctlog = make_ctlog(tmp_path / "ct", paths["root.pem"].read_bytes())
    (tmp_path / "ct.pub").write_bytes(pem_public(ctlog.signer.public_key))
    try:
        fulcio = fulcio_app(FulcioConfig.from_mapping({
            "OIDCIssuers": {issuers.url: {"IssuerURL": issuers.url, "ClientID": "sigstore",
                                          "Type": "email"}},
            "ca_key": f"file:{paths['intermediate-key.pem']}", "ca_chain": str(paths["chain.pem"]),
            "ct_log_url": ct_server.url, "ct_log_public_key": str(tmp_path / "ct.pub"),
        })).test_client()  # fmt: skip
        key = new_key("ec-p256")
        cert = fulcio.post("/api/v2/signingCert", json=v2_csr_body(csr_pem(key), token))
        assert cert.status_code == 200, cert.get_data(as_text=True)
        chain = cert.get_json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        ca_chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
        leaf = check_leaf(chain, ca_chain, ctlog.signer.public_key, key)
        assert san_value(leaf) == issuers.accounts["release-bot"]
    finally:
        ct_server.close()
    audit = [a for a in _audits(issuers) if a["outcome"] == "success"][-1]
    assert audit["username"] == "release-bot" and audit["detail"]["rule"] == "octo-app-releases"


def test_token_of_another_sigstack_issuer(issuers):
    minted = requests.post(issuers.other_url + "/token", auth=(issuers.other_id, issuers.other_secret),
                           data={"grant_type": "client_credentials", "audience": issuers.url},
                           timeout=30)  # fmt: skip
    assert minted.status_code == 200, minted.text
    builder = minted.json()["id_token"]
    resp = _exchange(issuers, builder)  # the rule names one account: no requested_subject needed
    assert resp.status_code == 200, resp.text
    claims = _verify(issuers, resp.json()["access_token"])
    assert claims["email"] == issuers.accounts["deployer"]
    assert claims["act"] == {"iss": issuers.other_url, "sub": claims_of(builder)["sub"]}
    # its tokens for Sigstore itself are not for us
    for_sigstore = requests.post(issuers.other_url + "/token",
                                 auth=(issuers.other_id, issuers.other_secret),
                                 data={"grant_type": "client_credentials"}, timeout=30)  # fmt: skip
    refused = _exchange(issuers, for_sigstore.json()["id_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "audience" in _audits(issuers)[-1]["detail"]["reason"]
    # and it may not act as the release account
    again = requests.post(issuers.other_url + "/token", auth=(issuers.other_id, issuers.other_secret),
                          data={"grant_type": "client_credentials", "audience": issuers.url},
                          timeout=30).json()["id_token"]  # fmt: skip
    denied = _exchange(issuers, again, requested_subject=issuers.accounts["release-bot"])
    assert denied.status_code == 400 and denied.json()["error"] == "unauthorized_client"


def _curl_example() -> str:
    doc = (ROOT / "docs" / "oidc.md").read_text()
    match = re.search(r"<!-- token-exchange-curl -->\s*```sh\n(.+?)\n```", doc, re.S)
    assert match, "docs/oidc.md lost its token-exchange curl example"
    return match.group(1)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_the_documented_curl_example(issuers):
    command = _curl_example().replace("https://oidc.example.internal", issuers.url)
    job = issuers.ci.token("repo:octo/app:ref:refs/tags/v2.0.0", iss="/github", aud=issuers.url,
                           **TAG)  # fmt: skip
    env = {**os.environ, "JOB_TOKEN": job}
    out = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert _verify(issuers, out.stdout.strip())["email"] == issuers.accounts["release-bot"]


def test_a_bad_configuration_stops_the_server(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"token_exchange": [
        {"issuer": "https://token.actions.githubusercontent.com",
         "rules": [{"name": "all", "service_accounts": ["release-bot"]}]}]}))  # fmt: skip
    result = Service("oidc", "--data-dir", str(tmp_path / "data"), "--config",
                     str(tmp_path / "bad.json")).run_to_exit()  # fmt: skip
    assert result.returncode != 0
    assert "token_exchange[0].rules[0] needs subject or claims" in result.stdout + result.stderr
