"""The registry client and image verification against a registry (or a network) that works
against us (security review, issue 11 section 3, items 4-7): a broken referrer next to a valid
signature, statements with bad signatures, too many referrers, bodies over the caps (with or
without an honest length), deep JSON, redirects to plain HTTP, token realms elsewhere, upload
locations on other hosts. A real HTTP stack on 127.0.0.1 (``fakeregistry``), signatures made for
real with the throw-away instance of tests/unit/client/kit.py."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.client.oci import formats
from sigstack.client.oci.auth import Credentials
from sigstack.client.oci.reference import Reference
from sigstack.client.oci.registry import Registry
from sigstack.client.oci.verify import ImageVerifier
from sigstack.client.verify import IdentityPolicy
from sigstack.protocol.errors import Error, NotFoundError, ValidationError, VerificationError
from tests.support.keys import tls_pair
from tests.unit.client.kit import IDENTITY, ISSUER, Kit

from .fakeregistry import OCI_INDEX, OCI_MANIFEST, FakeRegistry, digest_of

MIB = 1024 * 1024

POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)
ALICE = Credentials("alice", "secret")
LEAK = base64.b64encode(b"alice:secret").decode()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    reg = FakeRegistry()
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit()


def _image(fake: FakeRegistry) -> tuple[Reference, str, bytes]:
    image = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    digest = fake.add_manifest(image, tag="v1")
    return Reference.parse(f"{fake.host}/team/app:v1"), digest, image


def _statement(digest: str, predicate_type: str = formats.SIGN_PREDICATE) -> dict:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": digest.partition(":")[2]}}],
        "predicateType": predicate_type,
        "predicate": {},
    }


def _push_bundle(
    fake: FakeRegistry,
    digest: str,
    image: bytes,
    bundle_json: bytes,
    predicate_type: str = formats.SIGN_PREDICATE,
) -> str:
    fake.add_blob(bundle_json)
    fake.add_blob(formats.EMPTY_BLOB)
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(image)}
    return fake.add_manifest(formats.referrer_manifest(bundle_json, subject, predicate_type))


def _verify(fake: FakeRegistry, kit: Kit, ref: Reference):
    registry = Registry(fake.host, loopback=True)
    verifier = ImageVerifier(registry, kit.trusted_root(), POLICY)
    return verifier.signatures(ref, verifier.resolve(ref))


# -- item 5: one broken referrer does not hide a valid signature -------------------------------


def _missing_manifest(fake: FakeRegistry, digest: str, image: bytes) -> None:
    fake.extra_referrers.append({"mediaType": OCI_MANIFEST, "digest": digest_of(b"gone"),
                                 "size": 4, "artifactType": formats.BUNDLE_V03})  # fmt: skip


def _missing_blob(fake: FakeRegistry, digest: str, image: bytes) -> None:
    _push_bundle(fake, digest, image, b'{"not": "pushed"}')
    del fake.blobs[digest_of(b'{"not": "pushed"}')]


def _wrong_digest(fake: FakeRegistry, digest: str, image: bytes) -> None:
    ref = _push_bundle(fake, digest, image, b"{}")
    fake.manifests[ref] = (OCI_MANIFEST, fake.manifests[ref][1] + b" ")


def _oversized_blob(fake: FakeRegistry, digest: str, image: bytes) -> None:
    from sigstack.client.oci.transport import LIMITS

    big = b"{}"
    _push_bundle(fake, digest, image, big)
    fake.routes[f"/v2/team/app/blobs/{digest_of(big)}"] = lambda h: h.stream(
        200, LIMITS.blob + 1, declared=LIMITS.blob + 1
    )


def _not_json_blob(fake: FakeRegistry, digest: str, image: bytes) -> None:
    _push_bundle(fake, digest, image, b"[" * 200_000)


@pytest.mark.parametrize(
    "breakage", [_missing_manifest, _missing_blob, _wrong_digest, _oversized_blob, _not_json_blob]
)
def test_a_broken_referrer_does_not_block_a_valid_signature(fake, kit, breakage) -> None:
    ref, digest, image = _image(fake)
    breakage(fake, digest, image)  # listed first
    _push_bundle(fake, digest, image, kit.attest(_statement(digest)).to_json().encode())
    outcome = _verify(fake, kit, ref)
    assert len(outcome.verified) == 1, outcome.failures
    assert len(outcome.failures) == 1


def test_a_broken_referrers_list_leaves_the_legacy_tag_to_look_at(fake, kit) -> None:
    ref, digest, _ = _image(fake)
    fake.routes[f"/v2/team/app/referrers/{digest}"] = lambda h: h.reply(
        200, b"[" * 100_000, {"Content-Type": OCI_INDEX}
    )
    outcome = _verify(fake, kit, ref)
    assert outcome.failures and outcome.failures[0][0] == f"referrers of {digest}"
    assert any("sig" in where for where in outcome.looked_at)
    with pytest.raises(VerificationError, match="nested"):
        outcome.require_some(ref, "signature")


def test_the_signature_is_checked_before_the_statement_is_read(fake, kit) -> None:
    """A bundle whose envelope signature is bad, carrying a payload that is no statement: the
    reason given is the signature, because nothing of the payload is read before it verified."""
    ref, digest, image = _image(fake)
    bundle = kit.attest(_statement(digest))
    env = bundle.dsse_envelope
    for payload, payload_type in (
        (b"[" * 100_000, env.payload_type),
        (b"not json", env.payload_type),
        (env.payload, "text/plain"),
    ):
        forged = dataclasses.replace(env, payload=payload, payload_type=payload_type)
        raw = dataclasses.replace(bundle, dsse_envelope=forged).to_json().encode()
        _push_bundle(fake, digest, image, raw)
    outcome = _verify(fake, kit, ref)
    assert not outcome.verified
    reasons = [why for where, why in outcome.failures if "@sha256:" in where]
    assert len(reasons) == 3
    assert all("signature is not valid" in why for why in reasons), reasons


def test_referrers_are_capped(fake, kit) -> None:
    from sigstack.client.oci.verify import MAX_CANDIDATES

    ref, digest, image = _image(fake)
    for n in range(MAX_CANDIDATES + 20):
        _push_bundle(fake, digest, image, json.dumps({"junk": n}).encode())
    outcome = _verify(fake, kit, ref)
    fetched = [p for p in fake.requests_for("/v2/team/app/manifests/sha256:") if digest not in p]
    assert len(fetched) == MAX_CANDIDATES
    assert any("20 more referrers were not examined" in why for _, why in outcome.failures)


def test_attestations_are_not_verified_as_signatures_and_the_reverse(fake, kit) -> None:
    ref, digest, image = _image(fake)
    slsa = "https://slsa.dev/provenance/v1"
    _push_bundle(fake, digest, image, kit.attest(_statement(digest, slsa)).to_json().encode(), slsa)
    _push_bundle(fake, digest, image, kit.attest(_statement(digest)).to_json().encode())
    registry = Registry(fake.host, loopback=True)
    verifier = ImageVerifier(registry, kit.trusted_root(), POLICY)
    manifest = verifier.resolve(ref)
    sigs = verifier.signatures(ref, manifest)
    atts = verifier.attestations(ref, manifest, slsa)
    assert len(sigs.verified) == 1 and len(atts.verified) == 1
    assert atts.verified[0].result.statement.predicate_type == slsa
    # an attestation whose annotation lies (claims to be a signature) is verified, then skipped
    lying = kit.attest(_statement(digest, slsa)).to_json().encode()
    _push_bundle(fake, digest, image, lying, formats.SIGN_PREDICATE)
    assert len(verifier.signatures(ref, manifest).verified) == 1


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


# -- the legacy .sig image: the same rules per layer ------------------------------------------------


def _legacy_layer(fake: FakeRegistry, kit: Kit, ref: Reference, digest: str) -> dict:
    """A real cosign-style signature layer: simple-signing payload signed and logged with kit."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import load_der_x509_certificate

    payload = formats.simple_signing_payload(ref.name, digest, None)
    bundle, _ = kit.sign_blob(payload)
    cert = load_der_x509_certificate(bundle.verification_material.certificate)
    annotations = {
        formats.ANN_SIGNATURE: base64.b64encode(bundle.message_signature.signature).decode(),
        formats.ANN_CERTIFICATE: cert.public_bytes(Encoding.PEM).decode(),
        formats.ANN_BUNDLE: formats.rekor_bundle_annotation(
            bundle.verification_material.tlog_entries[0]
        ),
    }
    return formats.descriptor(formats.SIMPLESIGNING, payload, annotations) | {"_blob": payload}


