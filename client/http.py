"""Minimal JSON-over-HTTP on the standard library (``urllib``): no ``requests`` import on any
client path. Errors become ``UnavailableError`` (network, 5xx) or ``VerificationError`` /
``ValidationError`` with the server's message when it gave one."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from sigstack.protocol.errors import UnavailableError, ValidationError

USER_AGENT = "sigstack-client/0.1"
TIMEOUT = 30.0


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) for any status, raises on network failure."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValidationError(f"{url} is not an http(s) URL")
    req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - scheme checked
    req.add_header("User-Agent", USER_AGENT)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnavailableError(f"cannot reach {url}: {reason}") from None


class RefusedError(ValidationError):
    """A server refused a JSON request (HTTP 4xx): its ``status`` and its decoded JSON ``body``
    (``None`` when it was not JSON), for a caller that reads the error it names."""

    def __init__(self, message: str, status: int, body: object) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def json_request(
    method: str,
    url: str,
    payload: object = None,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    ok: tuple[int, ...] = (200, 201),
    what: str = "server",
) -> object:
    """Send JSON (or a form) and decode a JSON answer, any JSON value, for the caller to check;
    a non-``ok`` status raises (``RefusedError`` below 500, ``UnavailableError`` from 500)."""
    hdrs = {"Accept": "application/json", **(headers or {})}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif payload is not None:
        body = json.dumps(payload).encode()
        hdrs["Content-Type"] = "application/json"
    status, raw = request(method, url, body, hdrs)
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    if status not in ok:
        detail = ""
        if isinstance(decoded, dict):
            detail = str(
                decoded.get("message")
                or decoded.get("error_description")
                or decoded.get("error")
                or ""
            )
        if status >= 500:
            raise UnavailableError(f"{what} answered HTTP {status} {detail}".rstrip())
        raise RefusedError(
            f"{what} refused the request (HTTP {status}) {detail}".rstrip(), status, decoded
        )
    if decoded is None:
        raise UnavailableError(f"{what} answered with something that is not JSON")
    return decoded


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")
