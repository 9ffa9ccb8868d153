"""Rekor v1 JSON API, as a Flask blueprint (HTTP only: the log is ``log.RekorLog``; the C2SP
tlog-tiles read API is the engine's, ``services.tlog.api``).

Statuses follow Rekor (spec/rekor.md section 1): malformed JSON 400, schema violations 422, entry
validation 400 (also an entry the operator's ``trusted_ca_file`` refuses, ``trustedca``), duplicates
409 with ``Location`` (``RekorLog.add`` raises it), created 201 with ``Location`` and ``ETag``.
"""

from __future__ import annotations

import base64
import re
from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify, request

from sigstack.protocol import strictjson
from sigstack.protocol.errors import NotFoundError, SchemaError, ValidationError
from sigstack.protocol.merkle import leaf_hash
from sigstack.services.runtime.direct import Answer, BodyView, Deferred, Header
from sigstack.services.tlog import Ticket

from .log import ENTRIES, RekorLog
from .trustedca import TrustedCA
from .types import prepare_entry
from .verifiers import load_verifier

MAX_QUERIES = 10
INT64_MAX = (1 << 63) - 1  # Rekor's integers are int64: larger ones break the schema (422)


def _json_body() -> Any:
    """The request body as strict JSON (``protocol.strictjson``); 400 otherwise."""
    return strictjson.loads(request.get_data(cache=False), "request body")


def _int_arg(name: str, default: int | None = None, minimum: int = 0) -> int:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            raise SchemaError(f"{name} in query is required")
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw) or not -INT64_MAX - 1 <= int(raw) <= INT64_MAX:
        raise SchemaError(f"{name} in query must be of type int64")
    value = int(raw)
    if value < minimum:
        raise SchemaError(f"{name} in query should be greater than or equal to {minimum}")
    return value


def entry_writer(rekor: RekorLog, trusted: TrustedCA | None = None) -> BodyView:
    """``POST /api/v1/log/entries`` as a body route (``runtime.direct``): the body in, 201 with
    ``Location`` and ``ETag`` out."""

    def create_entry(body: bytes, header: Header) -> Deferred:
        prepared = prepare_entry(strictjson.loads(body, "request body"))
        if trusted is not None:
            trusted.check(prepared.signers)

        def created(ticket: Ticket) -> Answer:
            added = rekor.answer(prepared, ticket)
            return 201, added.rendered, {"Location": added.location, "ETag": added.entry_id}

        return Deferred(partial(rekor.submit, prepared), created)

    return create_entry


