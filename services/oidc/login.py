"""The authorization endpoint's login page, CSRF protection, throttling and lockout.

``GET {iss}/auth`` validates the OAuth request (client, loopback redirect, ``openid`` scope, S256
PKCE) with authlib and shows a plain HTML form; ``POST`` to the same URL checks the CSRF token,
then the password, then issues the code (302 to the loopback redirect, or the OOB code page).
Errors before the redirect URI is known to be safe are shown as a page and never redirected.

CSRF: a random token in a ``SameSite=Strict``, ``HttpOnly`` cookie (``__Host-`` prefixed and
``Secure`` when the issuer is https) must equal the hidden form field (double submit, compared in
constant time); a forged cross-site POST carries no cookie and is refused before any password check.

Throttling (docs/oidc.md "Throttling"): failures count per account name *and client address*
(``acct:<address> <hash of the name>``) and per address (``addr:<address>``). ``login_max_failures`` failures
of one account from one address are checked freely; after that each attempt from that address
must wait ``login_backoff_seconds``, doubling with every further failure up to
``login_lockout_seconds``. The same applies to an address as a whole after
``login_ip_max_failures`` failures on any accounts, which stops one address from guessing many
accounts. The owner on another address is never held up by someone else's guesses. Unknown
names count like real ones, so the answers do not reveal which accounts exist.

An attempt is admitted and counted in one atomic database step *before* the password is checked
(``Store.take_attempt``), and given back on success (``Store.forgive``): of simultaneous
guesses, exactly as many are checked as the limits allow. A refused attempt gets 429 with
``Retry-After`` and is not checked. Every attempt is written to the audit log (``oidc_audit``)
without the password; a name that is not an account is logged as a short hash, because people
type passwords into the username field.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Flask, Response, request

from sigstack.protocol.errors import (
    AuthenticationError,
    RateLimitedError,
    UnavailableError,
    VerificationError,
)
from sigstack.services.runtime.errors import headers_of, status_of

from . import pages, passwords, signin
from .connectors.base import LOCAL, PasswordConnector
from .connectors.registry import Method, Registry
from .issuer import OOB_REDIRECT, Issuer
from .store import Identity, Limit

audit_log = logging.getLogger("sigstack.oidc.audit")


# What ``authenticate`` raises: a wrong name or password (401), a throttled attempt (429), a
# directory that cannot be reached (503) or an upstream identity that is unfit (400).
LoginRefused = (AuthenticationError, RateLimitedError, UnavailableError, VerificationError)
Refusal = AuthenticationError | RateLimitedError | UnavailableError | VerificationError


def refused_page(page: Response, refused: Refusal) -> Response:
    """``page`` (the form again, with the reason) with the refusal's status and headers, as the
    runtime maps them (``services.runtime.errors``)."""
    page.status_code = status_of(refused)
    page.headers.update(headers_of(refused))
    return page


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


def verify_csrf(issuer: Issuer) -> None:
    """Return if the form's CSRF token equals its cookie (double submit), else raise
    ``VerificationError``; the caller shows the form again."""
    cookie = request.cookies.get(_cookie_name(issuer), "")
    form = request.form.get("csrf_token", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), form.encode()):
        raise VerificationError("the form's CSRF token does not match its cookie")


def csrf_refused(issuer: Issuer, event: str, username: str | None = None) -> bool:
    """Whether the posted form fails ``verify_csrf``; a failure is audited under ``event`` with
    the typed ``username`` as ``logged_name`` shows it (none for a form without one)."""
    try:
        verify_csrf(issuer)
    except VerificationError:
        shown = None if username is None else logged_name(issuer, username.strip()[:128])
        issuer.store.audit(event, "csrf", username=shown, ip=client_ip())
        return True
    return False


# -- throttling ----------------------------------------------------------------------------------
def client_ip() -> str:
    return (request.remote_addr or "unknown")[:64]


def _name_hash(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def account_limit(issuer: Issuer, username: str, ip: str, connector: str | None = None) -> Limit:
    """The throttle of one account name (of a connector, or local) at one address. The key holds
    a hash of the name, not the name: what was typed may be a password."""
    s = issuer.settings
    name = username.lower() if connector is None else f"{connector}\x00{username.lower()}"
    key = f"acct:{ip} {_name_hash(name)[:32]}"
    return Limit(key, s.login_max_failures, s.login_backoff, s.login_lockout, s.login_window)


def address_limit(issuer: Issuer, ip: str) -> Limit:
    s = issuer.settings
    key = f"addr:{ip}"
    return Limit(key, s.login_ip_max_failures, s.login_backoff, s.login_lockout, s.login_window)


def logged_name(issuer: Issuer, username: str, user: Mapping[str, Any] | None = None) -> str:
    """How a typed username appears in the audit log: an account's own name, else a short hash
    (it may be a typo, a probe, or a password typed into the wrong field)."""
    if user is None and username:
        user = issuer.store.user_by_name(username)
    if user is not None:
        return str(user["username"])
    if not username:
        return ""
    return "unknown:" + _name_hash(username)[:12]


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    return f"{-(-seconds // 60)} minutes"


def _admit(issuer: Issuer, limits: list[Limit], event: str, shown: str) -> int:
    """Take one attempt under ``limits`` (``Store.take_attempt``): the failures counted so far,
    or ``RateLimitedError`` with the wait."""
    store, ip = issuer.store, client_ip()
    wait, failures = store.take_attempt(limits)
    if wait:
        store.audit(event, "throttled", username=shown, ip=ip, detail={"retry_after": wait})
        audit_log.warning("%s throttled username=%s ip=%s wait=%d", event, shown, ip, wait)
        raise RateLimitedError(
            f"Too many failed sign-ins. Wait {_wait_text(wait)} and try again, "
            "or ask an administrator.",
            retry_after=wait,
        )
    return failures


def authenticate(
    issuer: Issuer,
    username: str,
    password: str,
    *,
    event: str,
    connector: PasswordConnector | None = None,
) -> Identity:
    """Check a username and password under throttling, against the local accounts or
    ``connector``; raise ``RateLimitedError`` for an attempt the throttle refuses,
    ``AuthenticationError`` for a wrong name or password (the rest: ``LoginRefused``)."""
    if connector is not None:
        return _authenticate_upstream(issuer, connector, username, password, event=event)
    store, ip = issuer.store, client_ip()
    username = username.strip()[:128]
    user = store.user_by_name(username) if username else None
    shown = logged_name(issuer, username, user)
    account, address = account_limit(issuer, username, ip), address_limit(issuer, ip)
    failures = _admit(issuer, [account, address], event, shown)
    try:
        if user is None or user["disabled"]:
            passwords.burn_time(password)
            raise VerificationError("no such account")
        passwords.verify_password(password, user["password_hash"])
    except VerificationError:
        store.audit(event, "failure", username=shown, ip=ip, detail={"failures": failures})
        audit_log.warning("%s failed username=%s ip=%s failures=%d", event, shown, ip, failures)
        raise AuthenticationError("The username or password is not correct.") from None
    store.forgive(account.key, address)
    store.audit(event, "success", username=shown, ip=ip)
    audit_log.info("%s succeeded username=%s ip=%s", event, shown, ip)
    return Identity(user["sub"], user["email"], "user", user["username"])


def _authenticate_upstream(
    issuer: Issuer, connector: PasswordConnector, username: str, password: str, *, event: str
) -> Identity:
    """``authenticate`` against a directory: the same throttle (its own account counts per
    connector, the address count shared), the attempt given back when the directory could not
    be asked. The typed name is logged as a hash until the directory vouches for it."""
    store, ip = issuer.store, client_ip()
    username = username.strip()[:256]
    typed = f"{connector.id}:unknown:{_name_hash(username)[:12]}" if username else ""
    account = account_limit(issuer, username, ip, connector.id)
    address = address_limit(issuer, ip)
    failures = _admit(issuer, [account, address], event, typed)
    detail: dict[str, Any] = {"connector": connector.id}
    try:
        upstream = connector.authenticate(username, password)
    except AuthenticationError:
        store.audit(
            event, "failure", username=typed, ip=ip, detail={**detail, "failures": failures}
        )
        audit_log.warning("%s failed username=%s ip=%s failures=%d", event, typed, ip, failures)
        raise
    except UnavailableError:
        store.refund([account, address])
        store.audit(event, "unavailable", username=typed, ip=ip, detail=detail)
        audit_log.warning("%s directory unavailable connector=%s ip=%s", event, connector.id, ip)
        raise
    except VerificationError:  # the password was right; what the directory holds is unfit
        store.forgive(account.key, address)
        store.audit(event, "refused", username=typed, ip=ip, detail=detail)
        audit_log.warning("%s refused connector=%s ip=%s", event, connector.id, ip)
        raise
    store.forgive(account.key, address)
    identity = store.identity(store.connector_identity(upstream))
    assert identity is not None
    store.audit(event, "success", username=identity.name, ip=ip, detail=detail)
    audit_log.info("%s succeeded username=%s ip=%s", event, identity.name, ip)
    return identity


def authenticate_form(
    issuer: Issuer, connectors: Registry, method: Method, username: str, *, event: str
) -> Identity:
    """``authenticate`` the posted form's password for ``username`` against the way of signing in
    ``method`` names: the local accounts or a directory (a password method)."""
    return authenticate(
        issuer,
        username,
        request.form.get("password", ""),
        event=event,
        connector=None if method.id == LOCAL else connectors.password(method.id),
    )


# -- the authorization endpoint ------------------------------------------------------------------
def register(app: Flask, server: Any, issuer: Issuer, connectors: Registry) -> None:
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
        method = connectors.method(request.args.get("connector_id", ""))
        several = len(connectors.methods()) > 1
        body = pages.login(
            action=request.full_path.rstrip("?"),
            csrf=csrf,
            client_id=request.args.get("client_id", ""),
            issuer=issuer.url,
            username=username,
            error=error,
            method=method.name if method is not None and several else None,
            other_ways=signin.url_without(f"{prefix}/auth", "connector_id") if several else None,
        )
        return set_csrf_cookie(html(body, status), issuer, csrf)

    @app.get(f"{prefix}/auth")
    def authorize_form() -> Response:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _oauth_error(error)
        if request.args.get("login"):  # back from an upstream provider (signin.py)
            identity = signin.finished_authorization(issuer)
            if isinstance(identity, Response):
                return identity
            resp: Response = server.create_authorization_response(grant_user=identity, grant=grant)
            return resp
        method = signin.chosen_method(connectors, request.args.get("connector_id", ""))
        if isinstance(method, Response):
            return method
        if method is None:
            return signin.choose_page(issuer, connectors)
        redirect = connectors.redirect(method.id)
        if redirect is not None:
            return signin.start(issuer, redirect, "auth", request.query_string.decode("ascii"))
        return _login_page(csrf_token(issuer))

    @app.post(f"{prefix}/auth")
    def authorize_submit() -> Response:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _oauth_error(error)
        method = signin.chosen_method(connectors, request.args.get("connector_id", ""))
        if method is None or isinstance(method, Response) or method.kind != "password":
            return html(pages.error("Sign-in refused", "Choose a way to sign in first."), 400)
        username = request.form.get("username", "")
        if csrf_refused(issuer, "login", username):
            return _login_page(
                csrf_token(issuer),
                username=username,
                status=400,
                error="The form expired or did not come from this page. Please sign in again.",
            )
        try:
            identity = authenticate_form(issuer, connectors, method, username, event="login")
        except LoginRefused as refused:
            page = _login_page(csrf_token(issuer), username=username, error=refused.message)
            return refused_page(page, refused)
        resp: Response = server.create_authorization_response(grant_user=identity, grant=grant)
        return resp
