"""The device flow's pages (RFC 8628 §3.3): ``{iss}/device``, where the person types the code
their terminal shows, signs in (a password form with the same throttling, CSRF and audit as the
login page, or an upstream connector through ``signin.py``) and approves or denies; failed code
guesses count against the address like wrong passwords. Also the routes: ``POST
{iss}/device/code`` (the endpoint of ``device.py``) and the page's GET and POST.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Flask, Response, request

from sigstack.protocol.errors import RateLimitedError

from . import pages, signin
from .connectors.registry import Registry
from .device import USER_CODE, normalise_user_code
from .grants import OIDCServer
from .issuer import Issuer
from .login import (
    LoginRefused,
    address_limit,
    authenticate_form,
    client_ip,
    csrf_refused,
    csrf_token,
    html,
    refused_page,
    set_csrf_cookie,
)
from .store import Identity


def register(app: Flask, server: OIDCServer, issuer: Issuer, connectors: Registry) -> None:
    prefix = issuer.path_prefix
    several = len(connectors.methods()) > 1

    @app.post(f"{prefix}/device/code")
    def device_authorization() -> Response:
        try:
            return server.device_response()
        except OAuth2Error as error:
            return server.error_response(error)

    def _page(
        csrf: str,
        *,
        user_code: str = "",
        username: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        chosen = request.args.get("connector_id", "")
        method = connectors.method(chosen) if chosen else None
        body = pages.device(
            action=f"{prefix}/device"
            + (f"?{urlencode({'connector_id': chosen})}" if chosen else ""),
            csrf=csrf,
            user_code=user_code,
            issuer=issuer.url,
            username=username,
            error=error,
            method=method.name if method is not None and several else None,
            other_ways=f"{prefix}/device" if several else None,
        )
        return set_csrf_cookie(html(body, status), issuer, csrf)

    def _choose(user_code: str, error: str | None = None, status: int = 200) -> Response:
        methods = [(m.id, m.name) for m in connectors.methods()]
        body = pages.device_choose(action=f"{prefix}/device", user_code=user_code,
                                   issuer=issuer.url, methods=methods, error=error)  # fmt: skip
        return html(body, status)

    def _pending(user_code: str) -> bool:
        row = issuer.store.device_by_user_code(user_code) if USER_CODE.match(user_code) else None
        return bool(row and row["status"] == "pending" and row["expires_at"] > issuer.store.now())

    @app.get(f"{prefix}/device")
    def device_form() -> Response:
        user_code = request.args.get("user_code", "")[:16]
        if request.args.get("login"):  # back from an upstream provider (signin.py)
            return _upstream_page(normalise_user_code(user_code), request.args["login"])
        method = signin.chosen_method(connectors, request.args.get("connector_id", ""))
        if isinstance(method, Response):
            return method
        if method is None:
            return _choose(user_code)
        redirect = connectors.redirect(method.id)
        if redirect is None:
            return _page(csrf_token(issuer), user_code=user_code)
        code = normalise_user_code(user_code)
        if not _pending(code):  # counted like a wrong code after a password (below)
            wait, _ = issuer.store.take_attempt([address_limit(issuer, client_ip())])
            issuer.store.audit("device", "unknown_code", ip=client_ip())
            if wait:
                limited = RateLimitedError("Too many wrong codes. Try again later.", wait)
                return refused_page(_choose(code, limited.message), limited)
            return _choose(code, "That code is unknown, already used or expired. Check the "
                           "code your device shows.", 400)  # fmt: skip
        return signin.start(issuer, redirect, "device", code)

    def _upstream_page(user_code: str, finish: str) -> Response:
        identity = signin.finished_device(issuer, finish, user_code, take=False)
        if identity is None or identity.connector is None:
            return signin.refused(f"This sign-in has expired or was used already. {signin.AGAIN}")
        method = connectors.method(identity.connector)
        csrf = csrf_token(issuer)
        body = pages.device_upstream(
            action=f"{prefix}/device", csrf=csrf, user_code=user_code, login=finish,
            email=identity.email, method=method.name if method else identity.connector,
            issuer=issuer.url,
        )  # fmt: skip
        return set_csrf_cookie(html(body), issuer, csrf)

    def _upstream_decision() -> Response | None:
        user_code = normalise_user_code(request.form.get("user_code", ""))
        decision = request.form.get("decision", "")
        if csrf_refused(issuer, "device"):
            return signin.refused("The form expired or did not come from this page.")
        if decision not in ("approve", "deny"):
            return signin.refused("Choose Approve or Deny.")
        identity = signin.finished_device(issuer, request.form.get("login", ""), user_code,
                                          take=True)  # fmt: skip
        if identity is None:
            return signin.refused(f"This sign-in has expired or was used already. {signin.AGAIN}")
        return _decide(identity, user_code, decision == "approve")

    def _decide(identity: Identity, user_code: str, approved: bool) -> Response | None:
        row = issuer.store.device_by_user_code(user_code) if USER_CODE.match(user_code) else None
        if row is None or not issuer.store.decide_device(
            user_code, identity.sub if approved else None, approved
        ):
            return None
        issuer.store.audit(
            "device",
            "approved" if approved else "denied",
            username=identity.name,
            client_id=row["client_id"],
            ip=client_ip(),
        )
        return html(pages.device_done(approved))

    @app.post(f"{prefix}/device")
    def device_submit() -> Response:
        if request.form.get("login"):
            decided = _upstream_decision()
            if decided is not None:
                return decided
            return signin.refused("That code is unknown, already used or expired.")
        method = signin.chosen_method(connectors, request.args.get("connector_id", ""))
        if method is None or isinstance(method, Response) or method.kind != "password":
            return signin.refused("Choose a way to sign in first.")
        user_code = normalise_user_code(request.form.get("user_code", ""))
        username = request.form.get("username", "")
        decision = request.form.get("decision", "")
        csrf = csrf_token(issuer)
        if csrf_refused(issuer, "device", username):
            return _page(
                csrf,
                user_code=user_code,
                username=username,
                status=400,
                error="The form expired or did not come from this page. Please try again.",
            )
        if decision not in ("approve", "deny"):
            return _page(
                csrf,
                user_code=user_code,
                username=username,
                status=400,
                error="Choose Approve or Deny.",
            )
        try:
            identity = authenticate_form(issuer, connectors, method, username, event="device_login")
        except LoginRefused as refused:
            page = _page(csrf, user_code=user_code, username=username, error=refused.message)
            return refused_page(page, refused)
        decided = _decide(identity, user_code, decision == "approve")
        if decided is None:
            # a wrong code counts against the address like a wrong password
            issuer.store.take_attempt([address_limit(issuer, client_ip())])
            issuer.store.audit("device", "unknown_code", username=identity.name, ip=client_ip())
            return _page(
                csrf,
                user_code=user_code,
                username=username,
                status=400,
                error="That code is unknown, already used or expired. Check the code "
                "your device shows.",
            )
        return decided
