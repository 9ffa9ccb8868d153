"""Claim values that are validly signed but must not reach a certificate (security review, issue 11).

Every case is a token the configured issuer really signed: the refusal comes from the value, not the
signature. Each answer is the documented 400 (``{"code": 3, "message": "There was an error processing
the identity token"}``), nothing is issued and nothing reaches the CT log:

- NumericDates (``exp``, ``nbf``, ``iat``, RFC 7519 section 2) that are not finite JSON numbers:
  ``NaN``/``Infinity`` (not JSON at all, RFC 8259 section 6, but Python's parser takes them), a
  literal that overflows to infinity (``1e999``), booleans, strings, ``null``;
- JSON strings with a lone surrogate (no UTF-8 form; RFC 8259 section 8.2), which used to be 500s;
- SAN values a certificate must not carry: an email with a trailing newline (a regex ``$`` matches
  before it) or a NUL, non-ASCII emails and URIs (rfc822Name and URI are IA5String), whitespace or
  control characters in a URI, a URI that does not parse, Kubernetes names that are not DNS names.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from sigstack.services.fulcio import errors as msg
from tests.support.fulcio import refused, san_value, v2_csr_body
from tests.support.keys import csr_pem, new_key
from tests.support.oidc import GITHUB_CLAIMS, OIDCIssuer


def _post(stack: dict[str, Any], token: str) -> Any:
    return stack["client"].post(
        "/api/v2/signingCert", json=v2_csr_body(csr_pem(new_key("ec-p256")), token)
    )


def _raw_claims(issuer: OIDCIssuer, **literals: str) -> str:
    """An email token whose claims named in ``literals`` are written as the given JSON text."""
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "1234", "aud": "sigstore", "iat": now, "exp": now + 300,
              "email": "alice@example.com", "email_verified": True}  # fmt: skip
    parts = [f"{json.dumps(k)}:{literals.pop(k) if k in literals else json.dumps(v)}"
             for k, v in claims.items()]  # fmt: skip
    parts += [f"{json.dumps(k)}:{v}" for k, v in literals.items()]
    return issuer.raw_token(("{" + ",".join(parts) + "}").encode())


NUMERIC_DATES = {
    "exp-NaN": {"exp": "NaN"},
    "exp-Infinity": {"exp": "Infinity"},
    "exp-1e999": {"exp": "1e999"},
    "exp-true": {"exp": "true"},
    "exp-string": {"exp": '"99999999999"'},
    "exp-null": {"exp": "null"},
    "nbf-NaN": {"nbf": "NaN"},
    "nbf-minus-Infinity": {"nbf": "-Infinity"},
    "nbf-true": {"nbf": "true"},
    "nbf-null": {"nbf": "null"},
    "nbf-string": {"nbf": '"0"'},
    "iat-NaN": {"iat": "NaN"},
    "iat-Infinity": {"iat": "Infinity"},
    "iat-string": {"iat": '"yesterday"'},
    "iat-null": {"iat": "null"},
    "iat-false": {"iat": "false"},
}


@pytest.mark.parametrize("literals", list(NUMERIC_DATES.values()), ids=list(NUMERIC_DATES))
def test_numeric_date_that_is_not_a_finite_number_refused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None, literals: dict[str, str]
) -> None:
    refused(_post(stack, _raw_claims(issuer, **literals)), msg.MSG_TOKEN)


def test_non_finite_number_anywhere_in_the_token_refused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    """Not JSON (RFC 8259 section 6), wherever it is: the whole payload is refused."""
    refused(_post(stack, _raw_claims(issuer, extra="[1, NaN]")), msg.MSG_TOKEN)


def test_numeric_dates_that_are_finite_numbers_accepted(
    stack: dict[str, Any], issuer: OIDCIssuer
) -> None:
    """RFC 7519 section 2 allows non-integer NumericDates (go-oidc takes them too)."""
    now = time.time()
    token = _raw_claims(issuer, exp=repr(now + 300.5), nbf=repr(now - 0.25), iat=repr(now))
    assert _post(stack, token).status_code == 200
    assert _post(stack, issuer.email_token(drop=("iat",))).status_code == 200


def _email(address: str) -> Any:
    return lambda i: i.email_token(address)


BAD_VALUES = {
    "email-trailing-newline": _email("user@example.org\n"),
    "email-nul": _email("user@example.org\x00"),
    "email-tab": _email("user@exa\tmple.org"),
    "email-non-ascii-local": _email("jürgen@example.org"),
    "email-non-ascii-domain": _email("user@exämple.org"),
    "email-lone-surrogate": _email("\ud800@example.org"),
    # printable ASCII around an @, but no RFC 5322 address: cryptography's ValueError from
    # RFC822Name was a 500 (found by fuzzing)
    "email-no-address": _email("[@example.com"),
    "sub-lone-surrogate": lambda i: i.email_token(sub="\udfff"),
    "issuer-claim-lone-surrogate": lambda i: i.email_token(
        iss="/corp", aud="trusted-artifact-signer", federated={"connector": "x\ud800"}
    ),
    "uri-newline": lambda i: i.token("https://build.example.com/a\nb", iss="/uri"),
    "uri-space": lambda i: i.token("https://build.example.com/a b", iss="/uri"),
    "uri-leading-tab": lambda i: i.token("\thttps://build.example.com/a", iss="/uri"),
    "uri-non-ascii": lambda i: i.token("https://build.example.com/ü", iss="/uri"),
    "uri-unparseable": lambda i: i.token("https://[build.example.com/a", iss="/uri"),
    "spiffe-non-ascii": lambda i: i.token("spiffe://example.org/ü", iss="/spiffe"),
    "spiffe-unparseable": lambda i: i.token("spiffe://[example.org/a", iss="/spiffe"),
    "k8s-non-ascii": lambda i: i.token(
        "sa", iss="/k8s", **{"kubernetes.io": {"namespace": "ü", "serviceaccount": {"name": "x"}}}
    ),
    "k8s-namespace-with-path": lambda i: i.token(
        "sa",
        iss="/k8s",
        **{
            "kubernetes.io": {
                "namespace": "a/serviceaccounts/admin",
                "serviceaccount": {"name": "x"},
            }
        },
    ),  # fmt: skip
    "username-control": lambda i: i.token("bob\n", iss="/username"),
    "username-lone-surrogate": lambda i: i.token("\ud800", iss="/username"),
    "ci-provider-san-space": lambda i: i.token(
        "repo:octo/app", iss="/github", **{**GITHUB_CLAIMS, "job_workflow_ref": "a b"}
    ),
    "ci-provider-san-unparseable": lambda i: i.token(
        "repo:octo/app", iss="/github", **{**GITHUB_CLAIMS, "url": "https://[x"}
    ),
}


@pytest.mark.parametrize("make", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_value_unfit_for_a_certificate_refused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None, make: Any
) -> None:
    refused(_post(stack, make(issuer)), msg.MSG_TOKEN)


def test_unusual_but_valid_values_still_accepted(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    """The checks above are narrow: these still get a certificate with the value unchanged."""
    cases = [
        (issuer.email_token("first.last+tag@sub.example.org"), "first.last+tag@sub.example.org"),
        (issuer.token("jürgen", iss="/username"), "jürgen!example.com"),
        (issuer.email_token(sub="ü-\U0001f600"), "alice@example.com"),  # UTF-8 in an extension
        (issuer.token("https://build.example.com/a?b=c%20d#e", iss="/uri"),
         "https://build.example.com/a?b=c%20d#e"),
    ]  # fmt: skip
    from cryptography import x509

    for token, expected in cases:
        resp = _post(stack, token)
        assert resp.status_code == 200, (expected, resp.get_data(as_text=True))
        pem = resp.get_json()["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        assert san_value(x509.load_pem_x509_certificate(pem.encode())) == expected
