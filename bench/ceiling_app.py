"""The HTTP ceiling for a log write on this host, in the same run (``rekor2_write.py``).

A bare ASGI app, served by granian as our services are (same worker count, uvloop), that does the
part of a Rekor v2 write no log can skip: read the body, parse the JSON, decode the certificate
and signature, verify the ECDSA signature over the digest, answer 201 with a body the size of our
answers. No database, no sequencing, no proof, no framework, no logging: what the two cores allow
for the request's irreducible work in this minute, so that a write rate can be read as a ratio of
it while the host's speed swings (bench/README.md). ``GET /`` answers 200 (readiness).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

ANSWER = b'{"answer":"' + b"x" * 1800 + b'"}'  # about the size of a TransparencyLogEntry
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


def _verify(body: bytes) -> bool:
    try:
        spec = json.loads(body)["hashedRekordRequestV002"]
        signature = spec["signature"]
        der = base64.b64decode(signature["verifier"]["x509Certificate"]["rawBytes"])
        key = x509.load_der_x509_certificate(der).public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(base64.b64decode(signature["content"]), base64.b64decode(spec["digest"]),
                   ec.ECDSA(utils.Prehashed(hashes.SHA256())))  # fmt: skip
    except Exception:  # noqa: BLE001 (any bad request is a 400 here)
        return False
    return True


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET":
        status, answer, headers = 200, b"ok", [(b"content-length", b"2")]
    elif _verify(body):
        status, answer, headers = 201, ANSWER, _HEADERS
    else:
        status, answer, headers = 400, b"", [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