def _push_sig_image(fake: FakeRegistry, digest: str, layers: list[dict]) -> None:
    for layer in layers:
        blob = layer.pop("_blob", None)
        if blob is not None:
            fake.add_blob(blob)
    config = formats.signature_config(layers)
    fake.add_blob(config)
    raw = formats.signature_manifest(config, layers)
    fake.add_manifest(raw, tag=formats.legacy_tag(digest, "sig"))


def test_a_broken_legacy_layer_does_not_block_a_valid_one(fake, kit) -> None:
    ref, digest, _ = _image(fake)
    missing = formats.descriptor(formats.SIMPLESIGNING, b"never pushed")
    _push_sig_image(fake, digest, [missing, _legacy_layer(fake, kit, ref, digest)])
    outcome = _verify(fake, kit, ref)
    assert len(outcome.verified) == 1, outcome.failures
    assert [where.rpartition(" ")[2] for where, _ in outcome.failures] == ["0"]


def test_legacy_layers_are_capped(fake, kit) -> None:
    from sigstack.client.oci.verify import MAX_CANDIDATES

    ref, digest, _ = _image(fake)
    junk = [formats.descriptor(formats.SIMPLESIGNING, b"%d" % n) | {"_blob": b"%d" % n}
            for n in range(MAX_CANDIDATES + 6)]  # fmt: skip
    _push_sig_image(fake, digest, junk)
    outcome = _verify(fake, kit, ref)
    fetched = [p for p in fake.requests_for("/v2/team/app/blobs/") if "sha256" in p]
    assert len(fetched) == MAX_CANDIDATES
    assert any("6 more signature layers were not examined" in why for _, why in outcome.failures)