def blueprint(rekor: RekorLog, trusted: TrustedCA | None = None) -> Blueprint:
    """Every route but ``POST /api/v1/log/entries`` (``entry_writer``, which the app registers
    as a body route)."""
    bp = Blueprint("rekor", __name__)

    @bp.get(ENTRIES)
    def entry_by_index() -> Response | tuple[str, int]:
        index = _int_arg("logIndex")
        try:
            return jsonify(rekor.by_index(index))
        except NotFoundError:
            return "", 404

    @bp.get(f"{ENTRIES}/<entry_uuid>")
    def entry_by_uuid(entry_uuid: str) -> Response:
        leaf_hash = rekor.parse_entry_id(entry_uuid)
        found = rekor.by_leaf_hashes([leaf_hash])
        if not found:
            raise NotFoundError("no entry with that UUID in this log")
        return jsonify(found[0])

    @bp.post(f"{ENTRIES}/retrieve")
    @bp.post(f"{ENTRIES}/retrieve/")
    def retrieve() -> Response:
        query = _json_body()
        if not isinstance(query, dict):
            raise SchemaError("search query must be a JSON object")
        lists: dict[str, list[Any]] = {}
        for name in ("entryUUIDs", "logIndexes", "entries"):
            value = query.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not value:
                raise SchemaError(f"{name} must be a non-empty array")
            lists[name] = value
        if sum(len(v) for v in lists.values()) > MAX_QUERIES:
            raise SchemaError(f"more than max allowed {MAX_QUERIES} entries in request")
        out: list[dict[str, Any]] = []
        hashes: list[bytes] = []
        for uuid in lists.get("entryUUIDs", []):
            if not isinstance(uuid, str):
                raise SchemaError("entryUUIDs must hold strings")
            try:
                hashes.append(rekor.parse_entry_id(uuid))
            except NotFoundError:
                continue
        for proposed in lists.get("entries", []):
            hashes.append(leaf_hash(prepare_entry(proposed).body))
        out += rekor.by_leaf_hashes(hashes) if hashes else []
        head = rekor.head()
        for index in lists.get("logIndexes", []):
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= INT64_MAX:
                raise SchemaError("logIndexes must hold non-negative int64 integers")
            if index < head.size:
                out.append(rekor.by_index(index, head))
        return jsonify(out)

    @bp.get("/api/v1/log")
    def log_info() -> Response:
        head = rekor.head()
        return jsonify(
            {
                "rootHash": head.root_hash.hex(),
                "signedTreeHead": head.note,
                "treeID": str(rekor.tree_id),
                "treeSize": head.size,
            }
        )

    @bp.get("/api/v1/log/publicKey")
    def public_key() -> Response:
        tree = request.args.get("treeID")
        if tree is not None and tree != str(rekor.tree_id):
            raise ValidationError(f"unknown treeID {tree[:20]}")
        return Response(rekor.signer.public_pem, mimetype="application/x-pem-file")

    @bp.get("/api/v1/log/proof")
    def consistency() -> Response:
        first = _int_arg("firstSize", default=1, minimum=1)
        last = _int_arg("lastSize", minimum=1)
        tree = request.args.get("treeID")
        if tree is not None and tree != str(rekor.tree_id):
            raise ValidationError(f"unknown treeID {tree[:20]}")
        if first > last:
            raise ValidationError(f"firstSize({first}) must be less than lastSize({last})")
        size = rekor.head().size
        if last > size:
            raise ValidationError(
                f"the tree size requested({last}) was greater than what is currently observable({size})"
            )
        proof, root = rekor.consistency(first, last)
        return jsonify({"hashes": [h.hex() for h in proof], "rootHash": root.hex()})

    @bp.post("/api/v1/index/retrieve")
    def search_index() -> Response:
        query = _json_body()
        if not isinstance(query, dict):
            raise SchemaError("search index query must be a JSON object")
        operator = query.get("operator", "or")
        if operator not in ("and", "or"):
            raise SchemaError("operator must be 'and' or 'or'")
        criteria = _criteria(query)
        if not criteria:
            raise ValidationError("one of hash, publicKey, email or subject is required")
        return jsonify(rekor.search(criteria, operator))

    return bp


def _criteria(query: dict[str, Any]) -> list[list[str]]:
    criteria: list[list[str]] = []
    digest = query.get("hash")
    if digest is not None:
        if not isinstance(digest, str):
            raise SchemaError("hash must be a string")
        value = digest.lower()
        if ":" not in value:
            algs = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
            if len(value) not in algs:
                raise ValidationError("hash has an unknown length")
            value = f"{algs[len(value)]}:{value}"
        criteria.append([value])
    key = query.get("publicKey")
    if key is not None:
        if not isinstance(key, dict) or key.get("format") != "x509":
            raise ValidationError("publicKey search supports format x509 only")
        content = key.get("content")
        if isinstance(content, str) and content.lstrip().startswith("-----BEGIN"):
            content = base64.b64encode(content.encode()).decode()
        verifier = load_verifier(content, "publicKey.content")
        criteria.append([verifier.key_hash, f"sha256:{verifier.key_hash}"])
    for name in ("email", "subject"):
        given = query.get(name)
        if given is not None:
            if not isinstance(given, str) or not 1 <= len(given) <= 512:
                raise SchemaError(f"{name} must be a string of 1 to 512 characters")
            criteria.append([given.lower()])
    return criteria
