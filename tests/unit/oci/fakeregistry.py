"""A small in-process registry speaking real HTTP (or HTTPS) on 127.0.0.1, whose answers a test
can bend: manifests and blobs in memory, the OCI 1.1 referrers API, an optional bearer challenge
naming any realm, and per-path ``routes`` that answer whatever a hostile registry would (huge or
lying bodies, redirects, broken JSON). Every request is recorded with its headers, and
``stream`` counts how many bytes a route managed to send before the client hung up.

A fake, not a mock: the client under test goes through its whole HTTP stack."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.servers import serve_handler

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_PATH = re.compile(r"^/v2/(.+)/(manifests|blobs|referrers)/([^/?]+)")

Route = Callable[["Handler"], None]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeRegistry

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, status: int, total: int, declared: int | None = None) -> None:
        """Send ``total`` bytes of ``{``-noise (no length unless ``declared``), counting what
        got out before the client closed the connection."""
        self.send_response(status)
        if declared is not None:
            self.send_header("Content-Length", str(declared))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"[" * 65536
        try:
            while self.fake.sent < total:
                self.wfile.write(chunk)
                self.fake.sent += len(chunk)
        except OSError:
            pass

    def short(self, declared: int, sent: int) -> None:
        """Promise ``declared`` bytes, send ``sent``, hang up."""
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"{" * sent)
        self.close_connection = True

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.fake.seen.append((method, self.path, dict(self.headers.items())))
        route = self.fake.routes.get(self.path.split("?")[0])
        if route is not None:
            return route(self)
        if self.fake.realm is not None and self.headers.get("Authorization") != "Bearer good":
            challenge = f'Bearer realm="{self.fake.realm}",service="fake"'
            return self.reply(401, b"", {"WWW-Authenticate": challenge})
        if self.path == "/v2/":
            return self.reply(200, b"{}")
        match = _PATH.match(self.path)
        if match is None:
            return self.reply(404)
        _, kind, ref = match.groups()
        if method == "PUT" and kind == "manifests":
            digest = self.fake.add_manifest(body, self.headers["Content-Type"], ref)
            return self.reply(201, b"", {"Docker-Content-Digest": digest})
        if kind == "referrers" and self.fake.referrers_api:
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                     "manifests": self.fake.referrers_of(ref)}  # fmt: skip
            return self.reply(200, json.dumps(index).encode(), {"Content-Type": OCI_INDEX})
        store: dict[str, Any] = self.fake.manifests if kind == "manifests" else self.fake.blobs
        if ref not in store:
            return self.reply(404, b'{"errors":[{"code":"UNKNOWN","message":"not here"}]}')
        if kind == "manifests":
            media_type, raw = store[ref]
            return self.reply(200, raw, {"Content-Type": media_type})
        return self.reply(200, store[ref])

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")


class FakeRegistry:
    def __init__(self, tls: ssl.SSLContext | None = None, realm: str | None = None) -> None:
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.realm = realm
        self.referrers_api = True
        self.extra_referrers: list[dict[str, Any]] = []
        self.sent = 0
        handler = type("BoundHandler", (Handler,), {"fake": self})
        # a client hanging up mid-answer is what some tests are about: no traceback on stderr
        self.http = serve_handler(handler, tls=tls, poll_interval=0.02, quiet_errors=True)
        self.host, self.url = self.http.host, self.http.url

    def close(self) -> None:
        self.http.close()

    def add_blob(self, data: bytes) -> str:
        self.blobs[digest_of(data)] = data
        return digest_of(data)

    def add_manifest(
        self, raw: bytes, media_type: str = OCI_MANIFEST, tag: str | None = None
    ) -> str:
        digest = digest_of(raw)
        self.manifests[digest] = (media_type, raw)
        if tag is not None:
            self.manifests[tag] = (media_type, raw)
        return digest

    def referrers_of(self, digest: str) -> list[dict[str, Any]]:
        found = []
        for ref, (media_type, raw) in self.manifests.items():
            if not ref.startswith("sha256:"):
                continue
            doc = json.loads(raw)
            if isinstance(doc, dict) and (doc.get("subject") or {}).get("digest") == digest:
                entry = {"mediaType": media_type, "digest": ref, "size": len(raw),
                         "artifactType": doc.get("artifactType")}  # fmt: skip
                if doc.get("annotations"):
                    entry["annotations"] = doc["annotations"]
                found.append(entry)
        return [*self.extra_referrers, *found]

    def requests_for(self, prefix: str) -> list[str]:
        return [path for _, path, _ in self.seen if path.startswith(prefix)]
