"""Fulcio's issuance policy (docs/fulcio.md "Issuance policy"; issue 16): per-issuer rules on the
verified token's claims, every rule must hold, a refusal is a 403 (gRPC code 7) naming the rule and
never a claim value, counted in ``sigstack_issuance_refused_total{rule}`` and logged, with nothing
signed and nothing sent to the CT log.

Against the app of conftest.py's ``stack`` (its CA and real CT log over HTTP), rebuilt with the
worked examples of the doc as its issuers' policies, and tokens from the test OIDC provider (a
real discovery/JWKS server on 127.0.0.1).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from sigstack.protocol.errors import ConfigError
from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.config import FulcioConfig, parse_identity_config
from tests.support.fulcio import refused, san_value, v2_csr_body
from tests.support.keys import b64, csr_pem, new_key
from tests.support.oidc import GITHUB_CLAIMS, OIDCIssuer

RELEASE = "octo/app/.github/workflows/release.yml@refs/tags/v1.2.0"
RELEASE_CLAIMS = {**GITHUB_CLAIMS, "job_workflow_ref": RELEASE, "workflow_ref": RELEASE,
                  "ref": "refs/tags/v1.2.0", "event_name": "push"}  # fmt: skip


def policies(base: str) -> dict[str, Any]:
    """The worked examples of docs/fulcio.md, on the test provider's paths."""
    return {
        "OIDCIssuers": {
            # 1. company domain only (a people's issuer)
            base + "/people": {"Type": "email", "IssuancePolicy": [
                {"Name": "company-domain", "Claims": {"email": "*@example.com"}}]},
            # 2. only the release workflow of one repository may sign
            base + "/github": {"Type": "ci-provider", "CIProvider": "github-workflow",
                               "IssuancePolicy": [
                {"Name": "app-repository", "Claims": {"repository": "octo/app"}},
                {"Name": "release-workflow", "Description": "tags only, pushed",
                 "Claims": {"job_workflow_ref": "octo/app/.github/workflows/release.yml@refs/tags/v*",
                            "event_name": ["push", "workflow_dispatch"]}}]},
            # 3. CI service accounts only from one Kubernetes namespace
            base + "/k8s": {"Type": "kubernetes", "IssuancePolicy": [
                {"Name": "ci-namespace", "Claims": {"/kubernetes.io/namespace": "ci"}}]},
            # groups: a list claim matches if one element does
            base + "/groups": {"Type": "email", "IssuancePolicy": [
                {"Name": "signers-group", "Claims": {"groups": "release-signers"}}]},
            base: {"Type": "email"},  # no policy: as upstream
        },
        "MetaIssuers": {base + "/tenant/*": {"Type": "email", "IssuancePolicy": [
            {"Name": "tenant-domain", "Claims": {"email": "*@tenant.example"}}]}},
    }  # fmt: skip


@pytest.fixture(scope="module")
def app(stack: dict[str, Any], issuer: OIDCIssuer) -> Any:
    config = {**stack["config"], **policies(issuer.url)}
    return create_app(FulcioConfig.from_mapping(json.loads(json.dumps(config))))


@pytest.fixture()
def client(app: Any) -> FlaskClient:
    return app.test_client()


def refusals(rule: str) -> float:
    return REGISTRY.get_sample_value("sigstack_issuance_refused_total", {"rule": rule}) or 0.0


@pytest.fixture()
def nothing_issued(app: Any, stack: dict[str, Any]) -> Iterator[None]:
    fulcio = app.extensions["fulcio"]
    issued, size = fulcio.issued, stack["ctlog"].log.head().size
    yield
    assert fulcio.issued == issued, "a refused request issued a certificate"
    assert stack["ctlog"].log.head().size == size, "a refused request reached the CT log"


def _sign(client: FlaskClient, token: str) -> Any:
    return client.post("/api/v2/signingCert", json=v2_csr_body(csr_pem(new_key("ec-p256")), token))


def _refused_by(client: FlaskClient, token: str, rule: str, caplog: pytest.LogCaptureFixture,
                secret_values: tuple[str, ...] = ()) -> None:  # fmt: skip
    before = refusals(rule)
    with caplog.at_level(logging.WARNING, logger="sigstack.fulcio"):
        resp = _sign(client, token)
    message = (
        f'certificate refused by the issuance policy: rule "{rule}" does not allow this identity'
    )
    refused(resp, message, status=403, code=7)
    for value in secret_values:  # the answer names the rule, never what the token said
        assert value not in resp.get_data(as_text=True)
    assert refusals(rule) == before + 1
    assert any(f"issuance refused by policy rule {rule}" in r.getMessage() for r in caplog.records)


