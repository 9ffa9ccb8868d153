"""Certificates issued through both API versions, for each key type and each issuer type."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sigstack.protocol import x509ext
from tests.support.fulcio import check_leaf, san_value, v2_csr_body, v2_key_body
from tests.support.keys import b64, csr_pem, new_key, pem_public, sign
from tests.support.oidc import GITHUB_CLAIMS, GITLAB_CLAIMS, OIDCIssuer

KEY_KINDS = ["ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "ed25519"]


def _issue(stack: dict[str, Any], body: dict[str, Any], headers: Any = None) -> list[str]:
    resp = stack["client"].post("/api/v2/signingCert", json=body, headers=headers or {})
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert list(data) == ["signedCertificateEmbeddedSct"]
    return data["signedCertificateEmbeddedSct"]["chain"]["certificates"]


def _leaf(stack: dict[str, Any], chain: list[str], key: Any) -> x509.Certificate:
    return check_leaf(chain, stack["chain"], stack["ctlog"].signer.public_key, key)


@pytest.mark.parametrize("kind", [*KEY_KINDS, "rsa-4096"])
def test_v2_csr_each_key_type(stack: dict[str, Any], issuer: OIDCIssuer, kind: str) -> None:
    key = new_key(kind)
    token = issuer.email_token()
    chain = _issue(stack, v2_csr_body(csr_pem(key)), {"Authorization": f"Bearer {token}"})
    leaf = _leaf(stack, chain, key)
    assert san_value(leaf) == "alice@example.com"
    assert x509ext.decode_extensions(leaf)["issuer"] == issuer.url


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_v2_public_key_each_key_type(stack: dict[str, Any], issuer: OIDCIssuer, kind: str) -> None:
    key = new_key(kind)
    proof = sign(key, b"bob@example.com")
    chain = _issue(stack, v2_key_body(key, proof, issuer.email_token("bob@example.com")))
    assert san_value(_leaf(stack, chain, key)) == "bob@example.com"


def test_v2_snake_case_urlsafe_base64_and_raw_ecdsa(
    stack: dict[str, Any], issuer: OIDCIssuer
) -> None:
    key = new_key("ec-p256")
    r, s = decode_dss_signature(sign(key, b"carol@example.com"))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    body = {
        "credentials": {"oidc_identity_token": issuer.email_token("carol@example.com")},
        "public_key_request": {
            "public_key": {"algorithm": "ECDSA", "content": pem_public(key).decode()},
            "proof_of_possession": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        },
        "unknownField": 1,
    }
    _leaf(stack, _issue(stack, body), key)


def test_v1_public_key_and_csr(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    key = new_key("ec-p256")
    token = issuer.email_token("dan@example.com")
    body = {
        "publicKey": {"algorithm": "ecdsa", "content": b64(pem_public(key))},
        "signedEmailAddress": b64(sign(key, b"dan@example.com")),
    }
    resp = stack["client"].post("/api/v1/signingCert", json=body,
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert resp.status_code == 201 and resp.mimetype == "application/pem-certificate-chain"
    pems = [p.strip() + "\n-----END CERTIFICATE-----" for p in
            resp.get_data(as_text=True).split("-----END CERTIFICATE-----")[:-1]]  # fmt: skip
    assert "SCT" not in resp.headers
    _leaf(stack, [p.strip() for p in pems], key)
    resp = stack["client"].post("/api/v1/signingCert",
                                json={"certificateSigningRequest": b64(csr_pem(key))},
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert resp.status_code == 201


def _san_for(stack: dict[str, Any], token: str) -> tuple[Any, dict[str, str]]:
    key = new_key("ec-p256")
    leaf = _leaf(stack, _issue(stack, v2_csr_body(csr_pem(key), token)), key)
    return san_value(leaf), x509ext.decode_extensions(leaf)


def test_uri_issuer(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    san, ext = _san_for(stack, issuer.token("https://build.example.com/job/7", iss="/uri"))
    assert san == "https://build.example.com/job/7"
    assert ext["issuer"] == issuer.url + "/uri"
    assert ext["token_subject"] == "https://build.example.com/job/7"


def test_username_issuer_uses_othername(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    san, _ = _san_for(stack, issuer.token("erin", iss="/username"))
    assert san == "erin!example.com"


def test_kubernetes_issuer(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    k8s = {"namespace": "prod", "serviceaccount": {"name": "builder", "uid": "x"}}
    token = issuer.token("system:serviceaccount:prod:builder", iss="/k8s", **{"kubernetes.io": k8s})
    san, _ = _san_for(stack, token)
    assert san == "https://kubernetes.io/namespaces/prod/serviceaccounts/builder"


def test_spiffe_issuer(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    san, _ = _san_for(stack, issuer.token("spiffe://example.org/ns/a/sa/b", iss="/spiffe"))
    assert san == "spiffe://example.org/ns/a/sa/b"


def test_email_issuer_with_issuer_claim_and_skip_verification(
    stack: dict[str, Any], issuer: OIDCIssuer
) -> None:
    token = issuer.token("u1", iss="/corp", aud="trusted-artifact-signer",
                         email="frank@corp.example", federated={"connector": "https://ldap"})  # fmt: skip
    san, ext = _san_for(stack, token)
    assert san == "frank@corp.example"
    assert ext["issuer"] == ext["issuer_v1"] == "https://ldap"


def test_meta_issuer(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    san, ext = _san_for(stack, issuer.email_token("gil@example.com", iss="/meta/tenant-1"))
    assert san == "gil@example.com" and ext["issuer"] == issuer.url + "/meta/tenant-1"


def test_github_actions_mapping(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    token = issuer.token("repo:octo/app:ref:refs/tags/v1", iss="/github", **GITHUB_CLAIMS)
    san, ext = _san_for(stack, token)
    assert san == "https://github.com/octo/app/.github/workflows/rel.yml@refs/tags/v1"
    assert ext["github_workflow_trigger"] == "push" and ext["github_workflow_sha"] == "bbb"
    assert ext["build_signer_digest"] == "aaa"
    assert ext["source_repository_owner_uri"] == "https://github.com/octo"
    assert ext["run_invocation_uri"] == "https://github.com/octo/app/actions/runs/99/attempts/1"
    assert ext["source_repository_visibility_at_signing"] == "public"
    assert "deployment_environment" not in ext  # empty default: not emitted


def test_gitlab_self_managed_mapping(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    token = issuer.token("project_path:grp/proj", iss="/gitlab", **GITLAB_CLAIMS)
    san, ext = _san_for(stack, token)
    assert san == "https://gitlab.internal/grp/proj//.gitlab-ci.yml@refs/heads/main"
    assert ext["source_repository_ref"] == "refs/heads/main"
    assert ext["source_repository_uri"] == issuer.url + "/gitlab/grp/proj"
    assert ext["run_invocation_uri"] == issuer.url + "/gitlab/grp/proj/-/jobs/77"
    assert ext["deployment_environment"] == "prod"


def test_ci_provider_missing_claim_is_400_with_template_text(
    stack: dict[str, Any], issuer: OIDCIssuer
) -> None:
    claims = dict(GITHUB_CLAIMS)
    del claims["workflow_sha"]
    token = issuer.token("repo:octo/app", iss="/github", **claims)
    resp = stack["client"].post("/api/v2/signingCert",
                                json=v2_csr_body(csr_pem(new_key("ec-p256")), token))  # fmt: skip
    assert resp.status_code == 400
    assert resp.get_json()["code"] == 3 and "workflow_sha" in resp.get_json()["message"]


def test_precert_and_final_share_serial_in_ct_log(
    stack: dict[str, Any], issuer: OIDCIssuer
) -> None:
    key = new_key("ec-p256")
    before = stack["ctlog"].log.head().size
    chain = _issue(stack, v2_csr_body(csr_pem(key), issuer.email_token()))
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    assert stack["ctlog"].log.head().size == before + 1
    entry = stack["ctlog"].log.entry(before)
    assert leaf.tbs_precertificate_bytes in entry.leaf  # the logged precert TBS is the final's
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)


def test_configured_extra_algorithm(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    from cryptography.hazmat.primitives import hashes

    from sigstack.services.fulcio.app import create_app
    from sigstack.services.fulcio.config import FulcioConfig

    config = {**stack["config"], "client_signing_algorithms": ["ecdsa-sha2-256-nistp384"]}
    client = create_app(FulcioConfig.from_mapping(config)).test_client()
    p384 = new_key("ec-p384")
    ok = client.post("/api/v2/signingCert",
                     json=v2_csr_body(csr_pem(p384, hashes.SHA256()), issuer.email_token()))  # fmt: skip
    assert ok.status_code == 200
    refused = client.post("/api/v2/signingCert",
                          json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
    assert refused.status_code == 400 and "not permitted" in refused.get_json()["message"]
