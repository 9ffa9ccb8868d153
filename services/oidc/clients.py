"""OAuth clients of the issuer and how they authenticate (spec/oidc.md §4).

- the public ``sigstore`` client: redirect URIs are loopback ``http`` URLs on any port, or the OOB
  URN; any other URI is refused without a redirect (``is_loopback_redirect``); client auth
  ``none`` also accepts HTTP Basic ``sigstore:`` with an empty password (sigstore-python sends no
  ``client_id`` in the body), see ``authenticate_public``;
- service accounts: ``client_secret_basic`` / ``client_secret_post`` against their stored secret
  hash, ``client_credentials`` only.

Which grant uses which is in ``grants`` (code, client credentials), ``device`` and ``exchange``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Request

# types-authlib declares only ClientAuthentication in this module; authlib 1.9 has the function
from authlib.oauth2.rfc6749.authenticate_client import (  # type: ignore[attr-defined]
    authenticate_client_secret_basic,
)
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list

from sigstack.protocol.errors import VerificationError

from . import passwords
from .issuer import OOB_REDIRECT, SCOPES
from .store import Identity

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback_redirect(uri: str) -> bool:
    """``http://127.0.0.1|localhost|[::1]:<any port>/<path>`` or the OOB URN; nothing else."""
    if uri == OOB_REDIRECT:
        return True
    if not uri or any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return False
    netloc_host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    return (
        parts.scheme == "http"
        and parts.hostname in _LOOPBACK_HOSTS
        and "@" not in parts.netloc
        and not parts.fragment
        and netloc_host.strip("[]").lower() in _LOOPBACK_HOSTS
    )


class Client:
    """An OAuth client: the public ``sigstore`` client or one service account."""

    def __init__(
        self,
        client_id: str,
        *,
        public: bool,
        secret_hash: str | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.client_id = client_id
        self.public = public
        self.secret_hash = secret_hash
        self.identity = identity

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the public client must always send its loopback redirect_uri

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(s for s in scope_to_list(scope or "openid email") if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.public and is_loopback_redirect(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        """authlib's ``ClientMixin`` asks a boolean of this one."""
        if self.public or not self.secret_hash:
            return False
        try:
            passwords.verify_secret(client_secret, self.secret_hash)
        except VerificationError:
            return False
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return self.public and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if self.public:
            return grant_type in ("authorization_code", DEVICE_GRANT)
        return grant_type == "client_credentials"


def _basic_credentials(headers: Any) -> tuple[str | None, str | None] | None:
    """authlib's ``extract_basic_authorization``; None for credentials that are not UTF-8 (authlib
    raised UnicodeDecodeError for them: a 500)."""
    try:
        return extract_basic_authorization(headers)
    except UnicodeDecodeError:
        return None


def authenticate_basic(query_client: Any, request: Any) -> Client | None:
    """Client auth ``client_secret_basic`` (authlib's), refused when the credentials are not UTF-8."""
    if _basic_credentials(request.headers) is None:
        return None
    return authenticate_client_secret_basic(query_client, request)  # type: ignore[no-any-return]


def authenticate_public(query_client: Any, request: Any) -> Client | None:
    """Client auth ``none``: ``client_id`` in the form, or HTTP Basic with an empty password."""
    client_id = request.form.get("client_id") if request.form else None
    credentials = _basic_credentials(request.headers)
    if credentials is None:
        return None
    basic_id, basic_secret = credentials
    if basic_id is not None:
        if basic_secret or (client_id and client_id != basic_id):
            return None
        client_id = basic_id
    if not client_id or request.payload.data.get("client_secret"):
        return None
    client = query_client(client_id)
    return client if client is not None and client.public else None


def request_client(request: OAuth2Request) -> Client:
    """The request's authenticated client: always one of ours (``OIDCServer._lookup_client``)."""
    if not isinstance(request.client, Client):
        raise InvalidClientError()
    return request.client
