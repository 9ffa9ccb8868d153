"""Choosing a way to sign in, and the round trip through an upstream OpenID Connect provider
(docs/oidc.md, "Connectors"; issue 16).

The authorization endpoint and the device page offer every configured method (login.py,
device.py): with one method it is used at once, with several the person chooses and the choice
travels as ``connector_id`` in the query (cosign can send it too). A password method shows the
usual form; a redirect method (``RedirectConnector``) goes upstream:

1. ``start``: the connector makes a state, a nonce and a PKCE verifier; they are stored
   (``oidc_upstream_logins``) with a hash of a random browser cookie (``SameSite=Lax``: the
   callback arrives as a cross-site navigation) and what to continue with, then the browser is
   sent to the provider.
2. ``{issuer}/callback`` (the redirect URI registered at the provider, fixed by ``issuer_url``):
   the state is taken once, its browser cookie must match (constant time), the connector checks
   the answer (code, PKCE, ID token, nonce, email), the person gets their ``sub``
   (``Store.connector_identity``) and the browser goes back, with a one-time ``login`` token, to
3. ``/auth?...&login=`` (a code is issued for the very authorization request that was started,
   its query compared) or ``/device?user_code=...&login=`` (the person sees who they are and
   approves or denies; the POST takes the token).

Every refusal is a page that says what to do and issues nothing; nothing here keeps request
state in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from urllib.parse import parse_qsl, quote, urlencode

from flask import Flask, Response, request

from sigstack.protocol.errors import NotFoundError, UnavailableError, VerificationError
from sigstack.services.runtime.errors import status_of

from . import pages
from .connectors.base import RedirectConnector
from .connectors.registry import Method, Registry
from .issuer import Issuer
from .store import Identity

audit_log = logging.getLogger("sigstack.oidc.audit")

PENDING_LIFETIME = 600  # seconds a person has at the upstream provider
FINISH_LIFETIME = 120  # seconds from the callback to the last step
AGAIN = "Start again from the program you are signing in to."


def html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, headers=pages.html_headers())


def refused(message: str, status: int = 400) -> Response:
    return html(pages.error("Sign-in refused", message), status)


def url_without(path: str, *names: str) -> str:
    """``path`` with this request's query minus ``names``."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in names]
    return f"{path}?{urlencode(kept)}" if kept else path


def callback_uri(issuer: Issuer) -> str:
    return issuer.endpoint("/callback")


# -- the browser binding -------------------------------------------------------------------------
def _cookie_name(issuer: Issuer) -> str:
    https = issuer.url.startswith("https:")
    return "__Host-sigstack_oidc_upstream" if https else "sigstack_oidc_upstream"


def browser_id(issuer: Issuer) -> str | None:
    value = request.cookies.get(_cookie_name(issuer), "")
    ok = 32 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()
    return value if ok else None


def _same_browser(issuer: Issuer, stored_hash: str) -> bool:
    value = browser_id(issuer)
    if value is None:
        return False
    digest = hashlib.sha256(value.encode()).hexdigest()
    return hmac.compare_digest(digest.encode(), stored_hash.encode())


# -- choosing ------------------------------------------------------------------------------------
def chosen_method(connectors: Registry, chosen: str) -> Method | Response | None:
    """The method ``chosen`` names, else the only one there is, else None (the person chooses);
    an error page when there is no method at all. An unknown id is ignored, as it always was
    (cosign may send a ``connector_id`` meant for Dex)."""
    methods = connectors.methods()
    method = connectors.method(chosen) if chosen else None
    if method is not None:
        return method
    if not methods:
        return refused("No way for people to sign in is configured here. Ask an administrator.")
    return methods[0] if len(methods) == 1 else None


def choose_page(issuer: Issuer, connectors: Registry) -> Response:
    base = url_without(f"{issuer.path_prefix}/auth", "connector_id", "login")
    sep = "&" if "?" in base else "?"
    links = [(f"{base}{sep}connector_id={quote(m.id)}", m.name) for m in connectors.methods()]
    body = pages.choose(client_id=request.args.get("client_id", ""), issuer=issuer.url,
                        methods=links)  # fmt: skip
    return html(body)


