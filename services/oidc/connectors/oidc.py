"""Sign-in at an upstream OpenID Connect provider: the authorization code flow with PKCE
(OIDC Core section 3.1, RFC 7636 S256), as a confidential client (client secret, HTTP Basic,
RFC 6749 section 2.3.1) or a public one (docs/oidc.md, "Connectors: OpenID Connect").

``start`` reads the provider's discovery document (its ``issuer`` must equal the configured URL
byte for byte; when it lists ``code_challenge_methods_supported``, S256 must be among them) and
builds the authorization URL with a fresh ``state``, ``nonce`` and PKCE verifier (256 bits each),
the configured scopes and the issuer's fixed callback as ``redirect_uri``. ``finish`` takes the
callback's parameters (the caller has matched ``state`` to the browser already): an ``error``
from the provider is shown as such; otherwise the code is exchanged at the token endpoint with the
verifier, and the ID token is verified here, not trusted because it came over TLS:

- the JWS signature against the provider's JWKS (``runtime.issuerkeys.Provider``: cached for the
  documents' ``max-age``, at most ``jwks_max_age``; an unknown ``kid`` refetches, so a rotation at
  the provider is followed; ``none``, HMAC and algorithms discovery does not list never verify);
- ``iss`` equal to the configured issuer, ``aud`` naming our ``client_id`` (and ``azp`` equal to
  it when there are several audiences), ``exp`` in the future, ``iat`` and ``nbf`` not more than
  ``CLOCK_SKEW`` seconds ahead, ``nonce`` equal to the one sent (constant-time compare);
- ``sub`` present: the person's immutable upstream id, kept in our tokens'
  ``federated_claims.user_id``.

The email address becomes the signing identity only when the provider says ``email_verified:
true`` (a boolean), or when its domain is listed in ``unverified_email_domains`` (for providers
such as Entra ID that vouch for their tenant's addresses without that claim). ``groups`` (or
``groups_claim``) becomes our ``groups``. All HTTP is bounded by ``timeout`` and ``ca_file``
replaces the system's CAs for the provider. Tokens, codes, secrets and verifiers are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from sigstack.protocol import strictjson
from sigstack.protocol.errors import (
    ConfigError,
    UnavailableError,
    ValidationError,
    VerificationError,
)
from sigstack.services.runtime.issuerfetch import IssuerError, get_json
from sigstack.services.runtime.issuerkeys import (
    Provider,
    numeric_date,
    unverified_claims,
    verify_signature,
)

from .base import RedirectConnector, Started, Upstream, check_email, check_subject, clean_groups
from .options import Options

log = logging.getLogger("sigstack.oidc.upstream")

CLOCK_SKEW = 30  # seconds an upstream clock may run ahead of ours (iat, nbf)
MAX_RESPONSE_BYTES = 1 << 20
DISCOVERY_MAX_AGE = 300.0


def s256(verifier: str) -> str:
    """RFC 7636 section 4.2: BASE64URL(SHA256(verifier))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class OIDCOptions:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    ca_file: str | None
    timeout: float
    jwks_max_age: float
    unverified_email_domains: frozenset[str]
    groups_claim: str
    username_claim: str

    @classmethod
    def read(cls, opts: Options) -> OIDCOptions:
        issuer = opts.issuer("issuer", "the provider's http(s) issuer URL")
        scopes = opts.texts("scopes", ("openid", "email", "profile"))
        if "openid" not in scopes:
            raise ConfigError(f"{opts.name('scopes')} must include openid")
        domains = opts.texts("unverified_email_domains")
        if any("@" in d or "*" in d or d != d.strip() for d in domains):
            raise ConfigError(
                f"{opts.name('unverified_email_domains')} lists domains such as example.org"
            )
        return cls(
            issuer=issuer,
            client_id=opts.text("client_id"),
            client_secret=opts.secret("client_secret"),
            scopes=scopes,
            ca_file=opts.file("ca_file"),
            timeout=opts.seconds("timeout", 10, 1, 60),
            jwks_max_age=opts.seconds("jwks_max_age", 300, 1, 86400),
            unverified_email_domains=frozenset(d.lower() for d in domains),
            groups_claim=opts.text("groups_claim", "groups"),
            username_claim=opts.text("username_claim", "preferred_username"),
        )  # fmt: skip


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    expires: float


