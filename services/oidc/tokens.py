"""JWTs the issuer signs and checks: compact JWS (RFC 7515) with RS256 or ES256 only.

Signing goes through a ``services.keys.Signer`` (so an HSM key works unchanged); ES256 signatures
are converted from DER to the fixed-size r||s form of RFC 7518 §3.4. Verification accepts exactly
the algorithm the issuer is configured for: ``none``, ``HS*`` and any other algorithm are refused
before a key is even looked up (RFC 8725 §3.1, §3.2), and only keys from our own JWKS are used.
Also here: public JWKs with RFC 7638 thumbprint key ids and the OIDC ``at_hash`` (Core §3.1.3.6).
Nothing here touches Flask or the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sigstack.protocol.errors import ConfigError, VerificationError

ALGORITHMS: Mapping[str, str] = MappingProxyType({"RS256": "rsa-2048", "ES256": "ecdsa-p256"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise VerificationError("token is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("token is not base64url") from exc


def _int_b64(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(key: PublicKeyTypes, alg: str) -> dict[str, str]:
    """The public JWK of ``key`` with ``kid`` = RFC 7638 thumbprint, ``use`` and ``alg``."""
    if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        required = {"e": _int_b64(nums.e), "kty": "RSA", "n": _int_b64(nums.n)}
    elif (
        alg == "ES256"
        and isinstance(key, ec.EllipticCurvePublicKey)
        and key.curve.name == "secp256r1"
    ):
        point = key.public_numbers()
        required = {
            "crv": "P-256",
            "kty": "EC",
            "x": _int_b64(point.x, 32),
            "y": _int_b64(point.y, 32),
        }
    else:
        raise ConfigError(f"signing key does not fit algorithm {alg}")
    thumb = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode())
    return {**required, "kid": b64url(thumb.digest()), "use": "sig", "alg": alg}


def at_hash(access_token: str, alg: str) -> str:
    """Left half of the SHA-256 of the access token, base64url (RS256 and ES256 use SHA-256)."""
    if alg not in ALGORITHMS:
        raise ConfigError(f"unsupported algorithm {alg}")
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def encode(claims: Mapping[str, Any], signer: Any, kid: str, alg: str, typ: str = "JWT") -> str:
    """Sign ``claims`` as a compact JWS with ``signer`` (a ``services.keys.Signer``)."""
    if alg not in ALGORITHMS:
        raise ConfigError(f"unsupported algorithm {alg}")
    header = {"alg": alg, "kid": kid, "typ": typ}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    signature = signer.sign(signing_input.encode("ascii"))
    if alg == "ES256":
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + b64url(signature)


def _check_signature(key: PublicKeyTypes, alg: str, signing_input: bytes, signature: bytes) -> None:
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise VerificationError("token signature has the wrong length")
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature as exc:
        raise VerificationError("token signature does not verify") from exc
    raise VerificationError("token key does not match its algorithm")


def decode_header(token: str) -> dict[str, Any]:
    # a JWS compact serialisation is ASCII (RFC 7515 section 7.1); anything else is not a token,
    # whatever the header holds (the signing input is encoded as ASCII below)
    parts = token.split(".") if isinstance(token, str) and token.isascii() else []
    if len(parts) != 3:
        raise VerificationError("token is not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise VerificationError("token header is not JSON") from exc
    if not isinstance(header, dict):
        raise VerificationError("token header is not a JSON object")
    return header


def verify(
    token: str,
    keys: Mapping[str, tuple[PublicKeyTypes, str]],
    *,
    issuer: str,
    audiences: Iterable[str],
    now: int,
    leeway: int = 0,
) -> dict[str, Any]:
    """Verify a token we issued, or raise ``VerificationError``.

    ``keys`` maps kid → (public key, algorithm) for our JWKS. The header must name one of these
    kids and exactly that key's algorithm (RS256 or ES256); ``iss``
    must equal ``issuer`` byte for byte; ``aud`` (string or list) must contain one of
    ``audiences``; ``exp`` must be in the future and ``iat`` not in the future.
    """
    header = decode_header(token)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise VerificationError(f"token algorithm {str(alg)[:16]!r} is not accepted")
    if "crit" in header:
        raise VerificationError("token has critical header parameters")
    entry = keys.get(header["kid"]) if isinstance(header.get("kid"), str) else None
    if entry is None:
        raise VerificationError("token was not signed by a key of this issuer")
    key, key_alg = entry
    if alg != key_alg:
        raise VerificationError(f"token algorithm {alg!r} is not the algorithm of its key")
    head, body, sig = token.split(".")
    _check_signature(key, alg, f"{head}.{body}".encode("ascii"), b64url_decode(sig))
    try:
        claims = json.loads(b64url_decode(body))
    except ValueError as exc:
        raise VerificationError("token claims are not JSON") from exc
    if not isinstance(claims, dict):
        raise VerificationError("token claims are not a JSON object")
    if claims.get("iss") != issuer:
        raise VerificationError("token issuer does not match")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not set(auds) & set(audiences):
        raise VerificationError("token audience is not accepted here")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise VerificationError("token lacks exp or iat")
    if exp <= now - leeway:
        raise VerificationError("token has expired")
    if iat > now + leeway:
        raise VerificationError("token was issued in the future")
    return claims
