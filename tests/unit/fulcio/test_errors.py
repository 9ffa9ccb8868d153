"""Every row of the error table (fulcio.md 1.8) that a request can cause, and every refused token:
status, gRPC body, and that nothing was issued and nothing reached the CT log. The server-side
failures (code 13) and the CT log client: test_errors_server.py."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sigstack.services.fulcio import errors as msg
from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.config import FulcioConfig
from tests.support.fulcio import refused, v2_csr_body, v2_key_body
from tests.support.keys import b64, csr_pem, new_key, pem_public, sign
from tests.support.oidc import OIDCIssuer


def _post(
    stack: dict[str, Any], body: Any, headers: Any = None, path: str = "/api/v2/signingCert"
) -> Any:
    if isinstance(body, (bytes, str)):
        return stack["client"].post(path, data=body, headers=headers or {},
                                    content_type="application/json")  # fmt: skip
    return stack["client"].post(path, json=body, headers=headers or {})


def _csr_with(stack: dict[str, Any], token: str) -> Any:
    return _post(stack, v2_csr_body(csr_pem(new_key("ec-p256")), token))


# ---- identity tokens ------------------------------------------------------------------------


def _unsigned(payload: dict[str, Any], header: dict[str, Any]) -> str:
    enc = [base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
           for p in (header, payload)]  # fmt: skip
    return ".".join(enc) + "."


def test_alg_nonerefused(stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None) -> None:
    claims = jwt.decode(issuer.email_token(), options={"verify_signature": False})
    token = _unsigned(claims, {"alg": "none", "kid": issuer.kid_for("RS256")})
    refused(_csr_with(stack, token), msg.MSG_TOKEN)


def test_hs256_signed_with_public_keyrefused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    kid = issuer.kid_for("RS256")
    public_pem = (
        issuer.keys[kid][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = jwt.decode(issuer.email_token(), options={"verify_signature": False})
    import hashlib
    import hmac

    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    signing_input = _unsigned(claims, header)[:-1]
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    refused(_csr_with(stack, token), msg.MSG_TOKEN)


def _resigned(issuer: OIDCIssuer, header: dict[str, Any]) -> str:
    """A token signed by the issuer's real RS256 key, with ``header`` as its protected header."""
    claims = jwt.decode(issuer.email_token(), options={"verify_signature": False})
    kid = issuer.kid_for("RS256")
    signing_input = _unsigned(claims, {"alg": "RS256", "kid": kid, **header})[:-1]
    sig = issuer.keys[kid][1].sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")


