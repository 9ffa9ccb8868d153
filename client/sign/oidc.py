"""OIDC identity tokens for keyless signing.

Where a token comes from, in order (``get_token``): ``--identity-token`` (a JWT, or a file holding
one); ``SIGSTORE_ID_TOKEN``; ambient CI credentials through the ``id`` package (GitHub Actions,
GitLab, Buildkite, CircleCI, Google Cloud); otherwise an interactive flow against the issuer:

* browser flow (``browser_flow``): a loopback HTTP listener on 127.0.0.1, authorization code with
  PKCE S256, ``state`` and ``nonce`` checked; the URL is printed when no browser can be opened;
* device flow (``device_flow``, RFC 8628), chosen with ``--device`` or when no terminal is
  attached: the verification link and user code are printed, the token endpoint is polled.

Tokens are decoded without verifying the signature (Fulcio verifies it); only shape, expiry and
audience are checked here so that a bad token fails early with a clear message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.record import record

from ..http import RefusedError, json_request

DEFAULT_CLIENT_ID = "sigstore"
SCOPES = "openid email"


@record(frozen=True)
class IdentityToken:
    raw: str
    claims: dict[str, Any]

    @classmethod
    def parse(cls, raw: str, audience: str | None = DEFAULT_CLIENT_ID) -> IdentityToken:
        raw = raw.strip()
        parts = raw.split(".")
        if len(parts) != 3:
            raise ValidationError("the identity token is not a JWT (header.payload.signature)")
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
        except (ValueError, UnicodeDecodeError):
            raise ValidationError("the identity token's payload is not base64url JSON") from None
        if not isinstance(claims, dict):
            raise ValidationError("the identity token's payload is not a JSON object")
        for claim in ("iss", "sub", "exp"):
            if claim not in claims:
                raise ValidationError(f"the identity token has no {claim!r} claim")
        exp = claims["exp"]
        if not isinstance(exp, int | float) or exp < time.time():
            raise ValidationError("the identity token has expired; get a fresh one")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience is not None and audience not in auds:
            raise ValidationError(
                f"the identity token's audience {aud!r} is not {audience!r} (--oidc-client-id)"
            )
        return cls(raw, claims)

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def identity(self) -> str:
        """What the certificate will say: the email for people, the subject otherwise."""
        email = self.claims.get("email")
        return str(email) if isinstance(email, str) and email else str(self.claims["sub"])


def _read_token_arg(value: str) -> str:
    """``--identity-token`` takes a JWT or the path of a file holding one."""
    if value.count(".") == 2 and not os.path.exists(value):
        return value
    try:
        with open(value, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        raise ValidationError(
            "--identity-token is neither a JWT nor a readable file holding one"
        ) from None


def _ambient_token(audience: str) -> str | None:
    """A CI-provided token (GitHub Actions, GitLab, Buildkite, CircleCI, Google Cloud)."""
    try:
        import id as ambient  # the `id` package
    except ImportError:
        return None
    try:
        return ambient.detect_credential(audience=audience)
    except ambient.IdentityError as exc:
        raise ValidationError(f"ambient credential detection failed: {exc}") from None


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@record(frozen=True)
class Discovery:
    """What the sign-in flows use of an issuer's discovery document (OpenID Connect Discovery 1.0
    section 3; RFC 8414 / RFC 8628 section 4 for the device endpoint): each endpoint a URL, or None
    when the issuer names none."""

    token_endpoint: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None


def _url(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _discover(issuer: str) -> Discovery:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc = json_request("GET", url, what="the OIDC issuer")
    token_endpoint = _url(doc.get("token_endpoint")) if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or token_endpoint is None:
        raise ValidationError(f"{url} is not an OpenID Connect discovery document")
    return Discovery(
        token_endpoint,
        _url(doc.get("authorization_endpoint")),
        _url(doc.get("device_authorization_endpoint")),
    )


def _id_token_from(response: object, nonce: str | None, client_id: str) -> str:
    if not isinstance(response, dict):
        raise ValidationError("the token endpoint answered with something unexpected")
    raw = response.get("id_token") or response.get("access_token")
    if not isinstance(raw, str):
        raise ValidationError("the token endpoint returned no id_token")
    token = IdentityToken.parse(raw, client_id)
    if nonce is not None and "id_token" in response and token.claims.get("nonce") != nonce:
        raise ValidationError("the ID token's nonce does not match the request (possible replay)")
    return raw


def browser_flow(
    issuer: str,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = "",
    open_url: Callable[[str], bool] | None = None,
    out: TextIO | None = None,
    timeout: float = 300.0,
) -> str:
    """Authorization code + PKCE S256 with a loopback redirect; returns the raw ID token."""
    import http.server
    import threading
    import urllib.parse

    out = out or sys.stderr
    doc = _discover(issuer)
    if doc.authorization_endpoint is None:
        raise ValidationError(
            f"{issuer} does not offer the browser sign-in (its discovery document names no "
            "authorization_endpoint); use --device or --identity-token"
        )
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    result: dict[str, str] = {}
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/auth/callback":
                self.send_error(404)
                return
            query = dict(urllib.parse.parse_qsl(url.query))
            result.update(query)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"<p>sigstack: authentication complete, you may close this page.</p>")
            done.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    redirect = f"http://localhost:{port}/auth/callback"
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": SCOPES,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    auth_url = doc.authorization_endpoint + "?" + urllib.parse.urlencode(params)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        opener = open_url or _open_browser
        print("Your browser will now be opened to:", file=out)
        print(auth_url, file=out)
        if not opener(auth_url):
            print("No browser could be opened; visit the URL above to sign in.", file=out)
        if not done.wait(timeout):
            raise ValidationError("timed out waiting for the browser sign-in")
    finally:
        server.shutdown()
        server.server_close()
    if result.get("state") != state:
        raise ValidationError("the OIDC redirect carried a wrong state (possible CSRF); try again")
    if "error" in result:
        raise ValidationError(
            f"sign-in failed: {result.get('error_description') or result['error']}"
        )
    if "code" not in result:
        raise ValidationError("the OIDC redirect carried no authorization code")
    form = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": redirect,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    if client_secret:
        form["client_secret"] = client_secret
    response = json_request("POST", doc.token_endpoint, form=form, what="the token endpoint")
    return _id_token_from(response, nonce, client_id)


def _open_browser(url: str) -> bool:
    import webbrowser

    try:
        return bool(webbrowser.open(url))
    except webbrowser.Error:
        return False


_DEVICE_ENDINGS = {  # RFC 8628 section 3.5 errors that end the flow, said plainly
    "expired_token": "the sign-in code expired before anyone signed in with it; run the command "
    "again and sign in within the time shown",
    "access_denied": "sign-in was refused at the issuer (the request was denied)",
}


@record(frozen=True)
class DeviceAuthorization:
    """A device authorization response (RFC 8628 section 3.2): the code to poll with, what to
    show the person (``verification_uri_complete`` or ``verification_uri``, ``user_code``), and
    the polling interval and lifetime in seconds (``expires_in`` None when not given)."""

    device_code: str
    link: str | None
    user_code: str | None
    interval: float
    expires_in: float | None

    @classmethod
    def parse(cls, answer: object) -> DeviceAuthorization:
        what = "the device authorization endpoint"
        if not isinstance(answer, dict):
            raise ValidationError(f"{what} answered with something other than a JSON object")
        device_code = answer.get("device_code")
        if not isinstance(device_code, str) or not device_code:
            raise ValidationError(f"{what} answered no device_code")
        link = answer.get("verification_uri_complete") or answer.get("verification_uri")
        user_code = answer.get("user_code")
        interval = _seconds(answer.get("interval"), f"{what}'s interval")
        return cls(
            device_code,
            None if link is None else str(link),  # printed as given
            None if user_code is None else str(user_code),
            5.0 if interval is None else interval,
            _seconds(answer.get("expires_in"), f"{what}'s expires_in"),
        )


def _seconds(value: object, what: str) -> float | None:
    """A number of seconds: a JSON number (or its text); None when absent, 0 or empty (the
    caller's default then applies)."""
    if not value:
        return None
    try:
        seconds = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(f"{what} is not a number of seconds: {value!r:.40}")
    return seconds


def device_flow(
    issuer: str,
    client_id: str = DEFAULT_CLIENT_ID,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 600.0,
) -> str:
    """RFC 8628 device authorization grant (with PKCE); returns the raw ID token."""
    out = out or sys.stderr
    doc = _discover(issuer)
    endpoint = doc.device_authorization_endpoint
    if endpoint is None:
        raise ValidationError(f"{issuer} does not offer the device flow")
    verifier, challenge = _pkce()
    start = DeviceAuthorization.parse(
        json_request(
            "POST",
            endpoint,
            form={
                "client_id": client_id,
                "scope": SCOPES,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            what="the device authorization endpoint",
        )
    )
    print(f"Open {start.link} and enter the code {start.user_code}", file=out)
    interval = start.interval
    wait = min(timeout, timeout if start.expires_in is None else start.expires_in)
    minutes = max(1, round(wait / 60))
    print(f"(waiting up to {minutes} minute{'s' if minutes > 1 else ''} for the sign-in; "
          "Ctrl-C to stop)", file=out, flush=True)  # fmt: skip
    deadline = time.monotonic() + wait
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": start.device_code,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    while time.monotonic() < deadline:
        sleep(interval)
        try:
            response = json_request(
                "POST", doc.token_endpoint, form=form, what="the token endpoint"
            )
        except RefusedError as exc:
            error = exc.body.get("error") if isinstance(exc.body, dict) else None
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += 5
                continue
            if error in _DEVICE_ENDINGS:
                raise ValidationError(_DEVICE_ENDINGS[error]) from None
            raise
        return _id_token_from(response, None, client_id)
    raise ValidationError("the device code expired before sign-in completed")


def get_token(
    explicit: str | None,
    env: Mapping[str, str],
    issuer: str | None,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = "",
    device: bool = False,
    interactive: bool | None = None,
) -> IdentityToken:
    """The identity token, from the first source that has one (see the module docstring).

    A token given but empty (what ``--identity-token "$(failed command)"`` passes) is an error, not
    a reason to start an interactive sign-in that would wait for minutes."""
    if explicit is not None:
        if not explicit.strip():
            raise ValidationError(
                "--identity-token is empty: the command meant to produce the token printed "
                "nothing (run it alone to see why), or leave the flag out to sign in interactively"
            )
        return IdentityToken.parse(_read_token_arg(explicit), client_id)
    if "SIGSTORE_ID_TOKEN" in env:
        if not env["SIGSTORE_ID_TOKEN"].strip():
            raise ValidationError(
                "SIGSTORE_ID_TOKEN is set but empty: set it to a token, or unset it to sign in "
                "interactively"
            )
        return IdentityToken.parse(env["SIGSTORE_ID_TOKEN"], client_id)
    found = _ambient_token(client_id)
    if found:
        return IdentityToken.parse(found, client_id)
    if not issuer:
        raise ValidationError("no identity token and no OIDC issuer to sign in with")
    tty = sys.stdin.isatty() if interactive is None else interactive
    if device or not tty:
        return IdentityToken.parse(device_flow(issuer, client_id), client_id)
    return IdentityToken.parse(browser_flow(issuer, client_id, client_secret), client_id)
