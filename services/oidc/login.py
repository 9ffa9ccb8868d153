"""The authorization endpoint's login page, CSRF protection, throttling and lockout.

``GET {iss}/auth`` validates the OAuth request (client, loopback redirect, ``openid`` scope, S256
PKCE) with authlib and shows a plain HTML form; ``POST`` to the same URL checks the CSRF token,
then the password, then issues the code (302 to the loopback redirect, or the OOB code page).
Errors before the redirect URI is known to be safe are shown as a page and never redirected.

CSRF: a random token in a ``SameSite=Strict``, ``HttpOnly`` cookie (``__Host-`` prefixed and
``Secure`` when the issuer is https) must equal the hidden form field (double submit, compared in
constant time); a forged cross-site POST carries no cookie and is refused before any password check.

Throttling: every failed password counts against the account name (known or not, so lockout does
not reveal which accounts exist) and against the client address. ``login_max_failures`` failures
within ``login_window_seconds`` lock the account name for ``login_lockout_seconds``;
``login_ip_max_failures`` do the same for the address. A locked name is refused even with the right
password. Every attempt is written to the audit log (``oidc_audit``) without the password.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Flask, Response, request

from . import pages, passwords
from .issuer import OOB_REDIRECT, Issuer
from .store import Identity

audit_log = logging.getLogger("sigstack.oidc.audit")


class LoginRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, headers=pages.html_headers())


# -- CSRF ----------------------------------------------------------------------------------------
def _cookie_name(issuer: Issuer) -> str:
    return "__Host-sigstack_oidc_csrf" if issuer.url.startswith("https:") else "sigstack_oidc_csrf"


def csrf_token(issuer: Issuer) -> str:
    """The browser's current token (reused so that several tabs keep working), or a new one."""
    current = request.cookies.get(_cookie_name(issuer), "")
    if 32 <= len(current) <= 64 and current.replace("-", "").replace("_", "").isalnum():
        return current
    return secrets.token_urlsafe(32)


def set_csrf_cookie(resp: Response, issuer: Issuer, token: str) -> Response:
    secure = issuer.url.startswith("https:")
    resp.set_cookie(
        _cookie_name(issuer), token, httponly=True, samesite="Strict", secure=secure, path="/"
    )
    return resp


def csrf_ok(issuer: Issuer) -> bool:
    cookie = request.cookies.get(_cookie_name(issuer), "")
    form = request.form.get("csrf_token", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), form.encode())


# -- throttling ----------------------------------------------------------------------------------
def client_ip() -> str:
    return (request.remote_addr or "unknown")[:64]


def _locked(issuer: Issuer, key: str) -> bool:
    state = issuer.store.throttle_state(key)
    return bool(state and state["locked_until"] and state["locked_until"] > issuer.store.now())


def authenticate(issuer: Issuer, username: str, password: str, *, event: str) -> Identity:
    """Check a username and password under throttling; raise ``LoginRefused`` on any failure."""
    s, store, ip = issuer.settings, issuer.store, client_ip()
    username = username.strip()[:128]
    user_key, ip_key = f"user:{username.lower()}", f"ip:{ip}"
    if _locked(issuer, ip_key) or _locked(issuer, user_key):
        store.audit(event, "locked", username=username, ip=ip)
        audit_log.warning("%s locked username=%r ip=%s", event, username, ip)
        raise LoginRefused(
            "Too many failed sign-ins. This sign-in is locked for a while; "
            "try again later or ask an administrator.",
            429,
        )
    user = store.user_by_name(username) if username else None
    if user is None or user["disabled"]:
        passwords.burn_time(password)
        ok = False
    else:
        ok = passwords.check_password(password, user["password_hash"])
    if not ok:
        count = store.record_failure(
            user_key, s.login_window, s.login_max_failures, s.login_lockout
        )
        store.record_failure(ip_key, s.login_window, s.login_ip_max_failures, s.login_lockout)
        store.audit(event, "failure", username=username, ip=ip, detail={"failures": count})
        audit_log.warning("%s failed username=%r ip=%s failures=%d", event, username, ip, count)
        if count >= s.login_max_failures:
            raise LoginRefused(
                "Too many failed sign-ins. This sign-in is locked for a while; "
                "try again later or ask an administrator.",
                429,
            )
        raise LoginRefused("The username or password is not correct.", 401)
    assert user is not None
    store.clear_failures(user_key)
    store.audit(event, "success", username=username, ip=ip)
    audit_log.info("%s succeeded username=%r ip=%s", event, username, ip)
    return Identity(user["sub"], user["email"], "user", user["username"])


# -- the authorization endpoint ------------------------------------------------------------------
def register(app: Flask, server: Any, issuer: Issuer) -> None:
    prefix = issuer.path_prefix

    def _oauth_error(error: OAuth2Error) -> Response:
        redirect = getattr(error, "redirect_uri", None)
        if redirect and redirect != OOB_REDIRECT:
            resp: Response = server.handle_error_response(None, error)
            return resp
        description = error.get_error_description() or error.error
        return html(pages.error("Sign-in request refused", f"{error.error}: {description}"), 400)

    def _login_page(
        csrf: str, *, username: str = "", error: str | None = None, status: int = 200
    ) -> Response:
        body = pages.login(
            action=request.full_path.rstrip("?"),
            csrf=csrf,
            client_id=request.args.get("client_id", ""),
            issuer=issuer.url,
            username=username,
            error=error,
        )
        return set_csrf_cookie(html(body, status), issuer, csrf)

    @app.get(f"{prefix}/auth")
    def authorize_form() -> Response:
        try:
            server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _oauth_error(error)
        return _login_page(csrf_token(issuer))

    @app.post(f"{prefix}/auth")
    def authorize_submit() -> Response:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _oauth_error(error)
        username = request.form.get("username", "")
        if not csrf_ok(issuer):
            issuer.store.audit("login", "csrf", username=username[:128], ip=client_ip())
            return _login_page(
                csrf_token(issuer),
                username=username,
                status=400,
                error="The form expired or did not come from this page. Please sign in again.",
            )
        try:
            identity = authenticate(
                issuer, username, request.form.get("password", ""), event="login"
            )
        except LoginRefused as refused:
            return _login_page(
                csrf_token(issuer), username=username, error=refused.message, status=refused.status
            )
        resp: Response = server.create_authorization_response(grant_user=identity, grant=grant)
        return resp