@pytest.mark.parametrize(
    "header",
    [{"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}, {"b64": False}, {"kid": 7}],
    ids=["crit", "unencoded-payload", "b64-false", "kid-not-string"],
)
def test_validly_signed_token_with_unsupported_headerrefused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None, header: dict[str, Any]
) -> None:
    refused(_csr_with(stack, _resigned(issuer, header)), msg.MSG_TOKEN)


def test_signed_token_with_plain_header_accepted(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    """The construction above with a plain header is accepted: those refusals are the header's."""
    assert _csr_with(stack, _resigned(issuer, {})).status_code == 200


def test_payload_moved_under_another_signaturerefused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    good = _resigned(issuer, {})
    other = issuer.email_token("mallory@example.com").split(".")[1]
    head, _, sig = good.split(".")
    refused(_csr_with(stack, f"{head}.{other}.{sig}"), msg.MSG_TOKEN)
    refused(_csr_with(stack, good + "="), msg.MSG_TOKEN)  # padding is not base64url


@pytest.mark.parametrize(
    "make",
    [
        lambda i: i.email_token(aud="someone-else"),
        lambda i: i.email_token(exp_in=-1),
        lambda i: i.email_token(drop=("exp",)),
        lambda i: i.email_token(nbf=int(time.time()) + 120),
        lambda i: i.email_token(iss="https://unknown.example.com"),
        lambda i: i.email_token(email_verified=False),
        lambda i: i.email_token(drop=("email_verified",)),
        lambda i: i.token("bob", drop=()),  # email issuer, no email claim
        lambda i: i.email_token(iss="/meta/a.b"),  # wildcard never matches a dot
        lambda i: i.email_token(iss="/meta/a/b"),  # nor a slash (anchored)
        lambda i: i.token("https://evil.example.com/x", iss="/uri"),
        lambda i: i.token("ann!x", iss="/username"),
        lambda i: i.token("spiffe://other.org/a", iss="/spiffe"),
        lambda i: i.token("sa", iss="/k8s"),
        lambda i: i.email_token()[:-4] + "AAAA",  # signature altered
        lambda i: "not-a-jwt",
        lambda i: "",
    ],
    ids=["aud", "expired", "no-exp", "nbf-future", "unknown-issuer", "email-unverified",
         "email-verified-missing", "no-email", "meta-dot", "meta-slash", "uri-domain",
         "username-bang", "spiffe-domain", "k8s-claims", "bad-signature", "malformed", "missing"],
)  # fmt: skip
def test_bad_tokensrefused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None, make: Any
) -> None:
    refused(_csr_with(stack, make(issuer)), msg.MSG_TOKEN)


def test_unknown_kid_refetches_jwks_once(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    kid = issuer.add_key("ES256", publish=False)
    token = issuer.email_token(alg="ES256", kid=kid)
    time.sleep(1.1)  # past the refetch interval
    before = issuer.hits["jwks"]
    refused(_csr_with(stack, token), msg.MSG_TOKEN)
    assert issuer.hits["jwks"] == before + 1
    issuer.publish_all()  # key rotation: the new key appears in the JWKS
    time.sleep(1.1)
    assert _csr_with(stack, token).status_code == 200


def test_accepted_token_variants(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    assert _csr_with(stack, issuer.email_token(nbf=int(time.time()) + 30)).status_code == 200
    assert _csr_with(stack, issuer.email_token(email_verified="True")).status_code == 200
    for alg in ("ES256", "EdDSA", "PS256", "ES384"):
        assert _csr_with(stack, issuer.email_token(alg=alg)).status_code == 200, alg
    assert _csr_with(stack, issuer.email_token(aud=["x", "sigstore"])).status_code == 200


def test_cross_host_redirectrefused(tmp_path: Any, stack: dict[str, Any]) -> None:
    evil = OIDCIssuer(("RS256",))
    mover = OIDCIssuer(("RS256",))
    mover.redirect_to = evil.url + "/.well-known/openid-configuration"
    try:
        config = dict(stack["config"])
        config["OIDCIssuers"] = {mover.url: {"Type": "email"}}
        config["MetaIssuers"] = {}
        client = create_app(FulcioConfig.from_mapping(config)).test_client()
        resp = client.post("/api/v2/signingCert",
                           json=v2_csr_body(csr_pem(new_key("ec-p256")), mover.email_token()))  # fmt: skip
        refused(resp, msg.MSG_TOKEN)
        assert evil.hits["discovery"] == 0
    finally:
        evil.close()
        mover.close()


# ---- keys, proofs, CSRs ---------------------------------------------------------------------


def test_public_key_unparseable(stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None) -> None:
    body = {"publicKeyRequest": {"publicKey": {"content": "garbage"}, "proofOfPossession": "AA=="},
            "credentials": {"oidcIdentityToken": issuer.email_token()}}  # fmt: skip
    refused(_post(stack, body), msg.MSG_KEY_PARSE)
    body = {"credentials": {"oidcIdentityToken": issuer.email_token()}}
    refused(_post(stack, body), msg.MSG_KEY_PARSE)


@pytest.mark.parametrize("key", [lambda: rsa.generate_private_key(65537, 1024),
                                 lambda: ec.generate_private_key(ec.SECP224R1())])  # fmt: skip
def test_insecure_keys(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None, key: Any
) -> None:
    k = key()
    body = v2_key_body(k, b"x", issuer.email_token())
    refused(_post(stack, body), msg.MSG_KEY_INSECURE)


def test_wrong_proof_of_possession(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    key = new_key("ec-p256")
    # signed over `sub` instead of the email: the sigstore-go#282 mistake
    body = v2_key_body(key, sign(key, b"1234"), issuer.email_token())
    refused(_post(stack, body), msg.MSG_SIGNATURE)
    body = v2_key_body(key, b"\x00" * 64, issuer.email_token())
    refused(_post(stack, body), msg.MSG_SIGNATURE)


def test_malformed_csr(stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None) -> None:
    token = issuer.email_token()
    refused(_post(stack, {"certificateSigningRequest": b64(b"hello"),
                           "credentials": {"oidcIdentityToken": token}}), msg.MSG_CSR_PARSE)  # fmt: skip
    bad = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    refused(_post(stack, v2_csr_body(bad, token)), msg.MSG_CSR_PARSE)
    refused(_post(stack, {"certificateSigningRequest": "%%%",
                           "credentials": {"oidcIdentityToken": token}}), msg.MSG_CSR_PARSE)  # fmt: skip


def test_csr_bad_self_signature(stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None) -> None:
    from cryptography import x509

    pem = csr_pem(new_key("ec-p256"))
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # flip a bit inside the signature
    tampered = b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)) + \
        b"-----END CERTIFICATE REQUEST-----\n"  # fmt: skip
    refused(_post(stack, v2_csr_body(tampered, issuer.email_token())), msg.MSG_SIGNATURE)


def test_rsa_pss_csrrefused(stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None) -> None:
    from cryptography import x509

    key = new_key("rsa-2048")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256(), rsa_padding=pss)
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    refused(_post(stack, v2_csr_body(pem, issuer.email_token())),
             "unrecognized signature algorithm: SHA256-RSAPSS")  # fmt: skip


def test_algorithm_not_permitted(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    p384 = new_key("ec-p384")
    refused(_post(stack, v2_csr_body(csr_pem(p384, hashes.SHA256()), issuer.email_token())),
             "signing algorithm not permitted: *ecdsa.PublicKey, SHA-256")  # fmt: skip
    rsa_key = new_key("rsa-2048")
    refused(_post(stack, v2_csr_body(csr_pem(rsa_key, hashes.SHA384()), issuer.email_token())),
             "signing algorithm not permitted: *rsa.PublicKey, SHA-384")  # fmt: skip


# ---- request shape, routes --------------------------------------------------------------------


def test_malformed_json_and_routes(stack: dict[str, Any], unchanged: None) -> None:
    resp = _post(stack, b"{not json")
    assert resp.status_code == 400 and resp.get_json()["code"] == 3
    resp = stack["client"].get("/api/v2/nothing")
    assert resp.status_code == 404 and resp.get_json()["code"] == 5
    assert stack["client"].get("/healthz").get_json() == {"status": "SERVING"}


def test_v1_token_only_from_header(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    key = new_key("ec-p256")
    body = {"publicKey": {"content": b64(pem_public(key))},
            "signedEmailAddress": b64(sign(key, b"alice@example.com")),
            "credentials": {"oidcIdentityToken": issuer.email_token()}}  # fmt: skip
    refused(_post(stack, body, path="/api/v1/signingCert"), msg.MSG_TOKEN)


def test_trust_bundle_configuration_root_cert(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    from cryptography import x509

    bundle = stack["client"].get("/api/v2/trustBundle").get_json()
    certs = bundle["chains"][0]["certificates"]
    assert [x509.load_pem_x509_certificate(c.encode()) for c in certs] == stack["chain"]
    root = stack["client"].get("/api/v1/rootCert")
    assert root.status_code == 200 and root.get_data(as_text=True) == "\n".join(certs)
    conf = stack["client"].get("/api/v2/configuration").get_json()["issuers"]
    by_url = {c.get("issuerUrl") or c.get("wildcardIssuerUrl"): c for c in conf}
    assert by_url[issuer.url] == {
        "issuerUrl": issuer.url, "audience": "sigstore", "challengeClaim": "email",
        "spiffeTrustDomain": "", "issuerType": "email", "subjectDomain": "",
        "skipEmailVerification": False,
    }  # fmt: skip
    assert by_url[issuer.url + "/meta/*"]["issuerType"] == "email"
    assert by_url[issuer.url + "/spiffe"]["challengeClaim"] == "sub"
