"""PKCE (RFC 7636) as the issuer demands it: S256 only, checked at /authorize and at /device
(``check_challenge``) and against the stored challenge at /token (``check_pkce``)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError

from . import tokens

PKCE_PATTERN = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def check_pkce(
    challenge: str | None, method: str | None, verifier: str | None, *, required: bool
) -> None:
    """Check a token request's ``code_verifier`` against the stored S256 challenge."""
    if not challenge:
        if verifier:
            raise InvalidRequestError("a code_verifier was sent but no code_challenge was")
        if required:
            raise InvalidGrantError("PKCE is required for this client")
        return
    if not verifier:
        raise InvalidRequestError("missing code_verifier")
    if not PKCE_PATTERN.match(verifier):
        raise InvalidRequestError("malformed code_verifier")
    if method != "S256":
        raise InvalidGrantError("only the S256 code_challenge_method is accepted")
    s256 = tokens.b64url(hashlib.sha256(verifier.encode("ascii")).digest())  # RFC 7636 §4.2
    if not hmac.compare_digest(s256.encode(), challenge.encode()):
        raise InvalidGrantError("code_verifier does not match the code_challenge")


def check_challenge(data: Any, *, required: bool) -> None:
    """Validate ``code_challenge``/``code_challenge_method`` of an authorize or device request."""
    challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
    if not challenge and not method and not required:
        return
    if not challenge:
        raise InvalidRequestError("PKCE is required: send a code_challenge (S256)")
    if method != "S256":
        raise InvalidRequestError("code_challenge_method must be S256 (plain is not accepted)")
    if not PKCE_PATTERN.match(challenge):
        raise InvalidRequestError("malformed code_challenge")
