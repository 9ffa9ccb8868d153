"""A small client for the OCI distribution API (distribution-spec v1.1) on the standard library.

What it does: ping and pick the scheme (HTTPS; plain HTTP only for loopback registries or with
``insecure``), authenticate (``client.oci.auth``: basic or bearer token per repository scope),
read and write manifests and blobs with their digests checked, and list referrers — through the
referrers API when the registry has it, else through the OCI tag-schema fallback
(``<alg>-<hex>`` tag holding an image index, distribution-spec "Referrers Tag Schema"). Every
answer is read with a size cap and every JSON answer is parsed with
``protocol.protojson.parse_json``; redirects and token realms follow the rules of
``client.oci.transport``. Why not a library: see docs/adr/0003-oci-registry-client.md. What it
leaves to others: reference parsing (``reference``), cosign's formats (``formats``), how many
referrers are worth fetching (``verify``).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

from sigstack.protocol.errors import NotFoundError, UnavailableError, ValidationError
from sigstack.protocol.protojson import parse_json
from sigstack.protocol.record import record

from .auth import Challenge, Credentials, parse_challenge
from .transport import LIMITS, Transport, check_location, check_realm

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@record(frozen=True)
class Manifest:
    media_type: str
    raw: bytes
    digest: str

    @property
    def json(self) -> dict[str, Any]:
        obj = parse_json(self.raw, f"manifest {self.digest}")
        if not isinstance(obj, dict):
            raise ValidationError(f"manifest {self.digest} is not a JSON object")
        return obj

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.raw)}


class Registry:
    """One registry host; repositories are named per call."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        insecure: bool = False,
        loopback: bool = False,
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.insecure = insecure
        self._plain_ok = insecure or loopback
        self._scheme: str | None = None
        self._challenge: Challenge | None = None
        self._auth: dict[str, str] = {}
        self._transport = Transport(insecure)

    # -- transport -----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        limit: int = LIMITS.small,
    ) -> tuple[int, dict[str, str], bytes]:
        return self._transport.send(method, url, body, headers, limit)

    @property
    def _origin(self) -> tuple[str, str]:
        if self._scheme is None:
            self._ping()
        assert self._scheme is not None
        return self._scheme, self.host.lower()

    def _base(self) -> str:
        if self._scheme is None:
            self._ping()
        return f"{self._scheme}://{self.host}"

    def _ping(self) -> None:
        schemes = ("https", "http") if self._plain_ok else ("https",)
        last: UnavailableError | None = None
        for scheme in schemes:
            try:
                status, headers, _ = self._send("GET", f"{scheme}://{self.host}/v2/", None, {})
            except UnavailableError as exc:
                last = exc
                continue
            self._scheme = scheme
            if status == 401 and "www-authenticate" in headers:
                self._challenge = parse_challenge(headers["www-authenticate"])
            return
        hint = "" if self._plain_ok else " (plain HTTP needs --allow-insecure-registry)"
        assert last is not None
        raise UnavailableError(last.message + hint)

    def _authorize(self, scope: str, challenge: Challenge) -> str:
        """The ``Authorization`` value for ``scope``: the credentials (Basic), or a token from
        the realm the registry names (Bearer), which must pass ``transport.check_realm``."""
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise ValidationError(
                    f"registry {self.host} needs credentials: run `docker login {self.host}` or "
                    "pass --registry-username/--registry-password"
                )
            return self.credentials.basic_header()
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            raise ValidationError(
                f"registry {self.host} asks for an unsupported authentication scheme "
                f"{challenge.scheme!r}"
            )
        realm = challenge.params["realm"]
        verified = self._origin[0] == "https" and not self.insecure
        check_realm(realm, self._origin, verified)
        query = {"scope": scope}
        if challenge.params.get("service"):
            query["service"] = challenge.params["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.basic_header()
        status, _, body = self._send("GET", url, None, headers, LIMITS.token)
        if status != 200:
            raise ValidationError(
                f"the token service of {self.host} refused access to {scope} (HTTP {status}); "
                "check the credentials in your docker config"
            )
        obj = parse_json(body, f"the token service's answer for {self.host}")
        token = (obj.get("token") or obj.get("access_token")) if isinstance(obj, dict) else None
        if not isinstance(token, str) or not token:
            raise ValidationError(f"the token service of {self.host} returned no token")
        return "Bearer " + token

    def request(
        self,
        method: str,
        repo: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        push: bool = False,
        limit: int = LIMITS.small,
    ) -> tuple[int, dict[str, str], bytes]:
        """``path`` below ``/v2/<repo>/`` (or a full URL from a Location header, which gets the
        registry's credentials only on the registry's own origin); the 2xx body is capped at
        ``limit`` bytes."""
        if "://" in path:
            url, own = path, check_location(path, self._origin)
        else:
            url, own = f"{self._base()}/v2/{repo}/{path}", True
        scope = f"repository:{repo}:{'pull,push' if push else 'pull'}"
        hdrs = dict(headers or {})
        if own and scope in self._auth:
            hdrs["Authorization"] = self._auth[scope]
        elif own and self._challenge is not None:
            self._auth[scope] = self._authorize(scope, self._challenge)
            hdrs["Authorization"] = self._auth[scope]
        status, rh, data = self._send(method, url, body, hdrs, limit)
        if own and status == 401 and "www-authenticate" in rh:  # no or expired credentials
            self._challenge = parse_challenge(rh["www-authenticate"])
            self._auth[scope] = self._authorize(scope, self._challenge)
            hdrs["Authorization"] = self._auth[scope]
            status, rh, data = self._send(method, url, body, hdrs, limit)
        if status in (401, 403):
            raise ValidationError(
                f"registry {self.host} denied {'push' if push else 'pull'} access to {repo} "
                f"(HTTP {status}){_detail(data)}; check your credentials"
            )
        if status >= 500:
            raise UnavailableError(f"registry {self.host} answered HTTP {status}{_detail(data)}")
        return status, rh, data

    # -- manifests -----------------------------------------------------------------------------

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """By tag or digest; raises NotFoundError when absent. The digest is always checked."""
        status, headers, raw = self.request(
            "GET", repo, f"manifests/{ref}", headers={"Accept": _ACCEPT}, limit=LIMITS.manifest
        )
        if status == 404:
            raise NotFoundError(f"{self.host}/{repo}: no manifest {ref}")
        if status != 200:
            raise ValidationError(
                f"registry refused manifest {repo}:{ref} (HTTP {status}){_detail(raw)}"
            )
        digest = sha256_digest(raw)
        if ref.startswith("sha256:") and ref != digest:
            raise ValidationError(f"the registry returned a manifest whose digest is not {ref}")
        media_type = headers.get("content-type", "").split(";")[0].strip()
        manifest = Manifest(media_type=media_type, raw=raw, digest=digest)
        declared = manifest.json.get("mediaType")
        if isinstance(declared, str) and declared:
            manifest = Manifest(media_type=declared, raw=raw, digest=digest)
        return manifest

    def find_manifest(self, repo: str, ref: str) -> Manifest | None:
        try:
            return self.get_manifest(repo, ref)
        except NotFoundError:
            return None

    def put_manifest(
        self, repo: str, ref: str, raw: bytes, media_type: str
    ) -> tuple[str, dict[str, str]]:
        """Push a manifest under a tag or its digest; returns (digest, response headers)."""
        status, headers, body = self.request(
            "PUT", repo, f"manifests/{ref}", raw, {"Content-Type": media_type}, push=True
        )
        if status not in (200, 201, 202):
            raise ValidationError(
                f"registry {self.host} refused manifest {repo}:{ref} (HTTP {status}){_detail(body)}"
            )
        return sha256_digest(raw), headers

    # -- blobs ---------------------------------------------------------------------------------

    def get_blob(self, repo: str, digest: str, limit: int = LIMITS.blob) -> bytes:
        """The blob, read with a cap of ``limit`` bytes; its digest is always checked."""
        status, _, data = self.request("GET", repo, f"blobs/{digest}", limit=limit)
        if status == 404:
            raise NotFoundError(f"{self.host}/{repo}: no blob {digest}")
        if status != 200:
            raise ValidationError(f"registry refused blob {digest} (HTTP {status}){_detail(data)}")
        if sha256_digest(data) != digest:
            raise ValidationError(f"the registry returned a blob whose digest is not {digest}")
        return data

    def put_blob(self, repo: str, data: bytes) -> str:
        """Monolithic upload (POST then PUT), skipped when the blob is already there."""
        digest = sha256_digest(data)
        status, _, _ = self.request("HEAD", repo, f"blobs/{digest}", push=True)
        if status == 200:
            return digest
        status, headers, body = self.request("POST", repo, "blobs/uploads/", b"", push=True)
        location = headers.get("location")
        if status != 202 or not location:
            raise ValidationError(
                f"registry {self.host} refused a blob upload to {repo} (HTTP {status}){_detail(body)}"
            )
        url = urllib.parse.urljoin(self._base() + "/", location)  # checked by request()
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        status, _, body = self.request(
            "PUT", repo, url, data, {"Content-Type": "application/octet-stream"}, push=True
        )
        if status not in (201, 204):
            raise ValidationError(
                f"registry {self.host} refused blob {digest} (HTTP {status}){_detail(body)}"
            )
        return digest

    def check_push(self, repo: str) -> None:
        """Prove that the registry takes a push to ``repo`` with these credentials, before
        anything that cannot be undone (a certificate, a transparency log entry) is made: open a
        blob upload session (distribution spec, "Pushing blobs": ``POST /v2/<repo>/blobs/uploads/``
        answered 202 with a ``Location``) and cancel it (``DELETE`` on that location; a registry
        that cannot cancel lets the session expire). Nothing is written to the repository."""
        what = f"registry {self.host} will not take a push to {repo}"
        try:
            status, headers, body = self.request("POST", repo, "blobs/uploads/", b"", push=True)
        except ValidationError as exc:  # 401/403: the credentials may not push here
            raise ValidationError(f"{exc.message}; nothing was signed") from None
        location = headers.get("location")
        if status != 202 or not location:
            raise ValidationError(
                f"{what} (a blob upload answered HTTP {status}){_detail(body)}: check that the "
                "repository accepts pushes (not read-only) and that your credentials may push "
                "to it; nothing was signed"
            )
        url = urllib.parse.urljoin(self._base() + "/", location)
        try:
            self.request("DELETE", repo, url, push=True)
        except (ValidationError, UnavailableError):
            pass  # the registry drops an abandoned upload session on its own

    # -- referrers (distribution-spec v1.1) ----------------------------------------------------

    def referrers(self, repo: str, digest: str) -> tuple[list[dict[str, Any]], bool]:
        """Descriptors of manifests whose ``subject`` is ``digest``; second value: whether the
        registry's referrers API answered (False: read from the fallback tag)."""
        status, headers, data = self.request(
            "GET", repo, f"referrers/{digest}", headers={"Accept": OCI_INDEX},
            limit=LIMITS.manifest,
        )  # fmt: skip
        if status == 200 and headers.get("content-type", "").startswith(OCI_INDEX):
            return _index_entries(data, f"referrers of {digest}"), True
        index = self.find_manifest(repo, fallback_tag(digest))
        if index is None:
            return [], False
        return _index_entries(index.raw, f"fallback tag {fallback_tag(digest)}"), False

    def push_referrer(self, repo: str, manifest: bytes, subject: str, artifact_type: str) -> str:
        """Push a manifest with a ``subject`` by digest; keep the fallback tag index up to date
        when the registry does not index referrers itself (no ``OCI-Subject`` header)."""
        digest, headers = self.put_manifest(repo, sha256_digest(manifest), manifest, OCI_MANIFEST)
        if headers.get("oci-subject") == subject:
            return digest
        tag = fallback_tag(subject)
        existing = self.find_manifest(repo, tag)
        entries = _index_entries(existing.raw, f"fallback tag {tag}") if existing else []
        if any(e.get("digest") == digest for e in entries):
            return digest
        try:
            annotations = parse_json(manifest, "the referrer manifest").get("annotations") or {}
        except (ValidationError, AttributeError):
            annotations = {}
        entry: dict[str, Any] = {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(manifest),
            "artifactType": artifact_type,
        }
        if annotations:
            entry["annotations"] = annotations
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*entries, entry]}
        self.put_manifest(repo, tag, json.dumps(index).encode(), OCI_INDEX)
        return digest


def fallback_tag(digest: str) -> str:
    """``sha256:<hex>`` → ``sha256-<hex>`` (the referrers tag schema)."""
    return digest.replace(":", "-", 1)


def _index_entries(raw: bytes, what: str) -> list[dict[str, Any]]:
    obj = parse_json(raw, f"the {what}")
    manifests = obj.get("manifests") if isinstance(obj, dict) else None
    if not isinstance(manifests, list):
        raise ValidationError(f"the {what} is not an image index")
    return [m for m in manifests if isinstance(m, dict) and isinstance(m.get("digest"), str)]


def _detail(body: bytes) -> str:
    """The first error message of a distribution-spec error body, if any."""
    try:
        errors = parse_json(body, "the error").get("errors")
        first = errors[0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()[:300]
    except (ValidationError, AttributeError, IndexError, TypeError, KeyError):
        return ""
