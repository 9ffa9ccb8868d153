"""The Rekor v2 API on a real SQLite log through Flask's test client: answers verified by sigstack's
own verifier and by sigstore-python 4.5.1's Rekor v2 code, every refusal a 400 (or 413) in the
grpc-gateway body with nothing written, duplicates, checkpoints, and the log's key and origin."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

from sigstack.protocol import merkle, note
from sigstack.protocol.errors import ConfigError
from sigstack.services.rekor.store import index as search_index
from sigstack.services.rekor2.log import Rekor2Log, check_origin, resolve_origin
from sigstack.services.tlog import store as tlog_store
from tests.support.checks import our_verify_v2, sigstore_python_verify_v2
from tests.support.entries import v2_dsse, v2_hashedrekord
from tests.unit.rekor2.conftest import LOG_KEY_DETAILS, ORIGIN
from tests.unit.rekor2.test_entries import REFUSALS

ENTRIES = "/api/v2/log/entries"


def _post(client: Any, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(ENTRIES, data=data, content_type="application/json")


def _written(log: Rekor2Log) -> tuple[int, int, int]:
    """(tree size, entry rows, search-index rows) in the database."""
    with log.log.engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(tlog_store.entries)).scalar()
        keys = conn.execute(select(func.count()).select_from(search_index)).scalar()
    return log.log.head().size, int(entries or 0), int(keys or 0)


def _key_id(origin: str, log: Rekor2Log) -> bytes:
    """The C2SP key ID computed here from the spec, not with the code under test."""
    key = log.signer.public_key
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()
    return hashlib.sha256(log.signer.public_der).digest()


def test_entries_verify_with_sigstore_python_and_our_verifier(make_app, log_key: str) -> None:
    app = make_app(log_key)
    client, log = app.test_client(), app.extensions["rekor2"]
    details = LOG_KEY_DETAILS[log_key]
    assert log.key_id == _key_id(ORIGIN, log) and log.key_details == details
    for index, signed in enumerate(
        [v2_hashedrekord(b"artifact"), v2_dsse(b'{"_type": "x"}'), v2_hashedrekord(b"k", with_certificate=False)]
    ):  # fmt: skip
        resp = _post(client, signed.request)
        assert resp.status_code == 201, resp.get_json()
        entry = resp.get_json()
        assert list(entry) == ["logIndex", "logId", "kindVersion", "integratedTime",
                               "inclusionPromise", "inclusionProof", "canonicalizedBody"]  # fmt: skip
        assert entry["logIndex"] == entry["inclusionProof"]["logIndex"] == str(index)
        assert entry["integratedTime"] == "0" and entry["inclusionPromise"] is None
        assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
        assert base64.b64decode(entry["logId"]["keyId"]) == log.key_id
        our_verify_v2(entry, log.signer.public_der, details, log.key_id, signed)
        if signed.certificate is not None:  # sigstore-python verifies certificate entries only
            sigstore_python_verify_v2(entry, log.signer.public_der, details, signed)
        else:
            sigstore_python_verify_v2(entry, log.signer.public_der, details)
        cp = note.verify_checkpoint(
            entry["inclusionProof"]["checkpoint"]["envelope"],
            [note.verifier_for_key(ORIGIN, log.signer.public_der, log.key_id[:4])],
        )
        assert (cp.origin, cp.size) == (ORIGIN, index + 1) and cp.extensions == ()


def test_the_answer_has_the_shape_of_a_real_rekor_tiles_entry(client) -> None:
    from tests.support.testdata import ROOT

    real = json.loads((ROOT / "tests/data/pyassets/cases/staging-rekor-v2-happy-path/"
                       "bundle.sigstore.json").read_text())["verificationMaterial"]["tlogEntries"][0]  # fmt: skip
    ours = _post(client, v2_hashedrekord(b"shape").request).get_json()
    # the bundle omits zero values; the log's answer has every field (EmitUnpopulated)
    assert set(real) == set(ours) - {"integratedTime", "inclusionPromise"}
    assert set(real["inclusionProof"]) == set(ours["inclusionProof"])
    assert real["kindVersion"] == ours["kindVersion"]
    for text in (real, ours):
        envelope = text["inclusionProof"]["checkpoint"]["envelope"]
        origin = envelope.split("\n", 1)[0]
        assert envelope.count("\n\n") == 1 and f"\n\n\u2014 {origin} " in envelope


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_every_refusal_is_a_400_and_writes_nothing(client, rekor2, name: str) -> None:
    request, message = REFUSALS[name]
    resp = _post(client, request)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["code"] == 3 and body["details"] == [] and message in body["message"]
    assert _written(rekor2) == (0, 0, 0)


def test_a_body_over_the_limit_is_a_413_and_writes_nothing(make_app) -> None:
    app = make_app(max_body_bytes=512)
    resp = _post(app.test_client(), v2_hashedrekord(b"big").request)
    assert resp.status_code == 413
    assert resp.get_json() == {"code": 8, "message": "request body is larger than the configured "
                               "limit", "details": []}  # fmt: skip
    assert _written(app.extensions["rekor2"]) == (0, 0, 0)


def test_a_duplicate_is_a_409_with_the_index(client, rekor2) -> None:
    first = v2_hashedrekord(b"one")
    assert _post(client, first.request).status_code == 201
    assert _post(client, v2_hashedrekord(b"two").request).status_code == 201
    again = _post(client, first.request)
    assert again.status_code == 409 and again.headers["x-log-index"] == "0"
    assert again.get_json() == {
        "code": 6,
        "message": "an equivalent entry already exists in the transparency log with index 0",
        "details": [],
    }
    assert _written(rekor2)[:2] == (2, 2)


def test_lookup_by_index(client, rekor2) -> None:
    signed = v2_hashedrekord(b"lookup")
    made = _post(client, signed.request).get_json()
    _post(client, v2_hashedrekord(b"later").request)
    got = client.get(f"{ENTRIES}/0")
    assert got.status_code == 200
    entry = got.get_json()
    assert entry["canonicalizedBody"] == made["canonicalizedBody"]
    assert entry["inclusionProof"]["treeSize"] == "2"  # proved against the latest checkpoint
    our_verify_v2(entry, rekor2.signer.public_der, "PKIX_ED25519", rekor2.key_id, signed)
    assert client.get(f"{ENTRIES}/2").status_code == 404
    for bad in ("-1", "01", "x", "9" * 30):
        resp = client.get(f"{ENTRIES}/{bad}")
        assert resp.status_code == 400 and resp.get_json()["code"] == 3


def test_checkpoint_of_the_empty_log_and_after_writes(client, rekor2) -> None:
    verifier = note.verifier_for_key(ORIGIN, rekor2.signer.public_der)
    resp = client.get("/checkpoint")
    assert resp.status_code == 200 and resp.content_type == "text/plain; charset=utf-8"
    empty = note.verify_checkpoint(resp.data, [verifier])
    assert (empty.size, empty.root_hash) == (0, merkle.EMPTY_ROOT)
    _post(client, v2_hashedrekord(b"a").request)
    after = note.verify_checkpoint(client.get("/checkpoint").data, [verifier])
    assert after.size == 1


def test_errors_are_grpc_gateway_bodies(client) -> None:
    missing = client.get("/no/such/route")
    assert missing.status_code == 404 and missing.get_json() == {
        "code": 5, "message": "not found", "details": []}  # fmt: skip
    wrong = client.put(ENTRIES)
    assert wrong.status_code == 405 and wrong.get_json()["code"] == 12


def test_the_log_key_must_be_ed25519_or_p256(make_app) -> None:
    for algorithm in ("ecdsa-p384", "rsa-2048"):
        with pytest.raises(ConfigError, match="Ed25519 or ECDSA P-256"):
            make_app(algorithm)


def test_origins(make_app) -> None:
    for bad in ("", "a b", "a+b", "x" * 58, "caf\u00e9.example", "a\nb"):
        with pytest.raises(ConfigError):
            check_origin(bad)
    app = make_app()
    engine = app.extensions["rekor2"].log.engine
    assert resolve_origin(engine, None, "new:3003", create=False) == ORIGIN
    assert resolve_origin(engine, ORIGIN, "new:3003", create=False) == ORIGIN
    with pytest.raises(ConfigError, match="keeps its origin for life"):
        resolve_origin(engine, "other.test", "new:3003", create=False)
    assert resolve_origin(engine, "other.test", "x", create=True) == "other.test"
    make_app(origin="other.test")  # a second log (shard) in the same database
    with pytest.raises(ConfigError, match="several Rekor v2 logs"):
        resolve_origin(engine, None, "new:3003", create=False)


def test_algorithms_the_operator_left_out_are_refused(make_app) -> None:
    app = make_app(signing_algorithms="PKIX_ECDSA_P384_SHA_384,PKIX_RSA_PKCS1V15_4096_SHA256")
    resp = _post(app.test_client(), v2_hashedrekord(b"p256").request)
    assert resp.status_code == 400 and "not one of this log's signing algorithms" in (
        resp.get_json()["message"])  # fmt: skip
    assert _written(app.extensions["rekor2"]) == (0, 0, 0)
    with pytest.raises(ConfigError, match="signing_algorithms"):
        make_app(signing_algorithms="PKIX_ED25519")


def test_the_written_out_answer_is_the_encoded_entry(make_app, log_key: str) -> None:
    """The written-out answer (``render_json``) is, byte for byte, what the JSON encoders of
    ``runtime.direct`` and Flask write for its value, and proves the entry against the head it was
    given: for the first entry (an empty proof), later ones, an older head after a newer one, and
    through the HTTP route."""
    from sigstack.services.runtime.direct import _dumps

    app = make_app(log_key)
    log = app.extensions["rekor2"]
    client = app.test_client()
    posted = [_post(client, v2_hashedrekord(b"n%d" % i).request) for i in range(3)]
    older = log.head()
    posted += [_post(client, v2_hashedrekord(b"n%d" % i).request) for i in range(3, 5)]
    newer = log.head()
    assert all(r.status_code == 201 for r in posted) and (older.size, newer.size) == (3, 5)
    assert posted[0].get_json()["inclusionProof"]["hashes"] == []  # the one-entry tree
    for index in range(5):
        leaf = log.log.entry(index).leaf
        for head in (newer, older, newer) if index < 3 else (newer,):
            want = _dumps(log.render(index, leaf, head)).encode()
            assert log.render_json(index, leaf, head) == want
            proof = log.render(index, leaf, head)["inclusionProof"]
            assert proof["treeSize"] == str(head.size)
            assert base64.b64decode(proof["rootHash"]) == head.root_hash
            assert proof["checkpoint"]["envelope"] == head.note
            hashes = [base64.b64decode(h) for h in proof["hashes"]]
            merkle.verify_inclusion(index, head.size, merkle.leaf_hash(leaf), hashes,
                                    head.root_hash)  # fmt: skip
    assert "\u2014" in older.note and b"\\u2014" in log.render_json(0, leaf, older)
    for index, resp in enumerate(posted):
        body = base64.b64decode(resp.get_json()["canonicalizedBody"])
        assert resp.get_json()["logIndex"] == str(index)
        size = int(resp.get_json()["inclusionProof"]["treeSize"])
        assert merkle.leaf_hash(body) == log.log.entry(index).leaf_hash and size > index


def test_the_written_out_answer_under_threads_answering_different_heads(make_app) -> None:
    """Threads rendering against two heads at once (each swapping the per-head parts the other
    just made) each get their own head's bytes, every time."""
    import threading

    from sigstack.services.runtime.direct import _dumps

    app = make_app()
    log = app.extensions["rekor2"]
    client = app.test_client()
    for i in range(3):
        _post(client, v2_hashedrekord(b"t%d" % i).request)
    older = log.head()
    _post(client, v2_hashedrekord(b"t3").request)
    newer = log.head()
    leaf = log.log.entry(1).leaf
    want = {h.size: _dumps(log.render(1, leaf, h)).encode() for h in (older, newer)}
    wrong: list[int] = []
    start = threading.Barrier(4)

    def render(head: Any) -> None:
        start.wait()
        for _ in range(300):
            if log.render_json(1, leaf, head) != want[head.size]:
                wrong.append(head.size)

    threads = [threading.Thread(target=render, args=(h,)) for h in (older, newer) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
