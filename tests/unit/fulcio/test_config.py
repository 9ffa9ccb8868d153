"""Configuration validation, meta-issuer patterns, claim templates, CA chain checks, and an issuer
behind TLS from an internal CA (per-issuer ``CACert``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import ca_certificate, create_ca
from sigstack.services.fulcio.config import meta_pattern, parse_identity_config
from sigstack.services.fulcio.templates import parse_template, render
from sigstack.services.fulcio.tokens import TokenVerifier
from sigstack.services.keys import load_signer
from sigstack.services.keys.certificates import name
from tests.support.keys import tls_pair
from tests.support.oidc import OIDCIssuer
from tests.support.servers import serve_wsgi


def test_meta_pattern_is_anchored_and_literal() -> None:
    p = meta_pattern("https://oidc.eks.*.amazonaws.com/id/*")
    assert p.match("https://oidc.eks.us-west-2.amazonaws.com/id/ABC_1")
    assert not p.match("https://oidc.eks.us.west.amazonaws.com/id/ABC")
    assert not p.match("https://oidc.eks.x.amazonaws.com/id/ABC/../../evil")
    assert not p.match("https://evil.com/?https://oidc.eks.x.amazonaws.com/id/A")
    assert not meta_pattern("https://a.b/*").match("https://aXb/c")  # '.' is literal


@pytest.mark.parametrize(
    ("issuer", "fragment"),
    [
        ({"Type": "nope"}, "Type must be"),
        ({"Type": "uri", "IssuerClaim": "$.x", "SubjectDomain": "https://a"}, "IssuerClaim"),
        ({"Type": "uri"}, "SubjectDomain is required"),
        ({"Type": "uri", "SubjectDomain": "example.com"}, "needs a scheme"),
        ({"Type": "spiffe"}, "SPIFFETrustDomain"),
        ({"Type": "email", "CACert": "not pem"}, "CACert"),
        ({"Type": "ci-provider", "CIProvider": "nobody"}, "CIIssuerMetadata"),
        ({"Type": "email", "IssuerURL": "https://other"}, "must equal"),
    ],
)
def test_bad_issuer_entries(issuer: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_identity_config({"OIDCIssuers": {"https://i.example": issuer}})


def test_other_config_errors() -> None:
    with pytest.raises(ConfigError, match="no OIDCIssuers"):
        parse_identity_config({})
    with pytest.raises(ConfigError, match="meta-issuers"):
        parse_identity_config({"MetaIssuers": {"https://*": {
            "Type": "spiffe", "SPIFFETrustDomain": "x.org"}}})  # fmt: skip
    meta = {"ci": {"SubjectAlternativeNameTemplate": "{{ .a }", "ExtensionTemplates": {}}}
    with pytest.raises(ConfigError):
        parse_identity_config({"OIDCIssuers": {"https://i": {"Type": "ci-provider",
                               "CIProvider": "ci"}}, "CIIssuerMetadata": meta})  # fmt: skip
    meta = {"ci": {"SubjectAlternativeNameTemplate": "x", "ExtensionTemplates": {"Bogus": "x"}}}
    with pytest.raises(ConfigError, match="unknown extension"):
        parse_identity_config({"OIDCIssuers": {"https://i": {"Type": "ci-provider",
                               "CIProvider": "ci"}}, "CIIssuerMetadata": meta})  # fmt: skip


def test_templates() -> None:
    data = {"a": "1", "b.c": "2", "t": "tag", "empty": ""}
    assert render("a", data) == "1"
    assert render('x{{ .a }}-{{ index . "b.c" }}y', data) == "x1-2y"
    assert render('{{if eq .t "tag"}}T{{else}}B{{end}}', data) == "T"
    assert render("{{if .empty}}Y{{else}}N{{end}}", data) == "N"
    assert render('{{if eq .t "x"}}{{if .a}}Q{{end}}{{else}}{{ .a }}{{end}}', data) == "1"
    with pytest.raises(ValidationError, match="missing_one"):
        render("{{ .missing_one }}", data)
    for bad in ("{{ .a", "{{if .a}}x", "{{ end }}", "{{ foo bar }}", '{{ index . "a }}'):
        with pytest.raises(ConfigError):
            parse_template(bad)


def test_ca_chain_checks(tmp_path: Path) -> None:
    paths = create_ca(tmp_path / "ca", algorithm="ecdsa-p256")
    inter = load_signer(f"file:{paths['intermediate-key.pem']}")
    root = load_signer(f"file:{paths['root-key.pem']}")
    chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
    CertificateAuthority(inter, chain)
    with pytest.raises(ConfigError, match="does not match"):
        CertificateAuthority(root, chain)
    with pytest.raises(ConfigError, match="not in order|does not match"):
        CertificateAuthority(inter, [chain[0], chain[0]])
    no_eku = ca_certificate(inter, name("i", "o"), issuer=chain[1], issuer_signer=root,
                            years=1, path_length=0, code_signing=False)  # fmt: skip
    with pytest.raises(ConfigError, match="codeSigning"):
        CertificateAuthority(inter, [no_eku, chain[1]])
    with pytest.raises(ConfigError, match="self-signed root"):
        CertificateAuthority(inter, [chain[0]])
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        create_ca(tmp_path / "ca")


def test_issuer_behind_internal_tls_ca(tmp_path: Path) -> None:
    ca_pem, ctx = tls_pair(tmp_path)
    issuer = OIDCIssuer(("ES256",))
    server = serve_wsgi(issuer._wsgi, ssl_context=ctx)
    url = issuer.url = server.url
    try:
        token = issuer.email_token(alg="ES256")
        ok = TokenVerifier(parse_identity_config(
            {"OIDCIssuers": {url: {"Type": "email", "CACert": ca_pem.decode()}}}))  # fmt: skip
        found, claims = ok.verify(token)
        assert found.url == url and claims["email"] == "alice@example.com"
        plain = TokenVerifier(parse_identity_config({"OIDCIssuers": {url: {"Type": "email"}}}))
        with pytest.raises(ValidationError):
            plain.verify(token)
    finally:
        server.close()
        issuer.close()


def test_builtin_mapping_override_merges_defaults() -> None:
    cfg = parse_identity_config({
        "OIDCIssuers": {"https://git.corp": {"Type": "ci-provider", "CIProvider": "gitlab-pipeline"}},
        "CIIssuerMetadata": {"gitlab-pipeline": {"DefaultTemplateValues": {"url": "https://g.corp"}}},
    })  # fmt: skip
    ci = cfg.issuers["https://git.corp"].ci_provider
    assert ci is not None and ci.defaults["url"] == "https://g.corp"
    assert ci.defaults["environment"] == "" and "source_repository_ref" in ci.extension_templates


def test_serve_data_dir_and_ephemeral_ca(tmp_path: Path) -> None:
    from sigstack.services.fulcio.app import create_app
    from sigstack.services.fulcio.config import FulcioConfig
    from sigstack.services.fulcio.serve import prepare_data_dir

    key, chain = prepare_data_dir(tmp_path / "data")
    assert (tmp_path / "data" / "ca" / "intermediate-key.pem").stat().st_mode & 0o077 == 0
    assert prepare_data_dir(tmp_path / "data") == (key, chain)  # reused, not recreated
    issuer = OIDCIssuer(("RS256",))
    try:
        app = create_app(FulcioConfig.from_mapping({"OIDCIssuers": {issuer.url: {"Type": "email"}},
                                                    "ca_key": "ephemeral:", "ct_log_url": ""}))  # fmt: skip
        client = app.test_client()
        bundle = client.get("/api/v2/trustBundle").get_json()["chains"][0]["certificates"]
        assert len(bundle) == 1
        from tests.support.fulcio import v2_csr_body
        from tests.support.keys import csr_pem, new_key

        resp = client.post("/api/v2/signingCert",
                           json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
        certs = resp.get_json()["signedCertificateDetachedSct"]["chain"]["certificates"]
        leaf = x509.load_pem_x509_certificate(certs[0].encode())
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(bundle[0].encode()))
    finally:
        issuer.close()
