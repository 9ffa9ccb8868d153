"""The fast DER request reader (services/tsa/request.py ``_fast``) against the complete parser
(``_complete``, asn1crypto): whatever the fast one accepts, the complete one accepts with the same
values; whatever it declines goes to the complete one. Generated requests of every shape, and
mutations of them (the DER-aware mutator of the fuzz tests, and single-byte edits)."""

from __future__ import annotations

import random

import pytest

from sigstack.protocol.errors import ValidationError
from sigstack.services.tsa.request import TimestampRequest, _complete, _fast, parse_der
from tests.unit.fuzz.mutate import RandomPicker, mutate
from tests.unit.tsa.helpers import der_request

RNG = random.Random(5816)
SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _nonce() -> int | None:
    kind = RNG.randrange(5)
    if kind == 0:
        return None
    if kind == 1:
        return RNG.getrandbits(64)  # sigstore-python's
    if kind == 2:
        return RNG.choice([0, 1, 127, 128, 255, 256, -1, -128, -129, 2**63, 2**159])
    return RNG.getrandbits(RNG.randint(1, 3000)) * RNG.choice((1, -1))


def _requests(n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        name = RNG.choice(["sha256", "sha384", "sha512"])
        size = SIZES[name] if RNG.random() < 0.9 else RNG.choice([0, 20, 32, 48, 64, 65])
        out.append(
            der_request(
                RNG.randbytes(size),
                name,
                nonce=_nonce(),
                cert_req=RNG.random() < 0.5,
                policy=RNG.choice([None, None, "1.3.6.1.4.1.57264.2", "1.2.3.4"]),
                null_params=RNG.random() < 0.7,
            )
        )
    return out


def _outcome(parse: object, body: bytes) -> TimestampRequest | str:
    try:
        return parse(body)  # type: ignore[operator,no-any-return]
    except ValidationError as exc:
        return f"refused: {exc.message}"


def _same(body: bytes) -> None:
    if not body or len(body) > 1024:  # refused before either reader runs
        return
    fast = _fast(body)
    complete = _outcome(_complete, body)
    if fast is not None:
        assert fast == complete, body.hex()
    assert _outcome(parse_der, body) == complete, body.hex()


def test_generated_requests() -> None:
    accepted = 0
    for body in _requests(1500):
        _same(body)
        accepted += _fast(body) is not None
    assert accepted > 300  # the shapes it is for do take the fast path


def test_mutated_requests() -> None:
    seeds = _requests(60)
    for i in range(6000):
        body = mutate(RNG.choice(seeds), RandomPicker(i))
        if body and len(body) <= 1024:
            _same(body)


def test_single_byte_edits() -> None:
    for seed in _requests(25):
        for pos in range(len(seed)):
            for value in {0x00, 0x01, 0x05, 0x7F, 0x80, 0x81, 0xFF, seed[pos] ^ 0x01}:
                _same(seed[:pos] + bytes((value,)) + seed[pos + 1 :])
            _same(seed[:pos] + seed[pos + 1 :])
            _same(seed[:pos])


@pytest.mark.parametrize(
    ("cert_req", "nonce"), [(True, 0x1122334455667788), (False, None), (True, None), (False, 5)]
)
def test_sigstore_shapes_take_the_fast_path(cert_req: bool, nonce: int | None) -> None:
    """sigstore-python (nonce, certReq TRUE) and sigstore-go / cosign (neither)."""
    for name, size in SIZES.items():
        body = der_request(b"\x07" * size, name, nonce=nonce, cert_req=cert_req)
        fast = _fast(body)
        assert fast is not None
        assert fast == _complete(body)
        assert (fast.nonce, fast.cert_req, fast.policy) == (nonce, cert_req, None)


def _by_hand(tail: bytes = b"", version: int = 1) -> bytes:
    """A SHA-256 request written byte by byte, ``tail`` after the imprint."""
    algorithm = bytes.fromhex("300b0609608648016503040201")  # parameters absent
    imprint = b"\x30\x2f" + algorithm + b"\x04\x20" + b"\x01" * 32
    content = bytes((2, 1, version)) + imprint + tail
    return bytes((0x30, len(content))) + content


def test_by_hand_request_is_read() -> None:
    assert _fast(_by_hand()) == _complete(_by_hand())
    assert _fast(_by_hand(b"\x02\x01\x05\x01\x01\xff")) == _complete(
        _by_hand(b"\x02\x01\x05\x01\x01\xff")
    )


@pytest.mark.parametrize(
    "body",
    [
        der_request(b"\x01" * 32, nonce=7)[:-1],  # truncated
        _by_hand(b"\x01\x01\x00"),  # certReq FALSE written out (DER leaves a DEFAULT out)
        _by_hand(b"\x01\x01\x01"),  # certReq TRUE written as 0x01 (BER)
        _by_hand(b"\x02\x02\x00\x05"),  # a nonce with a needless leading zero
        _by_hand(b"\x02\x02\xff\x85"),  # a negative one with a needless 0xff
        _by_hand(b"\x02\x00"),  # an empty INTEGER
        _by_hand(b"\x01\x01\xff\x02\x01\x05"),  # certReq before the nonce
        _by_hand(b"\xa0\x00"),  # extensions
        _by_hand(version=2),
        _by_hand(b"\x05\x00"),  # trailing element
    ],
)
def test_malformed_requests_are_refused_as_before(body: bytes) -> None:
    assert _fast(body) is None
    with pytest.raises(ValidationError):
        parse_der(body)
