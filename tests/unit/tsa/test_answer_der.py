"""The answers written directly as DER (services/tsa/authority.py, services/tsa/der.py) against
asn1crypto's: for many random requests, the answer asn1crypto builds from native values with the
same serial number, time and signature (tests/unit/tsa/reference.py) is byte-identical (so the
TSTInfo and the signed attributes, the signature's input, are too), and the signature verifies
over those attributes. With and without certReq and nonce, with a policy, every hash, P-256 and
P-384 signers, with an intermediate, the leaf or the whole chain sent."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random

import pytest
from asn1crypto import cms, tsp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rfc3161_client import decode_timestamp_response

from sigstack.services.tsa.authority import Options, TimestampAuthority
from sigstack.services.tsa.request import parse_der, parse_json
from tests.unit.tsa.helpers import Chain, der_request, dev_chain, verify_rfc3161
from tests.unit.tsa.reference import rebuild

DER = serialization.Encoding.DER
POLICY = "1.3.6.1.4.1.57264.2.99"


@pytest.fixture(scope="module", params=["p256", "p256-intermediate", "p384-intermediate"])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    algorithm = "ecdsa-p384" if request.param.startswith("p384") else "ecdsa-p256"
    return dev_chain(
        tmp_path_factory.mktemp(request.param), "intermediate" in request.param, algorithm
    )


def _random_request(rng: random.Random) -> tuple[bytes, bytes, int | None]:
    """(message, DER request, nonce)."""
    name = rng.choice(["sha256", "sha384", "sha512"])
    message = rng.randbytes(rng.randint(0, 200))
    nonce = rng.choice(
        [None, rng.getrandbits(64), rng.getrandbits(rng.randint(1, 400)), 0, 1, 128, 2**63]
    )
    body = der_request(
        hashlib.new(name, message).digest(),
        name,
        nonce=nonce,
        cert_req=rng.random() < 0.5,
        policy=rng.choice([None, None, POLICY, "1.3.6.1.4.1.57264.2"]),
        null_params=rng.random() < 0.8,
    )
    return message, body, nonce


def _check(answer: bytes, imprint: bytes, chain: Chain, sent: list[bytes] | None) -> None:
    leaf_der = chain.leaf.public_bytes(DER)
    assert rebuild(answer, imprint, leaf_der, sent) == answer
    signer = tsp.TimeStampResp.load(answer)["time_stamp_token"]["content"]["signer_infos"][0]
    attributes = signer["signed_attrs"]
    raw = [a.dump() for a in attributes]
    assert raw == sorted(raw)
    signed = cms.CMSAttributes(contents=attributes.contents).dump()  # the SET, tag 0x31
    assert signed[0] == 0x31 and signed[1:] == attributes.dump()[1:]
    key = chain.leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
    key.verify(signer["signature"].native, signed, ec.ECDSA(digest))


@pytest.mark.parametrize("include_chain", [False, True])
def test_random_requests_match_asn1crypto(chain: Chain, include_chain: bool) -> None:
    rng = random.Random(f"{chain.dir.name}-{include_chain}")
    options = Options.from_config(
        {"accepted_policy_oids": [POLICY], "include_chain_in_response": include_chain}
    )
    tsa = TimestampAuthority(chain.signer(), chain.certs, options)
    everything = [c.public_bytes(DER) for c in chain.certs] if include_chain else None
    for i in range(120):
        message, body, nonce = _random_request(rng)
        req = parse_der(body)
        answer = tsa.timestamp(req)
        sent = (everything or [chain.leaf.public_bytes(DER)]) if req.cert_req else None
        _check(answer, req.imprint, chain, sent)
        if i % 10 == 0:  # the outside verifiers, on a sample
            decode_timestamp_response(answer)
            verify_rfc3161(answer, message, chain.certs, nonce=nonce)


def test_times_across_the_day_and_json_requests(chain: Chain) -> None:
    """Fixed clocks (any second of the certificate's life) and the JSON form's imprint."""
    rng = random.Random(7)
    base = chain.leaf.not_valid_before_utc + dt.timedelta(minutes=10)
    for _ in range(60):
        at = base + dt.timedelta(
            seconds=rng.randrange(5 * 365 * 86400), microseconds=rng.randrange(10**6)
        )
        tsa = TimestampAuthority(chain.signer(), chain.certs, clock=lambda at=at: at)
        req = parse_json(
            b'{"artifactHash": "%s", "hashAlgorithm": "SHA256", "nonce": %d, "certificates": %s}'
            % (
                base64.b64encode(rng.randbytes(32)),
                rng.getrandbits(64),
                rng.choice([b"true", b"false"]),
            )
        )
        answer = tsa.timestamp(req)
        tst = tsp.TimeStampResp.load(answer)["time_stamp_token"]["content"]
        assert tst["encap_content_info"]["content"].parsed["gen_time"].native == at.replace(
            microsecond=0
        )
        sent = [chain.leaf.public_bytes(DER)] if req.cert_req else None
        _check(answer, req.imprint, chain, sent)
