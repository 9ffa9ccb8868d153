"""The witness's HTTP API (C2SP tlog-witness) as a Flask blueprint.

- ``POST /add-checkpoint``: any content type; 200 with the cosignature line(s)
  (``text/plain; charset=utf-8``). Refusals (``cosigner.Refusal``) are mapped here, the one place:
  400, 403, 404, 422 with a one-line ``text/plain`` reason; 409 with ``Content-Type:
  text/x.tlog.size`` exactly (the Go witness client compares the whole header) and the body
  ``<size>\\n``. Nothing is written for a refusal. Bodies over ``max_body_bytes`` get the
  runtime's 413.
- ``GET /<lowercase hex SHA-256 of the origin>/checkpoint``: the last checkpoint cosigned for that
  log, with the log's signature lines and this witness's (the spec's monitor retrieval); 404 when
  the origin is not followed or nothing was cosigned yet.
- ``GET /vkey``: the witness's verifier key, one line (sigstack's, for operators).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, Flask, Response, request

from .cosigner import Refusal, Witness

SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"
_HEX = re.compile(r"[0-9a-f]{64}")


def _refused(exc: Refusal) -> Response:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 409 and exc.size is not None:
        return Response(f"{exc.size}\n", 409, content_type=SIZE_TYPE, headers=headers)
    return Response(f"{exc.message}\n", exc.status, content_type=TEXT_TYPE, headers=headers)


def blueprint(witness: Witness) -> Blueprint:
    bp = Blueprint("witness", __name__)
    by_hash = {hashlib.sha256(lg.origin.encode()).hexdigest(): lg.origin for lg in witness.logs}
    bp.register_error_handler(Refusal, _refused)

    @bp.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        line = witness.add_checkpoint(request.get_data(cache=False))
        return Response(line, 200, content_type=TEXT_TYPE, headers={"Cache-Control": "no-store"})

    @bp.get("/<string:origin_hash>/checkpoint")
    def checkpoint(origin_hash: str) -> Response:
        origin = by_hash.get(origin_hash) if _HEX.fullmatch(origin_hash) else None
        latest = witness.latest(origin) if origin is not None else None
        if latest is None:
            return Response("no checkpoint cosigned for that log\n", 404, content_type=TEXT_TYPE)
        return Response(latest, 200, content_type=TEXT_TYPE)

    @bp.get("/vkey")
    def vkey() -> Response:
        return Response(witness.vkey + "\n", 200, content_type=TEXT_TYPE)

    return bp


def register(witness: Witness) -> Any:
    def _register(app: Flask) -> None:
        app.register_blueprint(blueprint(witness))
        app.extensions["witness"] = witness

    return _register
