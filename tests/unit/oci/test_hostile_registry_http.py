"""The registry client against a registry (or a network) that works against us (security review,
issue 11 section 3, items 6 and 7): bodies over the caps (with or without an honest length),
broken and deep JSON answers, redirects to plain HTTP, token realms elsewhere, upload locations
on other hosts. A real HTTP stack on 127.0.0.1 (``fakeregistry``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.client.oci.auth import Credentials
from sigstack.client.oci.registry import Registry
from sigstack.protocol.errors import Error, NotFoundError, ValidationError
from tests.support.keys import tls_pair

from .fakeregistry import OCI_INDEX, FakeRegistry, digest_of

MIB = 1024 * 1024

ALICE = Credentials("alice", "secret")
LEAK = base64.b64encode(b"alice:secret").decode()


# -- item 6: reads are capped ------------------------------------------------------------------


def test_manifest_body_without_length_is_cut_at_the_cap(fake) -> None:
    fake.routes["/v2/team/app/manifests/v1"] = lambda h: h.stream(200, 64 * MIB)
    with pytest.raises(ValidationError, match="limit"):
        Registry(fake.host, loopback=True).get_manifest("team/app", "v1")
    assert fake.sent < 32 * MIB  # the client stopped reading near 4 MiB


def test_declared_length_over_the_cap_is_refused_before_reading(fake) -> None:
    fake.routes["/v2/team/app/manifests/v1"] = lambda h: h.stream(200, 0, declared=5 * MIB)
    with pytest.raises(ValidationError, match="limit"):
        Registry(fake.host, loopback=True).get_manifest("team/app", "v1")


def test_error_body_is_truncated(fake) -> None:
    fake.routes["/v2/team/app/manifests/v1"] = lambda h: h.stream(404, 64 * MIB)
    with pytest.raises(NotFoundError):
        Registry(fake.host, loopback=True).get_manifest("team/app", "v1")
    assert fake.sent < 32 * MIB


def test_token_answer_is_capped(fake) -> None:
    fake.realm = f"{fake.url}/token"
    fake.routes["/token"] = lambda h: h.stream(200, 64 * MIB)
    with pytest.raises(ValidationError, match="limit"):
        Registry(fake.host, ALICE, loopback=True).get_manifest("team/app", "v1")
    assert fake.sent < 32 * MIB


def _garbage(h) -> None:
    h.wfile.write(b"HTTP/1.1 what\r\n\r\n")
    h.close_connection = True


@pytest.mark.parametrize(
    "route", [lambda h: h.short(declared=1000, sent=10), _garbage], ids=["short", "garbage"]
)
def test_broken_answers_are_clean_errors(fake, route) -> None:
    fake.routes["/v2/team/app/manifests/v1"] = route
    with pytest.raises(Error):
        Registry(fake.host, loopback=True).get_manifest("team/app", "v1")


@pytest.mark.parametrize(
    "path",
    ["/v2/team/app/manifests/v1", "/v2/team/app/referrers/sha256:" + "0" * 64, "/token"],
)
def test_deep_json_answers(fake, path: str) -> None:
    fake.realm = f"{fake.url}/token"
    fake.routes["/token"] = lambda h: h.reply(200, b'{"token": "good"}')
    fake.routes[path] = lambda h: h.reply(200, b"[" * 100_000, {"Content-Type": OCI_INDEX})
    reg = Registry(fake.host, ALICE, loopback=True)
    with pytest.raises(ValidationError, match="nested|not valid JSON"):
        if "referrers" in path:
            reg.referrers("team/app", path.rpartition("/")[2])
        else:
            reg.get_manifest("team/app", "v1")


# -- item 7: no downgrade, credentials only where they belong ----------------------------------


@pytest.fixture
def tls_fake(tmp_path: Path) -> Iterator[FakeRegistry]:
    _, ctx = tls_pair(tmp_path)
    reg = FakeRegistry(tls=ctx)
    yield reg
    reg.close()


def test_redirect_from_https_to_http_is_refused(tls_fake, fake) -> None:
    blob = b"the layer"
    fake.add_blob(blob)
    target = f"{fake.url}/v2/team/app/blobs/{digest_of(blob)}"
    tls_fake.routes[f"/v2/team/app/blobs/{digest_of(blob)}"] = lambda h: h.reply(
        307, b"", {"Location": target}
    )
    with pytest.raises(ValidationError, match="downgrade"):
        Registry(tls_fake.host, insecure=True).get_blob("team/app", digest_of(blob))
    assert not fake.seen  # nothing went out in the clear


def test_redirect_within_https_is_followed(tmp_path, tls_fake) -> None:
    blob = b"the layer"
    tls_fake.add_blob(blob)
    tls_fake.routes["/elsewhere"] = lambda h: h.reply(200, blob)
    tls_fake.routes[f"/v2/team/app/blobs/{digest_of(blob)}"] = lambda h: h.reply(
        307, b"", {"Location": f"{tls_fake.url}/elsewhere"}
    )
    assert Registry(tls_fake.host, insecure=True).get_blob("team/app", digest_of(blob)) == blob


def _leaked(server: FakeRegistry) -> bool:
    return any(LEAK in h.get("Authorization", "") for _, _, h in server.seen)


def test_plain_http_realm_on_another_host_gets_no_credentials(fake) -> None:
    thief = FakeRegistry()
    try:
        thief.routes["/token"] = lambda h: h.reply(200, b'{"token": "good"}')
        fake.realm = f"{thief.url}/token"
        with pytest.raises(ValidationError, match="token service"):
            Registry(fake.host, ALICE, loopback=True).get_manifest("team/app", "v1")
        assert not _leaked(thief) and not thief.seen
    finally:
        thief.close()


def test_insecure_registry_realm_on_another_host_gets_no_credentials(tls_fake, tmp_path) -> None:
    _, ctx = tls_pair(tmp_path)
    thief = FakeRegistry(tls=ctx)
    try:
        thief.routes["/token"] = lambda h: h.reply(200, b'{"token": "good"}')
        tls_fake.realm = f"{thief.url}/token"
        with pytest.raises(ValidationError, match="token service"):
            Registry(tls_fake.host, ALICE, insecure=True).get_manifest("team/app", "v1")
        assert not thief.seen
    finally:
        thief.close()


def test_realm_on_the_registry_itself_works(fake) -> None:
    fake.realm = f"{fake.url}/token"
    fake.routes["/token"] = lambda h: h.reply(200, b'{"token": "good"}')
    with pytest.raises(NotFoundError):
        Registry(fake.host, ALICE, loopback=True).get_manifest("team/app", "v1")
    assert _leaked(fake)  # the registry's own token service did get them


def test_realm_rule() -> None:
    from sigstack.client.oci.transport import check_realm

    registry = ("https", "reg.example")
    check_realm("https://auth.example/token", registry, verified_tls=True)
    for realm in ("http://auth.example/token", "http://reg.example/token", "ftp://x/y", "/rel"):
        with pytest.raises(ValidationError):
            check_realm(realm, registry, verified_tls=True)
    plain = ("http", "127.0.0.1:5000")
    check_realm("http://127.0.0.1:5000/token", plain, verified_tls=False)
    check_realm("https://127.0.0.1:5000/token", plain, verified_tls=False)
    for realm in ("http://127.0.0.1:5001/token", "https://auth.example/token", "file:///etc"):
        with pytest.raises(ValidationError):
            check_realm(realm, plain, verified_tls=False)
    insecure = ("https", "reg.example")
    check_realm("https://reg.example/token", insecure, verified_tls=False)
    with pytest.raises(ValidationError):
        check_realm("http://reg.example/token", insecure, verified_tls=False)


def test_upload_location_on_another_host_gets_no_credentials(fake) -> None:
    storage = FakeRegistry()
    try:
        storage.routes["/upload"] = lambda h: h.reply(201)
        fake.routes["/v2/team/app/blobs/uploads/"] = lambda h: h.reply(
            202, b"", {"Location": f"{storage.url}/upload?id=1"}
        )
        fake.realm = None
        reg = Registry(fake.host, ALICE, loopback=True)
        reg._challenge = None  # basic credentials would be sent to the registry itself
        reg._auth["repository:team/app:pull,push"] = ALICE.basic_header()
        reg.put_blob("team/app", b"data")
        assert storage.seen and not _leaked(storage)
    finally:
        storage.close()