# -- 1. start ------------------------------------------------------------------------------------
def start(
    issuer: Issuer, connector: RedirectConnector, purpose: str, continue_with: str
) -> Response:
    """Send the browser to ``connector``'s provider (see the module docstring)."""
    try:
        started = connector.start(callback_uri(issuer))
    except (UnavailableError, VerificationError) as exc:
        return refused(exc.message, status_of(exc))
    browser = browser_id(issuer) or secrets.token_urlsafe(32)
    issuer.store.save_upstream_login(
        started.state, browser, connector_id=connector.id, nonce=started.nonce,
        code_verifier=started.verifier, purpose=purpose, request=continue_with,
        expires_at=issuer.store.now() + PENDING_LIFETIME,
    )  # fmt: skip
    resp = Response(status=302, headers=[*pages.html_headers(), ("Location", started.url)])
    resp.set_cookie(_cookie_name(issuer), browser, httponly=True, samesite="Lax",
                    secure=issuer.url.startswith("https:"), path="/", max_age=PENDING_LIFETIME)  # fmt: skip
    return resp


# -- 2. the callback -----------------------------------------------------------------------------
def register(app: Flask, issuer: Issuer, connectors: Registry) -> None:
    prefix = issuer.path_prefix

    @app.get(f"{prefix}/callback")
    def upstream_callback() -> Response:
        return _callback(issuer, connectors)


def _callback(issuer: Issuer, connectors: Registry) -> Response:
    store, ip = issuer.store, (request.remote_addr or "unknown")[:64]
    state = request.args.get("state", "")
    row = store.take_upstream_login(state) if 0 < len(state) <= 256 else None
    if row is None:
        store.audit("upstream_login", "unknown_state", ip=ip)
        return refused(f"This sign-in has expired, was used already or did not start here. {AGAIN}")
    connector_id = str(row["connector_id"])
    detail = {"connector": connector_id}
    if not _same_browser(issuer, str(row["browser_hash"])):
        store.audit("upstream_login", "other_browser", ip=ip, detail=detail)
        return refused(f"This sign-in was started in another browser. {AGAIN}")
    connector = connectors.redirect(connector_id)
    if connector is None:
        return refused(f"That way of signing in is no longer configured. {AGAIN}")
    try:
        upstream = connector.finish(request.args.to_dict(), redirect_uri=callback_uri(issuer),
                                    nonce=str(row["nonce"]), verifier=str(row["code_verifier"]))  # fmt: skip
    except (VerificationError, UnavailableError) as exc:
        store.audit("upstream_login", "failure", ip=ip, detail={**detail, "reason": exc.message})
        audit_log.warning("upstream_login failed connector=%s ip=%s", connector_id, ip)
        return refused(exc.message, status_of(exc))
    sub = store.connector_identity(upstream)
    name = f"{connector_id}:{upstream.name}"
    store.audit("upstream_login", "success", username=name, ip=ip, detail=detail)
    audit_log.info("upstream_login succeeded username=%s ip=%s", name, ip)
    finish = secrets.token_urlsafe(32)
    store.finish_upstream_login(state, sub, finish, FINISH_LIFETIME)
    prefix = issuer.path_prefix
    if row["purpose"] == "device":
        query = urlencode({"user_code": row["request"], "login": finish})
        location = f"{prefix}/device?{query}"
    else:
        location = f"{prefix}/auth?{row['request']}&{urlencode({'login': finish})}"
    return Response(status=302, headers=[*pages.html_headers(), ("Location", location)])


# -- 3. back at /auth or /device ------------------------------------------------------------------
def finished_authorization(issuer: Issuer) -> Identity | Response:
    """The identity of this request's ``login`` token, for the authorization request it was
    started for (the same query, less ``login``); taken once."""
    browser = browser_id(issuer)
    finish = request.args.get("login", "")
    row = (issuer.store.finished_upstream_login(finish, browser, take=True)
           if browser and len(finish) <= 128 else None)  # fmt: skip
    if row is None or row["purpose"] != "auth":
        return refused(f"This sign-in has expired or was used already. {AGAIN}")
    started = sorted(parse_qsl(str(row["request"]), keep_blank_values=True))
    now = sorted((k, v) for k, v in request.args.items(multi=True) if k != "login")
    if started != now:
        return refused(f"This sign-in belongs to another request. {AGAIN}")
    identity = issuer.store.identity(str(row["sub"]))
    if identity is None:
        raise NotFoundError("the signed-in identity is gone")
    return identity


def finished_device(issuer: Issuer, finish: str, user_code: str, *, take: bool) -> Identity | None:
    """The identity of a device page's ``login`` token for ``user_code`` (taken with ``take``)."""
    browser = browser_id(issuer)
    if not browser or not finish or len(finish) > 128:
        return None
    row = issuer.store.finished_upstream_login(finish, browser, take=take)
    if row is None or row["purpose"] != "device" or row["request"] != user_code:
        return None
    return issuer.store.identity(str(row["sub"]))
