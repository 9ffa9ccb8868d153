"""HTTP for the registry client (``client.oci.registry``): one request on the standard library,
with the rules that keep a hostile registry, redirect target or network from costing more than a
bounded amount of memory or from collecting credentials.

* **Bounded reads.** Every body is read with a cap chosen by the caller (``Limits``): a declared
  ``Content-Length`` over the cap is refused before reading, and the body is read up to the cap
  plus one byte, so a server that lies about the length or sends none is refused as well. Error
  bodies (only used for a message) are truncated to ``Limits.error`` instead.
* **Redirects** (blob storage, CDNs) may go to another host, but only over ``http``/``https`` and
  never from ``https`` down to ``http``; the ``Authorization`` header is never forwarded to a
  redirect target (it is sent unredirected).
* **Where credentials and tokens may go** (``check_origin`` / ``check_realm``): a bearer-token
  realm is fetched with the user's credentials, so it must be ``https`` — or, when the registry
  itself is reached without verified TLS (a plain-HTTP loopback or ``--allow-insecure-registry``
  registry), on the registry's own host and port: credentials never travel to a host the user
  did not name over a connection nobody authenticated. ``Location`` URLs (uploads) get the
  registry's credentials only when they are on the registry's own scheme, host and port.

What it leaves to others: choosing the scheme and authenticating (``registry``), parsing.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from typing import IO
from urllib.parse import urlsplit

from sigstack.protocol.errors import UnavailableError, ValidationError
from sigstack.protocol.record import record

_TIMEOUT = 60.0
_SCHEMES = ("http", "https")


@record(frozen=True)
class Limits:
    """Caps in bytes. ``manifest``: manifests and image indexes (the referrers list too), as the
    distribution spec suggests 4 MiB; ``blob``: a signature layer or bundle; ``token``: a token
    service's answer; ``small``: answers whose body is not used (ping, uploads); ``error``: what
    is kept of an error body for its message."""

    manifest: int = 4 * 1024 * 1024
    blob: int = 64 * 1024 * 1024
    token: int = 256 * 1024
    small: int = 64 * 1024
    error: int = 16 * 1024


LIMITS = Limits()


class _RedirectPolicy(urllib.request.HTTPRedirectHandler):
    """Follow redirects over http(s) only, never from https to http."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        old, new = urlsplit(req.full_url).scheme, urlsplit(newurl).scheme.lower()
        if new not in _SCHEMES:
            raise ValidationError(f"refused a redirect from {req.full_url} to a {new!r} URL")
        if old == "https" and new != "https":
            raise ValidationError(
                f"refused a redirect from {req.full_url} to plain HTTP ({newurl}): a downgrade"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) in lower case."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower().rpartition("@")[2]


class Transport:
    def __init__(self, insecure: bool = False) -> None:
        self.insecure = insecure
        tls = ssl.create_default_context()
        if insecure:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=tls), _RedirectPolicy()
        )

    def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], limit: int
    ) -> tuple[int, dict[str, str], bytes]:
        """One request; (status, lower-cased headers, body) for any status. A 2xx body over
        ``limit`` is refused; an error body is cut to ``LIMITS.error``."""
        if origin(url)[0] not in _SCHEMES:
            raise ValidationError(f"{url} is not an http(s) URL")
        req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - checked above
        req.add_header("User-Agent", "sigstack-client/0.1")
        for k, v in headers.items():
            if k == "Authorization":  # never forwarded to a redirect target (blob storage)
                req.add_unredirected_header(k, v)
            else:
                req.add_header(k, v)
        try:
            with self._opener.open(req, timeout=_TIMEOUT) as resp:
                got = {k.lower(): v for k, v in resp.headers.items()}
                return resp.status, got, _read(resp, got, limit, url)
        except urllib.error.HTTPError as exc:
            got = {k.lower(): v for k, v in exc.headers.items()}
            try:
                data = exc.read(LIMITS.error)
            except OSError:
                data = b""
            return exc.code, got, data
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnavailableError(f"cannot reach {origin(url)[1]}: {reason}") from None


def _read(resp: http.client.HTTPResponse, headers: dict[str, str], limit: int, url: str) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ValidationError(f"{url} answered {declared} bytes, more than the limit of {limit}")
    try:
        data: bytes = resp.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise UnavailableError(f"reading {url} failed: {exc}") from None
    if len(data) > limit:
        raise ValidationError(f"{url} answered more than the limit of {limit} bytes")
    return data


def check_realm(realm: str, registry: tuple[str, str], verified_tls: bool) -> None:
    """Refuse a bearer-token realm that credentials must not be sent to (module docstring).
    ``registry``: the registry's (scheme, host[:port]); ``verified_tls``: whether the registry
    connection is https with certificate verification."""
    scheme, host = origin(realm)
    if scheme not in _SCHEMES or not host:
        raise ValidationError(f"the registry names a token service {realm!r} that is not a URL")
    if verified_tls:
        if scheme != "https":
            raise ValidationError(
                f"the registry {registry[1]} names a plain-HTTP token service ({realm}); "
                "credentials go only to an https token service"
            )
        return
    if host != registry[1] or (scheme == "http" and registry[0] != "http"):
        raise ValidationError(
            f"the registry {registry[1]} is reached without verified TLS and names a token "
            f"service on another host or scheme ({realm}): refused, credentials stay on the "
            "registry's own host"
        )


def check_location(url: str, registry: tuple[str, str]) -> bool:
    """A ``Location`` URL from the registry may be followed (http(s), no downgrade); returns
    whether it is on the registry's own origin (and may carry its credentials)."""
    scheme, host = origin(url)
    if scheme not in _SCHEMES:
        raise ValidationError(f"the registry sent a location that is not an http(s) URL: {url}")
    if registry[0] == "https" and scheme != "https":
        raise ValidationError(f"the registry sent a plain-HTTP location ({url}): a downgrade")
    return (scheme, host) == registry
