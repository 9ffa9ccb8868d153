"""The Rekor v1 API on a real SQLite log through Flask's test client."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import merkle, note
from sigstack.protocol.canonical import canonicalize
from tests.support.checks import rekor_types_parse, sigstore_python_verify
from tests.support.entries import dsse, hashedrekord, intoto, statement
from tests.support.keys import b64, self_signed_cert

ENTRIES = "/api/v1/log/entries"


def _post(client, body):
    return client.post(ENTRIES, data=json.dumps(body), content_type="application/json")


def test_create_hashedrekord_and_verify_everything(client, rekor) -> None:
    resp = _post(client, hashedrekord(b"hello"))
    assert resp.status_code == 201
    data = resp.get_json()
    ((entry_id, entry),) = data.items()
    assert len(entry_id) == 80 and int(entry_id[:16], 16) == rekor.tree_id
    assert resp.headers["Location"] == f"{ENTRIES}/{entry_id}"
    assert resp.headers["ETag"] == entry_id
    assert (
        entry["logIndex"] == 0
        and entry["logID"] == hashlib.sha256(rekor.signer.public_der).hexdigest()
    )
    body = base64.b64decode(entry["body"])
    assert body == canonicalize(json.loads(body))
    assert entry_id[16:] == merkle.leaf_hash(body).hex()
    sigstore_python_verify(data, rekor.signer.public_der)
    rekor_types_parse(data)
    proof = entry["verification"]["inclusionProof"]
    cp = note.verify_rekor_checkpoint(proof["checkpoint"], rekor.log_id, rekor.signer.public_key)
    assert cp.origin == f"rekor.test - {rekor.tree_id}" and cp.size == proof["treeSize"] == 1


def test_many_entries_proofs_and_lookups(client, rekor) -> None:
    ids = []
    for i in range(20):
        resp = _post(client, hashedrekord(f"artifact {i}".encode()))
        assert resp.status_code == 201
        ids.append(next(iter(resp.get_json())))
    for i in (0, 7, 19):
        by_index = client.get(f"{ENTRIES}?logIndex={i}").get_json()
        assert next(iter(by_index)) == ids[i]
        sigstore_python_verify(by_index, rekor.signer.public_der)
        by_uuid = client.get(f"{ENTRIES}/{ids[i]}").get_json()
        assert next(iter(by_uuid)) == ids[i]
        by_short = client.get(f"{ENTRIES}/{ids[i][16:]}").get_json()
        assert next(iter(by_short)) == ids[i]
    got = client.post(f"{ENTRIES}/retrieve/", json={"entryUUIDs": ids[:3], "logIndexes": [5]})
    assert got.status_code == 200 and len(got.get_json()) == 4
    got = client.post(f"{ENTRIES}/retrieve", json={"logIndexes": [19, 99]})
    assert [next(iter(e)) for e in got.get_json()] == [ids[19]]
    too_many = client.post(
        f"{ENTRIES}/retrieve", json={"entryUUIDs": ids[:6], "logIndexes": [1] * 5}
    )
    assert too_many.status_code == 422 and "max allowed 10" in too_many.get_json()["message"]
    assert client.get(f"{ENTRIES}?logIndex=20").status_code == 404
    assert client.get(f"{ENTRIES}?logIndex=-1").status_code == 422
    assert client.get(f"{ENTRIES}?logIndex=abc").status_code == 422
    assert client.get(f"{ENTRIES}/{'0' * 16}{ids[0][16:]}").status_code == 404
    assert client.get(f"{ENTRIES}/xyz").status_code == 400

    info = client.get("/api/v1/log").get_json()
    assert info["treeSize"] == 20 and info["treeID"] == str(rekor.tree_id)
    root20 = bytes.fromhex(info["rootHash"])
    note.verify_rekor_checkpoint(info["signedTreeHead"], rekor.log_id, rekor.signer.public_key)
    proof = client.get("/api/v1/log/proof?firstSize=7&lastSize=20").get_json()
    root7 = rekor.log.root_at(7)
    merkle.verify_consistency(7, 20, [bytes.fromhex(h) for h in proof["hashes"]], root7, root20)
    assert bytes.fromhex(proof["rootHash"]) == root20
    bad = client.get("/api/v1/log/proof?firstSize=9&lastSize=3")
    assert bad.status_code == 400 and "must be less than" in bad.get_json()["message"]
    assert client.get("/api/v1/log/proof?firstSize=1&lastSize=21").status_code == 400
    assert client.get("/api/v1/log/proof?firstSize=1").status_code == 422
    pem = client.get("/api/v1/log/publicKey")
    assert pem.mimetype == "application/x-pem-file" and pem.data == rekor.signer.public_pem
    assert client.get("/api/v1/log/publicKey?treeID=1").status_code == 400


def test_duplicate_is_409_with_location(client) -> None:
    entry = hashedrekord(b"same")
    first = _post(client, entry)
    again = _post(client, entry)
    assert again.status_code == 409
    entry_id = next(iter(first.get_json()))
    assert again.headers["Location"] == f"{ENTRIES}/{entry_id}"
    assert again.get_json() == {
        "code": 409,
        "message": f"an equivalent entry already exists in the transparency log with UUID {entry_id}",
    }


def test_dsse_and_intoto_entries(client, rekor) -> None:
    payload = statement(hashlib.sha256(b"a").hexdigest())
    for proposed in (dsse(payload), intoto(payload)):
        resp = _post(client, proposed)
        assert resp.status_code == 201, resp.get_json()
        data = resp.get_json()
        rekor_types_parse(data)
        body = json.loads(base64.b64decode(next(iter(data.values()))["body"]))
        assert body["kind"] == proposed["kind"]
    found = client.post(
        "/api/v1/index/retrieve", json={"hash": "sha256:" + hashlib.sha256(b"a").hexdigest()}
    )
    assert len(found.get_json()) == 2


def test_search_index(client) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed_cert(key, "Alice@Example.com")
    resp = _post(client, hashedrekord(b"by cert", key, cert))
    assert resp.status_code == 201
    entry_id = next(iter(resp.get_json()))
    digest = hashlib.sha256(b"by cert").hexdigest()
    assert client.post(
        "/api/v1/index/retrieve", json={"email": "alice@example.com"}
    ).get_json() == [entry_id]
    assert client.post("/api/v1/index/retrieve", json={"hash": digest}).get_json() == [entry_id]
    assert client.post(
        "/api/v1/index/retrieve", json={"publicKey": {"format": "x509", "content": b64(cert)}}
    ).get_json() == [entry_id]
    both = {"email": "alice@example.com", "hash": "sha256:" + "0" * 64, "operator": "and"}
    assert client.post("/api/v1/index/retrieve", json=both).get_json() == []
    both["operator"] = "or"
    assert client.post("/api/v1/index/retrieve", json=both).get_json() == [entry_id]
    assert client.post("/api/v1/index/retrieve", json={}).status_code == 400


def _mutations():
    good = hashedrekord(b"x")
    wrong_alg = hashedrekord(b"x")
    wrong_alg["spec"]["data"]["hash"] = {"algorithm": "sha384", "value": "a" * 96}
    bad_b64 = hashedrekord(b"x")
    bad_b64["spec"]["signature"]["content"] = "!!!notbase64"
    bad_sig = hashedrekord(b"x")
    bad_sig["spec"]["data"]["hash"]["value"] = hashlib.sha256(b"y").hexdigest()
    short = hashedrekord(b"x")
    short["spec"]["data"]["hash"]["value"] = "abc"
    not_pem = hashedrekord(b"x")
    not_pem["spec"]["signature"]["publicKey"]["content"] = b64(b"hello")
    return [
        ("not json", b"{nope", 400, "not valid JSON"),
        ("unknown kind", {**good, "kind": "helmish"}, 400, "not a supported entry kind"),
        ("wrong version", {**good, "apiVersion": "0.0.9"}, 400, "version 0.0.9 is not supported"),
        ("missing kind", {k: v for k, v in good.items() if k != "kind"}, 422, "kind"),
        ("bad version format", {**good, "apiVersion": "one"}, 422, "apiVersion"),
        ("array body", [good], 422, "JSON object"),
        ("bad base64", bad_b64, 400, "base64"),
        ("bad signature", bad_sig, 400, "does not verify"),
        ("p256 with sha384", wrong_alg, 400, "entry algorithms are not allowed"),
        ("short digest", short, 400, "lower-case hex"),
        ("not a key", not_pem, 400, "PEM"),
    ]


@pytest.mark.parametrize(
    "name,body,status,words", _mutations(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_bad_input_is_refused_and_nothing_written(client, rekor, name, body, status, words) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = client.post(ENTRIES, data=data, content_type="application/json")
    assert resp.status_code == status, resp.get_json()
    assert words in resp.get_json()["message"]
    assert rekor.log.head().size == 0


def test_oversized_body_is_413(client, rekor) -> None:
    resp = client.post(
        ENTRIES, data=b"{" + b" " * (70 * 1024) + b"}", content_type="application/json"
    )
    assert resp.status_code == 413 and resp.get_json()["code"] == 413
    assert rekor.log.head().size == 0


def test_tiles_api(client, rekor) -> None:
    leaves = []
    for i in range(300):
        resp = _post(client, hashedrekord(f"tile {i}".encode()))
        leaves.append(base64.b64decode(next(iter(resp.get_json().values()))["body"]))
    cp_text = client.get("/checkpoint").get_data(as_text=True)
    cp = note.verify_rekor_checkpoint(cp_text, rekor.log_id, rekor.signer.public_key)
    assert cp.size == 300
    hashes = [merkle.leaf_hash(x) for x in leaves]
    full = client.get("/tile/0/000")
    assert full.status_code == 200 and full.data == b"".join(hashes[:256])
    part = client.get("/tile/0/001.p/44")
    assert part.data == b"".join(hashes[256:300])
    assert client.get("/tile/0/001.p/43").data == b"".join(hashes[256:299])
    assert client.get("/tile/0/001").status_code == 404
    assert client.get("/tile/0/001.p/45").status_code == 404
    assert client.get("/tile/1/000.p/1").data == merkle.root_of(hashes[:256])
    bundle = client.get("/tile/entries/001.p/44").data
    pos, got = 0, []
    while pos < len(bundle):
        n = int.from_bytes(bundle[pos : pos + 2], "big")
        got.append(bundle[pos + 2 : pos + 2 + n])
        pos += 2 + n
    assert got == leaves[256:300]
    assert client.get("/tile/0/1").status_code == 404
    assert client.get("/tile/x/000").status_code == 404
    # one tiles API for both logs (services.tlog.api): a level is decimal without a leading zero
    # (C2SP tlog-tiles), in ASCII digits only
    for path in ("/tile/00/000", "/tile/01/000.p/1", "/tile/\u0660/000"):
        resp = client.get(path)
        assert (resp.status_code, resp.get_json()["message"]) == (404, "no such tile")
    assert client.get("/checkpoint").content_type == "text/plain; charset=utf-8"
    assert full.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    from sigstack.services.tlog.api import tiles_blueprint

    endpoint = client.application.view_functions["tlog_tiles.tile"]
    assert endpoint.__module__ == tiles_blueprint.__module__


def test_metrics_and_request_ids(client) -> None:
    _post(client, hashedrekord(b"counted"))
    resp = client.get("/api/v1/log", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    evil = client.get("/api/v1/log", headers={"X-Request-Id": '"}{<script>' * 20})
    assert len(evil.headers["X-Request-Id"]) == 32  # replaced by a fresh id, never echoed
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sigstack_log_entries{log="rekor"} 1.0' in text
    assert (
        'sigstack_http_requests_total{method="POST",route="/api/v1/log/entries",service="rekor",status="201"}'
        in text
    )
    assert "sigstack_http_request_duration_seconds_bucket" in text


def test_set_payload_is_rfc8785() -> None:
    from sigstack.protocol.errors import ValidationError
    from sigstack.protocol.rekor import set_payload

    body = base64.b64encode(b"x" * 100).decode()
    for index in (0, 12, 2**53 - 1):
        assert set_payload(body, 1700000000, "ab" * 32, index) == canonicalize(
            {"logIndex": index, "logID": "ab" * 32, "integratedTime": 1700000000, "body": body}
        )
    with pytest.raises(ValidationError, match="integer range"):
        set_payload(body, 1700000000, "ab" * 32, 2**53)


def _statement_with(subjects: list[dict]) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": subjects,
                       "predicateType": "https://example.com/test/v1", "predicate": {}}).encode()  # fmt: skip


@pytest.mark.parametrize("kind", ["dsse", "intoto"])
@pytest.mark.parametrize("bad", ["ab\x00cd", "ab\ncd", "ab\x7fcd"])
def test_index_keys_with_control_characters_are_refused(client, rekor, kind, bad) -> None:
    # A NUL in a subject digest once made PostgreSQL's COPY fail for every entry of the batch.
    make = dsse if kind == "dsse" else intoto
    payload = _statement_with([{"name": "a", "digest": {"sha256": bad}}])
    resp = _post(client, make(payload))
    assert resp.status_code == 400, resp.get_json()
    assert "control character" in resp.get_json()["message"]
    assert rekor.log.head().size == 0


def test_index_keys_per_entry_are_capped(client, rekor) -> None:
    many = [{"name": str(i), "digest": {"sha256": f"{i:064x}"}} for i in range(300)]
    resp = _post(client, dsse(_statement_with(many)))
    assert resp.status_code == 400
    assert "at most 256 search-index keys" in resp.get_json()["message"]
    assert rekor.log.head().size == 0
    fine = [{"name": str(i), "digest": {"sha256": f"{i:064x}"}} for i in range(200)]
    assert _post(client, dsse(_statement_with(fine))).status_code == 201


@pytest.mark.parametrize("body", [
    b"[" * 5000 + b"]" * 5000,  # deeper than the decoder can go: was a 500 with a traceback
    b'{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": NaN}',
    b'{"kind": "hashedrekord", "kind": "dsse"}',
    b'{"spec": "\\ud800"}',
])  # fmt: skip
def test_json_outside_rfc_8259_is_400(client, rekor, body) -> None:
    resp = client.post(ENTRIES, data=body, content_type="application/json")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "request body" in resp.get_json()["message"]
    assert rekor.log.head().size == 0


def test_deeply_nested_dsse_envelope_and_statement_are_refused_or_not_indexed(
    client, rekor
) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    key = ec.generate_private_key(ec.SECP256R1())
    entry = dsse(deep, key)  # an envelope whose payload is too deep to index
    assert _post(client, entry).status_code == 201
    entry["spec"]["proposedContent"]["envelope"] = "[" * 5000 + "]" * 5000
    resp = _post(client, entry)
    assert resp.status_code == 400 and "envelope" in resp.get_json()["message"]


@pytest.mark.parametrize("value", ["١", "²", "0٣"])
def test_integer_parameters_take_ascii_digits_only(client, value) -> None:
    # \d matched other scripts' digits and int() read them: logIndex=١ was entry 1
    resp = client.get(ENTRIES, query_string={"logIndex": value})
    assert resp.status_code == 422
