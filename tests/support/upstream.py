"""A throw-away upstream OpenID Connect provider for the connector tests: ``OIDCIssuer``'s
discovery and JWKS plus an authorization endpoint (it signs everyone in at once and redirects
back with a code) and a token endpoint that checks what a correct client sends (the code once,
the same redirect_uri, the PKCE S256 verifier, the client's credentials in HTTP Basic) and
answers an ID token whose claims the test can change (``claims`` merged in last, so they can
replace ``nonce``, ``aud``, ``exp``...; ``drop`` removes some; ``sign`` replaces the signing).

The end-to-end tests use a real second sigstack issuer instead; this one is for the refusals a
real provider never produces (a wrong nonce, an expired token, another audience...). What it
received is kept (``authorized``, ``token_requests``) for the tests to look at.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from werkzeug.wrappers import Request, Response

from tests.support.oidc import OIDCIssuer

CLIENT_ID, CLIENT_SECRET = "sigstack-test", "upstream-secret-1"


class UpstreamProvider(OIDCIssuer):
    def __init__(self) -> None:
        super().__init__(algs=("RS256",))
        self.discovery_extra = {
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "code_challenge_methods_supported": ["S256"],
        }
        self._codes: dict[str, dict[str, str]] = {}
        self.reset()

    def reset(self) -> None:
        """Back to a provider that signs carol in correctly (tests share one provider)."""
        self.claims: dict[str, Any] = {
            "sub": "up-carol-1",
            "email": "carol@corp.example",
            "email_verified": True,
            "preferred_username": "carol",
            "groups": ["signers", "staff"],
        }
        self.drop: tuple[str, ...] = ()
        self.sign: Callable[[dict[str, Any]], str] | None = None  # replaces the normal signing
        self.authorized: list[dict[str, str]] = []  # the authorization requests, as received
        self.token_requests: list[dict[str, str]] = []
        self.callback_extra: dict[str, str] = {}  # added to the redirect back (error=..., iss=...)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        if req.path == "/authorize":
            resp = self._authorize(req)
        elif req.path == "/token" and req.method == "POST":
            resp = self._token(req)
        else:
            return super()._wsgi(environ, start_response)
        return resp(environ, start_response)

    def _authorize(self, req: Request) -> Response:
        params = dict(req.args.items())
        self.authorized.append(params)
        if "redirect_uri" not in params:
            return self._error("invalid_request")
        code = secrets.token_urlsafe(16)
        self._codes[code] = params
        back = {"code": code, "state": params.get("state", ""), **self.callback_extra}
        if "error" in self.callback_extra:
            back.pop("code")
        return Response(
            status=302, headers={"Location": f"{params['redirect_uri']}?{urlencode(back)}"}
        )

    def _error(self, error: str, status: int = 400) -> Response:
        return Response(json.dumps({"error": error}), status=status, mimetype="application/json")

    def _token(self, req: Request) -> Response:
        form = dict(req.form.items())
        self.token_requests.append(form)
        auth = req.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return self._error("invalid_client", 401)
        params = self._codes.pop(form.get("code", ""), None)
        if params is None or form.get("grant_type") != "authorization_code":
            return self._error("invalid_grant")
        if form.get("redirect_uri") != params["redirect_uri"]:
            return self._error("invalid_grant")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != params.get("code_challenge"):
            return self._error("invalid_grant")
        claims = {"nonce": params.get("nonce"), "aud": params["client_id"], **self.claims}
        for name in self.drop:
            claims.pop(name, None)
        if self.sign is not None:
            id_token = self.sign(claims)
        else:
            id_token = self.token(**claims)
        body = {"access_token": "opaque", "token_type": "Bearer", "id_token": id_token}
        return Response(json.dumps(body), mimetype="application/json",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def connector_config(upstream: UpstreamProvider, **extra: Any) -> dict[str, Any]:
    """The ``connectors`` entry of a confidential client of ``upstream``; ``extra`` adds to it."""
    return {"type": "oidc", "id": "corp", "name": "Corp SSO", "issuer": upstream.url,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **extra}  # fmt: skip


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a URL (each name once)."""
    return {k: v[0] for k, v in parse_qs(location.partition("?")[2]).items()}
