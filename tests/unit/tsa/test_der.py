"""The TSA's DER writer and header reader (services/tsa/der.py), held to asn1crypto's encoding of
the same values."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from asn1crypto import core

from sigstack.services.tsa import der
from sigstack.services.tsa.authority import _signing_time

RNG = random.Random(3161)


def _integers() -> list[int]:
    edges = [0, 1, -1, 127, 128, -128, -129, 255, 256, -256, -257, 2**63, -(2**63), 2**159]
    edges += [2**k + d for k in range(1, 200, 7) for d in (-1, 0, 1)]
    edges += [-x for x in edges]
    edges += [RNG.getrandbits(RNG.randint(1, 8000)) * RNG.choice((1, -1)) for _ in range(500)]
    return edges


def test_integer_is_asn1cryptos() -> None:
    for value in _integers():
        assert der.integer(value) == core.Integer(value).dump(), value


@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 255, 256, 257, 65535, 65536, 70000])
def test_lengths_are_asn1cryptos(size: int) -> None:
    content = RNG.randbytes(size)
    assert der.tlv(der.OCTET_STRING, content) == core.OctetString(content).dump()
    assert der.tlv(der.SEQUENCE, content) == core.Sequence(contents=content).dump()


def _times() -> list[dt.datetime]:
    start = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
    out = [start + dt.timedelta(seconds=RNG.randrange(150 * 365 * 86400)) for _ in range(500)]
    out += [
        dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2050, 1, 1, tzinfo=dt.UTC),
    ]
    out += [
        dt.datetime(2000, 2, 29, 0, 0, 0, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
    ]
    return out


def test_times_are_asn1cryptos() -> None:
    for at in _times():
        assert der.generalized_time(at) == core.GeneralizedTime(at).dump(), at
        if at.year < 2050:
            assert der.utc_time(at) == core.UTCTime(at).dump(), at


def test_signing_time_after_2049_is_generalized() -> None:
    assert _signing_time(dt.datetime(2049, 12, 31, tzinfo=dt.UTC))[0] == der.UTC_TIME
    assert _signing_time(dt.datetime(2050, 1, 1, tzinfo=dt.UTC))[0] == der.GENERALIZED_TIME


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x30\x00", (0x30, 2, 2)),
        (b"\x04\x03abc", (0x04, 2, 5)),
        (b"\x04\x81\x80" + b"x" * 128, (0x04, 3, 131)),
        (b"\x04\x82\x01\x00" + b"x" * 256, (0x04, 4, 260)),
        (b"\x04\x03abcdef", (0x04, 2, 5)),  # what follows is the caller's
    ],
)
def test_element_reads_der_headers(data: bytes, expected: tuple[int, int, int]) -> None:
    assert der.element(data, 0, len(data)) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x04\x04abc",  # runs past the end
        b"\x30\x80\x00\x00",  # indefinite length (BER)
        b"\x04\x81\x03abc",  # long form where the short one fits
        b"\x04\x82\x00\x03abc",
        b"\x04\x82\x00\x80" + b"x" * 128,  # two octets where one fits
        b"\x04\x83\x00\x00\x03abc",  # longer than any request needs
        b"\x1f\x22\x01x",  # high tag number form
        b"\x04\x81",
        b"\x04\x82\x01",
    ],
)
def test_element_refuses_what_is_not_plain_der(data: bytes) -> None:
    assert der.element(data, 0, len(data)) is None


def test_element_stays_inside_its_parent() -> None:
    data = b"\x30\x03\x04\x03abc"  # the inner OCTET STRING runs past its SEQUENCE
    assert der.element(data, 2, 5) is None
