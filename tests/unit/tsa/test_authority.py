"""Timestamp answers field by field (RFC 3161 section 2.4.2, RFC 5652, RFC 5816; docs/tsa.md), each
also verified by rfc3161-client as sigstore-python does, and held byte for byte to the answer
asn1crypto builds from native values (tests/unit/tsa/reference.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path

import pytest
from asn1crypto import cms, parser, tsp
from asn1crypto import x509 as ax509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rfc3161_client import decode_timestamp_response

from sigstack.protocol.errors import ConfigError, UnavailableError, ValidationError
from sigstack.services.tsa.authority import (
    SIGSTORE_POLICY,
    Options,
    TimestampAuthority,
    random_serial,
)
from sigstack.services.tsa.request import TimestampRequest, parse_der
from tests.unit.tsa.helpers import Chain, CountingSigner, der_request, dev_chain, verify_rfc3161
from tests.unit.tsa.reference import rebuild

DER = serialization.Encoding.DER
MESSAGE = b"the signature bytes"


@pytest.fixture(scope="module", params=["p256", "p256-intermediate", "p384-intermediate"])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    algorithm = "ecdsa-p384" if request.param.startswith("p384") else "ecdsa-p256"
    return dev_chain(
        tmp_path_factory.mktemp(request.param), "intermediate" in request.param, algorithm
    )


def _request(name: str = "sha256", **kw: object) -> TimestampRequest:
    return parse_der(der_request(hashlib.new(name, MESSAGE).digest(), name, **kw))  # type: ignore[arg-type]


def _parts(answer: bytes) -> tuple[tsp.TimeStampResp, cms.SignedData, tsp.TSTInfo, cms.SignerInfo]:
    resp = tsp.TimeStampResp.load(answer)
    signed_data = resp["time_stamp_token"]["content"]
    tst = signed_data["encap_content_info"]["content"].parsed
    return resp, signed_data, tst, signed_data["signer_infos"][0]


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("cert_req", [True, False])
def test_answer_fields(chain: Chain, hash_name: str, cert_req: bool) -> None:
    tsa = TimestampAuthority(chain.signer(), chain.certs)
    req = _request(hash_name, nonce=0xDEADBEEF12345678, cert_req=cert_req)
    answer = tsa.timestamp(req)
    resp, signed_data, tst, signer = _parts(answer)
    assert resp["status"].native == {"status": "granted", "status_string": None, "fail_info": None}
    assert resp.dump(force=True) == answer  # asn1crypto's own DER of what it read: identical
    # TSTInfo
    assert tst["version"].native == "v1"
    assert tst["policy"].dotted == SIGSTORE_POLICY
    assert tst["message_imprint"].dump() == req.imprint
    assert 0 < tst["serial_number"].native < 2**159
    raw_time = tst["gen_time"].contents
    assert len(raw_time) == 15 and raw_time.endswith(b"Z")  # YYYYMMDDHHMMSSZ: whole seconds
    assert abs(tst["gen_time"].native - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30)
    assert tst["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert tst["nonce"].native == 0xDEADBEEF12345678
    assert tst["tsa"].name == "directory_name"
    assert tst["tsa"].chosen.dump().endswith(chain.leaf.subject.public_bytes())  # [4] {Name}
    assert tst["tsa"].chosen.native == ax509.Name.load(chain.leaf.subject.public_bytes()).native
    # the fields present, in order: no ordering BOOLEAN (DEFAULT FALSE), no extensions
    assert _tags(tst.dump()) == [(0, 2), (0, 6), (0, 16), (0, 2), (0, 24), (0, 16), (0, 2), (2, 0)]
    # SignedData
    assert signed_data["version"].native == "v3"
    digest_name = "sha384" if chain.leaf.public_key().curve.key_size == 384 else "sha256"  # type: ignore[union-attr]
    assert (
        signed_data["digest_algorithms"].dump()
        == cms.DigestAlgorithms([{"algorithm": digest_name, "parameters": None}]).dump()
    )
    assert signed_data["encap_content_info"]["content_type"].native == "tst_info"
    if cert_req:
        sent = [c.chosen.dump() for c in signed_data["certificates"]]
        assert sent == [chain.leaf.public_bytes(DER)]
    else:
        assert signed_data["certificates"].native is None  # RFC 3161 2.4.1: absent
    assert len(signed_data["signer_infos"]) == 1
    # SignerInfo
    assert signer["version"].native == "v1"
    sid = signer["sid"].chosen
    assert sid["serial_number"].native == chain.leaf.serial_number
    assert sid["issuer"].dump() == chain.certs[1].subject.public_bytes()
    assert signer["digest_algorithm"]["algorithm"].native == digest_name
    ecdsa = {"sha256": "sha256_ecdsa", "sha384": "sha384_ecdsa"}[digest_name]
    assert signer["signature_algorithm"]["algorithm"].native == ecdsa
    assert signer["signature_algorithm"]["parameters"].native is None
    attrs = signer["signed_attrs"]
    types = [a["type"].native for a in attrs]
    assert sorted(types) == [
        "content_type",
        "message_digest",
        "signing_certificate_v2",
        "signing_time",
    ]
    raw = [a.dump() for a in attrs]
    assert raw == sorted(raw)  # DER SET OF order
    by_type = {a["type"].native: a["values"] for a in attrs}
    tst_der = signed_data["encap_content_info"]["content"].contents
    assert by_type["content_type"][0].native == "tst_info"
    assert by_type["message_digest"][0].native == hashlib.new(digest_name, tst_der).digest()
    assert by_type["signing_time"][0].native == tst["gen_time"].native
    ess = by_type["signing_certificate_v2"][0]["certs"][0]
    assert ess["cert_hash"].native == hashlib.new(hash_name, chain.leaf.public_bytes(DER)).digest()
    if hash_name == "sha256":  # DEFAULT sha256: not written
        assert _tags(ess.dump())[0] == (0, 4)  # the first field is certHash, an OCTET STRING
    else:
        assert ess["hash_algorithm"]["algorithm"].native == hash_name
    assert ess["issuer_serial"]["serial_number"].native == chain.leaf.serial_number
    # the signature, over the attribute SET re-tagged as SET (0x31)
    signed = b"\x31" + attrs.dump()[1:]
    chain.leaf.public_key().verify(  # type: ignore[union-attr,call-arg]
        signer["signature"].native,
        signed,
        ec.ECDSA(hashes.SHA384() if digest_name == "sha384" else hashes.SHA256()),
    )
    # the reference build, and the outside verifier
    certs = [chain.leaf.public_bytes(DER)] if cert_req else None
    assert rebuild(answer, req.imprint, chain.leaf.public_bytes(DER), certs) == answer
    verify_rfc3161(answer, MESSAGE, chain.certs, nonce=0xDEADBEEF12345678)


def _tags(der: bytes) -> list[tuple[int, int]]:
    """(class, tag) of each child of the SEQUENCE ``der``."""
    contents = parser.parse(der)[4]
    out = []
    while contents:
        class_, _, tag, header, body, trailer = parser.parse(contents)
        out.append((class_, tag))
        contents = contents[len(header) + len(body) + len(trailer) :]
    return out


def test_no_nonce_no_nonce_field(chain: Chain) -> None:
    tsa = TimestampAuthority(chain.signer(), chain.certs)
    answer = tsa.timestamp(_request())
    tst = _parts(answer)[2]
    assert tst["nonce"].native is None
    assert _tags(tst.dump()) == [(0, 2), (0, 6), (0, 16), (0, 2), (0, 24), (0, 16), (2, 0)]
    verify_rfc3161(answer, MESSAGE, chain.certs)


def test_whole_chain_sorted(chain: Chain) -> None:
    tsa = TimestampAuthority(chain.signer(), chain.certs, Options(include_chain=True))
    answer = tsa.timestamp(_request(cert_req=True))
    sent = [c.chosen.dump() for c in _parts(answer)[1]["certificates"]]
    assert sorted(sent) == sent
    assert set(sent) == {c.public_bytes(DER) for c in chain.certs}
    certs = [c.public_bytes(DER) for c in chain.certs]
    assert rebuild(answer, _request(cert_req=True).imprint, certs[0], certs) == answer
    verify_rfc3161(answer, MESSAGE, chain.certs)
    decode_timestamp_response(answer)  # strict DER, sorted sets


def test_policies(chain: Chain) -> None:
    options = Options.from_config({"accepted_policy_oids": ["1.2.3.4"]})
    assert options.accepted_policies == (SIGSTORE_POLICY, "1.2.3.4")
    signer = CountingSigner(chain.signer())
    tsa = TimestampAuthority(signer, chain.certs, options)
    assert _parts(tsa.timestamp(_request(policy="1.2.3.4")))[2]["policy"].dotted == "1.2.3.4"
    assert _parts(tsa.timestamp(_request(policy=SIGSTORE_POLICY)))[2]["policy"].dotted == (
        SIGSTORE_POLICY
    )
    assert signer.count == 2
    with pytest.raises(ValidationError, match="unaccepted policy: 1.2.3.5"):
        tsa.timestamp(_request(policy="1.2.3.5"))
    assert signer.count == 2  # nothing signed


def test_other_default_policy(chain: Chain) -> None:
    options = Options.from_config({"default_policy_oid": "1.2.3"})
    tsa = TimestampAuthority(chain.signer(), chain.certs, options)
    assert _parts(tsa.timestamp(_request()))[2]["policy"].dotted == "1.2.3"
    with pytest.raises(ValidationError):
        tsa.timestamp(_request(policy=SIGSTORE_POLICY))


@pytest.mark.parametrize(
    "config",
    [
        {"default_policy_oid": "x"},
        {"default_policy_oid": 5},
        {"accepted_policy_oids": "1.2"},
        {"accepted_policy_oids": ["1.2", "nope"]},
        {"accuracy_seconds": 0},
        {"accuracy_seconds": True},
        {"accuracy_seconds": 1.5},
        {"include_chain_in_response": "yes"},
    ],
)
def test_bad_options(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Options.from_config(config)


def test_certificate_not_valid_now_signs_nothing(chain: Chain) -> None:
    for offset in (dt.timedelta(days=-3), dt.timedelta(days=365 * 11)):
        signer = CountingSigner(chain.signer())
        tsa = TimestampAuthority(
            signer, chain.certs, clock=lambda o=offset: dt.datetime.now(dt.UTC) + o
        )
        with pytest.raises(UnavailableError, match="not valid now"):
            tsa.timestamp(_request())
        assert signer.count == 0


def test_signer_failure_is_unavailable(chain: Chain) -> None:
    tsa = TimestampAuthority(CountingSigner(chain.signer(), fail=True), chain.certs)
    with pytest.raises(UnavailableError) as err:
        tsa.timestamp(_request())
    assert "token" not in err.value.message  # the cause is logged, not shown


def test_gen_time_truncated_and_signing_time_equal(chain: Chain) -> None:
    at = dt.datetime(2027, 3, 4, 5, 6, 7, 999999, tzinfo=dt.UTC)
    tsa = TimestampAuthority(chain.signer(), chain.certs, clock=lambda: at)
    _, _, tst, signer = _parts(tsa.timestamp(_request()))
    assert tst["gen_time"].native == at.replace(microsecond=0)
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["signing_time"].name == "utc_time"
    assert attrs["signing_time"].native == at.replace(microsecond=0)


def test_serials() -> None:
    serials = [random_serial() for _ in range(5000)]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2**159 for s in serials)
    assert max(s.bit_length() for s in serials) > 150  # drawn from the whole range


def test_json_and_der_answers_verify(chain: Chain) -> None:
    import base64

    from sigstack.services.tsa.request import parse_json

    tsa = TimestampAuthority(chain.signer(), chain.certs)
    digest = base64.b64encode(hashlib.sha512(MESSAGE).digest()).decode()
    req = parse_json(
        b'{"artifactHash": "%s", "hashAlgorithm": "sha512", "nonce": 5, '
        b'"certificates": true}' % digest.encode()
    )
    answer = tsa.timestamp(req)
    verify_rfc3161(answer, MESSAGE, chain.certs, nonce=5)
    assert (
        rebuild(answer, req.imprint, chain.leaf.public_bytes(DER), [chain.leaf.public_bytes(DER)])
        == answer
    )


def test_threads_share_one_authority(chain: Chain) -> None:
    """Answers built on 8 threads at once from the shared DER parts all verify."""
    tsa = TimestampAuthority(chain.signer(), chain.certs)
    answers: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(40):
                nonce = n * 1000 + i
                answers.append((nonce, tsa.timestamp(_request(nonce=nonce, cert_req=i % 2 == 0))))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(answers) == 320
    serials = set()
    for nonce, answer in answers:
        verify_rfc3161(answer, MESSAGE, chain.certs, nonce=nonce)
        serials.add(_parts(answer)[2]["serial_number"].native)
    assert len(serials) == 320


def test_chain_refused_at_construction(tmp_path: Path, chain: Chain) -> None:
    other = dev_chain(tmp_path / "other")
    with pytest.raises(ConfigError, match="does not match"):
        TimestampAuthority(other.signer(), chain.certs)
