"""A fake signing stack over real HTTP for unit tests: an OIDC provider (discovery, authorization
code with PKCE, device flow), a Fulcio v2 endpoint and a Rekor v1 endpoint, all backed by the
throw-away ``Kit``. Not the project's services: just enough protocol to drive the client end to end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.trust import SIGNING_CONFIG_V02, Service, SigningConfig, TimeRange
from tests.support.servers import serve_handler

from .kit import EPOCH, IDENTITY, ISSUER, Kit, pem


def make_jwt(claims: dict[str, Any]) -> str:
    def enc(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}.c2ln"


def token(aud: str = "sigstore", nonce: str | None = None, **extra: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "alice", "email": IDENTITY, "aud": aud,
              "iat": now, "exp": now + 600, **extra}  # fmt: skip
    if nonce is not None:
        claims["nonce"] = nonce
    return make_jwt(claims)


class FakeStack:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.codes: dict[str, dict[str, str]] = {}
        self.device_polls = 0
        self.device_outcome = "id_token"  # or an OAuth error the token endpoint ends the flow with
        self.requests: list[str] = []
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _read(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802
                stack.requests.append("GET " + self.path)
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/oidc/.well-known/openid-configuration":
                    base = stack.url + "/oidc"
                    self._send(200, {
                        "issuer": base, "authorization_endpoint": base + "/auth",
                        "token_endpoint": base + "/token",
                        "device_authorization_endpoint": base + "/device",
                    })  # fmt: skip
                elif url.path == "/oidc/auth":
                    q = dict(urllib.parse.parse_qsl(url.query))
                    assert q["code_challenge_method"] == "S256"
                    code = secrets.token_hex(8)
                    stack.codes[code] = q
                    target = (
                        q["redirect_uri"]
                        + "?"
                        + urllib.parse.urlencode({"code": code, "state": q["state"]})
                    )
                    self._send(302, None, {"Location": target})
                else:
                    self._send(404, {"message": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                stack.requests.append("POST " + self.path)
                body = self._read()
                if self.path == "/oidc/token":
                    self._token(dict(urllib.parse.parse_qsl(body.decode())))
                elif self.path == "/oidc/device":
                    self._send(200, {"device_code": "dev", "user_code": "ABCD-EFGH",
                                     "verification_uri": stack.url + "/oidc/activate",
                                     "interval": 0, "expires_in": 60})  # fmt: skip
                elif self.path == "/api/v2/signingCert":
                    self._fulcio(json.loads(body))
                elif self.path == "/api/v1/log/entries":
                    self._rekor(json.loads(body))
                else:
                    self._send(404, {"message": "not found"})

            def _token(self, form: dict[str, str]) -> None:
                if form["grant_type"] == "authorization_code":
                    q = stack.codes.pop(form["code"])
                    challenge = (
                        base64.urlsafe_b64encode(
                            hashlib.sha256(form["code_verifier"].encode()).digest()
                        )
                        .rstrip(b"=")
                        .decode()
                    )
                    if (
                        challenge != q["code_challenge"]
                        or form["redirect_uri"] != q["redirect_uri"]
                    ):
                        self._send(400, {"error": "invalid_grant"})
                        return
                    self._send(200, {"id_token": token(q["client_id"], q["nonce"])})
                else:
                    stack.device_polls += 1
                    if stack.device_polls < 2:
                        self._send(400, {"error": "authorization_pending"})
                        return
                    if stack.device_outcome != "id_token":
                        self._send(400, {"error": stack.device_outcome})
                        return
                    self._send(200, {"id_token": token(form["client_id"])})

            def _fulcio(self, req: dict[str, Any]) -> None:
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer "):
                    self._send(401, {"message": "no token"})
                    return
                csr = x509.load_pem_x509_csr(base64.b64decode(req["certificateSigningRequest"]))
                leaf = stack.kit.leaf(csr.public_key())
                chain = [pem(leaf).decode(), pem(stack.kit.ca).decode()]
                self._send(
                    200, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}
                )

            def _rekor(self, proposed: dict[str, Any]) -> None:
                if proposed["kind"] == "hashedrekord":
                    body = canonicalize(proposed)
                else:
                    content = proposed["spec"]["proposedContent"]
                    env = json.loads(content["envelope"])
                    payload = base64.b64decode(env["payload"])
                    body = canonicalize({
                        "apiVersion": "0.0.1", "kind": "dsse",
                        "spec": {
                            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(
                                content["envelope"].encode()).hexdigest()},
                            "payloadHash": {"algorithm": "sha256",
                                            "value": hashlib.sha256(payload).hexdigest()},
                            "signatures": [{"signature": s["sig"], "verifier": content["verifiers"][0]}
                                           for s in env["signatures"]],
                        },
                    })  # fmt: skip
                entry = stack.kit.log_entry(body)
                proof = entry.inclusion_proof
                assert proof is not None
                self._send(201, {"24296fb24b8ad77a" + "0" * 48: {
                    "body": base64.b64encode(body).decode(),
                    "integratedTime": entry.integrated_time,
                    "logID": entry.log_id.hex(), "logIndex": entry.log_index,
                    "verification": {
                        "signedEntryTimestamp": base64.b64encode(entry.inclusion_promise).decode(),
                        "inclusionProof": {
                            "checkpoint": proof.checkpoint, "hashes": [h.hex() for h in proof.hashes],
                            "logIndex": proof.log_index, "rootHash": proof.root_hash.hex(),
                            "treeSize": proof.tree_size,
                        },
                    },
                }})  # fmt: skip

        self.http = serve_handler(Handler)
        self.url = self.http.url

    def signing_config(self) -> SigningConfig:
        start = TimeRange(EPOCH)
        return SigningConfig(
            media_type=SIGNING_CONFIG_V02,
            ca_urls=(Service(self.url, 1, start, "test"),),
            oidc_urls=(Service(self.url + "/oidc", 1, start, "test"),),
            rekor_tlog_urls=(Service(self.url, 1, start, "test"),),
        )

    def close(self) -> None:
        self.http.close()


def cert_der(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.DER)
