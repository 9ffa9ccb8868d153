"""From verified token claims to a principal: the name signed for proof of possession, the SAN,
and the Sigstore extension values (fulcio.md sections 2 and 3.3).

``principal(issuer, claims)`` raises ``ValidationError``: with the identity-token message for
principal-rule failures, and with the template's own message when a ci-provider claim is missing
(Fulcio sends that text to the client).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from protocol import x509ext

from .config import Issuer
from .errors import MSG_TOKEN, client_error
from .templates import render

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Principal:
    name: str  # what the proof of possession signs
    san: x509.GeneralName
    extensions: dict[str, str]


def _flatten(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_path(claims: dict[str, Any], path: str) -> str | None:
    """The simple JSONPath ``$.a.b`` used by IssuerClaim."""
    if not path.startswith("$."):
        return None
    node: Any = claims
    for part in path[2:].split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) else None


def _base(issuer: Issuer, claims: dict[str, Any]) -> dict[str, str]:
    return {"issuer_v1": claims["iss"], "issuer": claims["iss"], "token_subject": claims["sub"]}


def _email(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    email = claims.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email):
        raise client_error(MSG_TOKEN, "email claim missing or not an email address")
    verified = claims.get("email_verified")
    if not issuer.skip_email_verification and verified not in (True, "true", "True"):
        raise client_error(MSG_TOKEN, "email_verified is not true")
    ext = _base(issuer, claims)
    if issuer.issuer_claim:
        value = _json_path(claims, issuer.issuer_claim)
        if not value:
            raise client_error(MSG_TOKEN, f"IssuerClaim {issuer.issuer_claim} not in the token")
        ext["issuer_v1"] = ext["issuer"] = value
    return Principal(email, x509.RFC822Name(email), ext)


def _uri(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    sub = claims["sub"]
    if _EMAIL.match(sub):
        raise client_error(MSG_TOKEN, "uri subject must not be an email address")
    got, want = urlsplit(sub), urlsplit(issuer.subject_domain)
    if not got.scheme or got.scheme != want.scheme or got.hostname != want.hostname:
        raise client_error(MSG_TOKEN, "uri subject does not match the issuer's SubjectDomain")
    return Principal(sub, x509.UniformResourceIdentifier(sub), _base(issuer, claims))


def _username(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    sub = claims["sub"]
    if "!" in sub or _EMAIL.match(sub):
        raise client_error(MSG_TOKEN, "username subject must not contain ! or be an email")
    value = f"{sub}!{issuer.subject_domain}"
    return Principal(sub, x509ext.username_san(value), _base(issuer, claims))


def _kubernetes(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    k8s = claims.get("kubernetes.io")
    sa = k8s.get("serviceaccount") if isinstance(k8s, dict) else None
    ns = k8s.get("namespace") if isinstance(k8s, dict) else None
    name = sa.get("name") if isinstance(sa, dict) else None
    if not isinstance(ns, str) or not isinstance(name, str) or not ns or not name:
        raise client_error(MSG_TOKEN, "kubernetes.io namespace/serviceaccount claims missing")
    uri = f"https://kubernetes.io/namespaces/{ns}/serviceaccounts/{name}"
    return Principal(claims["sub"], x509.UniformResourceIdentifier(uri), _base(issuer, claims))


def _spiffe(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    sub = claims["sub"]
    parts = urlsplit(sub)
    if parts.scheme != "spiffe" or parts.hostname != issuer.spiffe_trust_domain:
        raise client_error(MSG_TOKEN, "SPIFFE ID is not in the issuer's trust domain")
    return Principal(sub, x509.UniformResourceIdentifier(sub), _base(issuer, claims))


def _ci_provider(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    ci = issuer.ci_provider
    assert ci is not None
    data = {"url": claims["iss"].rstrip("/")}  # GitLab: the instance is the issuer
    data.update(ci.defaults)
    data.update({k: _flatten(v) for k, v in claims.items()})
    san = render(ci.san_template, data)
    if not urlsplit(san).scheme:
        raise client_error(MSG_TOKEN, f"ci-provider SAN {san!r} is not a URI")
    ext = {name: render(template, data) for name, template in ci.extension_templates.items()}
    ext.update(_base(issuer, claims))
    return Principal(claims["sub"], x509.UniformResourceIdentifier(san), ext)


_BUILDERS = {
    "email": _email,
    "uri": _uri,
    "username": _username,
    "kubernetes": _kubernetes,
    "spiffe": _spiffe,
    "ci-provider": _ci_provider,
}


def principal(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    """The principal of a verified token for ``issuer``'s type."""
    return _BUILDERS[issuer.type](issuer, claims)
