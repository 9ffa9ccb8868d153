"""A throw-away OpenID Connect provider for tests, and the OAuth bits clients compute.

``OIDCIssuer`` serves discovery and a JWKS over HTTP on 127.0.0.1 and mints ID tokens signed with
its keys (every JWS algorithm Fulcio accepts), with knobs for how the documents answer (caching,
status, slowness); ``GITHUB_CLAIMS`` and ``GITLAB_CLAIMS`` are the claims of CI providers' tokens.
``pkce``, ``claims_of`` and ``csrf_from`` are what a client does with a code flow, an ID token
and the sigstack issuer's login page; that issuer itself (services/oidc) is started by the tests
that test it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from werkzeug.wrappers import Request, Response

from tests.support.servers import serve_wsgi

ALGS = get_default_algorithms()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _new_key(alg: str) -> Any:
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


class OIDCIssuer:
    """A minimal OIDC provider: discovery, JWKS, and ``token(...)`` to mint signed ID tokens."""

    def __init__(self, algs: tuple[str, ...] = ("RS256", "ES256", "EdDSA")) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.algs = list(algs)
        self.hits = {"discovery": 0, "jwks": 0}
        self.redirect_to: str | None = None
        # How discovery and the JWKS answer (cache and fetch tests).
        self.cache_control: str | None = None  # Cache-Control header of both documents
        self.jwks_status = 200
        self.jwks_padding = 0  # bytes of whitespace after the JWKS JSON
        self.jwks_delay = 0.0  # seconds before the JWKS answer starts
        self.jwks_drip = 0.0  # seconds the JWKS body takes to arrive, a space every 50 ms first
        self.jwks_document: Any = None  # served instead of the real JWKS when set
        self.discovery_extra: dict[str, Any] = {}  # merged into the discovery document
        for alg in algs:
            self.add_key(alg)
        self.http = serve_wsgi(self._wsgi)
        self.url = self.http.url

    def add_key(self, alg: str, publish: bool = True) -> str:
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = (alg, _new_key(alg), publish)  # type: ignore[assignment]
        return kid

    def remove_key(self, kid: str) -> None:
        """Take a key out of the JWKS (as after a rotation and the old key's deletion)."""
        del self.keys[kid]

    def publish_all(self) -> None:
        self.keys = {k: (a, key, True) for k, (a, key, *_) in self.keys.items()}  # type: ignore[misc]

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, (alg, key, *rest) in self.keys.items():
            if rest and not rest[0]:
                continue
            jwk = ALGS[alg].to_jwk(key.public_key(), as_dict=True)
            jwk.update(kid=kid, alg=alg, use="sig")
            out.append(jwk)
        return {"keys": out}

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        suffix = "/.well-known/openid-configuration"
        if self.redirect_to and req.path.endswith(suffix):
            resp = Response(status=302, headers={"Location": self.redirect_to})
        elif req.path.endswith(suffix):
            self.hits["discovery"] += 1
            iss = self.url + req.path[: -len(suffix)]
            doc = {
                "issuer": iss,
                "jwks_uri": iss + "/jwks",
                "id_token_signing_alg_values_supported": self.algs + ["HS256", "none"],
                **self.discovery_extra,
            }
            resp = Response(json.dumps(doc), mimetype="application/json")
        elif req.path.endswith("/jwks"):
            self.hits["jwks"] += 1
            time.sleep(self.jwks_delay)
            jwks = self.jwks() if self.jwks_document is None else self.jwks_document
            body = json.dumps(jwks).encode() + b" " * self.jwks_padding
            data = self._drip(body) if self.jwks_drip else body
            resp = Response(data, status=self.jwks_status, mimetype="application/json")
        else:
            resp = Response("not found", status=404)
        if self.cache_control is not None:
            resp.headers["Cache-Control"] = self.cache_control
        return resp(environ, start_response)

    def _drip(self, body: bytes) -> Any:
        stop = time.monotonic() + self.jwks_drip
        while time.monotonic() < stop:
            yield b" "
            time.sleep(0.05)
        yield body

    def kid_for(self, alg: str) -> str:
        return next(k for k, (a, *_rest) in self.keys.items() if a == alg)

    def token(
        self,
        sub: str = "alice",
        *,
        alg: str = "RS256",
        kid: str | None = None,
        aud: str | list[str] = "sigstore",
        exp_in: float = 300,
        iss: str | None = None,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url + iss if iss and iss.startswith("/") else iss or self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + exp_in,
        }  # fmt: skip
        payload.update(claims)
        for name in drop:
            payload.pop(name, None)
        kid = kid or self.kid_for(alg)
        key = self.keys[kid][1]
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})

    def raw_token(self, payload: bytes, *, alg: str = "RS256", kid: str | None = None) -> str:
        """A token signed by this issuer over ``payload`` exactly as given (not re-encoded), for
        claims that ``json.dumps`` cannot write, such as ``1e999``."""
        kid = kid or self.kid_for(alg)
        header = json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode()
        signing_input = f"{_b64url(header)}.{_b64url(payload)}"
        signature = ALGS[alg].sign(signing_input.encode(), self.keys[kid][1])
        return f"{signing_input}.{_b64url(signature)}"

    def email_token(self, email: str = "alice@example.com", **kw: Any) -> str:
        kw.setdefault("email_verified", True)
        return self.token(sub=kw.pop("sub", "1234"), email=email, **kw)

    def close(self) -> None:
        self.http.close()


GITHUB_CLAIMS = {
    "job_workflow_ref": "octo/app/.github/workflows/rel.yml@refs/tags/v1",
    "job_workflow_sha": "aaa", "sha": "bbb", "event_name": "push", "repository": "octo/app",
    "workflow": "rel", "ref": "refs/tags/v1", "runner_environment": "github-hosted",
    "repository_id": "42", "repository_owner": "octo", "repository_owner_id": "7",
    "repository_visibility": "public", "workflow_ref": "octo/app/.github/workflows/rel.yml@refs/tags/v1",
    "workflow_sha": "ccc", "run_id": 99, "run_attempt": "1",
}  # fmt: skip
GITLAB_CLAIMS = {
    "ci_config_ref_uri": "gitlab.internal/grp/proj//.gitlab-ci.yml@refs/heads/main",
    "ci_config_sha": "ddd", "runner_environment": "self-hosted", "project_path": "grp/proj",
    "sha": "eee", "ref_type": "branch", "ref": "main", "project_id": "5",
    "namespace_path": "grp", "namespace_id": "3", "pipeline_source": "push", "job_id": "77",
    "project_visibility": "internal", "environment": "prod",
}  # fmt: skip


def pkce() -> tuple[str, str]:
    """(code_verifier, its S256 code_challenge), RFC 7636 section 4."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified."""
    return _segment(token, 1)


def header_of(token: str) -> dict[str, Any]:
    """A JWT's header, unverified."""
    return _segment(token, 0)


def csrf_from(html: str) -> str:
    """The CSRF token of the sigstack issuer's login page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)
