"""RFC 6962 section 4 HTTP API of the CT log (``/ct/v1/...``) on Flask.

Writes: ``add-chain``, ``add-pre-chain``. Reads: ``get-sth``, ``get-sth-consistency``,
``get-proof-by-hash``, ``get-entries`` (at most ``MAX_ENTRIES`` per call, inclusive ``end``),
``get-roots``, ``get-entry-and-proof``. Bad input is a 400 (``protocol.errors.ValidationError``)
through the runtime's error mapping; unknown leaves are 404. HTTP only: what a size, an index or a
hash may be beyond its syntax is the personality's (``log.CTLog``) to say.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from flask import Blueprint, jsonify, request

from sigstack.protocol import strictjson
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.protojson import strict_b64decode
from sigstack.services.runtime.direct import Answer, BodyView, Header

from .log import CTLog

MAX_ENTRIES = 256
UINT64_MAX = (1 << 64) - 1
_UINT = re.compile(r"[0-9]{1,20}")


def _int_arg(name: str) -> int:
    """A uint64 in ASCII decimal; ``str.isdigit`` alone let "²" (a digit to it, not to ``int``)
    or 5000 digits (over ``int``'s limit) through to a 500."""
    raw = request.args.get(name, "")
    if not _UINT.fullmatch(raw) or int(raw) > UINT64_MAX:
        raise ValidationError(f"parameter {name} must be a non-negative 64-bit integer")
    return int(raw)


def _chain(data: bytes) -> list[bytes]:
    try:
        body = strictjson.loads(data, "request body")
    except ValidationError:
        body = None  # answered below with what the body must be
    if not isinstance(body, dict) or not isinstance(body.get("chain"), list):
        raise ValidationError('body must be {"chain": [base64 DER, ...]}')
    return [strict_b64decode(c, "chain entries (base64 DER certificates)") for c in body["chain"]]


def chain_writer(ct: CTLog, precert: bool) -> BodyView:
    """``POST /ct/v1/add-chain`` (``precert`` false) or ``add-pre-chain`` as a body route
    (``runtime.direct``): the SCT of the logged chain."""

    def add(body: bytes, header: Header) -> Answer:
        return 200, ct.add_chain(_chain(body), precert=precert).to_json(), {}

    return add


def blueprint(ct: CTLog) -> Blueprint:
    """The read routes; the app registers the two writes (``chain_writer``) as body routes."""
    bp = Blueprint("ctlog", __name__, url_prefix="/ct/v1")

    @bp.get("/get-sth")
    def get_sth() -> Any:
        return jsonify(ct.sth())

    @bp.get("/get-sth-consistency")
    def get_sth_consistency() -> Any:
        proof = ct.consistency(_int_arg("first"), _int_arg("second"))
        return jsonify({"consistency": [base64.b64encode(h).decode() for h in proof]})

    @bp.get("/get-proof-by-hash")
    def get_proof_by_hash() -> Any:
        leaf_hash = strict_b64decode(request.args.get("hash", ""), "hash (base64)")
        if len(leaf_hash) != 32:
            raise ValidationError("hash must be 32 bytes")
        index, proof = ct.proof_by_hash(leaf_hash, _int_arg("tree_size"))
        return jsonify(
            {"leaf_index": index, "audit_path": [base64.b64encode(h).decode() for h in proof]}
        )

    @bp.get("/get-entries")
    def get_entries() -> Any:
        start, end = _int_arg("start"), _int_arg("end")
        return jsonify({"entries": ct.entries(start, end, MAX_ENTRIES)})

    @bp.get("/get-roots")
    def get_roots() -> Any:
        return jsonify({"certificates": [base64.b64encode(r).decode() for r in ct.roots_der]})

    @bp.get("/get-entry-and-proof")
    def get_entry_and_proof() -> Any:
        entry, proof = ct.entry_and_proof(_int_arg("leaf_index"), _int_arg("tree_size"))
        return jsonify(
            {
                "leaf_input": base64.b64encode(entry.leaf).decode(),
                "extra_data": base64.b64encode(entry.extra).decode(),
                "audit_path": [base64.b64encode(h).decode() for h in proof],
            }
        )

    return bp
