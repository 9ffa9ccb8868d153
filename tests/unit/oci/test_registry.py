"""``client.oci.registry`` against a small in-process fake registry (real HTTP on 127.0.0.1):
bearer-token authentication per repository scope, the OCI 1.1 referrers API path that Debian's
distribution 2.8 lacks, digest checks on what the registry returns."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sigstack.client.oci.auth import Credentials
from sigstack.client.oci.registry import OCI_INDEX, OCI_MANIFEST, Registry, fallback_tag
from sigstack.protocol.errors import NotFoundError, UnavailableError, ValidationError
from tests.support.servers import serve_handler


class FakeRegistry(BaseHTTPRequestHandler):
    """Manifests in memory; bearer tokens minted by /token for user alice:pw; referrers API."""

    manifests: dict[str, tuple[str, bytes]] = {}
    token_requests: list[str] = []
    tamper = False

    def log_message(self, *args: Any) -> None:
        pass

    def _challenge(self, scope: str) -> None:
        host = self.headers["Host"]
        self.send_response(401)
        self.send_header("WWW-Authenticate",
                         f'Bearer realm="http://{host}/token",service="fake",scope="{scope}"')  # fmt: skip
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _authorized(self, scope: str) -> bool:
        return self.headers.get("Authorization") == f"Bearer T:{scope}"

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/token":
            q = parse_qs(url.query)
            want = "Basic " + base64.b64encode(b"alice:pw").decode()
            if self.headers.get("Authorization") != want or q.get("service") != ["fake"]:
                return self._reply(401)
            self.token_requests.append(q["scope"][0])
            return self._reply(200, json.dumps({"token": f"T:{q['scope'][0]}"}).encode())
        if url.path == "/v2/":
            return self._challenge("")
        parts = url.path.split("/")  # /v2/<repo>/<kind>/<ref>
        repo, kind, ref = parts[2], parts[3], parts[4]
        scope = f"repository:{repo}:pull"
        if not self._authorized(scope):
            return self._challenge(scope)
        if kind == "referrers":
            found = [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": len(raw),
                 "artifactType": json.loads(raw).get("artifactType")}
                for d, (_, raw) in self.manifests.items()
                if json.loads(raw).get("subject", {}).get("digest") == ref
            ]  # fmt: skip
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found})
            return self._reply(200, body.encode(), {"Content-Type": OCI_INDEX})
        if ref not in self.manifests:
            return self._reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"nope"}]}')
        media_type, raw = self.manifests[ref]
        if self.tamper:
            raw = raw + b" "
        return self._reply(200, raw, {"Content-Type": media_type})

    def do_PUT(self) -> None:  # noqa: N802
        parts = urlsplit(self.path).path.split("/")
        repo, ref = parts[2], parts[4]
        scope = f"repository:{repo}:pull,push"
        if not self._authorized(scope):
            return self._challenge(scope)
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        self.manifests[ref] = self.manifests[digest] = (self.headers["Content-Type"], raw)
        headers = {"Docker-Content-Digest": digest}
        subject = json.loads(raw).get("subject")
        if subject:
            headers["OCI-Subject"] = subject["digest"]
        self._reply(201, b"", headers)


@pytest.fixture
def fake() -> Iterator[str]:
    FakeRegistry.manifests = {}
    FakeRegistry.token_requests = []
    FakeRegistry.tamper = False
    with serve_handler(FakeRegistry) as server:
        yield server.host


def _manifest(extra: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, **(extra or {})}).encode()


def test_bearer_token_per_scope_and_referrers_api(fake) -> None:
    reg = Registry(fake, Credentials("alice", "pw"), loopback=True)
    image = _manifest({"layers": []})
    digest, _ = reg.put_manifest("app", "v1", image, OCI_MANIFEST)
    got = reg.get_manifest("app", "v1")
    assert got.digest == digest and got.media_type == OCI_MANIFEST
    assert FakeRegistry.token_requests == ["repository:app:pull,push", "repository:app:pull"]
    reg.get_manifest("app", digest)  # the token is cached per scope
    assert len(FakeRegistry.token_requests) == 2

    referrer = _manifest({"artifactType": "x/y", "subject": got.descriptor()})
    ref_digest = reg.push_referrer("app", referrer, digest, "x/y")
    # the registry indexed it itself (OCI-Subject): no fallback tag is written
    assert fallback_tag(digest) not in FakeRegistry.manifests
    entries, via_api = reg.referrers("app", digest)
    assert via_api and [e["digest"] for e in entries] == [ref_digest]


def test_refusals(fake) -> None:
    with pytest.raises(ValidationError, match="token service .* refused access"):
        Registry(fake, Credentials("alice", "wrong"), loopback=True).get_manifest("app", "v1")
    reg = Registry(fake, Credentials("alice", "pw"), loopback=True)
    with pytest.raises(NotFoundError):
        reg.get_manifest("app", "missing")
    assert reg.find_manifest("app", "missing") is None
    digest, _ = reg.put_manifest("app", "v1", _manifest(), OCI_MANIFEST)
    FakeRegistry.tamper = True
    with pytest.raises(ValidationError, match="whose digest is not"):
        reg.get_manifest("app", digest)


def test_plain_http_needs_loopback_or_insecure(fake) -> None:
    # a host not known as loopback: HTTPS only, and the fake speaks plain HTTP
    with pytest.raises(UnavailableError, match="--allow-insecure-registry"):
        Registry(fake, Credentials("alice", "pw")).get_manifest("app", "v1")
    reg = Registry(fake, Credentials("alice", "pw"), insecure=True)
    with pytest.raises(NotFoundError):
        reg.get_manifest("app", "v1")
