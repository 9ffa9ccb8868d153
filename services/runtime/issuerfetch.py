"""Bounded HTTP GET of an OIDC issuer's discovery document or JWKS (fulcio.md section 4.4; issue 11).

Shared by the services that verify tokens of outside issuers (Fulcio's identity tokens, the OIDC
issuer's RFC 8693 token exchange); moved here from ``services/fulcio/fetch.py`` (issue 16).

``get_json(url, verify=..., deadline=..., max_bytes=...)`` returns the parsed document and the
``max-age`` its ``Cache-Control`` allows. What bounds it:

- ``deadline`` (a ``time.monotonic()`` value) covers the whole fetch, redirects included: every
  socket operation waits at most the time left, and the body is read one network read at a time
  (``read1``) with the deadline checked in between, so a server that trickles a byte every few
  milliseconds cannot stretch a fetch. (A trickle *before the headers end* is bounded only by the
  per-read timeout; ``issuerkeys`` therefore runs fetches off the request thread.)
- at most ``max_bytes`` of body after content decoding: a larger ``Content-Length`` is refused
  before reading, a body that grows past it is abandoned;
- redirects only to the same host (at most three), never to another (upstream #2354);
- strict JSON (``strictjson``).

Every failure raises ``IssuerError``: a ``VerificationError`` whose ``message`` is generic and
safe to show, and whose ``detail`` (URLs, what the server answered) is for the service's log only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from sigstack.protocol import strictjson
from sigstack.protocol.errors import ValidationError, VerificationError

MAX_REDIRECTS = 3


class IssuerError(VerificationError):
    """A token of an outside issuer cannot be verified. ``message`` is the same for every cause
    (safe for a client); ``detail`` says why, for the service's log, never for the client."""

    def __init__(self, detail: str, message: str = "the token could not be verified") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Fetched:
    doc: Any
    max_age: float | None  # from Cache-Control; None when it says nothing about freshness


def cache_max_age(header: str) -> float | None:
    """Seconds a response may be reused per ``Cache-Control`` (RFC 9111 section 5.2.2):
    ``max-age``, or 0 for ``no-store``/``no-cache``; ``None`` when neither is present."""
    ages: list[float] = []
    for directive in header.split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            ages.append(0.0)
        elif name == "max-age":
            value = value.strip().strip('"')
            if value.isascii() and value.isdigit():  # not "²", which isdigit() too
                ages.append(float(value))
            else:
                ages.append(0.0)  # a max-age we cannot read is no licence to cache
    return min(ages) if ages else None


def _left(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise IssuerError(f"fetching {url} took too long")
    return left


def _set_read_timeout(resp: requests.Response, seconds: float) -> None:
    sock = getattr(getattr(resp.raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _body(resp: requests.Response, url: str, deadline: float, max_bytes: int) -> bytes:
    length = resp.headers.get("Content-Length", "")
    if length.isascii() and length.isdigit() and int(length) > max_bytes:
        raise IssuerError(f"{url} answered {length} bytes (limit {max_bytes})")
    chunks: list[bytes] = []
    size = 0
    while True:
        _set_read_timeout(resp, _left(deadline, url))
        chunk = resp.raw.read1(65536, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise IssuerError(f"{url} answered more than {max_bytes} bytes")
        chunks.append(chunk)


def get_json(url: str, *, verify: str | bool, deadline: float, max_bytes: int) -> Fetched:
    """GET ``url`` within ``deadline`` and at most ``max_bytes``; see the module docstring."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            resp = requests.get(url, timeout=_left(deadline, url), verify=verify, stream=True,
                                allow_redirects=False, headers={"Accept": "application/json"})  # fmt: skip
        except (requests.RequestException, ValueError) as exc:
            raise IssuerError(f"cannot fetch {url}: {exc}") from exc
        with resp:
            if resp.is_redirect:
                target = urljoin(url, resp.headers.get("Location", ""))
                if urlsplit(target).netloc != urlsplit(url).netloc:
                    raise IssuerError(f"refusing cross-host redirect from {url}")
                url = target
                continue
            if resp.status_code != 200:
                raise IssuerError(f"{url} answered {resp.status_code}")
            try:
                body = _body(resp, url, deadline, max_bytes)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                    ValueError) as exc:  # fmt: skip
                raise IssuerError(f"reading {url} failed: {exc!r}") from exc
            max_age = cache_max_age(resp.headers.get("Cache-Control", ""))
        try:
            return Fetched(strictjson.loads(body, url), max_age)
        except ValidationError as exc:
            raise IssuerError(f"{url} did not answer strict JSON") from exc
    raise IssuerError(f"too many redirects from {url}")
