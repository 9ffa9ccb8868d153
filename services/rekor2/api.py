"""The Rekor v2 HTTP API as a Flask blueprint: the rekor-tiles write API, the C2SP tlog-tiles read
API, and sigstack's entry lookup and search (docs/rekor.md, "Rekor v2").

- ``POST /api/v2/log/entries``: 201 and the ``TransparencyLogEntry`` once the batch holding the
  entry is committed with its checkpoint; 409 with ``x-log-index`` for an entry already logged
  (``Rekor2Log.add`` raises it); 400 for a request ``entries.prepare_entry`` refuses or whose
  certificate the operator's ``trusted_ca_file`` does not certify (``services.rekor.trustedca``).
  Errors are grpc-gateway bodies (``services.runtime.errors.grpc_body``).
- ``GET /checkpoint``, ``/tile/<L>/<N>[.p/<W>]``, ``/tile/entries/<N>[.p/<W>]``: tlog-tiles, served
  by the engine's ``services.tlog.api`` (registered by the app factory).
- ``GET /api/v2/log/entries/<index>``: the entry with an inclusion proof against the latest
  checkpoint (a client answered 409 finds its entry with it).
- ``GET /api/v2/search``: entries by artifact digest, public-key fingerprint, certificate identity
  and OIDC issuer (rekor-tiles has no search; these are the v1 index's keys).
"""

from __future__ import annotations

import re
from functools import partial

from flask import Blueprint, Response, jsonify, request

from sigstack.protocol.errors import NotFoundError, ValidationError
from sigstack.services.rekor.trustedca import TrustedCA
from sigstack.services.runtime.direct import BodyView, Deferred, Header, RawJSON

from .entries import prepare_entry
from .log import Rekor2Log

ENTRIES = "/api/v2/log/entries"
SEARCH = "/api/v2/search"
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
INT64_MAX = (1 << 63) - 1
_DIGEST_ALGS = {64: "sha256", 96: "sha384", 128: "sha512"}
_SEARCH_ARGS = ("digest", "publicKey", "identity", "issuer", "operator", "after", "limit")


def _arg(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ValidationError(f"{name} may be given once")
    return values[0] if values else None


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = _arg(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw) or not low <= int(raw) <= high:
        raise ValidationError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _digest_key(value: str) -> str:
    alg, sep, hexdigest = value.lower().rpartition(":")
    if not re.fullmatch(r"[0-9a-f]+", hexdigest) or len(hexdigest) not in _DIGEST_ALGS:
        raise ValidationError("digest must be the hex SHA-256, SHA-384 or SHA-512 of the artifact")
    if sep and alg != _DIGEST_ALGS[len(hexdigest)]:
        raise ValidationError("digest must be <sha256|sha384|sha512>:<hex> of that length")
    return f"{_DIGEST_ALGS[len(hexdigest)]}:{hexdigest}"


def _key_key(value: str) -> str:
    fingerprint = value.lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
        raise ValidationError("publicKey must be the hex SHA-256 of the DER public key")
    return f"key:{fingerprint}"


def _text_key(name: str, prefix: str, value: str) -> str:
    if not 1 <= len(value) <= 512 or re.search(r"[\x00-\x1f\x7f]", value):
        raise ValidationError(f"{name} must be 1 to 512 characters without control characters")
    return f"{prefix}:{value.lower()}"


def search_keys() -> tuple[list[str], str, int, int]:
    """(keys, operator, after, limit) of a search request."""
    unknown = sorted(set(request.args) - set(_SEARCH_ARGS))
    if unknown:
        raise ValidationError(f"unknown search parameter {unknown[0][:40]!r}; "
                              f"known: {', '.join(_SEARCH_ARGS)}")  # fmt: skip
    keys = []
    for name, make in (("digest", _digest_key), ("publicKey", _key_key)):
        value = _arg(name)
        if value is not None:
            keys.append(make(value))
    for name, prefix in (("identity", "id"), ("issuer", "issuer")):
        value = _arg(name)
        if value is not None:
            keys.append(_text_key(name, prefix, value))
    if not keys:
        raise ValidationError("give at least one of digest, publicKey, identity and issuer")
    operator = _arg("operator") or "or"
    if operator not in ("and", "or"):
        raise ValidationError("operator must be 'and' or 'or'")
    after = _int_arg("after", -1, -1, INT64_MAX)
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return keys, operator, after, limit


def entry_writer(
    log: Rekor2Log, allowed: frozenset[str], trusted: TrustedCA | None = None
) -> BodyView:
    """``POST /api/v2/log/entries`` as a body route (``runtime.direct``)."""

    def create_entry(body: bytes, header: Header) -> Deferred:
        prepared = prepare_entry(body, allowed)
        if trusted is not None:
            trusted.check(prepared.signers)
        return Deferred(partial(log.submit, prepared),
                        lambda ticket: (201, RawJSON(log.answer_json(prepared, ticket)), {}))  # fmt: skip

    return create_entry


def blueprint(log: Rekor2Log) -> Blueprint:
    """Every route but ``POST /api/v2/log/entries`` (``entry_writer``, which the app registers as
    a body route)."""
    bp = Blueprint("rekor2", __name__)

    @bp.get(f"{ENTRIES}/<index>")
    def entry(index: str) -> Response:
        if not re.fullmatch(r"0|[1-9][0-9]{0,18}", index) or int(index) > INT64_MAX:
            raise ValidationError("the log index must be a non-negative decimal integer")
        head = log.head()
        if int(index) >= head.size:
            raise NotFoundError(f"no entry at index {index} (the log holds {head.size})")
        return jsonify(log.entries([int(index)], head)[0])

    @bp.get(SEARCH)
    def search() -> Response:
        keys, operator, after, limit = search_keys()
        head = log.head()
        found = log.search(keys, operator, after=after, limit=limit, size=head.size)
        out: dict[str, object] = {"entries": log.entries(found, head)}
        if len(found) == limit:
            out["next"] = str(found[-1])
        return jsonify(out)

    return bp