class OIDCConnector(RedirectConnector):
    def __init__(
        self,
        connector_id: str,
        name: str,
        options: OIDCOptions,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        refetch_interval: float = 1.0,
    ) -> None:
        super().__init__(connector_id, name)
        self.options = options
        self.monotonic = monotonic
        self.provider = Provider(options.issuer, self._verify_tls, timeout=options.timeout,
                                 refetch_interval=refetch_interval, max_age=options.jwks_max_age,
                                 monotonic=monotonic, logger=log)  # fmt: skip
        self._endpoints: Endpoints | None = None
        self._lock = threading.Lock()  # one discovery fetch at a time; bounded by ``timeout``

    @classmethod
    def from_options(
        cls, connector_id: str, name: str, opts: Options, _issuer: str
    ) -> OIDCConnector:
        return cls(connector_id, name, OIDCOptions.read(opts))

    @property
    def _verify_tls(self) -> str | bool:
        return self.options.ca_file or True

    def _unverifiable(self, detail: str) -> VerificationError:
        log.warning("upstream %s: %s", self.id, detail)
        return VerificationError(
            f"The answer of {self.name} could not be verified. Try again, or ask an administrator."
        )

    def _unreachable(self, detail: str) -> UnavailableError:
        log.warning("upstream %s: %s", self.id, detail)
        return UnavailableError(f"{self.name} cannot be reached just now. Try again later.")

    # -- discovery -----------------------------------------------------------------------------
    def endpoints(self) -> Endpoints:
        """The provider's authorization and token endpoints, from its discovery document (cached
        for ``DISCOVERY_MAX_AGE`` seconds)."""
        found = self._endpoints
        if found is not None and self.monotonic() < found.expires:
            return found
        with self._lock:
            found = self._endpoints
            if found is not None and self.monotonic() < found.expires:
                return found
            found = self._discover()
            self._endpoints = found
            return found

    def _discover(self) -> Endpoints:
        o = self.options
        url = o.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            fetched = get_json(url, verify=self._verify_tls, deadline=time.monotonic() + o.timeout,
                               max_bytes=MAX_RESPONSE_BYTES)  # fmt: skip
        except IssuerError as exc:
            raise self._unreachable(exc.detail) from None
        doc = fetched.doc
        if not isinstance(doc, dict) or doc.get("issuer") != o.issuer:
            raise self._unreachable(f"discovery at {url} names another issuer")
        methods = doc.get("code_challenge_methods_supported")
        if methods is not None and (not isinstance(methods, list) or "S256" not in methods):
            raise self._unreachable("the provider does not offer PKCE S256")
        https = o.issuer.startswith("https:")
        endpoints = []
        for key in ("authorization_endpoint", "token_endpoint"):
            value = doc.get(key)
            parts = urlsplit(value) if isinstance(value, str) else None
            if parts is None or parts.scheme not in (("https",) if https else ("https", "http")):
                raise self._unreachable(f"discovery at {url} has no usable {key}")
            endpoints.append(str(value))
        age = (
            DISCOVERY_MAX_AGE
            if fetched.max_age is None
            else min(fetched.max_age, DISCOVERY_MAX_AGE)
        )
        return Endpoints(endpoints[0], endpoints[1], self.monotonic() + max(age, 1.0))

    # -- the flow ------------------------------------------------------------------------------
    def start(self, redirect_uri: str) -> Started:
        o = self.options
        endpoint = self.endpoints().authorization
        state, nonce, verifier = (secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                                  secrets.token_urlsafe(48))  # fmt: skip
        query = urlencode({
            "response_type": "code", "client_id": o.client_id, "redirect_uri": redirect_uri,
            "scope": " ".join(o.scopes), "state": state, "nonce": nonce,
            "code_challenge": s256(verifier), "code_challenge_method": "S256",
        })  # fmt: skip
        separator = "&" if urlsplit(endpoint).query else "?"
        return Started(f"{endpoint}{separator}{query}", state, nonce, verifier)

    def finish(
        self, params: Mapping[str, str], *, redirect_uri: str, nonce: str, verifier: str
    ) -> Upstream:
        error = params.get("error")
        if error:
            code = "".join(ch for ch in error[:64] if ch.isalnum() or ch in "_-")
            log.info("upstream %s: the provider answered error=%s", self.id, code)
            raise VerificationError(f"{self.name} did not sign you in ({code}). {_AGAIN}")
        if "iss" in params and params["iss"] != self.options.issuer:  # RFC 9207 section 2.4
            raise self._unverifiable("the callback's iss is another issuer")
        code = params.get("code", "")
        if not code or len(code) > 4096:
            raise VerificationError(f"{self.name} sent no code back. {_AGAIN}")
        tokens = self._exchange(code, redirect_uri, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise self._unverifiable("the token response has no id_token")
        return self.upstream(self.verify_id_token(id_token, nonce))

    def _exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (RFC 6749 section 4.1.3, RFC 7636 4.5)."""
        o = self.options
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}  # fmt: skip
        auth = None
        if o.client_secret is None:
            form["client_id"] = o.client_id
        else:  # RFC 6749 section 2.3.1: both parts form-urlencoded before Basic
            auth = (_form_encode(o.client_id), _form_encode(o.client_secret))
        endpoint = self.endpoints().token
        try:
            with requests.post(endpoint, data=form, auth=auth, timeout=o.timeout,
                               verify=self._verify_tls, allow_redirects=False, stream=True,
                               headers={"Accept": "application/json"}) as resp:  # fmt: skip
                body = resp.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
                status = resp.status_code
        except (requests.RequestException, OSError, ValueError) as exc:
            raise self._unreachable(f"token endpoint {endpoint}: {type(exc).__name__}") from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise self._unverifiable("the token response is too large")
        try:
            answer = strictjson.loads(body, "token response")
        except ValidationError:
            answer = None
        if status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise self._unverifiable(f"the token endpoint answered {status} {str(error)[:64]}")
        return answer

    # -- the ID token --------------------------------------------------------------------------
    def verify_id_token(self, token: str, nonce: str, now: float | None = None) -> dict[str, Any]:
        """The claims of ``token`` once every check of the module docstring passed."""
        o = self.options
        now = time.time() if now is None else now
        try:
            verify_signature(token, self.provider)
            claims = unverified_claims(token)  # the very segment the signature covers
            exp = numeric_date(claims, "exp", required=True)
            iat = numeric_date(claims, "iat", required=True)
            nbf = numeric_date(claims, "nbf")
        except IssuerError as exc:
            raise self._unverifiable(exc.detail) from None
        if claims.get("iss") != o.issuer:
            raise self._unverifiable("the ID token's iss is another issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if o.client_id not in audiences:
            raise self._unverifiable("the ID token is for another audience")
        if len(audiences) > 1 and claims.get("azp") != o.client_id:
            raise self._unverifiable("the ID token has several audiences and another azp")
        assert exp is not None and iat is not None
        if exp <= now:
            raise self._unverifiable("the ID token has expired")
        if iat > now + CLOCK_SKEW or (nbf is not None and nbf > now + CLOCK_SKEW):
            raise self._unverifiable("the ID token is not valid yet")
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
            raise self._unverifiable("the ID token's nonce is not the one sent")
        return claims

    def upstream(self, claims: Mapping[str, Any]) -> Upstream:
        """The person the verified ``claims`` name (email rule: module docstring)."""
        o, where = self.options, f"{self.name}"
        subject = check_subject(claims.get("sub"), where)
        email = claims.get("email")
        if email is None:
            raise VerificationError(
                f"{self.name} did not tell us your email address, which a signing certificate "
                "needs. Ask an administrator."
            )
        email = check_email(email, where)
        if claims.get("email_verified") is not True:
            domain = email.rsplit("@", 1)[1].lower()
            if domain not in o.unverified_email_domains:
                raise VerificationError(
                    f"{self.name} has not verified your email address {email}, so it cannot be "
                    "your signing identity. Verify it there, or ask an administrator."
                )
        groups = claims.get(o.groups_claim)
        username = claims.get(o.username_claim)
        return Upstream(
            connector=self.id,
            subject=subject,
            email=email,
            name=username if isinstance(username, str) and 0 < len(username) <= 256 else email,
            groups=clean_groups(groups) if isinstance(groups, list) else (),
        )


_AGAIN = "Start again from the program you are signing in to."


def _form_encode(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text)
