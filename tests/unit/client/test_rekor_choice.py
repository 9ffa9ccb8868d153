"""Which log the client writes to, what a Rekor v2 signing needs, and the timestamp request.

- ``choose_rekor``: per operator the valid Rekor with the highest API version (1 or 2), then the
  selector; ``--rekor-version`` forces one; refusals name the forced version.
- signing to Rekor v2 without a timestamp stops before anything is logged;
- ``services.timestamp`` asks our real TSA (``services.tsa``, served in a thread) with a SHA-256
  imprint of the signature, a nonce and certReq, and refuses an answer over something else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.client.sign import services
from sigstack.client.sign.oidc import IdentityToken
from sigstack.client.sign.signer import Signer, choose_rekor
from sigstack.protocol.errors import UnavailableError, ValidationError
from sigstack.protocol.trust import Service, ServiceConfiguration, SigningConfig, TimeRange
from tests.support.servers import serve_wsgi

from .fakes import token
from .kit import Kit

START = TimeRange(datetime(2020, 1, 1, tzinfo=UTC))


def _rekor(url: str, version: int, operator: str = "op", window: TimeRange = START) -> Service:
    return Service(url, version, window, operator)


def _config(
    *rekors: Service, tsas: tuple[Service, ...] = (), selector: str = "ANY"
) -> SigningConfig:
    return SigningConfig(
        ca_urls=(Service("http://fulcio.test", 1, START, "op"),),
        rekor_tlog_urls=rekors,
        tsa_urls=tsas,
        rekor_tlog_config=ServiceConfiguration(selector=selector),
    )


def test_the_highest_api_version_of_an_operator_wins_whatever_the_order() -> None:
    v1, v2 = _rekor("http://rekor.test", 1), _rekor("http://rekor2.test", 2)
    assert choose_rekor(_config(v1, v2)) == v2
    assert choose_rekor(_config(v2, v1)) == v2
    assert choose_rekor(_config(v2, v1), 1) == v1
    assert choose_rekor(_config(v1, v2), 2) == v2


def test_a_v2_log_outside_its_window_leaves_the_v1_log() -> None:
    ended = TimeRange(START.start, datetime.now(UTC) - timedelta(days=1))
    v2 = _rekor("http://rekor2.test", 2, window=ended)
    v1 = _rekor("http://rekor.test", 1)
    assert choose_rekor(_config(v2, v1)) == v1
    with pytest.raises(ValidationError, match=r"no usable Rekor log \(--rekor-version 2\)"):
        choose_rekor(_config(v2, v1), 2)


def test_api_versions_this_client_does_not_speak_are_passed_over() -> None:
    v3 = _rekor("http://rekor3.test", 3)
    with pytest.raises(ValidationError, match="no usable Rekor log"):
        choose_rekor(_config(v3))
    assert choose_rekor(_config(v3, _rekor("http://rekor.test", 1))).major_api_version == 1


def test_one_log_per_operator_then_the_selector() -> None:
    a2, b1 = _rekor("http://a2.test", 2, "a"), _rekor("http://b1.test", 1, "b")
    assert choose_rekor(_config(a2, b1)) == a2  # ANY: the first operator's
    assert choose_rekor(_config(b1, a2)) == b1


def _signer(config: SigningConfig) -> Signer:
    kit = Kit()
    key = ec.generate_private_key(ec.SECP256R1())
    signer = Signer(config, None, IdentityToken.parse(token()))
    signer._key, signer._chain = key, [kit.leaf(key), kit.ca]  # as if Fulcio had answered
    return signer


def test_rekor_v2_without_a_timestamp_logs_nothing(monkeypatch) -> None:
    logged: list[Any] = []
    monkeypatch.setattr(services, "upload_entry_v2", lambda *a: logged.append(a))
    monkeypatch.setattr(services, "upload_entry", lambda *a: logged.append(a))
    signer = _signer(_config(_rekor("http://rekor2.test", 2)))
    with pytest.raises(UnavailableError, match="needs an RFC 3161 timestamp.*no timestamp auth"):
        signer.sign_digest(hashlib.sha256(b"x").digest())

    def refused(url: str, signature: bytes) -> bytes:
        raise UnavailableError("the timestamp authority answered HTTP 503")

    monkeypatch.setattr(services, "timestamp", refused)
    tsa = Service("http://tsa.test/api/v1/timestamp", 1, START, "op")
    signer = _signer(_config(_rekor("http://rekor2.test", 2), tsas=(tsa,)))
    with pytest.raises(UnavailableError, match="HTTP 503.*nothing was logged"):
        signer.sign_digest(hashlib.sha256(b"x").digest())
    assert logged == []


@pytest.fixture(scope="module")
def tsa_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from sigstack.services.tsa.app import create_app
    from sigstack.services.tsa.config import TSAConfig
    from sigstack.services.tsa.serve import prepare_data_dir

    key_uri, chain = prepare_data_dir(tmp_path_factory.mktemp("tsa") / "data")
    with serve_wsgi(create_app(TSAConfig(key_uri=key_uri, chain_file=chain))) as server:
        yield f"{server.url}/api/v1/timestamp"


def test_the_timestamp_request_is_what_sigstore_python_sends(tsa_url: str) -> None:
    from rfc3161_client import decode_timestamp_response

    signature = b"a signature"
    answer = decode_timestamp_response(services.timestamp(tsa_url, signature))
    imprint = answer.tst_info.message_imprint
    assert imprint.hash_algorithm.dotted_string == "2.16.840.1.101.3.4.2.1"  # SHA-256
    assert imprint.message == hashlib.sha256(signature).digest()
    assert answer.tst_info.nonce  # a nonce was sent and echoed
    assert answer.signed_data.certificates  # certReq: the TSA put its certificate in


def test_an_answer_over_something_else_is_refused(tsa_url: str, monkeypatch) -> None:
    other = services.timestamp(tsa_url, b"another signature")
    monkeypatch.setattr(services, "request", lambda *a, **k: (200, other))
    with pytest.raises(UnavailableError, match="not a granted timestamp over this signature"):
        services.timestamp(tsa_url, b"a signature")


def test_a_rekor_v2_request_names_the_certificate_and_key_details() -> None:
    request = services.hashedrekord_v2(b"\x01" * 32, b"sig", b"cert")
    inner = request["hashedRekordRequestV002"]
    assert inner["digest"] == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    assert inner["signature"]["verifier"] == {
        "x509Certificate": {"rawBytes": "Y2VydA=="},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
    }
