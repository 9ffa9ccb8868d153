"""From verified token claims to a principal: the name signed for proof of possession, the SAN,
and the Sigstore extension values (fulcio.md sections 2 and 3.3).

``principal(issuer, claims)`` raises ``ValidationError``: with the identity-token message for
principal-rule failures, and with the template's own message when a ci-provider claim is missing
(Fulcio sends that text to the client).

Stricter than upstream where a value would otherwise reach the certificate malformed (upstream
fails those later, some with a 500): an email or URI SAN must be printable ASCII without spaces
(rfc822Name and URI are IA5String), Kubernetes namespace and service account names must be DNS
names (no ``/`` to splice into the SAN path), a username has no control characters, and a URI that
``urlsplit`` cannot parse is refused rather than raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography import x509

from sigstack.protocol import x509ext

from .config import Issuer
from .errors import MSG_TOKEN, client_error
from .templates import render

# SAN values (RFC 5280 section 4.2.1.6): rfc822Name and URI are IA5String, so ASCII only; no
# address or URI (RFC 3986) has space or control characters either. Always ``fullmatch``: ``$``
# would match before a trailing newline.
_EMAIL = re.compile(r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+")
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:[!-~]+")
# What "is an email" means for the uri and username rules (any characters but @ and space).
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Kubernetes names: a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_K8S_NAMESPACE = re.compile(_DNS_LABEL)
_K8S_NAME = re.compile(rf"(?=.{{1,253}}$){_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


def _uri_san(value: str, what: str) -> x509.UniformResourceIdentifier:
    if not _URI.fullmatch(value):
        raise client_error(MSG_TOKEN, f"{what} is not an ASCII URI without spaces")
    return x509.UniformResourceIdentifier(value)


def _split(value: str, what: str) -> SplitResult:
    try:
        parts = urlsplit(value)
        parts.hostname  # noqa: B018 (parses the netloc; raises ValueError on a bad one)
    except ValueError as exc:
        raise client_error(MSG_TOKEN, f"{what} is not a URI") from exc
    return parts


def _base(issuer: Issuer, claims: dict[str, Any]) -> dict[str, str]:
    return {"issuer_v1": claims["iss"], "issuer": claims["iss"], "token_subject": claims["sub"]}


def _email(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    email = claims.get("email")
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        raise client_error(MSG_TOKEN, "email claim missing or not an ASCII email address")
    verified = claims.get("email_verified")
    if not issuer.skip_email_verification and verified not in (True, "true", "True"):
        raise client_error(MSG_TOKEN, "email_verified is not true")
    ext = _base(issuer, claims)
    if issuer.issuer_claim:
        value = _json_path(claims, issuer.issuer_claim)
        if not value:
            raise client_error(MSG_TOKEN, f"IssuerClaim {issuer.issuer_claim} not in the token")
        ext["issuer_v1"] = ext["issuer"] = value
    try:
        san = x509.RFC822Name(email)
    except ValueError as exc:  # e.g. "[@example.com": printable, yet no address (RFC 5322)
        raise client_error(MSG_TOKEN, "email claim is not an email address") from exc
    return Principal(email, san, ext)


def _uri(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    sub = claims["sub"]
    if _EMAIL_LIKE.fullmatch(sub):
        raise client_error(MSG_TOKEN, "uri subject must not be an email address")
    san = _uri_san(sub, "uri subject")
    got, want = _split(sub, "uri subject"), urlsplit(issuer.subject_domain)
    if not got.scheme or got.scheme != want.scheme or got.hostname != want.hostname:
        raise client_error(MSG_TOKEN, "uri subject does not match the issuer's SubjectDomain")
    return Principal(sub, san, _base(issuer, claims))


def _username(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    sub = claims["sub"]
    if "!" in sub or _EMAIL_LIKE.fullmatch(sub):
        raise client_error(MSG_TOKEN, "username subject must not contain ! or be an email")
    if _CONTROL.search(sub):
        raise client_error(MSG_TOKEN, "username subject has control characters")
    value = f"{sub}!{issuer.subject_domain}"
    return Principal(sub, x509ext.username_san(value), _base(issuer, claims))


def _kubernetes(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    k8s = claims.get("kubernetes.io")
    sa = k8s.get("serviceaccount") if isinstance(k8s, dict) else None
    ns = k8s.get("namespace") if isinstance(k8s, dict) else None
    name = sa.get("name") if isinstance(sa, dict) else None
    if not isinstance(ns, str) or not isinstance(name, str) or not ns or not name:
        raise client_error(MSG_TOKEN, "kubernetes.io namespace/serviceaccount claims missing")
    if not _K8S_NAMESPACE.fullmatch(ns) or not _K8S_NAME.fullmatch(name):
        raise client_error(MSG_TOKEN, "kubernetes.io namespace/serviceaccount are not DNS names")
    uri = f"https://kubernetes.io/namespaces/{ns}/serviceaccounts/{name}"
    return Principal(claims["sub"], x509.UniformResourceIdentifier(uri), _base(issuer, claims))


def _spiffe(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    sub = claims["sub"]
    san = _uri_san(sub, "SPIFFE ID")
    parts = _split(sub, "SPIFFE ID")
    if parts.scheme != "spiffe" or parts.hostname != issuer.spiffe_trust_domain:
        raise client_error(MSG_TOKEN, "SPIFFE ID is not in the issuer's trust domain")
    return Principal(sub, san, _base(issuer, claims))


def _ci_provider(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    ci = issuer.ci_provider
    assert ci is not None
    data = {"url": claims["iss"].rstrip("/")}  # GitLab: the instance is the issuer
    data.update(ci.defaults)
    data.update({k: _flatten(v) for k, v in claims.items()})
    san = render(ci.san_template, data)
    uri = _uri_san(san, f"ci-provider SAN {san!r}")
    if not _split(san, f"ci-provider SAN {san!r}").scheme:
        raise client_error(MSG_TOKEN, f"ci-provider SAN {san!r} is not a URI")
    ext = {name: render(template, data) for name, template in ci.extension_templates.items()}
    ext.update(_base(issuer, claims))
    return Principal(claims["sub"], uri, ext)


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
