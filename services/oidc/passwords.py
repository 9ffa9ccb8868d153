"""Password and client-secret hashing.

User passwords are hashed with scrypt (RFC 7914, ``hashlib.scrypt``) and stored as
``scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised later without breaking
stored hashes. Service-account secrets are 256-bit random values, so a single SHA-256 is enough for
them (nothing to brute-force); both are compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import secrets

from sigstack.protocol.errors import ValidationError, VerificationError

LOG2_N, R, P = 15, 8, 1  # 32 MiB of memory per hash; OWASP's scrypt floor is N=2^17/r=8 or 2^15/p=3
_MAXMEM = 256 * 1024 * 1024
MAX_PASSWORD_BYTES = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, log2_n: int = LOG2_N, r: int = R, p: int = P) -> str:
    raw = password.encode("utf-8")
    if not raw:
        raise ValidationError("the password must not be empty")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"the password must be at most {MAX_PASSWORD_BYTES} bytes")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(raw, salt=salt, n=1 << log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${log2_n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> None:
    """Return if ``password`` matches ``stored``, else raise ``VerificationError``; a malformed
    stored value never matches."""
    wrong = VerificationError("the password does not match")
    raw = password.encode("utf-8", "surrogatepass")
    if not raw or len(raw) > MAX_PASSWORD_BYTES:
        raise wrong
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise wrong
        expected = base64.b64decode(digest, validate=True)
        computed = hashlib.scrypt(
            raw,
            salt=base64.b64decode(salt, validate=True),
            n=1 << int(log2_n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except ValueError:
        raise wrong from None
    if not hmac.compare_digest(computed, expected):
        raise wrong


@functools.cache
def _dummy_hash() -> str:
    return hash_password("sigstack-dummy-password")


def burn_time(password: str) -> None:
    """Spend the time of one real check, so unknown usernames answer as slowly as known ones."""
    with contextlib.suppress(VerificationError):
        verify_password(password or "x", _dummy_hash())


def new_client_secret() -> tuple[str, str]:
    """A fresh service-account secret and the value to store for it."""
    secret = secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def verify_secret(secret: str, stored: str) -> None:
    """Return if ``secret`` is the one ``stored`` was made from, else raise ``VerificationError``."""
    if not hmac.compare_digest(hash_secret(secret).encode(), stored.encode()):
        raise VerificationError("the client secret does not match")