def _leaf_san(resp: Any) -> str:
    from cryptography import x509

    assert resp.status_code == 200, resp.get_data(as_text=True)
    pem = resp.get_json()["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
    return str(san_value(x509.load_pem_x509_certificate(pem.encode())))


# -- 1. company domain only -----------------------------------------------------------------------


def test_company_domain_allowed(client: FlaskClient, issuer: OIDCIssuer) -> None:
    token = issuer.email_token("alice@example.com", iss="/people")
    assert _leaf_san(_sign(client, token)) == "alice@example.com"


@pytest.mark.parametrize("email", ["mallory@evil.test", "bob@sub.example.com",
                                   "alice@example.com.evil.test"])  # fmt: skip
def test_other_domains_refused(
    client: FlaskClient, issuer: OIDCIssuer, email: str, nothing_issued: None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    token = issuer.email_token(email, iss="/people")
    _refused_by(client, token, "company-domain", caplog, secret_values=(email, email.split("@")[1]))


def test_the_policy_runs_after_verification(
    client: FlaskClient, issuer: OIDCIssuer, nothing_issued: None
) -> None:
    """A token that does not verify is the usual 400, not a policy refusal."""
    token = issuer.email_token("mallory@evil.test", iss="/people", aud="elsewhere")
    refused(_sign(client, token), "There was an error processing the identity token")


def test_the_legacy_api_is_refused_the_same_way(
    client: FlaskClient, issuer: OIDCIssuer, nothing_issued: None
) -> None:
    token = issuer.email_token("mallory@evil.test", iss="/people")
    body = {"certificateSigningRequest": b64(csr_pem(new_key("ec-p256")))}
    resp = client.post(
        "/api/v1/signingCert", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 403
    assert resp.get_json()["code"] == 7 and "company-domain" in resp.get_json()["message"]


# -- 2. only the release workflow of one repository -----------------------------------------------


def test_release_workflow_allowed(client: FlaskClient, issuer: OIDCIssuer) -> None:
    token = issuer.token("repo:octo/app:ref:refs/tags/v1.2.0", iss="/github", **RELEASE_CLAIMS)
    assert _leaf_san(_sign(client, token)) == f"https://github.com/{RELEASE}"


@pytest.mark.parametrize(
    ("changes", "rule"),
    [({"repository": "octo/other"}, "app-repository"),
     ({"job_workflow_ref": "octo/app/.github/workflows/ci.yml@refs/tags/v1.2.0"}, "release-workflow"),
     ({"job_workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main"}, "release-workflow"),
     ({"event_name": "pull_request"}, "release-workflow"),
     ({"repository": "octo/other", "event_name": "pull_request"}, "app-repository")],  # first rule
    ids=["repository", "workflow", "branch", "event", "first-failing-rule"],
)  # fmt: skip
def test_other_workflows_refused(
    client: FlaskClient, issuer: OIDCIssuer, changes: dict[str, str], rule: str,
    nothing_issued: None, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    claims = {**RELEASE_CLAIMS, **changes}
    token = issuer.token("repo:x", iss="/github", **claims)
    _refused_by(client, token, rule, caplog, secret_values=tuple(changes.values()))


def test_a_missing_claim_refuses(
    client: FlaskClient, issuer: OIDCIssuer, nothing_issued: None, caplog: pytest.LogCaptureFixture
) -> None:
    _refused_by(client, issuer.email_token("a@example.com", iss="/groups"), "signers-group", caplog)


# -- 3. one Kubernetes namespace ------------------------------------------------------------------


def _k8s(issuer: OIDCIssuer, namespace: str) -> str:
    k8s = {"namespace": namespace, "serviceaccount": {"name": "builder", "uid": "u-1"}}
    return issuer.token(f"system:serviceaccount:{namespace}:builder", iss="/k8s",
                        **{"kubernetes.io": k8s})  # fmt: skip


def test_ci_namespace_allowed(client: FlaskClient, issuer: OIDCIssuer) -> None:
    san = _leaf_san(_sign(client, _k8s(issuer, "ci")))
    assert san == "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"


def test_other_namespaces_refused(
    client: FlaskClient, issuer: OIDCIssuer, nothing_issued: None, caplog: pytest.LogCaptureFixture
) -> None:
    _refused_by(client, _k8s(issuer, "dev"), "ci-namespace", caplog, secret_values=("dev",))


# -- lists, meta issuers, no policy ---------------------------------------------------------------


def test_a_list_claim_matches_by_element(
    client: FlaskClient, issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.email_token("a@example.com", iss="/groups", groups=["staff", "release-signers"])
    assert _sign(client, token).status_code == 200
    token = issuer.email_token("a@example.com", iss="/groups", groups=["staff"])
    _refused_by(client, token, "signers-group", caplog)


def test_a_meta_issuer_policy_applies_to_every_issuer_it_matches(
    client: FlaskClient, issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    assert (
        _sign(client, issuer.email_token("a@tenant.example", iss="/tenant/one")).status_code == 200
    )
    _refused_by(client, issuer.email_token("a@example.com", iss="/tenant/two"), "tenant-domain",
                caplog)  # fmt: skip


def test_without_a_policy_every_verified_token_is_certified(
    client: FlaskClient, issuer: OIDCIssuer
) -> None:
    assert _sign(client, issuer.email_token("anyone@anywhere.test")).status_code == 200


def test_refusals_are_exposed_on_metrics(
    client: FlaskClient, issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    _refused_by(client, _k8s(issuer, "prod"), "ci-namespace", caplog)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sigstack_issuance_refused_total{rule="ci-namespace"}' in text


# -- the configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "why"),
    [({"Name": "x"}, "list of rules"), ([{"Claims": {"email": "*"}}], "needs a Name"),
     ([{"Name": "bad name", "Claims": {"email": "*"}}], "needs a Name"),
     ([{"Name": "r", "Claims": {}}], "non-empty JSON object"),
     ([{"Name": "r", "Claims": {"email": []}}], "1 to 256 patterns"),
     ([{"Name": "r", "Claims": {"email": 5}}], "a pattern must be a string"),
     ([{"Name": "r", "Claims": {"/a~2b": "x"}}], "not a JSON Pointer"),
     ([{"Name": "r", "Claims": {"email": "*"}, "Effect": "deny"}], "unknown keys"),
     ([{"Name": "r", "Claims": {"email": "*"}}, {"Name": "r", "Claims": {"sub": "*"}}], "twice"),
     (["r"], "must be a JSON object")],
    ids=["not-a-list", "no-name", "bad-name", "no-claims", "no-patterns", "not-a-string",
         "bad-pointer", "unknown-key", "same-name", "not-an-object"],
)  # fmt: skip
def test_bad_policies_stop_the_service(policy: Any, why: str) -> None:
    raw = {"OIDCIssuers": {"https://a.test": {"Type": "email", "IssuancePolicy": policy}}}
    with pytest.raises(ConfigError) as caught:
        parse_identity_config(raw)
    assert why in caught.value.message or (
        why == "Issuers" and "list of rules" in caught.value.message
    )


def test_rule_names_are_unique_across_issuers() -> None:
    rule = [{"Name": "domain", "Claims": {"email": "*@example.com"}}]
    raw = {"OIDCIssuers": {"https://a.test": {"Type": "email", "IssuancePolicy": rule}},
           "MetaIssuers": {"https://*.b.test": {"Type": "email", "IssuancePolicy": rule}}}  # fmt: skip
    with pytest.raises(ConfigError, match="unique in the file"):
        parse_identity_config(raw)


def test_the_doc_shows_these_examples() -> None:
    """docs/fulcio.md "Worked examples" holds exactly the rules tested here, in the same order
    (on the doc's issuer URLs instead of the test provider's)."""
    from tests.support.testdata import ROOT

    text = (ROOT / "docs" / "fulcio.md").read_text()
    worked = text.split("### Worked examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", worked, re.S)
    shown = [json.loads("{" + block + "}") for block in blocks]
    doc_rules = [entry["IssuancePolicy"] for block in shown for entry in
                 (block["MetaIssuers"].values() if "MetaIssuers" in block else block.values())]  # fmt: skip
    config = policies("https://issuer.test")
    tested = [entry["IssuancePolicy"] for entry in config["OIDCIssuers"].values()
              if "IssuancePolicy" in entry] + [
        entry["IssuancePolicy"] for entry in config["MetaIssuers"].values()]  # fmt: skip
    assert doc_rules == tested
