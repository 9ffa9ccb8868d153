"""Body routes (``runtime.direct``): the log write paths answered from the ASGI bridge without
Flask give the same answers as through Flask, byte for byte where the log's state allows it.

Two bridges serve one real app (Rekor v1, Rekor v2 and the CT log, each on SQLite): one takes the direct
routes (and fails the test if it falls back to the WSGI app), the other has none, so every request
goes through Flask and the hooks of ``runtime.app``. With the same ``X-Request-Id`` the two answer
an error with the same bytes; a new entry is answered with the same status, headers and JSON shape.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sigstack.services.ctlog.app import create_app as ctlog_app
from sigstack.services.ctlog.config import CTLogConfig
from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.identity import Principal
from sigstack.services.keys import create_file_key, load_signer
from sigstack.services.rekor.app import create_app as rekor_app
from sigstack.services.rekor.config import RekorConfig
from sigstack.services.rekor2.app import create_app as rekor2_app
from sigstack.services.rekor2.config import Rekor2Config
from sigstack.services.runtime import db, observe
from tests.support.bridge import Pair, asgi_post
from tests.support.entries import hashedrekord, v2_hashedrekord
from tests.support.keys import new_key

V1, V2 = "/api/v1/log/entries", "/api/v2/log/entries"
CT = ("/ct/v1/add-chain", "/ct/v1/add-pre-chain")


@pytest.fixture
def v1(tmp_path: Path) -> Iterator[Pair]:
    url = db.sqlite_url(tmp_path / "rekor.db")
    db.upgrade(url)
    create_file_key(tmp_path / "key.pem")
    app = rekor_app(RekorConfig(database_url=url, key_uri=f"file:{tmp_path / 'key.pem'}",
                                hostname="rekor.test", create=True, batch_wait_ms=0,
                                max_body_bytes=64 * 1024))  # fmt: skip
    yield Pair(app)
    app.extensions["rekor"].close()


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[Pair]:
    url = db.sqlite_url(tmp_path / "rekor2.db")
    db.upgrade(url)
    create_file_key(tmp_path / "key.pem", "ed25519")
    app = rekor2_app(Rekor2Config.from_mapping({"database_url": url, "origin": "rekor2.test",
                                                "key_uri": f"file:{tmp_path / 'key.pem'}",
                                                "create": True, "batch_wait_ms": 0,
                                                "max_body_bytes": 64 * 1024}))  # fmt: skip
    yield Pair(app)
    app.extensions["rekor2"].close()


@pytest.fixture
def ct(tmp_path: Path) -> Iterator[tuple[Pair, Any]]:

    paths = create_ca(tmp_path / "ca", algorithm="ecdsa-p256")
    chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
    ca = CertificateAuthority(load_signer(f"file:{paths['intermediate-key.pem']}"), chain)
    url = db.sqlite_url(tmp_path / "ctlog.db")
    db.upgrade(url)
    create_file_key(tmp_path / "ct-key.pem")
    app = ctlog_app(CTLogConfig(database_url=url, key_uri=f"file:{tmp_path / 'ct-key.pem'}",
                                roots_file=str(paths["root.pem"]), create=True,
                                batch_wait_ms=0))  # fmt: skip
    yield Pair(app), ca
    app.extensions["ctlog"].close()


def _ct_chain(ca: Any, n: int, precert: bool) -> bytes:

    email = f"s{n}@example.com"

    who = Principal(email, x509.RFC822Name(email),
                    {"issuer": "https://i", "issuer_v1": "https://i", "token_subject": "s"})  # fmt: skip
    builder = ca.leaf_builder(who, new_key("ec-p256").public_key())
    leaf = ca.precertificate(builder) if precert else ca.plain(builder)
    chain = [leaf.public_bytes(Encoding.DER), *ca.chain_der]
    return json.dumps({"chain": [base64.b64encode(c).decode() for c in chain]}).encode()


def _v1_entry(n: int) -> bytes:
    return json.dumps(hashedrekord(b"artifact %d" % n)).encode()


def _v2_entry(n: int) -> bytes:
    return json.dumps(v2_hashedrekord(b"artifact %d" % n).request).encode()


BAD_BODIES = [
    b"",
    b"not json",
    b"[]",
    b"{}",
    b'{"a": 1, "a": 2}',
    b'{"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {}}',
    b'{"hashedRekordRequestV002": {}}',
    b'{"kind": 1e999}',
    b'{"x": "\xff"}',
    b"{" * 5000,
    json.dumps({"kind": "nope", "apiVersion": "9", "spec": {"x": [1, 2, 3]}}).encode(),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_v1_refusals_are_the_same_bytes(v1: Pair, body: bytes) -> None:
    direct, flask = v1.both(V1, body)
    assert direct == flask
    assert 400 <= direct[0] < 500 and direct[1]["x-request-id"] == "req-1"


@pytest.mark.parametrize("body", BAD_BODIES)
def test_v2_refusals_are_the_same_bytes(v2: Pair, body: bytes) -> None:
    direct, flask = v2.both(V2, body)
    assert direct == flask
    assert 400 <= direct[0] < 500 and set(json.loads(direct[2])) == {"code", "message", "details"}


def test_v1_new_entries_and_duplicates(v1: Pair) -> None:
    one, two = _v1_entry(1), _v1_entry(2)
    made_direct = asgi_post(v1.direct, V1, one, [])
    made_flask = asgi_post(v1.flask, V1, two, [])
    for status, headers, body in (made_direct, made_flask):
        assert status == 201
        assert set(headers) == {
            "content-type",
            "content-length",
            "location",
            "etag",
            "x-request-id",
        }
        assert headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(body) and body.endswith(b"}\n")
        (uuid, entry), = json.loads(body).items()  # fmt: skip
        assert headers["location"] == f"{V1}/{uuid}" and headers["etag"] == uuid
    shape = [(k, sorted(v)) for k, v in next(iter(json.loads(made_direct[2]).values())).items()
             if isinstance(v, dict)]  # fmt: skip
    assert shape == [(k, sorted(v)) for k, v in next(iter(json.loads(made_flask[2]).values())).items()
                     if isinstance(v, dict)]  # fmt: skip
    # the same duplicate answered by both: the same 409, Location and x-log-index
    for entry in (one, two):
        direct, flask = v1.both(V1, entry)
        assert direct == flask and direct[0] == 409
        assert "location" in direct[1]


def test_v2_new_entries_and_duplicates(v2: Pair) -> None:
    one, two = _v2_entry(1), _v2_entry(2)
    made = [asgi_post(v2.direct, V2, one, []), asgi_post(v2.flask, V2, two, [])]
    for status, headers, body in made:
        assert status == 201
        assert set(headers) == {"content-type", "content-length", "x-request-id"}
        assert int(headers["content-length"]) == len(body)
        # written out (direct.RawJSON) on both paths: as the encoders write, a final newline
        assert headers["content-type"] == "application/json" and body.endswith(b'"}\n')
        assert body == (json.dumps(json.loads(body), separators=(",", ":")) + "\n").encode()
    entries = [json.loads(body) for _, _, body in made]
    assert [e["logIndex"] for e in entries] == ["0", "1"]
    assert sorted(entries[0]) == sorted(entries[1])
    for entry in (one, two):
        direct, flask = v2.both(V2, entry)
        assert direct == flask and direct[0] == 409 and "x-log-index" in direct[1]


def test_request_ids(v1: Pair) -> None:
    for given, kept in (("abc-1.2_3", True), ("not ok!", False), ("x" * 65, False)):
        status, headers, _ = asgi_post(v1.direct, V1, b"{}", [(b"x-request-id", given.encode())])
        assert status == 422
        assert (headers["x-request-id"] == given) is kept
        if not kept:
            assert len(headers["x-request-id"]) == 32
    # a header spelt with an underscore is not the request id; two of them are not one id
    _, headers, _ = asgi_post(v1.direct, V1, b"{}", [(b"x_request_id", b"smuggled")])
    assert headers["x-request-id"] != "smuggled"
    _, headers, _ = asgi_post(
        v1.direct, V1, b"{}", [(b"x-request-id", b"a"), (b"x-request-id", b"b")]
    )
    direct_id = headers["x-request-id"]
    _, headers, _ = asgi_post(
        v1.flask, V1, b"{}", [(b"x-request-id", b"a"), (b"x-request-id", b"b")]
    )
    assert direct_id not in ("a", "b") and headers["x-request-id"] not in ("a", "b")


@pytest.mark.parametrize("step", ["submit", "answer"])
def test_an_unexpected_exception_is_a_safe_500(
    v1: Pair, caplog: pytest.LogCaptureFixture, step: str
) -> None:
    """Raised while handing the entry over (``Deferred.start``) or while answering it once it is
    committed (``Deferred.then``, on the bridge's event loop)."""
    rekor = v1.flask.app.extensions["rekor"]  # type: ignore[attr-defined]

    def broken(*args: Any) -> Any:
        raise RuntimeError("secret detail")

    setattr(rekor, step, broken)
    with caplog.at_level(logging.ERROR, logger="sigstack.http"):
        direct, flask = v1.both(V1, _v1_entry(3))
    assert direct == flask and direct[0] == 500
    assert json.loads(direct[2]) == {"code": 500, "message": "internal error"}
    assert b"secret" not in direct[2]
    assert sum("unhandled error on POST /api/v1/log/entries" in r.getMessage()
               for r in caplog.records) == 2  # fmt: skip


def test_a_body_over_the_apps_limit_goes_to_flask(v1: Pair) -> None:
    """The bridge's own limit is larger than the app's (64 KiB) here: the direct route hands the
    request to Flask, which answers 413 as it always has."""
    v1.strict = False
    body = b'{"kind": "' + b"x" * (70 * 1024) + b'"}'
    direct, flask = v1.both(V1, body)
    assert direct == flask and direct[0] == 413


def test_metrics_count_direct_answers(v1: Pair) -> None:
    def count(status: str) -> float:
        value = observe.REQUESTS.labels("rekor", "POST", V1, status)._value.get()
        return float(value)

    before = count("201"), count("422")
    asgi_post(v1.direct, V1, _v1_entry(4), [])
    asgi_post(v1.direct, V1, b"{}", [])
    assert (count("201"), count("422")) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("path", CT)
def test_ct_log_refusals_are_the_same_bytes(ct: tuple[Pair, Any], path: str) -> None:
    pair, ca = ct
    wrong_kind = _ct_chain(ca, 0, precert=path.endswith("add-chain"))  # a precert to add-chain...
    for body in [*BAD_BODIES, b'{"chain": ["%%%"]}', b'{"chain": []}', wrong_kind]:
        direct, flask = pair.both(path, body)
        assert direct == flask, body[:60]
        assert direct[0] == 400 and set(json.loads(direct[2])) == {"code", "message"}


@pytest.mark.parametrize("path", CT)
def test_ct_log_scts(ct: tuple[Pair, Any], path: str) -> None:
    pair, ca = ct
    precert = path.endswith("add-pre-chain")
    answers = [asgi_post(pair.direct, path, _ct_chain(ca, 1, precert), []),
               asgi_post(pair.flask, path, _ct_chain(ca, 2, precert), [])]  # fmt: skip
    for status, headers, body in answers:
        assert status == 200
        assert set(headers) == {"content-type", "content-length", "x-request-id"}
        assert set(json.loads(body)) == {
            "sct_version",
            "id",
            "timestamp",
            "extensions",
            "signature",
        }
